//! Per-symbol market state: the last price, where the next price comes from, the synthetic
//! book quoted around it, and the public statistics tickers report.

use std::collections::VecDeque;

use rand::{RngExt, SeedableRng};
use rand_xorshift::XorShiftRng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::BookShape;

/// One point of a scripted or recorded price path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricePoint {
    /// When the price prints (engine time, ms).
    pub at_ms: i64,
    /// The traded price.
    pub price: Decimal,
    /// The traded size, where known (recorded trades); synthetic prints use the minimum qty.
    pub qty: Option<Decimal>,
}

/// Where a symbol's next prices come from. Prices only move when [`crate::Engine::advance`]
/// (or an explicit set) reaches them, so time stays in the caller's hands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PriceSource {
    /// The price moves only when set explicitly or traded through by orders.
    Manual,
    /// A seeded random walk: every `interval_ms` the price moves by a uniformly drawn number of
    /// ticks in `[-max_step_ticks, max_step_ticks]`.
    RandomWalk {
        /// Time between steps.
        interval_ms: i64,
        /// Largest move per step, in ticks.
        max_step_ticks: u32,
    },
    /// A path of prices printed at given times: a replay of recorded trades, or a scripted
    /// "move along this path" for deterministic tests. Points already in the past when the
    /// path is set print at the next advance, in order.
    Path {
        /// Points not yet printed, in time order.
        points: VecDeque<PricePoint>,
    },
}

impl PriceSource {
    /// A path through `prices`, one every `interval_ms` starting at `start_ms`.
    pub fn path(start_ms: i64, interval_ms: i64, prices: &[Decimal]) -> Self {
        let mut at = start_ms;
        let points = prices
            .iter()
            .map(|&price| {
                let point = PricePoint {
                    at_ms: at,
                    price,
                    qty: None,
                };
                at = at.saturating_add(interval_ms);
                point
            })
            .collect();
        PriceSource::Path { points }
    }

    /// A replay of recorded trades `(time, price, qty)`, shifted so the first trade prints at
    /// `start_ms` and the gaps between trades are kept.
    pub fn replay(start_ms: i64, trades: &[(i64, Decimal, Decimal)]) -> Self {
        let first = trades.first().map_or(0, |t| t.0);
        let points = trades
            .iter()
            .map(|&(at, price, qty)| PricePoint {
                at_ms: start_ms.saturating_add(at.saturating_sub(first)),
                price,
                qty: Some(qty),
            })
            .collect();
        PriceSource::Path { points }
    }
}

/// A price level: price and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Price.
    pub price: Decimal,
    /// Size in contracts.
    pub qty: Decimal,
}

/// A depth snapshot of the synthetic book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookSnapshot {
    /// Bids, best (highest) first.
    pub bids: Vec<Level>,
    /// Asks, best (lowest) first.
    pub asks: Vec<Level>,
}

/// A trade printed on the public tape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicTrade {
    /// Symbol.
    pub symbol: String,
    /// Time, ms.
    pub time_ms: i64,
    /// Taker side.
    pub taker_side: bybit_types::WireSide,
    /// Price.
    pub price: Decimal,
    /// Size.
    pub qty: Decimal,
    /// Trade id.
    pub trade_id: String,
    /// Cross sequence.
    pub seq: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Market {
    pub(crate) last: Decimal,
    /// The price before the last print (tick direction).
    pub(crate) prev_print: Decimal,
    pub(crate) prev_price_24h: Decimal,
    pub(crate) high_24h: Decimal,
    pub(crate) low_24h: Decimal,
    pub(crate) volume_24h: Decimal,
    pub(crate) turnover_24h: Decimal,
    pub(crate) source: PriceSource,
    pub(crate) next_walk_at: i64,
    pub(crate) rng: XorShiftRng,
    pub(crate) book: BookShape,
    /// Bumped on every book change (`u` of the orderbook topic).
    pub(crate) book_update_id: u64,
    /// Bumped on every print (`seq` of trades and books).
    pub(crate) cross_seq: u64,
    /// The last print the engine has reacted to: a print triggers orders once.
    pub(crate) settled_seq: u64,
    /// Which side took liquidity in the last print.
    pub(crate) last_taker: bybit_types::WireSide,
    /// A living market: book sizes shaped and varied like a real book, random print sizes.
    pub(crate) living: bool,
    /// Seed of the living book's size noise.
    pub(crate) book_seed: u64,
    /// The next funding time (ms); `i64::MIN` until time is first known.
    pub(crate) next_funding: i64,
}

impl Market {
    pub(crate) fn new(last: Decimal, book: BookShape, seed: u64) -> Self {
        Market {
            last,
            prev_print: last,
            prev_price_24h: last,
            high_24h: last,
            low_24h: last,
            volume_24h: Decimal::ZERO,
            turnover_24h: Decimal::ZERO,
            source: PriceSource::Manual,
            next_walk_at: i64::MIN,
            rng: XorShiftRng::seed_from_u64(seed),
            book,
            book_update_id: 1,
            cross_seq: 1,
            settled_seq: 1,
            last_taker: bybit_types::WireSide::Buy,
            living: false,
            book_seed: seed.rotate_left(17),
            next_funding: i64::MIN,
        }
    }

    /// Records a print at `price` for `qty`.
    pub(crate) fn print(&mut self, price: Decimal, qty: Decimal) {
        self.prev_print = self.last;
        self.last = price;
        self.high_24h = self.high_24h.max(price);
        self.low_24h = self.low_24h.min(price);
        // Statistics only: saturate rather than fail on absurd replayed sizes.
        self.volume_24h = self.volume_24h.saturating_add(qty);
        self.turnover_24h = self.turnover_24h.saturating_add(qty.saturating_mul(price));
        self.book_update_id += 1;
        self.cross_seq += 1;
    }

    /// A print size in lots, 1 to `max`, from the symbol's own seeded generator.
    pub(crate) fn draw_lots(&mut self, max: u32) -> u32 {
        self.rng.random_range(1..=max.max(1))
    }

    /// The next random-walk step in ticks, drawn from the symbol's own seeded generator.
    pub(crate) fn draw_step(&mut self, max_step_ticks: u32) -> i64 {
        let max = i64::from(max_step_ticks);
        if max == 0 {
            return 0;
        }
        self.rng.random_range(-max..=max)
    }
}
