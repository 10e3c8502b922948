#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(clippy::float_arithmetic)]

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
