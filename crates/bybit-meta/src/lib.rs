//! Bybit instrument rules, and how prices and quantities are made legal before they are sent.
//!
//! What it is: the trading rules of each instrument as instruments-info reports them (tick
//! size, price bounds, quantity step and bounds, the separate market-order maximum, the minimum
//! order value, leverage bounds, trading status), checked once when read; exact decimal
//! rounding onto the tick and step; validation of an order with a typed error for every broken
//! rule; splitting a market quantity that is too large into legal chunks; and a cache of rules
//! by symbol (SPEC R-META-1, R-ORD-6).
//!
//! What it is not: it does no I/O and reads no clock. The REST layer fetches instruments-info
//! and hands the result to the cache ([`InstrumentCache::replace_all`], or
//! [`InstrumentCache::refresh_from`] with an [`InstrumentSource`]). It holds no strategy: which
//! way a price may round, which reference price values a market order, and how large an order
//! should be are the caller's choices, passed in. All arithmetic is [`rust_decimal::Decimal`];
//! binary floating point is denied in the crate.
//!
//! Main types: [`InstrumentRules`] (one instrument; `round_price`, `round_qty`,
//! `validate_order`, `prepare_order`, `split_market_qty`, `qty_for_notional`),
//! [`RoundingMode`] (nearest with ties away from zero, down, up), [`OrderDraft`] →
//! [`ValidatedOrder`], [`InstrumentCache`] with [`RefreshSummary`], and [`MetaError`].
//!
//! Rounded values keep the decimal places of the tick or step as Bybit wrote it (SOLUSDT's
//! tick `0.010` gives `100.120`), so their `Display` is the text to send.

#![deny(clippy::float_arithmetic)]
#![warn(missing_docs)]

mod cache;
mod error;
mod order;
mod rounding;
mod rules;

pub use cache::{InstrumentCache, InstrumentSource, RefreshSummary, SkippedInstrument};
pub use error::MetaError;
pub use order::{OrderDraft, OrderKind, ValidatedOrder, MAX_MARKET_CHUNKS};
pub use rounding::{is_multiple_of, round_to_increment, RoundingMode};
pub use rules::InstrumentRules;
