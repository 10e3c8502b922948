//! Typed execution events (order updates, fills, position, wallet and health changes,
//! `execution.error`), the bus that publishes them, and the append-only error log
//! (SPEC R-EVT-1, R-ERR-5).
//!
//! What it is: the gateway's vocabulary for what happened, written for the state machine above
//! it. Money is [`rust_decimal::Decimal`]; ids are the exchange's strings. The bus is a bounded
//! broadcast: publishing never blocks, and a subscriber that falls behind is *told* how many
//! events it missed ([`Received::Lagged`]) so it can re-read current state; it never misses a
//! fill silently (see [`bus`]).
//!
//! What it is not: it knows nothing of Bybit's wire format (no `bybit-types`), of the ports, or
//! of any router. It holds no secrets, so nothing it prints or logs can leak one.
//!
//! Main types: [`Event`], [`Fill`], [`OrderEvent`], [`ExecutionError`], [`EventBus`],
//! [`Subscription`], [`ErrorLog`].

pub mod bus;
pub mod error_log;
pub mod event;

pub use bus::{Envelope, EventBus, Received, Subscription, DEFAULT_CAPACITY};
pub use error_log::{ErrorLog, ErrorLogError, DEFAULT_ERROR_LOG_PATH};
pub use event::{
    ErrorKind, Event, ExecKind, ExecutionError, Fill, HealthUpdate, OrderEvent, OrderEventKind,
    PositionUpdate, Side, WalletUpdate, WouldSend,
};
