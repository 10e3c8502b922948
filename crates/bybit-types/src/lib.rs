#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod error;
mod number;
mod primitives;

pub mod enums;
pub mod envelope;
pub mod rest;
pub mod serde_helpers;
pub mod ws;

pub use enums::*;
pub use envelope::{Empty, Envelope, ItemResult, RawEnvelope, RetExtInfo};
pub use error::Error;
pub use number::{parse_decimal, parse_exchange_decimal, DecimalError, MAX_FRACTION_DIGITS};
pub use primitives::{
    OrderId, OrderLinkId, Price, Qty, Symbol, TimestampMs, WireSide, ORDER_LINK_ID_MAX_LEN,
    SYMBOL_MAX_LEN,
};
