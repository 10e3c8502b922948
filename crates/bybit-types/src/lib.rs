//! Bybit V5 wire models, shared by the REST client, the WebSocket streams and the emulator.
//!
//! What it is: serde types for Bybit's REST envelope and payloads and its WebSocket messages,
//! plus the newtypes that carry an invariant ([`Symbol`], [`OrderLinkId`], [`WireSide`],
//! [`Price`], [`Qty`]). Prices and quantities are [`rust_decimal::Decimal`] parsed from the
//! strings Bybit sends; `""` where Bybit means "none" is `None`; an unknown enum value is kept
//! as `Unknown(text)`; unknown fields are ignored and most fields are optional, because Bybit
//! adds and drops fields over time (REFERENCE.md §13–14).
//!
//! Decimals have one grammar, [`parse_decimal`]: `-?[0-9]+(\.[0-9]+)?`, held exactly or
//! refused. A caller's text (`Price`/`Qty` `FromStr`, the decimals of request bodies such as
//! `CreateOrderRequest`, the emulator's request parameters) is read with it and nothing else. Exchange payloads are read with the same grammar plus an
//! exponent form ([`parse_exchange_decimal`]): strict, because a payload with `"1_0"` or
//! `" 1"` is malformed and reading it as *something* would hide that; the exponent, because it
//! is a legitimate way to write a number and refusing it would fail a whole reply over it.
//! Every captured fixture parses under these rules (the fixture test walks them all).
//!
//! What it is not: it does no I/O, reads no clock and knows nothing of retries, sockets or
//! trading rules (those are `bybit-rest`, `bybit-ws` and `bybit-meta`). Types serialize back
//! to Bybit's own shape, so the emulator can speak the exchange's wire format with them.
//!
//! Where things are: [`envelope`] reads a REST reply in two steps (envelope, then `result`);
//! [`rest`] has one module per area (`order`, `execution`, `position`, `account`, `market`)
//! holding the `result` types and request bodies; [`ws`] has the `public`, `private` and `op`
//! messages, and [`ws::WsMessage`] classifies an incoming frame. Records that REST and the
//! streams share (an order, a fill, a position, a wallet) are one type, used by both.

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
