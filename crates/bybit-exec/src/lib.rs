//! `bybit-exec`: the application that wires the execution layer together (ROADMAP Step 7).
//!
//! - [`config`]: settings from the environment and an optional TOML file (SPEC §2).
//! - [`runtime`]: one process of the layer — REST client, streams, live / paper / dry-run
//!   router, journal, gateway — built from the settings.
//! - [`demo`]: the README's main command, a whole trade on the embedded emulator.
//! - [`ops`]: status, balance, positions, orders, preflight, recover, close-all, journal.
//! - [`serve`]: the long-running mode with `/health`, `/metrics` and a status page.
//! - [`suite`]: the SPEC §9 test plan, run by `cargo xtask testnet [--local]`.

pub mod config;
pub mod demo;
pub mod ops;
pub mod runtime;
pub mod serve;
pub mod suite;
