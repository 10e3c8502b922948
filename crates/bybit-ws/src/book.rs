//! A local order book per symbol from `orderbook.{depth}.{symbol}` snapshots and deltas, with
//! the continuity checks that decide when it can no longer be trusted (REFERENCE.md §6.2).

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
    bids: Vec<Level>,
    asks: Vec<Level>,
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
            bids: Vec::with_capacity(depth.min(1000)),
            asks: Vec::with_capacity(depth.min(1000)),
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
            self.bids.clear();
            self.asks.clear();
            for &(price, size) in &data.bids {
                set_level(&mut self.bids, price, size, true);
            }
            for &(price, size) in &data.asks {
                set_level(&mut self.asks, price, size, false);
            }
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
            set_level(&mut self.bids, price, size, true);
        }
        for &(price, size) in &data.asks {
            set_level(&mut self.asks, price, size, false);
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
        if let (Some(&(bid, _)), Some(&(ask, _))) = (self.bids.first(), self.asks.first()) {
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
        self.bids.first().copied()
    }

    /// The best ask `(price, size)`.
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.first().copied()
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
        &self.bids[..n.min(self.bids.len())]
    }

    /// The best `n` asks, low to high.
    pub fn asks(&self, n: usize) -> &[Level] {
        &self.asks[..n.min(self.asks.len())]
    }
}

/// Sets one level of a side kept sorted (bids high to low, asks low to high): size zero
/// removes it (an absent level is not an error), another size inserts or replaces it.
fn set_level(side: &mut Vec<Level>, price: Decimal, size: Decimal, bids: bool) {
    let found = side.binary_search_by(|(p, _)| if bids { price.cmp(p) } else { p.cmp(&price) });
    match (found, size.is_zero()) {
        (Ok(i), true) => {
            side.remove(i);
        }
        (Ok(i), false) => {
            if let Some(level) = side.get_mut(i) {
                level.1 = size;
            }
        }
        (Err(_), true) => {}
        (Err(i), false) => side.insert(i, (price, size)),
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

    #[test]
    fn topic_depth_reads_only_book_topics() {
        assert_eq!(topic_depth("orderbook.50.BTCUSDT"), Some(50));
        assert_eq!(topic_depth("tickers.BTCUSDT"), None);
        assert_eq!(topic_depth("orderbook.x.BTCUSDT"), None);
    }
}
