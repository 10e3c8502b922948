//! The crate's one error type, grouped by what the caller has to do about it.

use bybit_types::{InstrumentStatus, Symbol};
use rust_decimal::Decimal;

/// Why instrument data was refused, a symbol could not be served, or an order breaks the
/// instrument's rules.
///
/// The variants fall into three groups, each with a predicate so callers need not match
/// variants one by one:
///
/// - [`is_invalid_instrument`](Self::is_invalid_instrument): Bybit sent rules that make no
///   sense (a zero tick, a minimum above its maximum). The instrument is left out of the cache;
///   this is a data problem to report, not something an order can fix.
/// - [`is_symbol_unavailable`](Self::is_symbol_unavailable): the symbol is not in the cache or
///   is not trading. Refreshing the rules (or waiting for the listing) may change the answer.
/// - [`is_invalid_order`](Self::is_invalid_order): the order as asked breaks a rule. Sending it
///   would only earn a definitive reject from Bybit, so the caller must change the order.
///
/// Every variant carries the symbol and the numbers involved, so a log line alone says what
/// went wrong. Limits are named with Bybit's own field names (`minOrderQty`, `tickSize`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// An instrument whose symbol is not a valid [`Symbol`].
    #[error("instrument {value:?} has an invalid symbol: {reason}")]
    InvalidSymbol {
        /// The symbol text as Bybit sent it.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A filter value that must be strictly positive and is not (a zero `tickSize` would
    /// make every price "on tick" and every division fail).
    #[error("{symbol}: {field} must be positive, got {value}")]
    NonPositiveFilter {
        /// The instrument.
        symbol: Symbol,
        /// Bybit's name for the field, e.g. `tickSize`.
        field: &'static str,
        /// The refused value.
        value: Decimal,
    },
    /// A lower bound above its upper bound, e.g. `minOrderQty` above `maxOrderQty`.
    #[error("{symbol}: {low_field} {low} is above {high_field} {high}")]
    InvertedFilter {
        /// The instrument.
        symbol: Symbol,
        /// Bybit's name for the lower bound.
        low_field: &'static str,
        /// The lower bound.
        low: Decimal,
        /// Bybit's name for the upper bound.
        high_field: &'static str,
        /// The upper bound.
        high: Decimal,
    },
    /// A `priceScale` outside 0..=28, the places a decimal can hold.
    #[error("{symbol}: priceScale {value} is outside 0..=28")]
    InvalidPriceScale {
        /// The instrument.
        symbol: Symbol,
        /// The refused value.
        value: i64,
    },

    /// The cache holds no rules for this symbol.
    #[error("no instrument rules for {symbol}")]
    UnknownSymbol {
        /// The symbol asked for.
        symbol: Symbol,
    },
    /// The instrument exists but is not open for trading (`PreLaunch`, `Delivering`,
    /// `Closed`, or a status this version does not know).
    #[error("{symbol} is not trading (status {status})")]
    NotTrading {
        /// The instrument.
        symbol: Symbol,
        /// Its status.
        status: InstrumentStatus,
    },

    /// A quantity, price or amount that must be strictly positive and is not.
    #[error("{symbol}: {field} must be positive, got {value}")]
    NotPositive {
        /// The instrument.
        symbol: Symbol,
        /// `qty`, `price`, `reference price` or `notional`.
        field: &'static str,
        /// The refused value.
        value: Decimal,
    },
    /// A quantity that is not a multiple of `qtyStep` (strict validation only; the
    /// `prepare_*` methods round instead).
    #[error("{symbol}: qty {qty} is not a multiple of qtyStep {step}")]
    NotOnStep {
        /// The instrument.
        symbol: Symbol,
        /// The quantity.
        qty: Decimal,
        /// The instrument's `qtyStep`.
        step: Decimal,
    },
    /// A price that is not a multiple of `tickSize` (strict validation only).
    #[error("{symbol}: price {price} is not a multiple of tickSize {tick}")]
    NotOnTick {
        /// The instrument.
        symbol: Symbol,
        /// The price.
        price: Decimal,
        /// The instrument's `tickSize`.
        tick: Decimal,
    },
    /// A quantity below `minOrderQty`. From a `prepare_*` method `qty` is the rounded value;
    /// from a split it is the smallest chunk an equal split would give.
    #[error("{symbol}: qty {qty} is below minOrderQty {min}")]
    BelowMinQty {
        /// The instrument.
        symbol: Symbol,
        /// The quantity checked.
        qty: Decimal,
        /// The instrument's `minOrderQty`.
        min: Decimal,
    },
    /// A limit order quantity above `maxOrderQty`.
    #[error("{symbol}: qty {qty} is above maxOrderQty {max}")]
    AboveMaxQty {
        /// The instrument.
        symbol: Symbol,
        /// The quantity checked.
        qty: Decimal,
        /// The instrument's `maxOrderQty`.
        max: Decimal,
    },
    /// A market order quantity above `maxMktOrderQty`. Splitting it with
    /// [`InstrumentRules::split_market_qty`](crate::InstrumentRules::split_market_qty) gives
    /// legal chunks.
    #[error("{symbol}: market qty {qty} is above maxMktOrderQty {max}")]
    AboveMaxMarketQty {
        /// The instrument.
        symbol: Symbol,
        /// The quantity checked.
        qty: Decimal,
        /// The instrument's `maxMktOrderQty` (or `maxOrderQty` where Bybit sent none).
        max: Decimal,
    },
    /// A limit price outside `minPrice..=maxPrice`.
    #[error("{symbol}: price {price} is outside minPrice {min} ..= maxPrice {max}")]
    PriceOutOfRange {
        /// The instrument.
        symbol: Symbol,
        /// The price checked.
        price: Decimal,
        /// The instrument's `minPrice`.
        min: Decimal,
        /// The instrument's `maxPrice`.
        max: Decimal,
    },
    /// An order worth less than `minNotionalValue` (Bybit's 110094).
    #[error("{symbol}: order value {notional} ({qty} at {price}) is below minNotionalValue {min}")]
    BelowMinNotional {
        /// The instrument.
        symbol: Symbol,
        /// `qty * price`.
        notional: Decimal,
        /// The quantity.
        qty: Decimal,
        /// The limit price, or for a market order the caller's reference price.
        price: Decimal,
        /// The instrument's `minNotionalValue`.
        min: Decimal,
    },
    /// A market quantity that would need more chunks than
    /// [`MAX_MARKET_CHUNKS`](crate::MAX_MARKET_CHUNKS); almost certainly a mistaken size.
    #[error("{symbol}: market qty {qty} needs {chunks} orders of at most {max_chunk}, more than {limit}")]
    TooManyChunks {
        /// The instrument.
        symbol: Symbol,
        /// The (rounded) quantity to split.
        qty: Decimal,
        /// How many chunks it would take.
        chunks: Decimal,
        /// The largest chunk allowed (`maxMktOrderQty` on the step).
        max_chunk: Decimal,
        /// The most chunks allowed.
        limit: usize,
    },
    /// A leverage outside `minLeverage..=maxLeverage`.
    #[error("{symbol}: leverage {leverage} is outside minLeverage {min} ..= maxLeverage {max}")]
    LeverageOutOfRange {
        /// The instrument.
        symbol: Symbol,
        /// The leverage checked.
        leverage: Decimal,
        /// The instrument's `minLeverage`.
        min: Decimal,
        /// The instrument's `maxLeverage`.
        max: Decimal,
    },
    /// A leverage that is not a multiple of `leverageStep`.
    #[error("{symbol}: leverage {leverage} is not a multiple of leverageStep {step}")]
    LeverageNotOnStep {
        /// The instrument.
        symbol: Symbol,
        /// The leverage checked.
        leverage: Decimal,
        /// The instrument's `leverageStep`.
        step: Decimal,
    },
    /// Arithmetic on the caller's numbers left the range a decimal can hold (values near
    /// 7.9e28). No real order gets here; the error exists so that no input can panic.
    #[error("{symbol}: {operation} overflows a decimal")]
    Overflow {
        /// The instrument.
        symbol: Symbol,
        /// What was being computed, e.g. `qty * price`.
        operation: &'static str,
    },
}

impl MetaError {
    /// The symbol the error is about, when it has a valid one (every variant but
    /// [`InvalidSymbol`](Self::InvalidSymbol)).
    pub fn symbol(&self) -> Option<&Symbol> {
        match self {
            MetaError::InvalidSymbol { .. } => None,
            MetaError::NonPositiveFilter { symbol, .. }
            | MetaError::InvertedFilter { symbol, .. }
            | MetaError::InvalidPriceScale { symbol, .. }
            | MetaError::UnknownSymbol { symbol }
            | MetaError::NotTrading { symbol, .. }
            | MetaError::NotPositive { symbol, .. }
            | MetaError::NotOnStep { symbol, .. }
            | MetaError::NotOnTick { symbol, .. }
            | MetaError::BelowMinQty { symbol, .. }
            | MetaError::AboveMaxQty { symbol, .. }
            | MetaError::AboveMaxMarketQty { symbol, .. }
            | MetaError::PriceOutOfRange { symbol, .. }
            | MetaError::BelowMinNotional { symbol, .. }
            | MetaError::TooManyChunks { symbol, .. }
            | MetaError::LeverageOutOfRange { symbol, .. }
            | MetaError::LeverageNotOnStep { symbol, .. }
            | MetaError::Overflow { symbol, .. } => Some(symbol),
        }
    }

    /// Whether Bybit's instrument data itself is unusable. Such instruments are skipped (and
    /// reported) when the cache is refreshed.
    pub fn is_invalid_instrument(&self) -> bool {
        matches!(
            self,
            MetaError::InvalidSymbol { .. }
                | MetaError::NonPositiveFilter { .. }
                | MetaError::InvertedFilter { .. }
                | MetaError::InvalidPriceScale { .. }
        )
    }

    /// Whether the symbol cannot be traded right now: unknown to the cache, or not in
    /// `Trading` status. A refresh of the rules may change this; changing the order will not.
    pub fn is_symbol_unavailable(&self) -> bool {
        matches!(
            self,
            MetaError::UnknownSymbol { .. } | MetaError::NotTrading { .. }
        )
    }

    /// Whether the order as asked breaks the instrument's rules. Bybit would reject it
    /// definitively, so retrying it unchanged is pointless.
    pub fn is_invalid_order(&self) -> bool {
        matches!(
            self,
            MetaError::NotPositive { .. }
                | MetaError::NotOnStep { .. }
                | MetaError::NotOnTick { .. }
                | MetaError::BelowMinQty { .. }
                | MetaError::AboveMaxQty { .. }
                | MetaError::AboveMaxMarketQty { .. }
                | MetaError::PriceOutOfRange { .. }
                | MetaError::BelowMinNotional { .. }
                | MetaError::TooManyChunks { .. }
                | MetaError::LeverageOutOfRange { .. }
                | MetaError::LeverageNotOnStep { .. }
                | MetaError::Overflow { .. }
        )
    }

    /// Whether a market quantity was refused only for being above `maxMktOrderQty`, so that
    /// [`split_market_qty`](crate::InstrumentRules::split_market_qty) can cut it into legal
    /// chunks (unless it would take more than [`MAX_MARKET_CHUNKS`](crate::MAX_MARKET_CHUNKS)).
    pub fn is_splittable(&self) -> bool {
        matches!(self, MetaError::AboveMaxMarketQty { .. })
    }
}
