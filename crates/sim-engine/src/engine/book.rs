//! The market: the synthetic book, prices set or walked, prints on the tape.

use std::collections::BTreeMap;

use bybit_meta::RoundingMode;
use bybit_types::{OrderStatus, OrderType, WireSide};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::{round_price, Engine, MAX_BALANCE, MAX_BOOK_LEVELS, MAX_WALK_STEPS};
use crate::config::BookShape;
use crate::market::{BookSnapshot, Level, PriceSource, PublicTrade};
use crate::reject::Reject;

impl Engine {
    pub(super) fn book_shape(&self, symbol: &str) -> BookShape {
        self.markets.get(symbol).map(|m| m.book).unwrap_or_default()
    }

    /// Size of the synthetic level at `price` (the touch of a resting order).
    pub(super) fn level_qty(&self, symbol: &str, price: Decimal) -> Decimal {
        let Some(sizer) = self.sizer(symbol) else {
            return Decimal::ZERO;
        };
        let ticks = (price / sizer.tick).trunc().to_u64().unwrap_or_default();
        sizer.qty(price, 0, ticks)
    }

    fn sizer(&self, symbol: &str) -> Option<LevelSizer<'_>> {
        let inst = self.instruments.get(symbol)?;
        let market = self.markets.get(symbol)?;
        Some(LevelSizer {
            rules: &inst.rules,
            tick: inst.rules.tick_size(),
            notional: market.book.level_notional,
            living: market
                .living
                .then_some((market.book_seed, market.book_update_id)),
        })
    }

    /// The public book, `depth` levels per side: the synthetic book around the last price with
    /// the account's own resting limit orders added at their prices, as they would show on
    /// Bybit (and so in the ticker's `bid1Price` / `ask1Price`).
    pub fn book(&self, symbol: &str, depth: usize) -> Result<BookSnapshot, Reject> {
        let synthetic = self.synthetic_book(symbol, depth)?;
        let mut bids: BTreeMap<Decimal, Decimal> = BTreeMap::new();
        let mut asks: BTreeMap<Decimal, Decimal> = BTreeMap::new();
        for l in &synthetic.bids {
            bids.insert(l.price, l.qty);
        }
        for l in &synthetic.asks {
            asks.insert(l.price, l.qty);
        }
        let best_bid = synthetic.bids.first().map(|l| l.price);
        let best_ask = synthetic.asks.first().map(|l| l.price);
        for o in self.open_iter().filter(|o| {
            o.symbol == symbol
                && o.order_type == OrderType::Limit
                && matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled)
        }) {
            // An order that would cross the synthetic book is not shown (it cannot rest there
            // for long); everything else joins or makes its level.
            match o.side {
                WireSide::Buy if best_ask.is_none_or(|a| o.price < a) => {
                    *bids.entry(o.price).or_default() += o.leaves;
                }
                WireSide::Sell if best_bid.is_none_or(|b| o.price > b) => {
                    *asks.entry(o.price).or_default() += o.leaves;
                }
                _ => {}
            }
        }
        let level = |(price, qty): (&Decimal, &Decimal)| Level {
            price: *price,
            qty: *qty,
        };
        Ok(BookSnapshot {
            bids: bids.iter().rev().take(depth).map(level).collect(),
            asks: asks.iter().take(depth).map(level).collect(),
        })
    }

    /// The synthetic book around the last price, `depth` levels per side: what orders of the
    /// account trade against.
    pub(super) fn synthetic_book(
        &self,
        symbol: &str,
        depth: usize,
    ) -> Result<BookSnapshot, Reject> {
        self.instrument(symbol)?;
        Ok(BookSnapshot {
            bids: self.synthetic_side(symbol, WireSide::Buy, depth, |_| true),
            asks: self.synthetic_side(symbol, WireSide::Sell, depth, |_| true),
        })
    }

    /// One side of the synthetic book (`Buy`: bids), best first: at most `depth` levels, and
    /// only while `keep` accepts them, so a taker computes no more levels than it reaches.
    fn synthetic_side(
        &self,
        symbol: &str,
        side: WireSide,
        depth: usize,
        mut keep: impl FnMut(&Level) -> bool,
    ) -> Vec<Level> {
        let Some(sizer) = self.sizer(symbol) else {
            return Vec::new();
        };
        let rules = sizer.rules;
        let last = self.last_price(symbol);
        let spacing = self.book_shape(symbol).spacing_ticks.max(1);
        let step = sizer.tick * Decimal::from(spacing);
        let levels = usize::try_from(self.book_shape(symbol).levels)
            .unwrap_or(usize::MAX)
            .min(depth);
        let last_ticks = (last / sizer.tick).trunc().to_u64().unwrap_or_default();
        let mut out = Vec::with_capacity(levels.min(256));
        for i in 1..=levels {
            let offset = step * Decimal::from(i);
            let offset_ticks = u64::from(spacing) * u64::try_from(i).unwrap_or(u64::MAX);
            let (price, ticks) = match side {
                WireSide::Buy => (last - offset, last_ticks.saturating_sub(offset_ticks)),
                WireSide::Sell => (last + offset, last_ticks.saturating_add(offset_ticks)),
            };
            // Past the end of the price filter nothing more can be quoted.
            if price <= Decimal::ZERO || price < rules.min_price() || price > rules.max_price() {
                break;
            }
            let level = Level {
                price,
                qty: sizer.qty(price, i - 1, ticks),
            };
            if !keep(&level) {
                break;
            }
            out.push(level);
        }
        out
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

    /// Moves time to `now`: every symbol's price source prints what is due, the book reacts
    /// to each print, and positions pay or receive funding at each funding time passed.
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
                            // A living market prints varied sizes: 1 to 20 minimum lots.
                            let lots = if m.living { m.draw_lots(20) } else { 1 };
                            let qty = rules.min_order_qty() * Decimal::from(lots);
                            self.print(&symbol, price, qty, None);
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
            self.settle_funding(&symbol);
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
        taker: Option<WireSide>,
    ) {
        let now = self.now;
        let trade_id = self.uuid();
        let Some(m) = self.markets.get_mut(symbol) else {
            return;
        };
        let side = taker.unwrap_or(if price >= m.last {
            WireSide::Buy
        } else {
            WireSide::Sell
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

    pub(super) fn best_opposite(&self, symbol: &str, side: WireSide) -> Decimal {
        let Ok(inst) = self.instrument(symbol) else {
            return Decimal::ZERO;
        };
        let spacing =
            inst.rules.tick_size() * Decimal::from(self.book_shape(symbol).spacing_ticks.max(1));
        let last = self.last_price(symbol);
        match side {
            WireSide::Buy => last + spacing,
            WireSide::Sell => last - spacing,
        }
    }

    pub(super) fn is_marketable(&self, symbol: &str, side: WireSide, price: Decimal) -> bool {
        let best = self.best_opposite(symbol, side);
        match side {
            WireSide::Buy => price >= best,
            WireSide::Sell => price <= best,
        }
    }

    /// Levels a taker on `side` can reach up to `limit`, best first, as far as it takes to
    /// cover `needed`.
    pub(super) fn reachable(
        &self,
        symbol: &str,
        side: WireSide,
        limit: Decimal,
        needed: Decimal,
    ) -> Vec<Level> {
        let mut covered = Decimal::ZERO;
        self.synthetic_side(symbol, side.opposite(), usize::MAX, |l| {
            let within = match side {
                WireSide::Buy => l.price <= limit,
                WireSide::Sell => l.price >= limit,
            };
            let take = within && covered < needed;
            covered += l.qty;
            take
        })
    }
}

/// What sizes the levels of one symbol's synthetic book.
struct LevelSizer<'a> {
    rules: &'a bybit_meta::InstrumentRules,
    tick: Decimal,
    notional: Decimal,
    /// Book seed and update id of a living market.
    living: Option<(u64, u64)>,
}

impl LevelSizer<'_> {
    /// Size of the level at `price` (`ticks` in ticks), `index` levels (from 0) away from the
    /// last price: `level_notional / price`, floored to the step, never below the minimum
    /// order quantity; in a living market shaped and varied like a real book
    /// ([`living_factor`]).
    fn qty(&self, price: Decimal, index: usize, ticks: u64) -> Decimal {
        if price <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        let mut raw = self.notional.checked_div(price).unwrap_or(Decimal::ZERO);
        if let Some((seed, update_id)) = self.living {
            raw *= living_factor(seed, ticks, index, update_id);
        }
        self.rules
            .round_qty(raw)
            .unwrap_or(Decimal::ZERO)
            .max(self.rules.min_order_qty())
    }
}

/// How a living book's level at `ticks` (its price in ticks), `index` levels from the last
/// price, differs from the flat `level_notional`: a depth profile times a heavy-tailed noise.
///
/// The profile follows the captured XRPUSDT 500-level book (fixture
/// `ws_public_orderbook_ob500_XRPUSDT_2024-12-01.jsonl`): median sizes are about 0.7× at the
/// top five levels, 1.3× from 5 to 50, 0.6× to 100, 0.45× to 200 and 0.1× beyond; single
/// levels range from a twentieth to several times their neighbours. The noise is drawn from a
/// hash of the level's price and a slowly moving epoch, so a level keeps its size while the
/// price moves around it and re-draws it every few prints (staggered by price), as resting
/// liquidity comes and goes.
fn living_factor(seed: u64, ticks: u64, index: usize, update_id: u64) -> Decimal {
    let profile = match index {
        0..5 => Decimal::new(7, 1),
        5..50 => Decimal::new(13, 1),
        50..100 => Decimal::new(6, 1),
        100..200 => Decimal::new(45, 2),
        _ => Decimal::new(1, 1),
    };
    let epoch = update_id.wrapping_add(ticks % 5) / 5;
    let h = splitmix(seed ^ splitmix(ticks ^ splitmix(epoch)));
    // 0.05 .. 2.05, skewed low (a square), with one level in 25 four times larger.
    let r = h % 1000;
    let mut permille = 50 + r * r / 500;
    if (h >> 20) % 25 == 0 {
        permille *= 4;
    }
    profile * Decimal::new(i64::try_from(permille).unwrap_or(1000), 3)
}

/// SplitMix64's finaliser: a cheap, well-mixed hash of one word.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
