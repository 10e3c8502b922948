#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod backoff;
mod book;
mod config;
mod error;
mod event;
mod health;
mod link;
mod shared;
mod stream;
mod task;
pub mod telemetry;
mod ticker;
mod trade;

pub use backoff::BackoffConfig;
pub use book::{Applied, BookError, OrderBook};
pub use config::{ClockOffset, PrivateAuth, WsConfig};
pub use error::{AuthFailure, WsError};
pub use event::WsEvent;
pub use health::HealthSnapshot;
pub use stream::{EventReceiver, PrivateTopic, WsStream, LINEAR_BOOK_DEPTHS};
pub use ticker::merge_ticker;
pub use trade::{TradeError, TradeOp, TradeStream};
