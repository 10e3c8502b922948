//! A local order book per symbol from `orderbook.{depth}.{symbol}` snapshots and deltas, with
//! the continuity checks that decide when it can no longer be trusted (REFERENCE.md §6.2).

use std::cmp::Ordering;
use std::fmt;

use bybit_types::ws::public::{Level, OrderbookMessage};
use rust_decimal::Decimal;

/// Why a book stopped being trustworthy; the stream resubscribes the topic for a fresh
/// snapshot when it sees one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BookError {
    /// A delta arrived before any snapshot (or after the book was invalidated).
    DeltaBeforeSnapshot,
    /// A delta's `u` is not the previous one plus one.
    Gap {
        /// The `u` expected.
        expected: i64,
        /// The `u` received.
        got: i64,
    },
    /// After a delta the best bid is at or above the best ask.
    Crossed {
        /// Best bid.
        bid: Decimal,
        /// Best ask.
        ask: Decimal,
    },
}

impl fmt::Display for BookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BookError::DeltaBeforeSnapshot => f.write_str("delta before any snapshot"),
            BookError::Gap { expected, got } => {
                write!(f, "gap in u: expected {expected}, got {got}")
            }
            BookError::Crossed { bid, ask } => write!(f, "crossed book: bid {bid} >= ask {ask}"),
        }
    }
}

impl std::error::Error for BookError {}

/// What applying one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The book was replaced (a snapshot, or `u == 1`: a service restart).
    Reset,
    /// A delta was applied.
    Delta,
}

/// One symbol's book, at most `depth` levels per side. Bids are kept high to low and asks low
/// to high in plain sorted vectors: the views below are slices, so reading allocates nothing,
/// and a delta touches levels near the top, where moving a few hundred 32-byte entries is
/// cheaper than a tree's pointer chasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBook {
    symbol: String,
    depth: usize,
    bids: Side,
    asks: Side,
    update_id: i64,
    seq: Option<i64>,
    ts: i64,
    ready: bool,
}

impl OrderBook {
    /// An empty book of `symbol` holding at most `depth` levels a side.
    pub fn new(symbol: impl Into<String>, depth: usize) -> Self {
        OrderBook {
            symbol: symbol.into(),
            depth: depth.max(1),
            bids: Side::new(true, depth.min(1000)),
            asks: Side::new(false, depth.min(1000)),
            update_id: 0,
            seq: None,
            ts: 0,
            ready: false,
        }
    }

    /// Applies one message. A snapshot, or any message with `u == 1`, replaces the book;
    /// a delta must carry the next `u`, and sizes are absolute (zero deletes the level).
    /// On an error the book is emptied and stays unusable until the next snapshot.
    pub fn apply(&mut self, message: &OrderbookMessage) -> Result<Applied, BookError> {
        let data = &message.data;
        if message.is_snapshot() || data.update_id == 1 {
            self.bids.replace(&data.bids);
            self.asks.replace(&data.asks);
            self.bids.truncate(self.depth);
            self.asks.truncate(self.depth);
            self.finish(message);
            return self.check_crossed().map(|()| Applied::Reset);
        }
        if !self.ready {
            return Err(BookError::DeltaBeforeSnapshot);
        }
        let expected = self.update_id.saturating_add(1);
        if data.update_id != expected {
            self.invalidate();
            return Err(BookError::Gap {
                expected,
                got: data.update_id,
            });
        }
        for &(price, size) in &data.bids {
            self.bids.set(price, size);
        }
        for &(price, size) in &data.asks {
            self.asks.set(price, size);
        }
        self.bids.truncate(self.depth);
        self.asks.truncate(self.depth);
        self.finish(message);
        self.check_crossed().map(|()| Applied::Delta)
    }

    fn finish(&mut self, message: &OrderbookMessage) {
        self.update_id = message.data.update_id;
        self.seq = message.data.seq;
        self.ts = message.ts;
        self.ready = true;
    }

    fn check_crossed(&mut self) -> Result<(), BookError> {
        if let (Some(&(bid, _)), Some(&(ask, _))) =
            (self.bids.levels.first(), self.asks.levels.first())
        {
            if bid >= ask {
                self.invalidate();
                return Err(BookError::Crossed { bid, ask });
            }
        }
        Ok(())
    }

    /// Empties the book until the next snapshot.
    pub fn invalidate(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.ready = false;
    }

    /// The symbol.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// The most levels kept per side.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Whether the book holds a snapshot and every delta since.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The `u` of the last message applied.
    pub fn update_id(&self) -> i64 {
        self.update_id
    }

    /// The `seq` of the last message applied.
    pub fn seq(&self) -> Option<i64> {
        self.seq
    }

    /// The `ts` (ms) of the last message applied.
    pub fn ts(&self) -> i64 {
        self.ts
    }

    /// The best bid `(price, size)`.
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.levels.first().copied()
    }

    /// The best ask `(price, size)`.
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.levels.first().copied()
    }

    /// The mid price, `(bid + ask) / 2`.
    pub fn mid(&self) -> Option<Decimal> {
        let (bid, _) = self.best_bid()?;
        let (ask, _) = self.best_ask()?;
        bid.checked_add(ask)?.checked_div(Decimal::TWO)
    }

    /// The spread, `ask - bid`.
    pub fn spread(&self) -> Option<Decimal> {
        let (bid, _) = self.best_bid()?;
        let (ask, _) = self.best_ask()?;
        ask.checked_sub(bid)
    }

    /// The best `n` bids, high to low (fewer if the book is thinner).
    pub fn bids(&self, n: usize) -> &[Level] {
        &self.bids.levels[..n.min(self.bids.levels.len())]
    }

    /// The best `n` asks, low to high.
    pub fn asks(&self, n: usize) -> &[Level] {
        &self.asks.levels[..n.min(self.asks.levels.len())]
    }
}

/// Compares two prices. A book's prices are positive and written with one scale, where the
/// order is the order of the mantissas: two integer compares instead of `Decimal`'s general
/// one (which checks for zeros and signs and rescales), which was most of the time an apply
/// took. Any other pair takes the general comparison.
#[inline]
fn cmp_price(a: &Decimal, b: &Decimal) -> Ordering {
    if a.scale() == b.scale() && a.is_sign_positive() && b.is_sign_positive() {
        a.mantissa().cmp(&b.mantissa())
    } else {
        a.cmp(b)
    }
}

/// How a side's searches compare prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// The side is empty since its last clear; the first level inserted decides.
    Undecided,
    /// Every price on the side is positive, has this scale and a mantissa below 2^64; `keys`
    /// holds the mantissas, so a search compares `u64`s.
    Scale(u32),
    /// Some price was not like that (another scale, say): searches compare the prices, and
    /// `keys` stays empty until the side is cleared.
    Prices,
}

/// One side of a book: its levels in book order (bids high to low, asks low to high) and,
/// while every price has one scale, each price's mantissa in a parallel vector. Comparing
/// `Decimal`s was most of the time an apply took (a profile of the captured XRPUSDT stream);
/// a book's prices are written with one scale, where the mantissas' order is the prices'.
#[derive(Debug, Clone)]
struct Side {
    bids: bool,
    levels: Vec<Level>,
    keys: Vec<u64>,
    mode: Keys,
}

/// Two sides are equal when their levels are: the keys are a cache of them.
impl PartialEq for Side {
    fn eq(&self, other: &Side) -> bool {
        self.bids == other.bids && self.levels == other.levels
    }
}

impl Eq for Side {}

impl Side {
    fn new(bids: bool, capacity: usize) -> Side {
        Side {
            bids,
            levels: Vec::with_capacity(capacity),
            keys: Vec::with_capacity(capacity),
            mode: Keys::Undecided,
        }
    }

    fn clear(&mut self) {
        self.levels.clear();
        self.keys.clear();
        self.mode = Keys::Undecided;
    }

    fn truncate(&mut self, depth: usize) {
        self.levels.truncate(depth);
        self.keys.truncate(depth);
    }

    /// The key of `price` on a side keyed at `scale`, if it can have one.
    fn key(price: &Decimal, scale: u32) -> Option<u64> {
        if price.scale() == scale && price.is_sign_positive() {
            u64::try_from(price.mantissa()).ok()
        } else {
            None
        }
    }

    /// Where `price` is, or would go.
    fn find(&self, price: &Decimal) -> Result<usize, usize> {
        if let Keys::Scale(scale) = self.mode {
            if let Some(key) = Side::key(price, scale) {
                return if self.bids {
                    self.keys.binary_search_by(|k| key.cmp(k))
                } else {
                    self.keys.binary_search(&key)
                };
            }
        }
        // Less: the level comes before `price` on this side.
        self.levels.binary_search_by(|(p, _)| {
            if self.bids {
                cmp_price(price, p)
            } else {
                cmp_price(p, price)
            }
        })
    }

    /// Inserts a level known to be absent at `i`, keeping the keys true.
    fn insert(&mut self, i: usize, price: Decimal, size: Decimal) {
        match self.mode {
            Keys::Undecided => match Side::key(&price, price.scale()) {
                Some(key) if self.levels.is_empty() => {
                    self.mode = Keys::Scale(price.scale());
                    self.keys.push(key);
                }
                _ => self.mode = Keys::Prices,
            },
            Keys::Scale(scale) => match Side::key(&price, scale) {
                Some(key) => self.keys.insert(i, key),
                None => {
                    self.mode = Keys::Prices;
                    self.keys.clear();
                }
            },
            Keys::Prices => {}
        }
        self.levels.insert(i, (price, size));
    }

    /// Sets one level: size zero removes it (an absent level is not an error), another size
    /// inserts or replaces it.
    fn set(&mut self, price: Decimal, size: Decimal) {
        match (self.find(&price), size.is_zero()) {
            (Ok(i), true) => {
                self.levels.remove(i);
                if matches!(self.mode, Keys::Scale(_)) {
                    self.keys.remove(i);
                }
            }
            (Ok(i), false) => {
                if let Some(level) = self.levels.get_mut(i) {
                    level.1 = size;
                }
            }
            (Err(_), true) => {}
            (Err(i), false) => self.insert(i, price, size),
        }
    }

    /// Replaces the side with a snapshot's levels. A snapshot comes sorted, so its levels are
    /// appended as they are, one comparison each to check the order; a level out of order (or
    /// a repeated price) sends the rest through [`Side::set`].
    fn replace(&mut self, levels: &[Level]) {
        self.clear();
        for (i, &(price, size)) in levels.iter().enumerate() {
            let in_order = self.levels.last().is_none_or(|(last, _)| {
                let order = cmp_price(last, &price);
                if self.bids {
                    order == Ordering::Greater
                } else {
                    order == Ordering::Less
                }
            });
            if !in_order {
                for &(price, size) in levels.get(i..).unwrap_or_default() {
                    self.set(price, size);
                }
                return;
            }
            if !size.is_zero() {
                self.insert(self.levels.len(), price, size);
            }
        }
    }
}

/// The depth named by an `orderbook.{depth}.{symbol}` topic.
pub(crate) fn topic_depth(topic: &str) -> Option<usize> {
    let mut parts = topic.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("orderbook"), Some(depth), Some(_), None) => depth.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use bybit_types::ws::WsMessage;
    use rust_decimal_macros::dec;

    use super::*;

    fn message(text: &str) -> OrderbookMessage {
        match WsMessage::parse(text).unwrap() {
            WsMessage::Orderbook(m) => m,
            other => panic!("not a book: {other:?}"),
        }
    }

    fn frame(kind: &str, u: i64, bids: &str, asks: &str) -> OrderbookMessage {
        message(&format!(
            r#"{{"topic":"orderbook.50.BTCUSDT","type":"{kind}","ts":1,"data":{{"s":"BTCUSDT","b":{bids},"a":{asks},"u":{u},"seq":7}},"cts":1}}"#
        ))
    }

    // docs/v5/websocket/public/orderbook.mdx: snapshot resets, size 0 deletes, unknown price
    // inserts, known price replaces; u == 1 overwrites.
    #[test]
    fn snapshot_then_deltas_follow_the_documented_rules() {
        let mut book = OrderBook::new("BTCUSDT", 3);
        assert_eq!(
            book.apply(&frame("delta", 5, "[]", "[]")),
            Err(BookError::DeltaBeforeSnapshot)
        );
        let snap = frame(
            "snapshot",
            10,
            r#"[["100","1"],["99","2"],["98","3"],["97","4"]]"#,
            r#"[["101","1"],["102","2"]]"#,
        );
        assert_eq!(book.apply(&snap), Ok(Applied::Reset));
        assert_eq!(book.bids(10).len(), 3, "truncated to depth");
        assert_eq!(book.mid(), Some(dec!(100.5)));
        assert_eq!(book.spread(), Some(dec!(1)));
        let delta = frame(
            "delta",
            11,
            r#"[["100","0"],["99.5","5"]]"#,
            r#"[["101","7"],["105","0"]]"#,
        );
        assert_eq!(book.apply(&delta), Ok(Applied::Delta));
        assert_eq!(book.bids(2), &[(dec!(99.5), dec!(5)), (dec!(99), dec!(2))]);
        assert_eq!(book.best_ask(), Some((dec!(101), dec!(7))));
        assert_eq!(
            book.apply(&frame("delta", 13, "[]", "[]")),
            Err(BookError::Gap {
                expected: 12,
                got: 13
            })
        );
        assert!(!book.is_ready() && book.best_bid().is_none());
        // A restart snapshot arrives as u == 1 and overwrites.
        assert_eq!(
            book.apply(&frame("delta", 1, r#"[["50","1"]]"#, r#"[["51","1"]]"#)),
            Ok(Applied::Reset)
        );
        assert_eq!(book.update_id(), 1);
        assert_eq!(
            book.apply(&frame("delta", 2, r#"[["52","1"]]"#, "[]")),
            Err(BookError::Crossed {
                bid: dec!(52),
                ask: dec!(51)
            })
        );
    }

    mod props {
        use std::collections::BTreeMap;

        use proptest::prelude::*;
        use rust_decimal::Decimal;

        use super::super::*;

        /// A price from a small grid, written with one of three scales (so equal prices can
        /// come with different scales, the case the fast comparison hands to `Decimal`'s).
        fn price() -> impl Strategy<Value = Decimal> {
            (1i64..40, 0u32..3).prop_map(|(ticks, extra)| {
                let mut p = Decimal::new(ticks * 5, 1);
                p.rescale(1 + extra);
                p
            })
        }

        fn level() -> impl Strategy<Value = (Decimal, Decimal)> {
            (price(), prop_oneof![Just(0i64), 1i64..5]).prop_map(|(p, s)| (p, Decimal::from(s)))
        }

        fn reference_apply(side: &mut BTreeMap<Decimal, Decimal>, levels: &[(Decimal, Decimal)]) {
            for &(p, s) in levels {
                if s.is_zero() {
                    side.remove(&p);
                } else {
                    side.insert(p, s);
                }
            }
        }

        proptest! {
            // Snapshot (sorted or not, repeated prices, zero sizes) then deltas: each side
            // holds what a price → size map holds, in order, whatever the scales.
            #[test]
            fn sides_match_a_map_of_the_same_levels(
                snapshot in proptest::collection::vec(level(), 0..30),
                sort in any::<bool>(),
                deltas in proptest::collection::vec(proptest::collection::vec(level(), 0..8), 0..20),
                one_scale in any::<bool>(),
            ) {
                let (mut snapshot, mut deltas) = (snapshot, deltas);
                // Mostly one scale, as on the wire (the keyed search), or mixed (its fallback).
                if one_scale {
                    for (p, _) in snapshot.iter_mut().chain(deltas.iter_mut().flatten()) {
                        p.rescale(1);
                    }
                }
                if sort {
                    snapshot.sort_by_key(|level| std::cmp::Reverse(level.0));
                }
                let mut bids = Side::new(true, 0);
                bids.replace(&snapshot);
                let mut asks = Side::new(false, 0);
                let mut ask_snapshot = snapshot.clone();
                ask_snapshot.reverse();
                asks.replace(&ask_snapshot);
                let mut bid_ref = BTreeMap::new();
                reference_apply(&mut bid_ref, &snapshot);
                let mut ask_ref = BTreeMap::new();
                reference_apply(&mut ask_ref, &ask_snapshot);
                for delta in &deltas {
                    for &(p, s) in delta {
                        bids.set(p, s);
                        asks.set(p, s);
                    }
                    reference_apply(&mut bid_ref, delta);
                    reference_apply(&mut ask_ref, delta);
                }
                // Decimal equality ignores scale, as the map's keys do.
                let want_bids: Vec<_> = bid_ref.iter().rev().map(|(p, s)| (*p, *s)).collect();
                let want_asks: Vec<_> = ask_ref.iter().map(|(p, s)| (*p, *s)).collect();
                for side in [&bids, &asks] {
                    if let Keys::Scale(scale) = side.mode {
                        let keys: Vec<_> =
                            side.levels.iter().map(|(p, _)| Side::key(p, scale)).collect();
                        prop_assert_eq!(keys, side.keys.iter().map(|k| Some(*k)).collect::<Vec<_>>());
                    } else {
                        prop_assert!(side.keys.is_empty());
                    }
                }
                prop_assert_eq!(bids.levels, want_bids);
                prop_assert_eq!(asks.levels, want_asks);
            }
        }
    }

    #[test]
    fn topic_depth_reads_only_book_topics() {
        assert_eq!(topic_depth("orderbook.50.BTCUSDT"), Some(50));
        assert_eq!(topic_depth("tickers.BTCUSDT"), None);
        assert_eq!(topic_depth("orderbook.x.BTCUSDT"), None);
    }
}
