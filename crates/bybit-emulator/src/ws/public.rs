//! The public stream: `tickers.{symbol}`, `orderbook.{depth}.{symbol}`,
//! `publicTrade.{symbol}` (REFERENCE.md §6) and `priceLimit.{symbol}`
//! (docs/v5/websocket/public/order-price-limit.mdx: the engine's band, the figure
//! `/v5/market/price-limit` serves, sent on subscribe and then when it changes, at most every
//! 300 ms).
//!
//! Tickers and books are state, not events: on a `Market` event the session re-reads the
//! symbol's ticker from the engine and sends what differs from what it last sent on this
//! connection, and catches its books up with their shared feeds ([`super::feeds`]), which diff
//! the engine's book against the feed's last message. Either way every delta is exact by
//! construction (applying it to the last message gives the engine's state), however events
//! were batched or coalesced; and a book's `u` is the feed's, the same on every connection.
//!
//! Cadence (docs v5/websocket/public/orderbook and ticker; REFERENCE.md §6): a changed book is
//! pushed at most every 10 ms (depth 1), 20 ms (50), 100 ms (200) or 200 ms (1000), a changed
//! ticker every 100 ms; a change inside the interval is marked and sent, merged with any later
//! ones, when the interval ends (a book's interval is its feed's). An unchanged level-1 book is
//! re-sent every 3 s with the same `u`. Trades go out as they happen, at most 1024 to a message.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use bybit_types::rest::market::Ticker;
use bybit_types::ws::op::StreamReply;
use bybit_types::ws::public::{PublicTrade, TopicMessage};
use bybit_types::{TickDirection, UpdateType};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use sim_engine::{Engine, EngineEvent, PriceLimit};
use tokio::time::Instant;

use super::feeds::{Poll, Snapshot};
use super::session::{already_subscribed, topic_args, Outbox, Request, Session};
use crate::app::Batch;
use crate::AppState;

/// A changed ticker is pushed at most this often (docs v5/websocket/public/ticker: 100 ms).
const TICKER_INTERVAL: Duration = Duration::from_millis(100);

/// A changed price limit is pushed at most this often (docs
/// v5/websocket/public/order-price-limit: "Push frequency: 300ms").
const PRICE_LIMIT_INTERVAL: Duration = Duration::from_millis(300);

/// An unchanged level-1 book is re-sent this often (docs v5/websocket/public/orderbook).
const LEVEL1_RESEND: Duration = Duration::from_secs(3);

/// Most trades in one `publicTrade` message (docs v5/websocket/public/trade).
const TRADES_PER_MESSAGE: usize = 1024;

/// Order-book depths the linear stream serves. 500 is absent on purpose: Bybit retired it for
/// futures in 2025 (REFERENCE.md §6.2), and a client still asking for it should find out here.
const DEPTHS: [usize; 4] = [1, 50, 200, 1000];

/// One public topic.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Topic {
    Ticker { symbol: String },
    Book { depth: usize, symbol: String },
    Trade { symbol: String },
    PriceLimit { symbol: String },
}

impl Topic {
    /// The symbol the topic is about.
    fn symbol(&self) -> &str {
        match self {
            Topic::Ticker { symbol }
            | Topic::Book { symbol, .. }
            | Topic::Trade { symbol }
            | Topic::PriceLimit { symbol } => symbol,
        }
    }

    /// Reads a topic name; `None` when no handler exists for it.
    fn parse(name: &str) -> Option<Topic> {
        let parts: Vec<&str> = name.split('.').collect();
        let topic = match parts.as_slice() {
            ["tickers", symbol] => Topic::Ticker {
                symbol: (*symbol).to_owned(),
            },
            ["orderbook", name, symbol] => {
                // Only the canonical spelling: messages carry the feed's own topic name.
                let depth = name
                    .parse::<usize>()
                    .ok()
                    .filter(|d| DEPTHS.contains(d) && d.to_string() == *name)?;
                Topic::Book {
                    depth,
                    symbol: (*symbol).to_owned(),
                }
            }
            ["publicTrade", symbol] => Topic::Trade {
                symbol: (*symbol).to_owned(),
            },
            ["priceLimit", symbol] => Topic::PriceLimit {
                symbol: (*symbol).to_owned(),
            },
            _ => return None,
        };
        (!topic.symbol().is_empty()).then_some(topic)
    }
}

/// What a new subscription starts from, read from the engine.
enum Start {
    /// Boxed: a ticker is some thirty optional decimals, the other variants a few words.
    Ticker(Box<Ticker>),
    Book(Snapshot),
    Trade(Decimal),
    PriceLimit(PriceLimit),
}

/// A `priceLimit.{symbol}` subscription.
#[derive(Debug)]
struct LimitFeed {
    topic: String,
    /// The band last sent.
    sent: PriceLimit,
    /// The market moved since the last message.
    dirty: bool,
    /// The earliest time the next message may go.
    next_at: Instant,
}

/// A `priceLimit` message: an object, no `type` (the doc page's example).
fn limit_message(topic: &str, symbol: &str, band: PriceLimit, ts: i64) -> Value {
    serde_json::json!({
        "topic": topic,
        "data": {
            "symbol": symbol,
            "buyLmt": band.buy_max.to_string(),
            "sellLmt": band.sell_min.to_string(),
        },
        "ts": ts,
    })
}

/// A `tickers.{symbol}` subscription.
#[derive(Debug)]
struct TickerFeed {
    topic: String,
    /// The ticker as the client holds it: the snapshot with every delta merged in, as JSON so
    /// that any field is compared without listing them all.
    sent: Map<String, Value>,
    /// The ticker changed since the last message.
    dirty: bool,
    /// The earliest time the next delta may go.
    next_at: Instant,
}

/// An `orderbook.{depth}.{symbol}` subscription: where this connection is on the shared feed.
#[derive(Debug)]
struct BookSub {
    symbol: String,
    depth: usize,
    /// `u` of the last message sent on this connection.
    update_id: i64,
    /// The book may have changed since the feed was last compared with the engine.
    dirty: bool,
    /// The earliest time the feed may send the next change.
    next_at: Instant,
    /// When an unchanged level-1 book is re-sent.
    resend_at: Instant,
}

/// Per-symbol counters shared by this connection's topics.
#[derive(Debug)]
struct SymbolState {
    /// Cross sequence (`cs` of tickers): starts from the engine's at subscribe time, follows
    /// the one trades carry and steps once per market change in between, so a ticker built
    /// after a trade is not older than it, and the value never goes back. (Books carry their
    /// feed's.)
    seq: i64,
    /// The engine's cross sequence on the latest trade seen.
    trade_seq: i64,
    /// The last trade sent and its tick direction, for the next trade's `L`.
    last_trade: Option<(Decimal, TickDirection)>,
}

/// The most characters of topic names one subscribe request may carry.
const MAX_ARGS_CHARS: usize = 21_000;

/// One `/v5/public/linear` connection.
#[derive(Debug)]
pub(super) struct PublicSession {
    conn_id: String,
    tickers: BTreeMap<String, TickerFeed>,
    books: BTreeMap<String, BookSub>,
    trades: BTreeSet<String>,
    limits: BTreeMap<String, LimitFeed>,
    symbols: HashMap<String, SymbolState>,
}

impl Default for SymbolState {
    fn default() -> Self {
        // The engine's sequences start at 1.
        SymbolState {
            seq: 1,
            trade_seq: 1,
            last_trade: None,
        }
    }
}

impl PublicSession {
    pub(super) fn new(conn_id: String) -> Self {
        PublicSession {
            conn_id,
            tickers: BTreeMap::new(),
            books: BTreeMap::new(),
            trades: BTreeSet::new(),
            limits: BTreeMap::new(),
            symbols: HashMap::new(),
        }
    }

    fn ack(&self, request: &Request, out: &mut Outbox) {
        out.push(&self.reply(Some(&request.op), request.req_id.as_deref(), true, ""));
    }

    fn fail(&self, request: &Request, reason: &str, out: &mut Outbox) {
        out.push(&self.reply(Some(&request.op), request.req_id.as_deref(), false, reason));
    }

    /// The topics of a subscribe or unsubscribe request, or the reason to refuse it whole.
    fn topics(request: &Request) -> Result<Vec<(String, Topic)>, String> {
        let Some(names) = topic_args(&request.args) else {
            return Err("error:args must be topic names".to_owned());
        };
        if names.is_empty() {
            return Err("error:args must name at least one topic".to_owned());
        }
        // Bybit caps a connection's args at 21,000 characters (REFERENCE.md §5); the cap also
        // keeps one frame from holding the engine for long while its snapshots are built.
        let chars: usize = names.iter().map(|n| n.len()).sum();
        if chars > MAX_ARGS_CHARS {
            return Err(format!("error:args exceed {MAX_ARGS_CHARS} characters"));
        }
        let mut names: Vec<&str> = names;
        let mut seen = BTreeSet::new();
        names.retain(|name| seen.insert(*name));
        let mut topics = Vec::with_capacity(names.len());
        let mut unknown = Vec::new();
        for name in names {
            match Topic::parse(name) {
                Some(topic) => topics.push((name.to_owned(), topic)),
                None => unknown.push(name),
            }
        }
        if unknown.is_empty() {
            Ok(topics)
        } else {
            Err(format!(
                "error:handler not found,topic:{}",
                unknown.join(",")
            ))
        }
    }

    /// Subscribes all the request's topics or none: an unknown topic or symbol refuses the
    /// whole request, so the client never holds a half-applied subscription.
    fn subscribe(&mut self, state: &AppState, request: &Request, out: &mut Outbox) {
        let topics = match Self::topics(request) {
            Ok(topics) => topics,
            Err(reason) => return self.fail(request, &reason, out),
        };
        // A topic the connection already has is refused by name (Bybit's
        // `error:already subscribed,topic:…`, no fresh snapshot); the others go on.
        let (already, topics): (Vec<_>, Vec<_>) =
            topics.into_iter().partition(|(name, t)| self.has(name, t));
        let already: Vec<String> = already.into_iter().map(|(name, _)| name).collect();
        if topics.is_empty() {
            return self.fail(request, &already_subscribed(&already), out);
        }
        // One short engine read for the tickers' and trades' starting points; books start
        // from their shared feeds, one feed (and engine) lock each.
        let (mut starts, sequences) = state.read(|engine| {
            let starts: Vec<Option<Start>> = topics.iter().map(|(_, t)| start(engine, t)).collect();
            let sequences: Vec<(String, u64)> = topics
                .iter()
                .filter_map(|(_, t)| {
                    let symbol = t.symbol();
                    engine
                        .sequence(symbol)
                        .ok()
                        .map(|(_, s)| (symbol.to_owned(), s))
                })
                .collect();
            (starts, sequences)
        });
        // Stamped before the feeds are read: a feed created here counts its cadence from now.
        let ts = state.clock.now_ms();
        let now = Instant::now();
        for ((_, topic), start) in topics.iter().zip(starts.iter_mut()) {
            if let Topic::Book { depth, symbol } = topic {
                *start = state
                    .books
                    .open(state, symbol, *depth, now)
                    .ok()
                    .map(Start::Book);
            }
        }
        // Start from the engine's running cross sequence, as Bybit's messages carry the
        // exchange's own.
        for (symbol, cross_seq) in sequences {
            let entry = self.symbols.entry(symbol).or_default();
            entry.seq = entry.seq.max(i64::try_from(cross_seq).unwrap_or(i64::MAX));
        }
        let invalid: Vec<&str> = topics
            .iter()
            .zip(&starts)
            .filter(|(_, s)| s.is_none())
            .map(|((name, _), _)| name.as_str())
            .collect();
        if !invalid.is_empty() {
            return self.fail(
                request,
                &format!("Invalid symbol :[{}]", invalid.join(",")),
                out,
            );
        }
        if already.is_empty() {
            self.ack(request, out);
        } else {
            self.fail(request, &already_subscribed(&already), out);
        }
        for ((name, topic), start) in topics.into_iter().zip(starts) {
            match (topic, start) {
                (Topic::Ticker { symbol }, Some(Start::Ticker(ticker))) => {
                    self.start_ticker(name, symbol, &ticker, ts, out);
                }
                (Topic::Book { depth, symbol }, Some(Start::Book(snapshot))) => {
                    self.start_book(name, symbol, depth, snapshot, ts, out);
                }
                (Topic::Trade { symbol }, Some(Start::Trade(price))) => {
                    let entry = self.symbols.entry(symbol.clone()).or_default();
                    if entry.last_trade.is_none() {
                        entry.last_trade = Some((price, TickDirection::ZeroPlusTick));
                    }
                    self.trades.insert(symbol);
                }
                (Topic::PriceLimit { symbol }, Some(Start::PriceLimit(band))) => {
                    out.push(&limit_message(&name, &symbol, band, ts));
                    let feed = LimitFeed {
                        topic: name,
                        sent: band,
                        dirty: false,
                        next_at: Instant::now() + PRICE_LIMIT_INTERVAL,
                    };
                    self.limits.insert(symbol, feed);
                }
                // `start` answers each topic with its own kind.
                _ => {}
            }
        }
    }

    /// Whether this connection is subscribed to `topic` already.
    fn has(&self, name: &str, topic: &Topic) -> bool {
        match topic {
            Topic::Ticker { symbol } => self.tickers.contains_key(symbol),
            Topic::Book { .. } => self.books.contains_key(name),
            Topic::Trade { symbol } => self.trades.contains(symbol),
            Topic::PriceLimit { symbol } => self.limits.contains_key(symbol),
        }
    }

    fn unsubscribe(&mut self, request: &Request, out: &mut Outbox) {
        let topics = match Self::topics(request) {
            Ok(topics) => topics,
            Err(reason) => return self.fail(request, &reason, out),
        };
        for (name, topic) in topics {
            match topic {
                Topic::Ticker { symbol } => {
                    self.tickers.remove(&symbol);
                }
                Topic::Book { .. } => {
                    self.books.remove(&name);
                }
                Topic::Trade { symbol } => {
                    self.trades.remove(&symbol);
                }
                Topic::PriceLimit { symbol } => {
                    self.limits.remove(&symbol);
                }
            }
        }
        self.ack(request, out);
    }

    /// The cross sequence a snapshot carries: the current state's, caught up with trades
    /// seen since the last market change.
    fn seq(&mut self, symbol: &str) -> i64 {
        let entry = self.symbols.entry(symbol.to_owned()).or_default();
        entry.seq = entry.seq.max(entry.trade_seq);
        entry.seq
    }

    /// Sends a ticker snapshot and starts diffing from it. Subscribing again sends a fresh
    /// snapshot, which is always safe for a client to receive.
    fn start_ticker(
        &mut self,
        topic: String,
        symbol: String,
        ticker: &Ticker,
        ts: i64,
        out: &mut Outbox,
    ) {
        let cs = self.seq(&symbol);
        out.push(&TopicMessage {
            topic: topic.clone(),
            kind: UpdateType::Snapshot,
            ts,
            data: ticker,
            cs: Some(cs),
            cts: None,
        });
        let sent = match serde_json::to_value(ticker) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let feed = TickerFeed {
            topic,
            sent,
            dirty: false,
            next_at: Instant::now() + TICKER_INTERVAL,
        };
        self.tickers.insert(symbol, feed);
    }

    /// Sends the feed's book at its current `u` and follows the feed from there. Subscribing
    /// again sends a fresh snapshot at the feed's `u`, which never goes backwards.
    fn start_book(
        &mut self,
        topic: String,
        symbol: String,
        depth: usize,
        snapshot: Snapshot,
        ts: i64,
        out: &mut Outbox,
    ) {
        let sub = BookSub {
            update_id: snapshot.u,
            // The engine may have moved since the feed's last message: look at its cadence.
            dirty: true,
            next_at: snapshot.next_at,
            resend_at: Instant::now() + LEVEL1_RESEND,
            depth,
            symbol,
        };
        out.push(&snapshot.message(&sub.symbol, depth, ts));
        self.books.insert(topic, sub);
    }

    /// Marks a symbol's feeds as changed; they are sent when their interval allows.
    fn mark(&mut self, symbol: &str) {
        if let Some(feed) = self.tickers.get_mut(symbol) {
            feed.dirty = true;
        }
        for feed in self.books.values_mut().filter(|f| f.symbol == symbol) {
            feed.dirty = true;
        }
        if let Some(feed) = self.limits.get_mut(symbol) {
            feed.dirty = true;
        }
    }

    /// Sends every changed feed whose interval has passed, and the level-1 re-sends due.
    fn flush(&mut self, state: &AppState, now: Instant, out: &mut Outbox) {
        let symbols: Vec<String> = self
            .tickers
            .iter()
            .filter(|(_, f)| f.dirty && f.next_at <= now)
            .map(|(symbol, _)| symbol.clone())
            .collect();
        let ts = state.clock.now_ms();
        for symbol in symbols {
            self.on_ticker(state, &symbol, now, ts, out);
        }
        for (symbol, feed) in self
            .limits
            .iter_mut()
            .filter(|(_, f)| f.dirty && f.next_at <= now)
        {
            feed.dirty = false;
            let Some(band) = state.read(|e| e.price_limit(symbol).ok().flatten()) else {
                continue;
            };
            if band != feed.sent {
                out.push(&limit_message(&feed.topic, symbol, band, ts));
                feed.sent = band;
                feed.next_at = now + PRICE_LIMIT_INTERVAL;
            }
        }
        for sub in self.books.values_mut() {
            if sub.dirty && sub.next_at <= now {
                match state
                    .books
                    .poll(state, &sub.symbol, sub.depth, sub.update_id, now, true)
                {
                    Some(poll) => {
                        if poll.checked {
                            sub.dirty = false;
                        }
                        sub.next_at = poll.next_at;
                        sub.deliver(poll, ts, now, out);
                    }
                    None => sub.dirty = false,
                }
            }
            if sub.depth == 1 && sub.resend_at <= now {
                // Unchanged for 3 s: the same book, `u` and `seq` again (docs
                // v5/websocket/public/orderbook); or, if the feed moved on, what it sent.
                let poll = state
                    .books
                    .poll(state, &sub.symbol, 1, sub.update_id, now, false);
                let behind = poll
                    .as_ref()
                    .is_some_and(|p| !p.updates.is_empty() || p.snapshot.is_some());
                if let (true, Some(poll)) = (behind, poll) {
                    sub.deliver(poll, ts, now, out);
                } else if let Some(snapshot) = state.books.current(&sub.symbol, 1) {
                    sub.update_id = snapshot.u;
                    out.push(&snapshot.message(&sub.symbol, 1, ts));
                }
                sub.resend_at = now + LEVEL1_RESEND;
            }
        }
    }

    /// Re-reads a symbol whose market changed and sends its ticker what differs.
    fn on_ticker(
        &mut self,
        state: &AppState,
        symbol: &str,
        now: Instant,
        ts: i64,
        out: &mut Outbox,
    ) {
        let Some(ticker) = state.read(|engine| engine.ticker(symbol).ok()) else {
            return;
        };
        let entry = self.symbols.entry(symbol.to_owned()).or_default();
        entry.seq = entry.seq.saturating_add(1).max(entry.trade_seq);
        let seq = entry.seq;
        if let Some(feed) = self.tickers.get_mut(symbol) {
            feed.dirty = false;
            if let Some(delta) = ticker_delta(feed, &ticker) {
                feed.next_at = now + TICKER_INTERVAL;
                out.push(&TopicMessage {
                    topic: feed.topic.clone(),
                    kind: UpdateType::Delta,
                    ts,
                    data: Value::Object(delta),
                    cs: Some(seq),
                    cts: None,
                });
            }
        }
    }

    /// Sends the batch's trades of subscribed symbols, one message per symbol, oldest first.
    fn on_trades(&mut self, trades: &[&sim_engine::PublicTrade], ts: i64, out: &mut Outbox) {
        let mut by_symbol: BTreeMap<&str, Vec<PublicTrade>> = BTreeMap::new();
        for trade in trades {
            if !self.trades.contains(&trade.symbol) {
                continue;
            }
            let entry = self.symbols.entry(trade.symbol.clone()).or_default();
            let direction = tick_direction(entry.last_trade.as_ref(), trade.price);
            entry.last_trade = Some((trade.price, direction.clone()));
            by_symbol
                .entry(&trade.symbol)
                .or_default()
                .push(PublicTrade {
                    time: trade.time_ms,
                    symbol: trade.symbol.clone(),
                    side: trade.taker_side,
                    size: trade.qty,
                    price: trade.price,
                    tick_direction: Some(direction),
                    trade_id: trade.trade_id.clone(),
                    block_trade: false,
                    rpi: None,
                    seq: i64::try_from(trade.seq).ok(),
                });
        }
        for (symbol, data) in by_symbol {
            for chunk in data.chunks(TRADES_PER_MESSAGE) {
                out.push(&TopicMessage {
                    topic: format!("publicTrade.{symbol}"),
                    kind: UpdateType::Snapshot,
                    ts,
                    data: chunk,
                    cs: None,
                    cts: None,
                });
            }
        }
    }
}

impl Session for PublicSession {
    type Reply = StreamReply;

    fn reply(
        &self,
        op: Option<&str>,
        req_id: Option<&str>,
        success: bool,
        ret_msg: &str,
    ) -> StreamReply {
        StreamReply {
            success: Some(success),
            ret_msg: Some(ret_msg.to_owned()),
            conn_id: Some(self.conn_id.clone()),
            req_id: Some(req_id.unwrap_or_default().to_owned()),
            op: op.map(str::to_owned),
            ..StreamReply::default()
        }
    }

    fn on_request(&mut self, state: &AppState, request: Request, out: &mut Outbox) {
        match request.op.as_str() {
            // The linear stream answers a ping with `op: "ping"` and `ret_msg: "pong"`.
            "ping" => out.push(&self.reply(Some("ping"), request.req_id.as_deref(), true, "pong")),
            "subscribe" => self.subscribe(state, &request, out),
            "unsubscribe" => self.unsubscribe(&request, out),
            other => {
                let reason = format!("error:handler not found,op:{other}");
                self.fail(&request, &reason, out);
            }
        }
    }

    fn on_events(&mut self, state: &AppState, steps: &[Batch], out: &mut Outbox) {
        let mut trades = Vec::new();
        let mut changed: Vec<&str> = Vec::new();
        for event in steps.iter().flat_map(|step| step.iter()) {
            match event {
                EngineEvent::Trade(trade) => {
                    // Every symbol's, subscribed or not, so a later subscription starts in step.
                    let entry = self.symbols.entry(trade.symbol.clone()).or_default();
                    let trade_seq = i64::try_from(trade.seq).unwrap_or(i64::MAX);
                    entry.trade_seq = entry.trade_seq.max(trade_seq);
                    trades.push(trade);
                }
                EngineEvent::Market { symbol } if !changed.contains(&symbol.as_str()) => {
                    changed.push(symbol);
                }
                _ => {}
            }
        }
        let ts = state.clock.now_ms();
        if !trades.is_empty() {
            self.on_trades(&trades, ts, out);
        }
        for symbol in changed {
            self.mark(symbol);
        }
        self.flush(state, Instant::now(), out);
    }

    fn due(&self) -> Option<Instant> {
        let tickers = self
            .tickers
            .values()
            .filter(|f| f.dirty)
            .map(|f| f.next_at)
            .chain(self.limits.values().filter(|f| f.dirty).map(|f| f.next_at));
        let changes = self.books.values().filter(|f| f.dirty).map(|f| f.next_at);
        let resends = self
            .books
            .values()
            .filter(|f| f.depth == 1)
            .map(|f| f.resend_at);
        tickers.chain(changes).chain(resends).min()
    }

    fn on_due(&mut self, state: &AppState, now: Instant, out: &mut Outbox) {
        self.flush(state, now, out);
    }
}

/// What a new ticker or trade subscription starts from; `None` for an unknown symbol.
fn start(engine: &Engine, topic: &Topic) -> Option<Start> {
    match topic {
        Topic::Ticker { symbol } => engine
            .ticker(symbol)
            .ok()
            .map(|t| Start::Ticker(Box::new(t))),
        // Read from its feed by the caller, which takes the feed lock before the engine's.
        Topic::Book { .. } => None,
        Topic::Trade { symbol } => engine.price(symbol).ok().map(Start::Trade),
        Topic::PriceLimit { symbol } => engine
            .price_limit(symbol)
            .ok()
            .flatten()
            .map(Start::PriceLimit),
    }
}

/// The fields of `ticker` that differ from what the client holds, with `symbol`; `None` when
/// nothing changed. The client's view is updated as if the delta had been applied.
fn ticker_delta(feed: &mut TickerFeed, ticker: &Ticker) -> Option<Map<String, Value>> {
    let Ok(Value::Object(fresh)) = serde_json::to_value(ticker) else {
        return None;
    };
    let mut delta: Map<String, Value> = fresh
        .into_iter()
        .filter(|(key, value)| feed.sent.get(key) != Some(value))
        .collect();
    if delta.is_empty() {
        return None;
    }
    for (key, value) in &delta {
        feed.sent.insert(key.clone(), value.clone());
    }
    delta.insert("symbol".to_owned(), Value::String(ticker.symbol.clone()));
    Some(delta)
}

/// Bybit's tick direction of a trade at `price` after `last`.
fn tick_direction(last: Option<&(Decimal, TickDirection)>, price: Decimal) -> TickDirection {
    match last {
        Some((last, _)) if price > *last => TickDirection::PlusTick,
        Some((last, _)) if price < *last => TickDirection::MinusTick,
        Some((_, TickDirection::MinusTick | TickDirection::ZeroMinusTick)) => {
            TickDirection::ZeroMinusTick
        }
        _ => TickDirection::ZeroPlusTick,
    }
}

impl BookSub {
    /// Sends what the feed logged since this connection's `u` (or a fresh snapshot).
    fn deliver(&mut self, poll: Poll, ts: i64, now: Instant, out: &mut Outbox) {
        let sent = !poll.updates.is_empty() || poll.snapshot.is_some();
        for update in &poll.updates {
            out.push_text(&update.text);
        }
        if let Some(snapshot) = poll.snapshot {
            out.push(&snapshot.message(&self.symbol, self.depth, ts));
        }
        self.update_id = poll.u;
        if sent {
            self.resend_at = now + LEVEL1_RESEND;
        }
    }
}
