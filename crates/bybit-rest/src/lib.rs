//! Signed Bybit V5 REST client: typed endpoints, one error taxonomy that tells a definitive
//! reject from an unknown outcome, retry that re-stamps and re-signs every attempt, order
//! creates that never turn a lost reply into a second order, clock-offset sync, and
//! header-aware rate limiting with priority for risk-reducing requests.
//!
//! What it is: [`RestClient`], built from an explicit [`RestConfig`] (testnet, mainnet, demo or
//! any base URL), which also holds the environment's routing: the host public market data is
//! read from when it is not the trading host, and the endpoints the environment does not
//! offer ([`RestError::NotOffered`], nothing sent). Every request goes through one path
//! (limiter → timestamp → sign → send → classify) where the bytes signed by `bybit-sign` are
//! the bytes sent. Requests take
//! validated newtypes ([`Symbol`](bybit_types::Symbol), [`OrderLinkId`](bybit_types::OrderLinkId),
//! [`Qty`](bybit_types::Qty), [`Price`](bybit_types::Price)); replies are `bybit-types` models.
//! Failures are one [`RestError`] with predicates (`is_retryable`, `is_definitive_reject`,
//! `is_outcome_unknown`, `is_auth_fatal`, `is_rate_limited`, `is_insufficient_balance`,
//! `is_timestamp`). [`BybitRest`] is the same API as a trait, implemented once (by the
//! client) and mockable (`MockBybitRest` with the `mock` feature).
//!
//! What it is not: it knows no strategy, no gateway ports and no event bus; it does not
//! decide what to do with an unknown outcome beyond the one safe case it resolves itself
//! (a re-sent create answered "duplicate orderLinkId" is looked up). WebSockets are `bybit-ws`;
//! the instrument cache is `bybit-meta` (exec-live feeds it from this client).
//!
//! Where things are: `config.rs` (environments, [`RestConfig`]), `client.rs` (the request
//! path), `error.rs`, `retry.rs` (100/300/1000 ms + jitter via `backon`), `clock.rs`
//! (server-time offset), `limiter.rs` (`governor` buckets), `routes.rs` (the endpoint table:
//! path, signing, which host), `endpoints/` (the typed calls, one module per area),
//! `api.rs` (the trait), `telemetry.rs` (the `bybit_rest_*` metrics: no-ops unless the
//! application installs a `metrics` recorder).
//!
//! ```no_run
//! use bybit_rest::{Environment, NewOrder, RestClient, RestConfig};
//! use bybit_types::{OrderLinkId, Price, Qty, WireSide, Symbol};
//! use rust_decimal_macros::dec;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let creds = bybit_sign::Credentials::new(
//!     std::env::var("BYBIT_API_KEY")?,
//!     std::env::var("BYBIT_API_SECRET")?,
//! )?;
//! let client = RestClient::new(RestConfig::new(Environment::Testnet).credentials(creds))?;
//! let order = NewOrder::limit(
//!     Symbol::new("BTCUSDT")?,
//!     WireSide::Buy,
//!     Qty::new(dec!(0.001))?,
//!     Price::new(dec!(20000))?,
//! )
//! .order_link_id(OrderLinkId::new("newcomer-1")?);
//! match client.create_order(order).await {
//!     Ok(ack) => println!("placed {}", ack.order_id),
//!     Err(e) if e.is_outcome_unknown() => println!("unknown outcome, look it up: {e}"),
//!     Err(e) => println!("rejected: {e}"),
//! }
//! # Ok(()) }
//! ```

mod api;
mod client;
mod clock;
mod config;
mod endpoints;
mod error;
mod limiter;
mod retry;
pub mod routes;
pub mod telemetry;

pub use api::BybitRest;
#[cfg(any(test, feature = "mock"))]
pub use api::MockBybitRest;
pub use client::RestClient;
pub use clock::ClockStatus;
pub use config::{Environment, RestConfig, DEFAULT_MAX_BODY_BYTES};
pub use endpoints::account::{FeeRate, FeeRates};
pub use endpoints::order::{
    AmendOrder, BatchItem, CancelAll, CancelOrder, CancelOutcome, Executions, NewOrder, OpenOrders,
    OrderHistory, OrderTarget, TriggerDirection, MAX_BATCH,
};
pub use endpoints::position::{Positions, TradingStop};
pub use endpoints::Change;
pub use error::{codes, DecodeStage, ErrorContext, RateLimitSignal, RestError};
pub use limiter::{class_of, ClassLimit, EndpointClass, LimitConfig};
pub use retry::RetryConfig;
