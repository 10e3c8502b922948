//! Simulated implementations of the gateway's ports: a **paper** router over `sim-engine`
//! in-process, and a **dry-run** router that sends nothing.
//!
//! - [`PaperRouter`] implements every port on one [`sim_engine::Engine`] behind a lock: the
//!   engine applies Bybit's rules, fees and fills, and every change it reports is translated
//!   into the gateway's events and published on the bus, as a live router would (fills,
//!   order updates, positions, wallet). Prices come from the engine's source (a synthetic
//!   path, a replay, or a still market) and move when the caller advances time.
//! - [`DryRunRouter`] validates and rounds each order with `bybit-meta`, publishes a
//!   `WouldSend` event, and answers as if a market order filled at the current price
//!   (events marked `simulated`); limit and conditional orders rest in its own book and
//!   never fill. Journaling is the gateway's, as for any router.
//!
//! What it is not: no strategy and no outcome policy (the gateway decides what an answer
//! means); no I/O. Rules shared by both routers (orderLinkId scopes, cancel-only-ours) come
//! from `exec-gateway`; trading rules from `bybit-meta` and `sim-engine`. Wire-to-event
//! translation is in [`wire`].

mod dry_run;
mod meta;
mod paper;
pub mod wire;

pub use dry_run::DryRunRouter;
pub use meta::CachedSymbolMeta;
pub use paper::{PaperError, PaperRouter};
