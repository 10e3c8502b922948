//! One instrument's trading rules, checked once when built from Bybit's instruments-info.

use bybit_types::rest::market::{InstrumentInfo, LeverageFilter, LotSizeFilter, PriceFilter};
use bybit_types::{InstrumentStatus, Symbol};
use rust_decimal::Decimal;

use crate::rounding::{is_multiple_of, round_to_increment};
use crate::{MetaError, RoundingMode};

/// The most decimal places a `Decimal` can hold, and so the largest `priceScale` accepted.
const MAX_SCALE: i64 = 28;

/// The rules Bybit sets for one instrument: tick, quantity step and bounds, minimum order
/// value, leverage bounds and trading status.
///
/// A value of this type has been checked: tick, step, minimums and leverage bounds are strictly
/// positive and every minimum is at or below its maximum. Build one from an instruments-info
/// item with `InstrumentRules::try_from(&info)` (or [`from_parts`](Self::from_parts)); bad
/// exchange data becomes a [`MetaError`], never a panic.
///
/// Two fields are filled in where Bybit leaves them out: `maxMktOrderQty` falls back to
/// `maxOrderQty` (older payloads lack it), and a missing `minNotionalValue` is zero (no
/// minimum order value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentRules {
    pub(crate) symbol: Symbol,
    pub(crate) status: InstrumentStatus,
    pub(crate) tick_size: Decimal,
    pub(crate) min_price: Decimal,
    pub(crate) max_price: Decimal,
    pub(crate) price_scale: Option<u32>,
    pub(crate) qty_step: Decimal,
    pub(crate) min_order_qty: Decimal,
    pub(crate) max_order_qty: Decimal,
    pub(crate) max_mkt_order_qty: Decimal,
    pub(crate) min_notional: Decimal,
    pub(crate) min_leverage: Decimal,
    pub(crate) max_leverage: Decimal,
    pub(crate) leverage_step: Decimal,
}

impl TryFrom<&InstrumentInfo> for InstrumentRules {
    type Error = MetaError;

    fn try_from(info: &InstrumentInfo) -> Result<Self, MetaError> {
        let symbol = Symbol::new(info.symbol.as_str()).map_err(|err| match err {
            bybit_types::Error::InvalidSymbol { value, reason } => {
                MetaError::InvalidSymbol { value, reason }
            }
            // `Symbol::new` only fails with `InvalidSymbol` today; the enum is non-exhaustive.
            _ => MetaError::InvalidSymbol {
                value: info.symbol.clone(),
                reason: "refused by Symbol::new",
            },
        })?;
        InstrumentRules::from_parts(
            symbol,
            info.status.clone(),
            &info.price_filter,
            &info.lot_size_filter,
            &info.leverage_filter,
            info.price_scale,
        )
    }
}

impl InstrumentRules {
    /// Builds and checks rules from the pieces of an instruments-info item. Useful where no
    /// full [`InstrumentInfo`] exists, e.g. a simulated instrument.
    ///
    /// Refuses: a non-positive `tickSize`, `minPrice`, `qtyStep`, `minOrderQty`,
    /// `minLeverage` or `leverageStep` ([`MetaError::NonPositiveFilter`]); a negative
    /// `minNotionalValue` (same variant); `minPrice > maxPrice`, `minOrderQty` above
    /// `maxOrderQty` or `maxMktOrderQty`, `minLeverage > maxLeverage`
    /// ([`MetaError::InvertedFilter`]); a `priceScale` outside 0..=28
    /// ([`MetaError::InvalidPriceScale`]).
    pub fn from_parts(
        symbol: Symbol,
        status: InstrumentStatus,
        price: &PriceFilter,
        lot: &LotSizeFilter,
        leverage: &LeverageFilter,
        price_scale: Option<i64>,
    ) -> Result<Self, MetaError> {
        let positive = |field: &'static str, value: Decimal| {
            if value > Decimal::ZERO {
                Ok(value)
            } else {
                Err(MetaError::NonPositiveFilter {
                    symbol: symbol.clone(),
                    field,
                    value,
                })
            }
        };
        let ordered = |low_field: &'static str, low: Decimal, high_field: &'static str, high| {
            if low <= high {
                Ok(())
            } else {
                Err(MetaError::InvertedFilter {
                    symbol: symbol.clone(),
                    low_field,
                    low,
                    high_field,
                    high,
                })
            }
        };

        let tick_size = positive("tickSize", price.tick_size)?;
        let min_price = positive("minPrice", price.min_price)?;
        let max_price = price.max_price;
        ordered("minPrice", min_price, "maxPrice", max_price)?;

        let qty_step = positive("qtyStep", lot.qty_step)?;
        let min_order_qty = positive("minOrderQty", lot.min_order_qty)?;
        let max_order_qty = lot.max_order_qty;
        ordered("minOrderQty", min_order_qty, "maxOrderQty", max_order_qty)?;
        let max_mkt_order_qty = lot.max_mkt_order_qty.unwrap_or(max_order_qty);
        ordered(
            "minOrderQty",
            min_order_qty,
            "maxMktOrderQty",
            max_mkt_order_qty,
        )?;
        let min_notional = lot.min_notional_value.unwrap_or(Decimal::ZERO);
        if min_notional < Decimal::ZERO {
            return Err(MetaError::NonPositiveFilter {
                symbol,
                field: "minNotionalValue",
                value: min_notional,
            });
        }

        let min_leverage = positive("minLeverage", leverage.min_leverage)?;
        let leverage_step = positive("leverageStep", leverage.leverage_step)?;
        let max_leverage = leverage.max_leverage;
        ordered("minLeverage", min_leverage, "maxLeverage", max_leverage)?;

        let price_scale = match price_scale {
            None => None,
            Some(value) => match u32::try_from(value) {
                Ok(scale) if value <= MAX_SCALE => Some(scale),
                _ => return Err(MetaError::InvalidPriceScale { symbol, value }),
            },
        };

        Ok(InstrumentRules {
            symbol,
            status,
            tick_size,
            min_price,
            max_price,
            price_scale,
            qty_step,
            min_order_qty,
            max_order_qty,
            max_mkt_order_qty,
            min_notional,
            min_leverage,
            max_leverage,
            leverage_step,
        })
    }

    /// The instrument, e.g. `BTCUSDT`.
    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }

    /// The trading status when the rules were read.
    pub fn status(&self) -> &InstrumentStatus {
        &self.status
    }

    /// Whether the status is `Trading`.
    pub fn is_trading(&self) -> bool {
        self.status == InstrumentStatus::Trading
    }

    /// `priceFilter.tickSize`: every price is a multiple of it.
    pub fn tick_size(&self) -> Decimal {
        self.tick_size
    }

    /// `priceFilter.minPrice`.
    pub fn min_price(&self) -> Decimal {
        self.min_price
    }

    /// `priceFilter.maxPrice`.
    pub fn max_price(&self) -> Decimal {
        self.max_price
    }

    /// `priceScale`, the decimal places Bybit prints prices with, if it was sent.
    ///
    /// Informational: rounding gives prices the tick's own scale instead, which equals
    /// `priceScale` for every instrument in the recorded payloads (SOLUSDT: tick `0.010`,
    /// priceScale 3).
    pub fn price_scale(&self) -> Option<u32> {
        self.price_scale
    }

    /// `lotSizeFilter.qtyStep`: every quantity is a multiple of it.
    pub fn qty_step(&self) -> Decimal {
        self.qty_step
    }

    /// `lotSizeFilter.minOrderQty`.
    pub fn min_order_qty(&self) -> Decimal {
        self.min_order_qty
    }

    /// `lotSizeFilter.maxOrderQty`: the largest limit order.
    pub fn max_order_qty(&self) -> Decimal {
        self.max_order_qty
    }

    /// `lotSizeFilter.maxMktOrderQty`: the largest market order (`maxOrderQty` where Bybit
    /// sent none).
    pub fn max_mkt_order_qty(&self) -> Decimal {
        self.max_mkt_order_qty
    }

    /// `lotSizeFilter.minNotionalValue`: the smallest order value in the quote coin (zero
    /// where Bybit sent none).
    pub fn min_notional(&self) -> Decimal {
        self.min_notional
    }

    /// `leverageFilter.minLeverage`.
    pub fn min_leverage(&self) -> Decimal {
        self.min_leverage
    }

    /// `leverageFilter.maxLeverage`.
    pub fn max_leverage(&self) -> Decimal {
        self.max_leverage
    }

    /// `leverageFilter.leverageStep`.
    pub fn leverage_step(&self) -> Decimal {
        self.leverage_step
    }

    /// Rounds a price onto the tick in the direction the caller chooses.
    ///
    /// The result has the tick's own decimal places as Bybit wrote it (BTCUSDT `0.10` gives
    /// `100000.10`; SOLUSDT `0.010` gives `100.120`), which is also the instrument's
    /// `priceScale` in every payload seen. Call `.normalize()` on the result for the shortest
    /// spelling. The range `minPrice..=maxPrice` is not checked here; validation does that.
    ///
    /// SPEC R-META-1's example, RADUSDT with tick 0.00001:
    ///
    /// ```
    /// # use bybit_meta::{InstrumentRules, RoundingMode};
    /// # use bybit_types::rest::market::{LeverageFilter, LotSizeFilter, PriceFilter};
    /// # use bybit_types::{InstrumentStatus, Symbol};
    /// # use rust_decimal_macros::dec;
    /// # let rules = InstrumentRules::from_parts(
    /// #     Symbol::new("RADUSDT")?,
    /// #     InstrumentStatus::Trading,
    /// #     &PriceFilter { min_price: dec!(0.00001), max_price: dec!(199.99998), tick_size: dec!(0.00001) },
    /// #     &LotSizeFilter {
    /// #         max_order_qty: dec!(100000.00), min_order_qty: dec!(0.01), qty_step: dec!(0.01),
    /// #         post_only_max_order_qty: None, max_mkt_order_qty: Some(dec!(20000.00)),
    /// #         min_notional_value: Some(dec!(5)),
    /// #     },
    /// #     &LeverageFilter { min_leverage: dec!(1), max_leverage: dec!(25), leverage_step: dec!(0.01) },
    /// #     Some(5),
    /// # )?;
    /// assert_eq!(rules.round_price(dec!(0.43657321), RoundingMode::Nearest)?, dec!(0.43657));
    /// assert_eq!(rules.round_price(dec!(0.43657321), RoundingMode::Down)?, dec!(0.43657));
    /// assert_eq!(rules.round_price(dec!(0.43657321), RoundingMode::Up)?, dec!(0.43658));
    /// // A tie goes away from zero.
    /// assert_eq!(rules.round_price(dec!(0.436575), RoundingMode::Nearest)?, dec!(0.43658));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn round_price(&self, price: Decimal, mode: RoundingMode) -> Result<Decimal, MetaError> {
        round_to_increment(price, self.tick_size, mode).ok_or_else(|| self.overflow("round_price"))
    }

    /// Rounds a quantity onto the step, toward zero, so the result is never larger than asked.
    ///
    /// The result has the step's decimal places (BTCUSDT `0.001`: `0.5` gives `0.500`). The
    /// bounds are not checked here; validation does that.
    ///
    /// SPEC R-META-1's example, RADUSDT with step 0.01:
    ///
    /// ```
    /// # use bybit_meta::InstrumentRules;
    /// # use bybit_types::rest::market::{LeverageFilter, LotSizeFilter, PriceFilter};
    /// # use bybit_types::{InstrumentStatus, Symbol};
    /// # use rust_decimal_macros::dec;
    /// # let rules = InstrumentRules::from_parts(
    /// #     Symbol::new("RADUSDT")?,
    /// #     InstrumentStatus::Trading,
    /// #     &PriceFilter { min_price: dec!(0.00001), max_price: dec!(199.99998), tick_size: dec!(0.00001) },
    /// #     &LotSizeFilter {
    /// #         max_order_qty: dec!(100000.00), min_order_qty: dec!(0.01), qty_step: dec!(0.01),
    /// #         post_only_max_order_qty: None, max_mkt_order_qty: Some(dec!(20000.00)),
    /// #         min_notional_value: Some(dec!(5)),
    /// #     },
    /// #     &LeverageFilter { min_leverage: dec!(1), max_leverage: dec!(25), leverage_step: dec!(0.01) },
    /// #     Some(5),
    /// # )?;
    /// assert_eq!(rules.round_qty(dec!(123.987))?, dec!(123.98));
    /// assert_eq!(rules.round_qty(dec!(123.987))?.to_string(), "123.98");
    /// assert_eq!(rules.round_qty(dec!(7))?.to_string(), "7.00");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn round_qty(&self, qty: Decimal) -> Result<Decimal, MetaError> {
        // Toward zero, so that a (meaningless) negative quantity does not grow either.
        let mode = if qty.is_sign_negative() {
            RoundingMode::Up
        } else {
            RoundingMode::Down
        };
        self.round_qty_with(qty, mode)
    }

    /// Rounds a quantity onto the step in a direction the caller chooses, for the rare case
    /// where flooring is wrong (e.g. rounding up to reach a minimum order value).
    pub fn round_qty_with(&self, qty: Decimal, mode: RoundingMode) -> Result<Decimal, MetaError> {
        round_to_increment(qty, self.qty_step, mode).ok_or_else(|| self.overflow("round_qty"))
    }

    /// Whether a price is a multiple of the tick.
    pub fn is_on_tick(&self, price: Decimal) -> bool {
        is_multiple_of(price, self.tick_size)
    }

    /// Whether a quantity is a multiple of the step.
    pub fn is_on_step(&self, qty: Decimal) -> bool {
        is_multiple_of(qty, self.qty_step)
    }

    /// Checks a leverage against `minLeverage..=maxLeverage` and `leverageStep` (e.g. before
    /// set-leverage, SPEC R-ACC-2).
    pub fn check_leverage(&self, leverage: Decimal) -> Result<(), MetaError> {
        if leverage < self.min_leverage || leverage > self.max_leverage {
            return Err(MetaError::LeverageOutOfRange {
                symbol: self.symbol.clone(),
                leverage,
                min: self.min_leverage,
                max: self.max_leverage,
            });
        }
        if !is_multiple_of(leverage, self.leverage_step) {
            return Err(MetaError::LeverageNotOnStep {
                symbol: self.symbol.clone(),
                leverage,
                step: self.leverage_step,
            });
        }
        Ok(())
    }

    pub(crate) fn overflow(&self, operation: &'static str) -> MetaError {
        MetaError::Overflow {
            symbol: self.symbol.clone(),
            operation,
        }
    }
}
