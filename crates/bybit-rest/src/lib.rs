#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

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
