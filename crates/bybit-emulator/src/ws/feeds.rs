//! The order-book feeds every public connection shares: one per (symbol, depth), each with its
//! own `u` sequence, as on Bybit, where `u` is a property of the `orderbook.{depth}.{symbol}`
//! feed and the same for every subscriber (docs v5/websocket/public/orderbook: `u` "is a
//! sequence", `seq` the cross sequence to compare depths by).
//!
//! A feed holds the book as its last message left it, its `u`, and the last few messages
//! (already serialised, so a thousand subscribers cost one diff and one `to_string`). Nothing
//! drives a feed on its own: whoever needs it next at or after its cadence (a session flushing
//! a changed book, `GET /v5/market/orderbook`) advances it, reading the engine's book and
//! logging a message if that differs from the feed's. A subscriber sends the logged messages it
//! has not sent yet, so every subscriber sees the same messages with the same `u`, and a late
//! one starts from a snapshot at the feed's current `u`. A subscriber that fell further behind
//! than the log reaches gets a fresh snapshot instead, which Bybit also sends "if there is a
//! problem" and a client must accept.
//!
//! REST's `u` (docs v5/market/orderbook: "corresponding to `u`" of the deepest WebSocket book,
//! 1000 levels for contracts since the 500-level stream was retired) is the level-1000 feed's.
//! That feed is computed lazily rather than kept running for every symbol: with no subscriber
//! nothing but REST reads it, and advancing it on a REST call at its cadence gives the same
//! `u` sequence a running feed would (one step per pushed change), at no cost while nobody asks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bybit_types::ws::public::{Level, OrderbookData, TopicMessage};
use bybit_types::UpdateType;
use rust_decimal::Decimal;
use sim_engine::{Engine, Reject};
use tokio::time::Instant;

/// The deepest book a linear feed serves, and the one REST's `u` follows.
pub(crate) const DEEPEST: usize = 1000;

/// How far back a feed keeps its messages for subscribers that have not sent them yet. A
/// session flushes a changed book within its own cadence, so it is rarely more than a message
/// behind; the rest is slack for a session busy with a burst. Counted in time, not messages,
/// so that a deep book's large deltas are not kept by the hundred.
const LOG_SPAN: Duration = Duration::from_secs(2);

/// The most messages a feed of `depth` keeps: [`LOG_SPAN`] at its cadence (200 at level 1,
/// 10 at level 1000).
fn log_len(depth: usize) -> usize {
    let per = book_interval(depth).as_millis().max(1);
    usize::try_from(LOG_SPAN.as_millis() / per)
        .unwrap_or(1)
        .max(4)
}

/// How often a changed book of `depth` is pushed at most (docs v5/websocket/public/orderbook,
/// linear: 1 → 10 ms, 50 → 20 ms, 200 → 100 ms, 1000 → 200 ms).
pub(super) fn book_interval(depth: usize) -> Duration {
    Duration::from_millis(match depth {
        1 => 10,
        50 => 20,
        200 => 100,
        _ => 200,
    })
}

/// The canonical topic name of a feed.
pub(super) fn topic_name(symbol: &str, depth: usize) -> String {
    format!("orderbook.{depth}.{symbol}")
}

/// One message of a feed, as every subscriber sends it.
#[derive(Debug)]
pub(super) struct Update {
    /// `u` of the message before it on this feed: one less, or two after a gap fault.
    prev: i64,
    pub(super) text: Arc<str>,
}

/// A feed's book at its current `u`, as a snapshot message carries it.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) u: i64,
    pub(crate) seq: i64,
    pub(crate) cts: i64,
    /// Best (highest) first.
    pub(crate) bids: Vec<Level>,
    /// Best (lowest) first.
    pub(crate) asks: Vec<Level>,
    /// When the feed may next send a change.
    pub(super) next_at: Instant,
}

impl Snapshot {
    /// The snapshot message of this book on `symbol`'s feed of `depth`, stamped `ts`.
    pub(super) fn message(
        self,
        symbol: &str,
        depth: usize,
        ts: i64,
    ) -> TopicMessage<OrderbookData> {
        book_message(
            symbol,
            depth,
            UpdateType::Snapshot,
            (self.bids, self.asks),
            (self.u, self.seq),
            (ts, self.cts),
        )
    }
}

/// What a subscriber should send to catch up with a feed.
#[derive(Debug)]
pub(super) struct Poll {
    /// The logged messages after the subscriber's `u`, oldest first; or a snapshot when the
    /// log no longer reaches back that far.
    pub(super) updates: Vec<Arc<Update>>,
    pub(super) snapshot: Option<Snapshot>,
    /// `u` the subscriber holds once it has sent the above.
    pub(super) u: i64,
    /// Whether the feed was compared with the engine on this call (it was due).
    pub(super) checked: bool,
    /// When the feed may next send a change.
    pub(super) next_at: Instant,
}

#[derive(Debug)]
struct Feed {
    depth: usize,
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
    u: i64,
    seq: i64,
    cts: i64,
    /// The earliest time the next change may go.
    next_at: Instant,
    /// The order-book-gap faults of the symbol already applied.
    gaps_seen: u64,
    log: VecDeque<Arc<Update>>,
}

/// A symbol's cross sequence as the books carry it: the engine's, stepped once per book state
/// in between prints, so that books of different depths built from the same state share a
/// value and a later state never has a smaller one.
#[derive(Debug)]
struct CrossSeq {
    /// The engine's book update id the value was taken at.
    engine_u: u64,
    seq: i64,
}

#[derive(Debug, Default)]
struct Inner {
    feeds: HashMap<(String, usize), Feed>,
    seqs: HashMap<String, CrossSeq>,
}

/// What a feed reads of the emulator (its shared state implements it): the engine, the
/// book-gap fault and the exchange's clock.
pub(crate) trait Market {
    /// Runs `f` on the engine without changing it.
    fn read_engine<T>(&self, f: impl FnOnce(&Engine) -> T) -> T;
    /// How many `u` gaps the book-gap fault has asked for on `symbol` so far.
    fn book_gaps(&self, symbol: &str) -> u64;
    /// The exchange's time, ms.
    fn now_ms(&self) -> i64;
}

/// Every order-book feed of the emulator. The lock is taken before the engine's, never the
/// other way round, and never across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct BookFeeds {
    inner: Mutex<Inner>,
}

impl BookFeeds {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The feed's book at its current `u` for a new subscriber, creating the feed (at the
    /// engine's running update id, as Bybit's snapshots carry the exchange's own `u`) or
    /// advancing it first if a change is due. `Err` for an unknown symbol.
    pub(super) fn open(
        &self,
        state: &impl Market,
        symbol: &str,
        depth: usize,
        now: Instant,
    ) -> Result<Snapshot, Reject> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        state.read_engine(|engine| {
            if feed(inner, state, engine, symbol, depth, now)?.next_at <= now {
                advance(inner, state, engine, symbol, depth);
            }
            Ok(feed(inner, state, engine, symbol, depth, now)?.snapshot())
        })
    }

    /// What a subscriber holding `u` must send to catch up, advancing the feed first when
    /// `advance` is set and its cadence allows.
    pub(super) fn poll(
        &self,
        state: &impl Market,
        symbol: &str,
        depth: usize,
        u: i64,
        now: Instant,
        advance: bool,
    ) -> Option<Poll> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let checked = state.read_engine(|engine| {
            let due =
                advance && feed(inner, state, engine, symbol, depth, now).ok()?.next_at <= now;
            if due {
                self::advance(inner, state, engine, symbol, depth);
            }
            Some(due)
        })?;
        let feed = inner.feeds.get(&(symbol.to_owned(), depth))?;
        let mut poll = Poll {
            updates: Vec::new(),
            snapshot: None,
            u: feed.u,
            checked,
            next_at: feed.next_at,
        };
        if feed.u != u {
            match feed.log.iter().position(|m| m.prev == u) {
                Some(from) => poll.updates = feed.log.iter().skip(from).cloned().collect(),
                None => poll.snapshot = Some(feed.snapshot()),
            }
        }
        Some(poll)
    }

    /// The feed's book at its current `u`, without advancing it (a level-1 re-send).
    pub(super) fn current(&self, symbol: &str, depth: usize) -> Option<Snapshot> {
        let inner = self.lock();
        let feed = inner.feeds.get(&(symbol.to_owned(), depth))?;
        Some(feed.snapshot())
    }

    /// `GET /v5/market/orderbook`: the first `limit` levels of the level-1000 feed at its
    /// latest `u`, advanced first if a change is due; so a client that kept a book from that
    /// stream can compare it with this answer at the same `u`.
    pub(crate) fn rest(
        &self,
        state: &impl Market,
        symbol: &str,
        limit: usize,
    ) -> Result<Snapshot, Reject> {
        let now = Instant::now();
        let mut inner = self.lock();
        let inner = &mut *inner;
        state.read_engine(|engine| {
            let due = feed(inner, state, engine, symbol, DEEPEST, now)?.next_at <= now;
            if due {
                advance(inner, state, engine, symbol, DEEPEST);
            }
            Ok::<_, Reject>(())
        })?;
        let feed = inner
            .feeds
            .get(&(symbol.to_owned(), DEEPEST))
            .ok_or_else(|| Reject::new(10001, "symbol invalid"))?;
        let mut snapshot = feed.snapshot();
        snapshot.bids.truncate(limit);
        snapshot.asks.truncate(limit);
        Ok(snapshot)
    }
}

impl Feed {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            u: self.u,
            seq: self.seq,
            cts: self.cts,
            bids: self.bids.iter().rev().map(|(p, s)| (*p, *s)).collect(),
            asks: self.asks.iter().map(|(p, s)| (*p, *s)).collect(),
            next_at: self.next_at,
        }
    }
}

/// The cross sequence of `symbol`'s book as the engine holds it now.
fn cross_seq(inner: &mut Inner, engine: &Engine, symbol: &str) -> i64 {
    let (engine_u, engine_seq) = engine.sequence(symbol).unwrap_or((1, 1));
    let engine_seq = i64::try_from(engine_seq).unwrap_or(i64::MAX);
    let entry = inner
        .seqs
        .entry(symbol.to_owned())
        .or_insert_with(|| CrossSeq {
            engine_u,
            seq: engine_seq,
        });
    if entry.engine_u != engine_u {
        entry.engine_u = engine_u;
        entry.seq = entry.seq.saturating_add(1).max(engine_seq);
    }
    entry.seq
}

/// The feed of `symbol` and `depth`, created from the engine's book if it does not exist yet.
fn feed<'a>(
    inner: &'a mut Inner,
    state: &impl Market,
    engine: &Engine,
    symbol: &str,
    depth: usize,
    now: Instant,
) -> Result<&'a mut Feed, Reject> {
    let key = (symbol.to_owned(), depth);
    if !inner.feeds.contains_key(&key) {
        let book = engine.book(symbol, depth)?;
        let (engine_u, _) = engine.sequence(symbol)?;
        let seq = cross_seq(inner, engine, symbol);
        let feed = Feed {
            depth,
            bids: levels(&book.bids),
            asks: levels(&book.asks),
            u: i64::try_from(engine_u).unwrap_or(i64::MAX),
            seq,
            cts: engine.now(),
            // The snapshot counts as a message: the next change keeps the cadence.
            next_at: now + book_interval(depth),
            // Gaps asked for before the feed existed are not its to show.
            gaps_seen: state.book_gaps(symbol),
            log: VecDeque::new(),
        };
        inner.feeds.insert(key.clone(), feed);
    }
    inner
        .feeds
        .get_mut(&key)
        .ok_or_else(|| Reject::new(10001, "symbol invalid"))
}

/// Compares a due feed with the engine's book and logs a message if they differ.
fn advance(inner: &mut Inner, state: &impl Market, engine: &Engine, symbol: &str, depth: usize) {
    let Ok(book) = engine.book(symbol, depth) else {
        return;
    };
    let bids = levels(&book.bids);
    let asks = levels(&book.asks);
    let key = (symbol.to_owned(), depth);
    let Some(feed) = inner.feeds.get(&key) else {
        return;
    };
    let bid_changes = diff(&feed.bids, &bids);
    let ask_changes = diff(&feed.asks, &asks);
    if bid_changes.is_empty() && ask_changes.is_empty() {
        // Nothing to send: the feed stays due, so the next change goes at once.
        return;
    }
    let seq = cross_seq(inner, engine, symbol);
    let gaps = state.book_gaps(symbol);
    let ts = state.now_ms();
    let cts = engine.now();
    let Some(feed) = inner.feeds.get_mut(&key) else {
        return;
    };
    let prev = feed.u;
    feed.u = feed.u.saturating_add(1);
    // Level 1 is snapshot-only on Bybit: each change is a whole new top of book, and a gap
    // fault has nothing to skip there.
    let message = if feed.depth == 1 {
        feed.bids = bids;
        feed.asks = asks;
        feed.seq = seq;
        feed.cts = cts;
        feed.snapshot().message(symbol, 1, ts)
    } else {
        if gaps > feed.gaps_seen {
            // An order-book-gap fault: this delta skips an update id.
            feed.u = feed.u.saturating_add(1);
        }
        feed.bids = bids;
        feed.asks = asks;
        feed.seq = seq;
        feed.cts = cts;
        let mut bid_changes = bid_changes;
        bid_changes.reverse();
        book_message(
            symbol,
            depth,
            UpdateType::Delta,
            (bid_changes, ask_changes),
            (feed.u, seq),
            (ts, cts),
        )
    };
    feed.gaps_seen = gaps;
    // From the moment the message is stamped, not the caller's `now`, which may be a few
    // milliseconds older when several feeds are advanced in one go.
    feed.next_at = Instant::now() + book_interval(depth);
    // The wire types always serialise (see `Outbox::push`); a failure logs nothing rather
    // than a message that would confuse every subscriber.
    let Ok(text) = serde_json::to_string(&message) else {
        return;
    };
    feed.log.push_back(Arc::new(Update {
        prev,
        text: text.into(),
    }));
    while feed.log.len() > log_len(depth) {
        feed.log.pop_front();
    }
}

/// One side as a price → size map.
fn levels(side: &[sim_engine::Level]) -> BTreeMap<Decimal, Decimal> {
    side.iter().map(|l| (l.price, l.qty)).collect()
}

/// The levels that turn `old` into `new`, by ascending price: new or resized levels with
/// their absolute size, vanished levels with size zero.
fn diff(old: &BTreeMap<Decimal, Decimal>, new: &BTreeMap<Decimal, Decimal>) -> Vec<Level> {
    let mut changes: BTreeMap<Decimal, Decimal> = new
        .iter()
        .filter(|(price, size)| old.get(*price) != Some(*size))
        .map(|(price, size)| (*price, *size))
        .collect();
    for price in old.keys() {
        if !new.contains_key(price) {
            changes.insert(*price, Decimal::ZERO);
        }
    }
    changes.into_iter().collect()
}

fn book_message(
    symbol: &str,
    depth: usize,
    kind: UpdateType,
    (bids, asks): (Vec<Level>, Vec<Level>),
    (u, seq): (i64, i64),
    (ts, cts): (i64, i64),
) -> TopicMessage<OrderbookData> {
    TopicMessage {
        topic: topic_name(symbol, depth),
        kind,
        ts,
        data: OrderbookData {
            symbol: symbol.to_owned(),
            bids,
            asks,
            update_id: u,
            seq: Some(seq),
        },
        cs: None,
        cts: Some(cts),
    }
}

#[cfg(test)]
mod tests;
