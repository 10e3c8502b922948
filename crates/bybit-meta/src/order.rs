//! Checking an order against an instrument's rules, splitting large market orders, and sizing
//! an order from a quote-coin amount.

use bybit_types::{OrderType, Price, Qty, Symbol};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::rounding::round_to_increment;
use crate::{InstrumentRules, MetaError, RoundingMode};

/// The most market orders [`InstrumentRules::split_market_qty`] will split one quantity into.
///
/// At Bybit's current limits one chunk is worth millions of USDT on liquid symbols, so a size
/// that needs more than this many is taken to be a mistake rather than an order.
pub const MAX_MARKET_CHUNKS: usize = 100;

/// Market or limit: the two order types whose rules differ (the maximum quantity, and whether
/// the price is sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderKind {
    /// A market order: bounded by `maxMktOrderQty`; no price is sent.
    Market,
    /// A limit order: bounded by `maxOrderQty`; the price must sit on the tick and in range.
    Limit,
}

impl From<OrderKind> for OrderType {
    fn from(kind: OrderKind) -> OrderType {
        match kind {
            OrderKind::Market => OrderType::Market,
            OrderKind::Limit => OrderType::Limit,
        }
    }
}

/// An order's size and price before they are checked, as the caller computed them.
///
/// A market order carries a reference price (last or mark, the caller's choice) because the
/// minimum order value is checked on `qty * price` and a market order has no price of its own.
/// The reference price is never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderDraft {
    /// A market order.
    Market {
        /// Quantity in contracts (base coin).
        qty: Decimal,
        /// The price the order value is estimated at.
        reference_price: Decimal,
    },
    /// A limit order.
    Limit {
        /// Quantity in contracts (base coin).
        qty: Decimal,
        /// The limit price.
        price: Decimal,
    },
}

impl OrderDraft {
    /// A market order draft.
    pub const fn market(qty: Decimal, reference_price: Decimal) -> Self {
        OrderDraft::Market {
            qty,
            reference_price,
        }
    }

    /// A limit order draft.
    pub const fn limit(qty: Decimal, price: Decimal) -> Self {
        OrderDraft::Limit { qty, price }
    }

    /// Market or limit.
    pub const fn kind(&self) -> OrderKind {
        match self {
            OrderDraft::Market { .. } => OrderKind::Market,
            OrderDraft::Limit { .. } => OrderKind::Limit,
        }
    }

    /// The quantity asked for.
    pub const fn qty(&self) -> Decimal {
        match self {
            OrderDraft::Market { qty, .. } | OrderDraft::Limit { qty, .. } => *qty,
        }
    }
}

/// An order size (and limit price) that satisfies the instrument's rules as they were when it
/// was checked. Only [`InstrumentRules`] makes one.
///
/// The quantity carries the step's decimal places and the price the tick's, so their
/// `Display` is what should be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedOrder {
    symbol: Symbol,
    kind: OrderKind,
    qty: Qty,
    price: Option<Price>,
    notional: Decimal,
}

impl ValidatedOrder {
    /// The instrument.
    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }

    /// Market or limit.
    pub fn kind(&self) -> OrderKind {
        self.kind
    }

    /// The quantity to send: on the step and within the bounds for the kind.
    pub fn qty(&self) -> Qty {
        self.qty
    }

    /// The limit price to send (on the tick, within `minPrice..=maxPrice`); `None` for a
    /// market order.
    pub fn price(&self) -> Option<Price> {
        self.price
    }

    /// The order value the minimum was checked against: `qty * price`, at the reference price
    /// for a market order. Useful for a caller's own maximum-value guard (SPEC R-GW-1).
    pub fn notional(&self) -> Decimal {
        self.notional
    }
}

impl InstrumentRules {
    /// Checks an order whose quantity and price should already sit on the step and tick,
    /// refusing them ([`MetaError::NotOnStep`], [`MetaError::NotOnTick`]) if they do not.
    ///
    /// Checks run in this order and the first failure is returned: trading status, positive
    /// quantity and price, step and tick, quantity bounds (`maxMktOrderQty` for market,
    /// `maxOrderQty` for limit), price range (limit only), minimum order value.
    pub fn validate_order(&self, draft: &OrderDraft) -> Result<ValidatedOrder, MetaError> {
        self.ensure_trading()?;
        let qty = self.positive("qty", draft.qty())?;
        if !self.is_on_step(qty) {
            return Err(MetaError::NotOnStep {
                symbol: self.symbol.clone(),
                qty,
                step: self.qty_step,
            });
        }
        match *draft {
            OrderDraft::Market {
                reference_price, ..
            } => {
                let reference = self.positive("reference price", reference_price)?;
                self.finish(OrderKind::Market, qty, None, reference)
            }
            OrderDraft::Limit { price, .. } => {
                let price = self.positive("price", price)?;
                if !self.is_on_tick(price) {
                    return Err(MetaError::NotOnTick {
                        symbol: self.symbol.clone(),
                        price,
                        tick: self.tick_size,
                    });
                }
                self.finish(OrderKind::Limit, qty, Some(price), price)
            }
        }
    }

    /// Rounds an order onto the instrument's grid, then checks it: the quantity is floored to
    /// the step and a limit price is rounded with `price_mode`. This is what the router runs on
    /// every order before sending it (SPEC R-ORD-6).
    ///
    /// Errors report the rounded values, which are the ones checked: a quantity that floors to
    /// zero is [`MetaError::BelowMinQty`] with `qty` zero. The input must still be positive.
    /// `price_mode` is ignored for market orders, whose reference price is not rounded.
    ///
    /// ```
    /// # use bybit_meta::{InstrumentRules, MetaError, OrderDraft, RoundingMode};
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
    /// let order = rules.prepare_order(&OrderDraft::limit(dec!(123.987), dec!(0.43657321)), RoundingMode::Down)?;
    /// assert_eq!(order.qty().to_string(), "123.98");
    /// assert_eq!(order.price().unwrap().to_string(), "0.43657");
    ///
    /// // Worth about 4.4 USDT, below the 5 USDT minimum.
    /// let small = rules.prepare_order(&OrderDraft::market(dec!(10), dec!(0.43657)), RoundingMode::Down);
    /// assert!(matches!(small, Err(MetaError::BelowMinNotional { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prepare_order(
        &self,
        draft: &OrderDraft,
        price_mode: RoundingMode,
    ) -> Result<ValidatedOrder, MetaError> {
        self.ensure_trading()?;
        let qty = self.round_qty(self.positive("qty", draft.qty())?)?;
        match *draft {
            OrderDraft::Market {
                reference_price, ..
            } => {
                let reference = self.positive("reference price", reference_price)?;
                self.finish(OrderKind::Market, qty, None, reference)
            }
            OrderDraft::Limit { price, .. } => {
                let price = self.round_price(self.positive("price", price)?, price_mode)?;
                self.finish(OrderKind::Limit, qty, Some(price), price)
            }
        }
    }

    /// Splits a market quantity into chunks that are each legal on their own.
    ///
    /// The quantity is first floored to the step; the chunks add up to exactly that. It is cut
    /// into the fewest chunks of at most `maxMktOrderQty`, and those are made as equal as the
    /// step allows (they differ by at most one step; larger ones first). Equal chunks, rather
    /// than full chunks plus a remainder, mean no chunk is left below `minOrderQty` or the
    /// minimum order value: with two or more chunks each is about half of `maxMktOrderQty` or more.
    /// If even equal chunks fall below `minOrderQty`, no split exists and the error says so.
    ///
    /// A quantity within `maxMktOrderQty` comes back as one chunk. Trading status and the
    /// minimum order value are not checked here; [`prepare_market_split`](Self::prepare_market_split)
    /// does both.
    ///
    /// Errors: [`MetaError::NotPositive`]; [`MetaError::BelowMinQty`] when the rounded total
    /// (or the equal chunk) is below `minOrderQty`; [`MetaError::TooManyChunks`] beyond
    /// [`MAX_MARKET_CHUNKS`].
    pub fn split_market_qty(&self, qty: Decimal) -> Result<Vec<Qty>, MetaError> {
        let total = self.round_qty(self.positive("qty", qty)?)?;
        if total < self.min_order_qty {
            return Err(self.below_min_qty(total));
        }
        // Everything below is integer arithmetic in units of one step, done with exact
        // remainders rather than rounded quotients.
        let step = self.qty_step;
        let total_steps = self.exact_div(total, step, "qty / qtyStep")?;
        let max_chunk = round_to_increment(self.max_mkt_order_qty, step, RoundingMode::Down)
            .ok_or_else(|| self.overflow("maxMktOrderQty on the step"))?;
        if max_chunk.is_zero() {
            // `maxMktOrderQty` is below one step, so no market order of any size is legal.
            return Err(MetaError::AboveMaxMarketQty {
                symbol: self.symbol.clone(),
                qty: total,
                max: self.max_mkt_order_qty,
            });
        }
        let max_steps = self.exact_div(max_chunk, step, "maxMktOrderQty / qtyStep")?;
        let chunks = self.ceil_div(total_steps, max_steps)?;
        let count = chunks
            .to_usize()
            .filter(|count| *count <= MAX_MARKET_CHUNKS)
            .ok_or_else(|| MetaError::TooManyChunks {
                symbol: self.symbol.clone(),
                qty: total,
                chunks,
                max_chunk,
                limit: MAX_MARKET_CHUNKS,
            })?;
        let extra = total_steps
            .checked_rem(chunks)
            .ok_or_else(|| self.overflow("split remainder"))?;
        let base_steps = self.exact_div(
            total_steps
                .checked_sub(extra)
                .ok_or_else(|| self.overflow("split"))?,
            chunks,
            "split",
        )?;
        let larger = extra.to_usize().ok_or_else(|| self.overflow("split"))?;

        let chunk_qty = |steps: Decimal| -> Result<Decimal, MetaError> {
            let mut qty = steps
                .checked_mul(step)
                .ok_or_else(|| self.overflow("chunk qty"))?;
            qty.rescale(step.scale());
            Ok(qty)
        };
        let small = chunk_qty(base_steps)?;
        if small < self.min_order_qty {
            return Err(self.below_min_qty(small));
        }
        let big = if larger == 0 {
            small
        } else {
            chunk_qty(
                base_steps
                    .checked_add(Decimal::ONE)
                    .ok_or_else(|| self.overflow("split"))?,
            )?
        };
        (0..count)
            .map(|index| self.to_qty(if index < larger { big } else { small }))
            .collect()
    }

    /// Splits a market quantity as [`split_market_qty`](Self::split_market_qty) does and
    /// validates every chunk as a market order at `reference_price`, so each comes back
    /// ready to send.
    pub fn prepare_market_split(
        &self,
        qty: Decimal,
        reference_price: Decimal,
    ) -> Result<Vec<ValidatedOrder>, MetaError> {
        self.ensure_trading()?;
        let reference = self.positive("reference price", reference_price)?;
        self.split_market_qty(qty)?
            .into_iter()
            .map(|chunk| self.finish(OrderKind::Market, chunk.get(), None, reference))
            .collect()
    }

    /// The largest quantity on the step whose value at `price` does not exceed `notional`
    /// (in the quote coin, USDT for linear perpetuals): `notional / price`, floored.
    ///
    /// This is a conversion only. The result may be zero, or below `minOrderQty` or the
    /// minimum order value; pass it through [`prepare_order`](Self::prepare_order) before
    /// sending. Whether `notional` is margin or position value is the caller's business
    /// (SPEC R-GW-1): multiply margin by leverage first.
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
    /// // 100 USDT at 0.43657: 229.0583... contracts, floored to the 0.01 step.
    /// assert_eq!(rules.qty_for_notional(dec!(100), dec!(0.43657))?, dec!(229.05));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn qty_for_notional(
        &self,
        notional: Decimal,
        price: Decimal,
    ) -> Result<Decimal, MetaError> {
        let notional = self.positive("notional", notional)?;
        let price = self.positive("price", price)?;
        let raw = notional
            .checked_div(price)
            .ok_or_else(|| self.overflow("notional / price"))?;
        let mut qty = round_to_increment(raw, self.qty_step, RoundingMode::Down)
            .ok_or_else(|| self.overflow("qty_for_notional"))?;
        // The quotient is rounded to 28 significant digits, which can lift it onto the next
        // step by a hair; step back so the promise "worth at most `notional`" holds exactly.
        let value = qty
            .checked_mul(price)
            .ok_or_else(|| self.overflow("qty * price"))?;
        if value > notional {
            qty = qty
                .checked_sub(self.qty_step)
                .ok_or_else(|| self.overflow("qty_for_notional"))?;
        }
        Ok(qty)
    }

    /// The quantity bounds and the minimum order value, for a quantity already on the step
    /// and a price already on the tick (or a reference price, for market orders).
    fn finish(
        &self,
        kind: OrderKind,
        qty: Decimal,
        limit_price: Option<Decimal>,
        value_price: Decimal,
    ) -> Result<ValidatedOrder, MetaError> {
        if qty < self.min_order_qty {
            return Err(self.below_min_qty(qty));
        }
        match kind {
            OrderKind::Market if qty > self.max_mkt_order_qty => {
                return Err(MetaError::AboveMaxMarketQty {
                    symbol: self.symbol.clone(),
                    qty,
                    max: self.max_mkt_order_qty,
                });
            }
            OrderKind::Limit if qty > self.max_order_qty => {
                return Err(MetaError::AboveMaxQty {
                    symbol: self.symbol.clone(),
                    qty,
                    max: self.max_order_qty,
                });
            }
            OrderKind::Market | OrderKind::Limit => {}
        }
        if let Some(price) = limit_price {
            if price < self.min_price || price > self.max_price {
                return Err(MetaError::PriceOutOfRange {
                    symbol: self.symbol.clone(),
                    price,
                    min: self.min_price,
                    max: self.max_price,
                });
            }
        }
        let notional = qty
            .checked_mul(value_price)
            .ok_or_else(|| self.overflow("qty * price"))?;
        if notional < self.min_notional {
            return Err(MetaError::BelowMinNotional {
                symbol: self.symbol.clone(),
                notional,
                qty,
                price: value_price,
                min: self.min_notional,
            });
        }

        let mut qty = qty;
        qty.rescale(self.qty_step.scale());
        let price = match limit_price {
            Some(mut price) => {
                price.rescale(self.tick_size.scale());
                Some(self.to_price(price)?)
            }
            None => None,
        };
        Ok(ValidatedOrder {
            symbol: self.symbol.clone(),
            kind,
            qty: self.to_qty(qty)?,
            price,
            notional,
        })
    }

    pub(crate) fn ensure_trading(&self) -> Result<(), MetaError> {
        if self.is_trading() {
            Ok(())
        } else {
            Err(MetaError::NotTrading {
                symbol: self.symbol.clone(),
                status: self.status.clone(),
            })
        }
    }

    fn positive(&self, field: &'static str, value: Decimal) -> Result<Decimal, MetaError> {
        if value > Decimal::ZERO {
            Ok(value)
        } else {
            Err(MetaError::NotPositive {
                symbol: self.symbol.clone(),
                field,
                value,
            })
        }
    }

    fn below_min_qty(&self, qty: Decimal) -> MetaError {
        MetaError::BelowMinQty {
            symbol: self.symbol.clone(),
            qty,
            min: self.min_order_qty,
        }
    }

    /// `a / b` where `b` divides `a` exactly; anything else means precision was lost.
    fn exact_div(
        &self,
        a: Decimal,
        b: Decimal,
        operation: &'static str,
    ) -> Result<Decimal, MetaError> {
        a.checked_div(b)
            .filter(|quotient| quotient.fract().is_zero())
            .ok_or_else(|| self.overflow(operation))
    }

    /// `ceil(a / b)` for positive integers, from an exact remainder.
    fn ceil_div(&self, a: Decimal, b: Decimal) -> Result<Decimal, MetaError> {
        let rem = a.checked_rem(b).ok_or_else(|| self.overflow("split"))?;
        let whole = self.exact_div(
            a.checked_sub(rem).ok_or_else(|| self.overflow("split"))?,
            b,
            "split",
        )?;
        if rem.is_zero() {
            Ok(whole)
        } else {
            whole
                .checked_add(Decimal::ONE)
                .ok_or_else(|| self.overflow("split"))
        }
    }

    // The two conversions below cannot fail on the paths that call them (the value was checked
    // against a positive minimum first), but they return the typed error instead of unwrapping.
    fn to_qty(&self, qty: Decimal) -> Result<Qty, MetaError> {
        Qty::new(qty).map_err(|_| MetaError::NotPositive {
            symbol: self.symbol.clone(),
            field: "qty",
            value: qty,
        })
    }

    fn to_price(&self, price: Decimal) -> Result<Price, MetaError> {
        Price::new(price).map_err(|_| MetaError::NotPositive {
            symbol: self.symbol.clone(),
            field: "price",
            value: price,
        })
    }
}
