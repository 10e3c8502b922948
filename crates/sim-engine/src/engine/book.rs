//! The market: the synthetic book, prices set or walked, prints on the tape.

use bybit_meta::RoundingMode;
use bybit_types::Side;
use rust_decimal::Decimal;

use super::{round_price, Engine, MAX_BALANCE, MAX_BOOK_LEVELS, MAX_WALK_STEPS};
use crate::config::BookShape;
use crate::market::{BookSnapshot, Level, PriceSource, PublicTrade};
use crate::reject::Reject;

impl Engine {
    pub(super) fn book_shape(&self, symbol: &str) -> BookShape {
        self.markets.get(symbol).map(|m| m.book).unwrap_or_default()
    }

    /// Size of one synthetic level at `price`: `level_notional / price`, floored to the step,
    /// never below the minimum order quantity.
    pub(super) fn level_qty(&self, symbol: &str, price: Decimal) -> Decimal {
        let Ok(inst) = self.instrument(symbol) else {
            return Decimal::ZERO;
        };
        if price <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        let shape = self.book_shape(symbol);
        let raw = shape
            .level_notional
            .checked_div(price)
            .unwrap_or(Decimal::ZERO);
        inst.rules
            .round_qty(raw)
            .unwrap_or(Decimal::ZERO)
            .max(inst.rules.min_order_qty())
    }

    /// The synthetic book around the last price, `depth` levels per side.
    pub fn book(&self, symbol: &str, depth: usize) -> Result<BookSnapshot, Reject> {
        let inst = self.instrument(symbol)?;
        let last = self.last_price(symbol);
        let shape = self.book_shape(symbol);
        let tick = inst.rules.tick_size();
        let step = tick * Decimal::from(shape.spacing_ticks.max(1));
        let levels = usize::try_from(shape.levels)
            .unwrap_or(usize::MAX)
            .min(depth);
        let mut bids = Vec::with_capacity(levels.min(1024));
        let mut asks = Vec::with_capacity(levels.min(1024));
        for i in 1..=levels {
            let offset = step * Decimal::from(i);
            // Past both ends of the price filter nothing more can be quoted.
            if last - offset < inst.rules.min_price() && last + offset > inst.rules.max_price() {
                break;
            }
            let bid = last - offset;
            if bid >= inst.rules.min_price() && bid > Decimal::ZERO {
                bids.push(Level {
                    price: bid,
                    qty: self.level_qty(symbol, bid),
                });
            }
            let ask = last + offset;
            if ask <= inst.rules.max_price() {
                asks.push(Level {
                    price: ask,
                    qty: self.level_qty(symbol, ask),
                });
            }
        }
        Ok(BookSnapshot { bids, asks })
    }

    /// Prints a trade at `price` (rounded to the tick) and lets everything that reacts to the
    /// price react: conditional orders trigger, position TP/SL fire, resting orders fill.
    pub fn set_price(&mut self, now: i64, symbol: &str, price: Decimal) -> Result<(), Reject> {
        self.touch(now);
        let result = (|| {
            let rules = self.instrument(symbol)?.rules.clone();
            let price = round_price(&rules, price, RoundingMode::Nearest);
            if price <= Decimal::ZERO || price < rules.min_price() || price > rules.max_price() {
                return Err(Reject::price_out_of_range());
            }
            let qty = rules.min_order_qty();
            self.print(symbol, price, qty, None);
            self.settle_market(symbol);
            Ok(())
        })();
        self.flush();
        result
    }

    /// Replaces where a symbol's prices come from.
    pub fn set_price_source(&mut self, symbol: &str, source: PriceSource) -> Result<(), Reject> {
        self.instrument(symbol)?;
        if let Some(m) = self.markets.get_mut(symbol) {
            m.source = source;
            m.next_walk_at = i64::MIN;
        }
        Ok(())
    }

    /// Replaces a symbol's book shape (e.g. a thin book for partial-fill tests).
    pub fn set_book_shape(&mut self, symbol: &str, shape: BookShape) -> Result<(), Reject> {
        self.instrument(symbol)?;
        let sane = (1..=MAX_BOOK_LEVELS).contains(&shape.levels)
            && (1..=MAX_BOOK_LEVELS).contains(&shape.spacing_ticks)
            && shape.level_notional > Decimal::ZERO
            && shape.level_notional <= MAX_BALANCE;
        if !sane {
            return Err(Reject::params(
                "book shape out of range: levels and spacingTicks 1..=10000, levelNotional > 0",
            ));
        }
        if let Some(m) = self.markets.get_mut(symbol) {
            m.book = shape;
            m.book_update_id += 1;
            self.outbox.markets.insert(symbol.to_owned());
        }
        self.flush();
        Ok(())
    }

    /// Sets the USDT wallet balance (a deposit or withdrawal outside trading), between 0 and
    /// [`MAX_BALANCE`].
    pub fn set_balance(&mut self, now: i64, usdt: Decimal) -> Result<(), Reject> {
        if usdt < Decimal::ZERO || usdt > MAX_BALANCE {
            return Err(Reject::params(format!(
                "balance must be between 0 and {MAX_BALANCE}"
            )));
        }
        self.touch(now);
        self.wallet = usdt;
        self.outbox.wallet = true;
        self.flush();
        Ok(())
    }

    /// Moves time to `now`: every symbol's price source prints what is due, and the book
    /// reacts to each print.
    pub fn advance(&mut self, now: i64) {
        self.touch(now);
        let symbols: Vec<String> = self.markets.keys().cloned().collect();
        for symbol in symbols {
            let Some(inst) = self.instruments.get(&symbol) else {
                continue;
            };
            let rules = inst.rules.clone();
            let source = self.markets.get(&symbol).map(|m| m.source.clone());
            match source {
                Some(PriceSource::RandomWalk {
                    interval_ms,
                    max_step_ticks,
                }) if interval_ms > 0 => {
                    let mut steps = 0;
                    while let Some(m) = self.markets.get_mut(&symbol) {
                        if m.next_walk_at == i64::MIN {
                            m.next_walk_at = now.saturating_add(interval_ms);
                            break;
                        }
                        if m.next_walk_at > now.saturating_add(interval_ms) {
                            // Time stepped back (a clock fault undone): restart the cadence.
                            m.next_walk_at = now.saturating_add(interval_ms);
                        }
                        if m.next_walk_at > now {
                            break;
                        }
                        steps += 1;
                        if steps > MAX_WALK_STEPS {
                            // Far behind: skip the missed steps rather than replay them all.
                            m.next_walk_at = now.saturating_add(interval_ms);
                            break;
                        }
                        m.next_walk_at = m.next_walk_at.saturating_add(interval_ms);
                        let ticks = m.draw_step(max_step_ticks);
                        let price = m.last + rules.tick_size() * Decimal::from(ticks);
                        if ticks != 0
                            && price >= rules.min_price()
                            && price <= rules.max_price()
                            && price > Decimal::ZERO
                        {
                            self.print(&symbol, price, rules.min_order_qty(), None);
                            self.settle_market(&symbol);
                        }
                    }
                }
                Some(PriceSource::Path { .. }) => loop {
                    let point = match self.markets.get_mut(&symbol).map(|m| &mut m.source) {
                        Some(PriceSource::Path { points }) => match points.front() {
                            Some(p) if p.at_ms <= now => points.pop_front(),
                            _ => None,
                        },
                        _ => None,
                    };
                    let Some(point) = point else { break };
                    let price = round_price(&rules, point.price, RoundingMode::Nearest);
                    if price > Decimal::ZERO
                        && price >= rules.min_price()
                        && price <= rules.max_price()
                    {
                        let qty = point.qty.unwrap_or(rules.min_order_qty());
                        self.print(&symbol, price, qty, None);
                        self.settle_market(&symbol);
                    }
                },
                _ => {}
            }
        }
        self.flush();
    }

    /// Records a print on the tape. `taker` is the side that took liquidity when an order of
    /// ours did; synthetic prints take the side of the move.
    pub(super) fn print(
        &mut self,
        symbol: &str,
        price: Decimal,
        qty: Decimal,
        taker: Option<Side>,
    ) {
        let now = self.now;
        let trade_id = self.uuid();
        let Some(m) = self.markets.get_mut(symbol) else {
            return;
        };
        let side = taker.unwrap_or(if price >= m.last {
            Side::Buy
        } else {
            Side::Sell
        });
        m.print(price, qty);
        m.last_taker = side;
        let seq = m.cross_seq;
        self.outbox.trades.push(PublicTrade {
            symbol: symbol.to_owned(),
            time_ms: now,
            taker_side: side,
            price,
            qty,
            trade_id,
            seq,
        });
        // No position push here: Bybit pushes positions on fills, order operations and setting
        // changes (v5/websocket/private/position), not on every print; REST reads show the
        // moving mark price and unrealised PnL.
        self.outbox.markets.insert(symbol.to_owned());
    }

    pub(super) fn best_opposite(&self, symbol: &str, side: Side) -> Decimal {
        let Ok(inst) = self.instrument(symbol) else {
            return Decimal::ZERO;
        };
        let spacing =
            inst.rules.tick_size() * Decimal::from(self.book_shape(symbol).spacing_ticks.max(1));
        let last = self.last_price(symbol);
        match side {
            Side::Buy => last + spacing,
            Side::Sell => last - spacing,
        }
    }

    pub(super) fn is_marketable(&self, symbol: &str, side: Side, price: Decimal) -> bool {
        let best = self.best_opposite(symbol, side);
        match side {
            Side::Buy => price >= best,
            Side::Sell => price <= best,
        }
    }

    /// Levels a taker on `side` can reach up to `limit`, best first.
    pub(super) fn reachable(&self, symbol: &str, side: Side, limit: Decimal) -> Vec<Level> {
        let Ok(book) = self.book(symbol, usize::MAX) else {
            return Vec::new();
        };
        let levels = if side == Side::Buy {
            book.asks
        } else {
            book.bids
        };
        levels
            .into_iter()
            .take_while(|l| match side {
                Side::Buy => l.price <= limit,
                Side::Sell => l.price >= limit,
            })
            .collect()
    }
}
