//! Order and fill tracking (SPEC R-WS-4): what the exchange reports about our orders and
//! fills, published once each on the exec-events bus whichever path saw it first.
//!
//! - [`Dedupe`]: execIds already published, bounded (oldest forgotten first).
//! - [`OrderStates`]: each order's furthest state; a report that would move it backwards (a late
//!   `New` after `Filled`, a smaller filled quantity) or repeats it is dropped.
//! - [`SentPrices`]: the limit price this process sent for each orderLinkId, bounded; every
//!   order report and REST snapshot of such an order is compared with it
//!   ([`Tracker::check_sent_price`], the one place): a different price on the exchange (Bybit's
//!   price-limit action moves a price beyond the band to the bound) is published as
//!   `execution.error` `PriceMismatch` once and the order is flagged
//!   ([`Tracker::price_mismatches`]).
//! - [`Parents`]: which of our orders a take-profit / stop-loss child came from (its
//!   `parentOrderLinkId`, docs/v5/websocket/private/order.mdx): the child has no orderLinkId of
//!   its own, so its fills are published under its parent's, tied to the parent's trade.
//! - [`Tracker`]: all of the above behind one lock, fed by the private stream and by REST.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use bybit_types::rest::account::WalletAccount;
use bybit_types::rest::execution::Execution;
use bybit_types::rest::order::Order;
use bybit_types::rest::position::Position;
use exec_events::{Event, EventBus};
use exec_gateway::{Journal, OrderStatus};
use exec_wire as wire;
use rust_decimal::Decimal;

/// A bounded set of ids: remembers the last `cap` inserted.
#[derive(Debug)]
pub struct Dedupe {
    seen: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
}

impl Dedupe {
    /// Remembers at most `cap` ids (at least 1).
    pub fn new(cap: usize) -> Self {
        Dedupe {
            seen: HashSet::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// True the first time `id` is offered (and it is remembered).
    pub fn first(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() >= self.cap {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Nothing remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// How far along an order is: states only move up this scale.
fn rank(status: OrderStatus) -> u8 {
    match status {
        OrderStatus::Untriggered => 0,
        OrderStatus::Open => 1,
        OrderStatus::PartiallyFilled => 2,
        OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Rejected => 3,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    rank: u8,
    filled: Decimal,
    qty: Decimal,
    price: Option<Decimal>,
    updated_ms: i64,
}

/// Our orders' furthest states, by order id (a table of this layer's orders, not market
/// depth: that is `bybit_ws::OrderBook`), bounded like [`Dedupe`].
#[derive(Debug)]
pub struct OrderStates {
    orders: HashMap<String, Seen>,
    order: VecDeque<String>,
    cap: usize,
}

/// What to do with an order report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderVerdict {
    /// First report of this order.
    New,
    /// It moved forward (or was amended while open).
    Changed,
    /// Nothing new, or a step backwards: drop it.
    Stale,
}

impl OrderStates {
    /// Remembers at most `cap` orders.
    pub fn new(cap: usize) -> Self {
        OrderStates {
            orders: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Offers a report of `o`; keeps it if it is news.
    pub fn offer(&mut self, o: &Order) -> OrderVerdict {
        let snap = wire::snapshot(o);
        let next = Seen {
            rank: rank(snap.status),
            filled: snap.filled_qty,
            qty: snap.qty,
            price: snap.price,
            updated_ms: o.updated_time.unwrap_or(0),
        };
        let verdict = match self.orders.get(&o.order_id) {
            None => OrderVerdict::New,
            Some(prev) if *prev == next => OrderVerdict::Stale,
            Some(prev) if prev.rank == 3 => OrderVerdict::Stale,
            Some(prev) if next.rank < prev.rank || next.filled < prev.filled => OrderVerdict::Stale,
            // Same state and fill: an amendment only if it is not older than what we hold.
            Some(prev)
                if next.rank == prev.rank
                    && next.filled == prev.filled
                    && next.updated_ms < prev.updated_ms =>
            {
                OrderVerdict::Stale
            }
            Some(_) => OrderVerdict::Changed,
        };
        if verdict != OrderVerdict::Stale {
            if !self.orders.contains_key(&o.order_id) {
                if self.order.len() >= self.cap {
                    if let Some(old) = self.order.pop_front() {
                        self.orders.remove(&old);
                    }
                }
                self.order.push_back(o.order_id.clone());
            }
            self.orders.insert(o.order_id.clone(), next);
        }
        verdict
    }
}

/// The limit price sent for each orderLinkId (the last `cap` remembered) and the orders found
/// standing at another price.
#[derive(Debug)]
pub struct SentPrices {
    prices: HashMap<String, Decimal>,
    order: VecDeque<String>,
    flagged: Dedupe,
    cap: usize,
}

impl SentPrices {
    /// Remembers at most `cap` prices and `cap` flagged orders.
    pub fn new(cap: usize) -> Self {
        SentPrices {
            prices: HashMap::new(),
            order: VecDeque::new(),
            flagged: Dedupe::new(cap),
            cap: cap.max(1),
        }
    }

    /// `price` is what goes out for `link` (the latest send wins: a re-rounded re-send).
    pub fn sent(&mut self, link: &str, price: Decimal) {
        if self.prices.insert(link.to_owned(), price).is_none() {
            if self.order.len() >= self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.prices.remove(&old);
                }
            }
            self.order.push_back(link.to_owned());
        }
    }

    /// The sent price, when `o` stands at another one and has not been flagged yet (it is
    /// then flagged).
    pub fn mismatch(&mut self, o: &Order) -> Option<Decimal> {
        let sent = *self.prices.get(&o.order_link_id)?;
        let held = o.price?;
        // A market order's record carries its protection price; only limit prices are sent.
        if held == sent || held.is_zero() || !self.flagged.first(&o.order_link_id) {
            return None;
        }
        Some(sent)
    }
}

/// Child orderId → its parent's orderLinkId, for the TP/SL orders Bybit creates from an
/// order's attached take-profit / stop-loss (they carry `parentOrderLinkId` and an empty
/// `orderLinkId`; docs/v5/order/open-order.mdx). The last `cap` children are remembered.
#[derive(Debug)]
pub struct Parents {
    parents: HashMap<String, String>,
    order: VecDeque<String>,
    cap: usize,
}

impl Parents {
    /// Remembers at most `cap` children.
    pub fn new(cap: usize) -> Self {
        Parents {
            parents: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Learns `o`'s parent when it is a child: no orderLinkId of its own and a non-empty
    /// `parentOrderLinkId`. A parent link is meaningless on an order that has its own link
    /// (Bybit's docs only give it to attached TP/SL orders), so such an order is left alone.
    pub fn learn(&mut self, o: &Order) {
        let Some(parent) = o.parent_order_link_id.as_deref().filter(|p| !p.is_empty()) else {
            return;
        };
        if !o.order_link_id.is_empty() || o.order_id.is_empty() {
            return;
        }
        if self
            .parents
            .insert(o.order_id.clone(), parent.to_owned())
            .is_none()
        {
            if self.order.len() >= self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.parents.remove(&old);
                }
            }
            self.order.push_back(o.order_id.clone());
        }
    }

    /// The parent orderLinkId of the child order `order_id`, if known.
    pub fn of(&self, order_id: &str) -> Option<&str> {
        self.parents.get(order_id).map(String::as_str)
    }
}

#[derive(Debug)]
struct State {
    fills: Dedupe,
    orders: OrderStates,
    sent: SentPrices,
    parents: Parents,
    /// Newest execTime published, ms: REST catch-up asks from a little before it.
    last_exec_ms: Option<i64>,
}

/// Publishes what the exchange reports, once. Each new fill is recorded in the journal
/// before it is published, so a bus subscriber that lags can re-read it there.
pub struct Tracker {
    state: Mutex<State>,
    /// Held while fills are journaled and published, so two paths (stream, REST catch-up)
    /// cannot interleave one fill's journal write and its publication.
    fills_gate: tokio::sync::Mutex<()>,
    bus: EventBus,
    journal: Arc<dyn Journal>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Tracker {
    /// A tracker remembering `cap` execIds and `cap` orders, recording fills in `journal`.
    pub fn new(bus: EventBus, journal: Arc<dyn Journal>, cap: usize) -> Self {
        Tracker {
            state: Mutex::new(State {
                fills: Dedupe::new(cap),
                orders: OrderStates::new(cap),
                sent: SentPrices::new(cap),
                parents: Parents::new(cap),
                last_exec_ms: None,
            }),
            fills_gate: tokio::sync::Mutex::new(()),
            bus,
            journal,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Executions, from either path; each execId is published once. Returns how many were new.
    pub async fn executions<'a>(&self, execs: impl IntoIterator<Item = &'a Execution>) -> usize {
        let _gate = self.fills_gate.lock().await;
        let fills = {
            let mut state = self.lock();
            let mut fills = Vec::new();
            for e in execs {
                if !state.fills.first(&e.exec_id) {
                    continue;
                }
                if let Some(t) = e.exec_time {
                    state.last_exec_ms = Some(state.last_exec_ms.map_or(t, |l| l.max(t)));
                }
                let mut fill = wire::fill(e);
                // A TP/SL child's fill belongs to the trade whose order it was attached to: it
                // is published (and journaled) under the parent's orderLinkId, with the child's
                // own orderId and side, so it is not left as a foreign fill.
                if fill.order_link_id.is_empty() {
                    if let Some(parent) = state.parents.of(&e.order_id) {
                        fill.order_link_id = parent.to_owned();
                    }
                }
                fills.push(fill);
            }
            fills
        };
        let published = fills.len();
        for fill in fills {
            // Journaled (and logged, once per execId) before it is published (the journal
            // ignores an execId it holds).
            exec_gateway::journal::journal_seen_fill(self.journal.as_ref(), &self.bus, &fill).await;
            // Published under the gate so two paths cannot interleave one fill's order.
            self.bus.publish(Event::Fill(fill));
        }
        published
    }

    /// Order reports, from either path; only forward moves are published.
    pub fn orders<'a>(&self, orders: impl IntoIterator<Item = &'a Order>) -> usize {
        let mut state = self.lock();
        let mut published = 0;
        for o in orders {
            state.parents.learn(o);
            self.compare_sent_price(&mut state, o);
            let seen = match state.orders.offer(o) {
                OrderVerdict::Stale => continue,
                OrderVerdict::New => false,
                OrderVerdict::Changed => true,
            };
            self.bus.publish(Event::Order(wire::order_event(o, seen)));
            published += 1;
        }
        published
    }

    /// Learns which of `orders` are TP/SL children of our orders (REST reads, before their
    /// executions are offered); [`Tracker::orders`] learns the same from every report.
    pub fn learn_parents<'a>(&self, orders: impl IntoIterator<Item = &'a Order>) {
        let mut state = self.lock();
        for o in orders {
            state.parents.learn(o);
        }
    }

    /// Remembers the limit price about to be sent for `link`, before it is sent (a push may
    /// come before the reply).
    pub fn expect_price(&self, link: &str, price: Decimal) {
        self.lock().sent.sent(link, price);
    }

    /// Compares an order the exchange reports (a REST lookup; pushes are compared in
    /// [`Tracker::orders`]) with the limit price this process sent for it.
    pub fn check_sent_price(&self, o: &Order) {
        let mut state = self.lock();
        state.parents.learn(o);
        self.compare_sent_price(&mut state, o);
    }

    /// The one comparison: an order standing at a price other than the one sent is published
    /// as `execution.error` (`PriceMismatch`, once per order), logged, and flagged.
    fn compare_sent_price(&self, state: &mut State, o: &Order) {
        let Some(sent) = state.sent.mismatch(o) else {
            return;
        };
        let held = o.price.unwrap_or_default();
        let message = format!(
            "order {} ({}) stands on the exchange at price {held}, not the {sent} this layer \
             sent: the account's price-limit action moved it (set modifyEnable=false, \
             docs/v5/account/set-price-limit.mdx)",
            o.order_link_id, o.symbol
        );
        tracing::error!(order_link_id = %o.order_link_id, %sent, %held, "{message}");
        self.bus
            .publish(Event::ExecutionError(exec_events::ExecutionError {
                kind: exec_events::ErrorKind::PriceMismatch,
                trade_tag: None,
                leg: None,
                order_link_id: Some(o.order_link_id.clone()),
                ret_code: None,
                message,
                time_ms: o.updated_time.unwrap_or_default(),
            }));
    }

    /// The orderLinkIds of orders found standing at a price this process did not send,
    /// oldest first (the last `cap`).
    pub fn price_mismatches(&self) -> Vec<String> {
        self.lock().sent.flagged.order.iter().cloned().collect()
    }

    /// Position reports.
    pub fn positions<'a>(&self, positions: impl IntoIterator<Item = &'a Position>) {
        for p in positions {
            self.bus.publish(Event::Position(wire::position_event(p)));
        }
    }

    /// Wallet reports.
    pub fn wallets<'a>(&self, wallets: impl IntoIterator<Item = &'a WalletAccount>) {
        for w in wallets {
            self.bus.publish(Event::Wallet(wire::wallet_event(w)));
        }
    }

    /// Marks fills an earlier process already published (e.g. the journal's, after a
    /// restart) as seen, so a catch-up does not publish them again.
    pub fn remember_fills<'a>(&self, fills: impl IntoIterator<Item = &'a exec_events::Fill>) {
        let mut state = self.lock();
        for f in fills {
            state.fills.first(&f.exec_id);
            state.last_exec_ms = Some(state.last_exec_ms.map_or(f.time_ms, |l| l.max(f.time_ms)));
        }
    }

    /// Newest execTime published.
    pub fn last_exec_ms(&self) -> Option<i64> {
        self.lock().last_exec_ms
    }
}
