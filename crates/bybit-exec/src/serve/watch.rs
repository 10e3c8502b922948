//! The bus watcher: one subscriber that turns events into counters (orders sent by kind,
//! fills, errors by kind), keeps the last [`RING`] events for the status page, and learns
//! the trade tags it sees in orderLinkIds (so the journal can be asked about them).

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use exec_events::{ErrorKind, Event, EventBus, OrderEventKind, Received};
use exec_gateway::{Leg, LinkIds};
use serde::Serialize;

use crate::runtime::Tasks;

/// How many events the status page shows.
pub const RING: usize = 50;

/// Counter: orders sent, counted once per orderLinkId at its first order event; label `kind`
/// (`entry`, `tp`, `dca`, `close`, `other`: the leg in the orderLinkId) and `result`
/// (`rejected` when that first answer is a rejection, else `accepted`). The dry-run router
/// answers its orders too, so they count here as well.
pub const ORDERS_SENT_TOTAL: &str = "bybit_exec_orders_sent_total";
/// Counter: dry-run's "would send" events, label `operation` (`place_market_entry`,
/// `cancel_order`, `set_trading_stop`, …: the dry-run router's fixed names).
pub const WOULD_SEND_TOTAL: &str = "bybit_exec_would_send_total";
/// Counter: fills, label `kind` (the leg, as above).
pub const FILLS_TOTAL: &str = "bybit_exec_fills_total";
/// Counter: `execution.error` events, label `kind` (`rejected`, `unknown_outcome`, `auth`, …).
pub const ERRORS_TOTAL: &str = "bybit_exec_errors_total";
/// Counter: events this watcher missed because it fell behind the bus.
pub const EVENTS_LAGGED_TOTAL: &str = "bybit_exec_events_lagged_total";

/// One line of the status page's event list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventLine {
    /// The bus's sequence number (0 for the watcher's own notes).
    pub seq: u64,
    /// When the watcher saw it (local clock, ms since 1970).
    pub time_ms: i64,
    /// `order`, `fill`, `position`, `wallet`, `health`, `execution.error`, `would_send`, `lagged`.
    pub kind: &'static str,
    /// The trade's tag, when the event names one of this layer's orders.
    pub tag: Option<String>,
    /// What happened, in a line.
    pub text: String,
}

/// What the watcher has learnt; shared with the HTTP handlers.
#[derive(Debug, Default)]
pub struct Seen {
    events: Mutex<VecDeque<EventLine>>,
    tags: Mutex<BTreeSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Seen {
    /// The last events, oldest first.
    pub fn events(&self) -> Vec<EventLine> {
        lock(&self.events).iter().cloned().collect()
    }

    /// Every trade tag seen (in events, recovered, or started through the control API).
    pub fn tags(&self) -> Vec<String> {
        lock(&self.tags).iter().cloned().collect()
    }

    /// Remembers a trade tag.
    pub fn add_tag(&self, tag: &str) {
        lock(&self.tags).insert(tag.to_owned());
    }

    /// Forgets a trade tag (its trade is finished; the journal keeps it).
    pub fn forget_tag(&self, tag: &str) {
        lock(&self.tags).remove(tag);
    }

    /// Adds a line of the server's own (a recovery, a trade started) to the event list.
    pub fn note(&self, tag: Option<&str>, text: String) {
        self.push(EventLine {
            seq: 0,
            time_ms: now_ms(),
            kind: "note",
            tag: tag.map(str::to_owned),
            text,
        });
    }

    fn push(&self, line: EventLine) {
        let mut events = lock(&self.events);
        if events.len() == RING {
            events.pop_front();
        }
        events.push_back(line);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// The leg family of an orderLinkId (`entry`, `tp`, `dca`, `close`, `other`) and its tag.
fn leg_of<'a>(links: &LinkIds, link: &'a str) -> (&'static str, Option<&'a str>) {
    match links.parse(link) {
        Some((leg, tag)) => (
            match leg {
                Leg::Entry => "entry",
                Leg::Tp(_) => "tp",
                Leg::Dca(_) => "dca",
                Leg::Close(_) => "close",
            },
            Some(tag),
        ),
        None => ("other", None),
    }
}

/// The `operation` label of `bybit_exec_would_send_total`: a dry-run router's operation
/// names ([`WOULD_SEND_OPERATIONS`]), anything else `other`, so the label stays a bounded set
/// whatever a router puts in the event (values belong in log lines, not labels).
fn operation_label(operation: &str) -> &'static str {
    WOULD_SEND_OPERATIONS
        .iter()
        .find(|known| **known == operation)
        .copied()
        .unwrap_or("other")
}

/// Every value of the `operation` label (metric labels are bounded sets).
pub const WOULD_SEND_OPERATIONS: [&str; 9] = [
    "place_market_entry",
    "place_dca_order",
    "place_tp_order",
    "close_position_market",
    "cancel_order",
    "amend_order",
    "set_trading_stop",
    "set_leverage",
    "other",
];

/// Every value of the `kind` label of [`ORDERS_SENT_TOTAL`] and [`FILLS_TOTAL`].
pub const LEG_KINDS: [&str; 5] = ["entry", "tp", "dca", "close", "other"];
/// Every value of the `result` label of [`ORDERS_SENT_TOTAL`].
pub const ORDER_RESULTS: [&str; 2] = ["accepted", "rejected"];
/// Every value of the `kind` label of [`ERRORS_TOTAL`].
pub const ERROR_KINDS: [&str; 9] = [
    "insufficient_balance",
    "auth",
    "rejected",
    "unknown_outcome",
    "journal",
    "invalid_input",
    "events_lagged",
    "price_mismatch",
    "other",
];

fn error_kind(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InsufficientBalance => "insufficient_balance",
        ErrorKind::Auth => "auth",
        ErrorKind::Rejected => "rejected",
        ErrorKind::UnknownOutcome => "unknown_outcome",
        ErrorKind::Journal => "journal",
        ErrorKind::InvalidInput => "invalid_input",
        ErrorKind::EventsLagged => "events_lagged",
        ErrorKind::PriceMismatch => "price_mismatch",
        ErrorKind::Other => "other",
    }
}

fn opt(d: Option<rust_decimal::Decimal>) -> String {
    d.map_or_else(|| "-".to_owned(), |d| d.normalize().to_string())
}

/// How many orderLinkIds the watcher remembers as counted; the oldest is forgotten first (an
/// order still reporting after this many newer ones would be counted again).
pub const SENT_REMEMBERED: usize = 4096;

/// The orderLinkIds already counted in [`ORDERS_SENT_TOTAL`], at most [`SENT_REMEMBERED`].
#[derive(Debug, Default)]
struct Sent {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Sent {
    /// True the first time `link` is seen (within the window).
    fn insert(&mut self, link: String) -> bool {
        if self.set.contains(&link) {
            return false;
        }
        if self.order.len() == SENT_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(link.clone());
        self.order.push_back(link);
        true
    }
}

/// Counts one event and describes it.
fn observe(links: &LinkIds, sent: &mut Sent, seq: u64, event: &Event) -> EventLine {
    let (kind, tag, text) = match event {
        Event::Order(o) => {
            let (leg, tag) = leg_of(links, &o.order_link_id);
            // A market entry may be reported filled without an "accepted" first.
            if sent.insert(o.order_link_id.clone()) {
                let result = if o.kind == OrderEventKind::Rejected {
                    "rejected"
                } else {
                    "accepted"
                };
                metrics::counter!(ORDERS_SENT_TOTAL, "kind" => leg, "result" => result)
                    .increment(1);
            }
            // A market order has no price of its own: what it filled at is its average.
            let price = match (o.price, o.trigger_price) {
                (Some(p), _) => format!("limit {}", p.normalize()),
                (None, Some(t)) => format!("trigger {}", t.normalize()),
                (None, None) => "market".to_owned(),
            };
            let text = format!(
                "{:?} {} {} {} qty {} {price} filled {}{}{}",
                o.kind,
                o.order_link_id,
                o.side,
                o.symbol,
                o.qty.normalize(),
                o.filled_qty.normalize(),
                o.avg_price
                    .filter(|_| !o.filled_qty.is_zero())
                    .map(|p| format!(" at {}", p.normalize()))
                    .unwrap_or_default(),
                o.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            ("order", tag, text)
        }
        Event::Fill(f) => {
            let (leg, tag) = leg_of(links, &f.order_link_id);
            metrics::counter!(FILLS_TOTAL, "kind" => leg).increment(1);
            let text = format!(
                "fill {} {} {} {} @ {}",
                f.order_link_id,
                f.side,
                f.qty.normalize(),
                f.symbol,
                f.price.normalize()
            );
            ("fill", tag, text)
        }
        Event::Position(p) => (
            "position",
            None,
            format!(
                "position {} {} size {} entry {}",
                p.symbol,
                p.side.map_or("flat", |s| s.as_str()),
                p.size.normalize(),
                opt(p.entry_price)
            ),
        ),
        Event::Wallet(w) => (
            "wallet",
            None,
            format!(
                "wallet {} balance {} available {}",
                w.coin,
                w.wallet_balance.normalize(),
                w.available.normalize()
            ),
        ),
        Event::Health(h) => (
            "health",
            None,
            format!(
                "{} {}{}",
                h.component,
                if h.ok { "ok" } else { "DOWN" },
                h.detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
        ),
        Event::ExecutionError(e) => {
            metrics::counter!(ERRORS_TOTAL, "kind" => error_kind(e.kind)).increment(1);
            let tag = e
                .order_link_id
                .as_deref()
                .and_then(|l| leg_of(links, l).1)
                .or(e.trade_tag.as_deref());
            (
                "execution.error",
                tag,
                format!("{}: {}", error_kind(e.kind), e.message),
            )
        }
        Event::WouldSend(w) => {
            let tag = w.order_link_id.as_deref().and_then(|l| leg_of(links, l).1);
            metrics::counter!(WOULD_SEND_TOTAL, "operation" => operation_label(&w.operation))
                .increment(1);
            (
                "would_send",
                tag,
                match w.leverage {
                    Some(leverage) => format!(
                        "would send {} {} leverage {}",
                        w.operation,
                        w.symbol,
                        leverage.normalize()
                    ),
                    None => format!(
                        "would send {} {} {} qty {} price {}",
                        w.operation,
                        w.symbol,
                        w.side.map_or("", |s| s.as_str()),
                        opt(w.qty),
                        opt(w.price.or(w.trigger_price))
                    ),
                },
            )
        }
    };
    EventLine {
        seq,
        time_ms: now_ms(),
        kind,
        tag: tag.map(str::to_owned),
        text,
    }
}

/// Gives the watcher's metrics their help text.
pub fn describe() {
    metrics::describe_counter!(
        ORDERS_SENT_TOTAL,
        "Orders answered by the router, by leg kind and result"
    );
    metrics::describe_counter!(FILLS_TOTAL, "Fills, by leg kind");
    metrics::describe_counter!(
        WOULD_SEND_TOTAL,
        "Dry-run requests that would have been sent, by operation"
    );
    metrics::describe_counter!(ERRORS_TOTAL, "execution.error events, by kind");
    metrics::describe_counter!(
        EVENTS_LAGGED_TOTAL,
        "Events the status watcher missed because it fell behind the bus"
    );
}

/// Subscribes to `bus` now (so nothing published after this call is missed) and watches it
/// until every publisher is gone or `tasks` are stopped.
pub fn spawn(
    bus: &EventBus,
    links: LinkIds,
    seen: Arc<Seen>,
    hub: Arc<super::hub::Hub>,
    tasks: &Tasks,
) {
    let mut sub = bus.subscribe();
    tasks.spawn(async move {
        let mut sent = Sent::default();
        loop {
            match sub.recv().await {
                Received::Event(envelope) => {
                    hub.push(&envelope);
                    let line = observe(&links, &mut sent, envelope.seq, &envelope.event);
                    if let Some(tag) = &line.tag {
                        seen.add_tag(tag);
                    }
                    seen.push(line);
                }
                Received::Lagged { missed } => {
                    metrics::counter!(EVENTS_LAGGED_TOTAL).increment(missed);
                    seen.push(EventLine {
                        seq: 0,
                        time_ms: now_ms(),
                        kind: "lagged",
                        tag: None,
                        text: format!("{missed} events missed by the status page"),
                    });
                }
                Received::Closed => break,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_events() {
        let seen = Seen::default();
        for i in 0..(RING + 5) {
            seen.note(None, format!("line {i}"));
        }
        let events = seen.events();
        assert_eq!(events.len(), RING);
        assert_eq!(events[0].text, "line 5");
        assert_eq!(events[RING - 1].text, format!("line {}", RING + 4));
    }

    /// An event line shows a market order as "market" and what it filled at, never a price
    /// it did not pay.
    #[test]
    fn a_filled_market_order_shows_its_fill_price() {
        let order = exec_events::OrderEvent {
            kind: OrderEventKind::Filled,
            symbol: "BTCUSDT".into(),
            side: exec_events::Side::Buy,
            order_id: "1".into(),
            order_link_id: "andre_ENTRY_T".into(),
            qty: rust_decimal::Decimal::new(20, 3),
            price: None,
            trigger_price: None,
            filled_qty: rust_decimal::Decimal::new(20, 3),
            avg_price: Some(rust_decimal::Decimal::new(500_001, 1)),
            reduce_only: false,
            reason: None,
            simulated: false,
        };
        let line = observe(
            &LinkIds::new(exec_gateway::DEFAULT_LINK_PREFIX).unwrap(),
            &mut Sent::default(),
            1,
            &Event::Order(order),
        );
        assert_eq!(
            line.text,
            "Filled andre_ENTRY_T Buy BTCUSDT qty 0.02 market filled 0.02 at 50000.1"
        );
    }

    #[test]
    fn the_counted_order_ids_are_bounded() {
        let mut sent = Sent::default();
        for i in 0..(SENT_REMEMBERED + 10) {
            assert!(sent.insert(format!("andre_TP1_{i}")));
        }
        assert_eq!(sent.set.len(), SENT_REMEMBERED);
        assert_eq!(sent.order.len(), SENT_REMEMBERED);
        // A recent one is still known; the oldest is forgotten.
        assert!(!sent.insert(format!("andre_TP1_{}", SENT_REMEMBERED + 9)));
        assert!(sent.insert("andre_TP1_0".to_owned()));
    }
}
