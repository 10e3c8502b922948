//! Live Bybit adapters: `exec-gateway`'s ports over `bybit-rest`, `bybit-ws` and
//! `bybit-meta`, so the gateway itself stays free of HTTP and sockets.
//!
//! - [`LiveExchange`] implements every port ([`OrderRouter`], [`PositionService`],
//!   [`AccountService`], [`SymbolMetaService`], [`PriceService`], [`HealthCheck`]) over one
//!   [`BybitRest`] client. Every REST failure becomes a [`PortError`] in one place
//!   ([`port_error`]); the gateway's outcome policy decides what it means.
//! - Order and fill tracking (SPEC R-WS-4, [`tracker`]): the private stream first; REST
//!   polling every [`LiveConfig::poll_interval`] while that stream is down or silent longer
//!   than [`LiveConfig::silence_threshold`]; a REST catch-up (executions, open and recent
//!   orders, positions, wallet) at start and on every subscription acknowledgement. Every fill is
//!   published on the bus once (by execId, bounded memory), order states only move forward,
//!   and non-trade executions keep their type ([`exec_events::ExecKind`]).
//!
//! What it is not: no strategy and no outcome policy (the gateway's); no wire mapping of its
//! own (`exec-wire`, shared with the paper router).
//!
//! # Why Bybit's disconnect-cancel-all (DCP) is not enabled
//!
//! DCP (Bybit docs v5/order/dcp, REFERENCE.md §7.5) cancels *all* open orders once every
//! `dcp`-subscribed private connection has been dead for `timeWindow` (3–300 s). The orders this
//! layer leaves resting are an open position's take-profit ladder and its DCAs: a network blip
//! would cancel the take-profits while the position stays open, which is worse than leaving
//! them working. A lost connection is covered instead by REST polling and the catch-up above,
//! and `close_all` and the breakeven stop are explicit. (DCP is also offered to institutional
//! accounts only.) Revisit only if the layer ever rests risk-*adding* orders whose unattended
//! fill would be worse than a cancelled take-profit.

mod error;
mod instruments;
mod preflight;
pub mod route;
pub mod tracker;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bybit_meta::{InstrumentCache, InstrumentRules};
use bybit_rest::{
    AmendOrder, BybitRest, CancelOrder, Executions, NewOrder, OpenOrders, OrderHistory,
    OrderTarget, Positions, TradingStop,
};
use bybit_types::rest::execution::Execution;
use bybit_types::rest::order::Order;
use bybit_types::{AccountType, Category, OrderLinkId, Price, Qty, TimeInForce, TimestampMs};
use bybit_ws::{EventReceiver, PrivateTopic, TradeOp, TradeStream, WsEvent, WsStream};
use exec_events::EventBus;
use exec_gateway::{
    AccountService, Balance, BybitStatus, HealthCheck, OrderAck, OrderRequest, OrderRouter,
    OrderSnapshot, PortError, PortResult, PositionService, PositionState, PriceService, RestHealth,
    Symbol, SymbolMetaService, TriggerDirection, WsHealth,
};
use exec_wire as wire;
use rust_decimal::Decimal;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use error::create_error;
pub use error::{port_error, RULE_REFUSALS};
pub use instruments::RestInstrumentSource;
pub use preflight::{Preflight, PreflightCheck, PreflightError};
pub use route::OrderPath;
pub use tracker::Tracker;

/// "Leverage not modified" (docs/v5/error.mdx): the leverage is already what was asked.
const LEVERAGE_NOT_MODIFIED: i64 = 110043;
/// Most pages one catch-up reads per list.
const MAX_PAGES: usize = 10;
/// How far before the newest execution seen a REST catch-up asks from.
const EXEC_OVERLAP_MS: i64 = 60_000;
/// Bybit's widest execution window (7 days, docs/v5/order/execution.mdx `startTime`), minus
/// a millisecond: both ends are asked for, so the span stays inside the rule.
const EXEC_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000 - 1;
/// One day, ms.
const DAY_MS: i64 = 24 * 3600 * 1000;
/// How far back Bybit's trade history reaches (2 years: "Get Trade History (2 years)").
const EXEC_KEPT_MS: i64 = 730 * 24 * 3600 * 1000;

/// How the live adapters track orders and fills.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// REST polling interval while the private stream is down or silent (2–5 s in
    /// production; tests use less).
    pub poll_interval: Duration,
    /// The private stream counts as silent after this long without data (a topic push or a
    /// subscription ack; pongs do not count: a stream can answer pings and push nothing).
    pub silence_threshold: Duration,
    /// How many execIds and orders the tracker remembers.
    pub dedupe_capacity: usize,
    /// The settle coin whose orders and positions are tracked.
    pub settle_coin: String,
    /// How often the instrument rules are reloaded (besides after a rule refusal).
    pub meta_refresh: Duration,
    /// Which way order creates go ([`OrderPath`]; the trade stream only when one is given,
    /// [`LiveExchange::with_trade_stream`]).
    pub order_path: OrderPath,
    /// How long a trade-stream request waits for its answer before its outcome is unknown.
    pub trade_deadline: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            poll_interval: Duration::from_secs(3),
            silence_threshold: Duration::from_secs(30),
            dedupe_capacity: 10_000,
            settle_coin: "USDT".to_owned(),
            meta_refresh: Duration::from_secs(3600),
            order_path: OrderPath::Auto,
            trade_deadline: Duration::from_secs(5),
        }
    }
}

/// Order creates sent per path since the start ([`LiveExchange::order_paths`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderPathCounts {
    /// Over the trade stream (answered, or written and unanswered).
    pub ws: u64,
    /// Over REST.
    pub rest: u64,
}

#[derive(Debug, Default)]
struct OrderPaths {
    ws: std::sync::atomic::AtomicU64,
    rest: std::sync::atomic::AtomicU64,
}

/// The gateway's ports on Bybit. Share it (`Arc`); [`LiveExchange::start_tracking`] starts the
/// background task that publishes fills and order changes.
pub struct LiveExchange {
    rest: Arc<dyn BybitRest>,
    meta: RwLock<InstrumentCache>,
    tracker: Arc<Tracker>,
    config: LiveConfig,
    private: Option<Arc<WsStream>>,
    public: Option<Arc<WsStream>>,
    /// The order-entry stream, when the environment has one ([`OrderPath`]).
    trade: Option<Arc<TradeStream>>,
    /// Order creates sent over the trade stream and over REST, for the status page.
    paths: OrderPaths,
    cancel: CancellationToken,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// Leverage this process has set (or found set) per symbol, so an entry does not repeat
    /// the call (pre-flight sets it once per traded symbol).
    leverage: std::sync::Mutex<std::collections::HashMap<String, Decimal>>,
    /// Where fills are recorded before they are published (see [`LiveExchange::new`]).
    journal: Arc<dyn exec_gateway::Journal>,
}

impl std::fmt::Debug for LiveExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveExchange")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for LiveExchange {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl LiveExchange {
    /// Adapters over `rest`, publishing on `bus`; `private` / `public` are the streams (their
    /// event receiver is handed to [`start_tracking`](Self::start_tracking)).
    ///
    /// `journal` is the gateway's journal (SPEC R-GW-6): every new fill is recorded in it
    /// before it is published, so a bus subscriber that lags re-reads fills there and
    /// `recover()` finds them after a restart, and a re-rounded order is recorded before it
    /// is re-sent. It is not optional: a trading router without it could lose a fill.
    pub fn new(
        rest: Arc<dyn BybitRest>,
        bus: EventBus,
        journal: Arc<dyn exec_gateway::Journal>,
        config: LiveConfig,
        private: Option<Arc<WsStream>>,
        public: Option<Arc<WsStream>>,
    ) -> Self {
        let tracker = Tracker::new(bus, journal.clone(), config.dedupe_capacity);
        LiveExchange {
            rest,
            meta: RwLock::new(InstrumentCache::new()),
            tracker: Arc::new(tracker),
            config,
            private,
            public,
            trade: None,
            paths: OrderPaths::default(),
            cancel: CancellationToken::new(),
            task: std::sync::Mutex::new(None),
            leverage: std::sync::Mutex::new(std::collections::HashMap::new()),
            journal,
        }
    }

    /// Sends order creates over `stream` as [`LiveConfig::order_path`] says (`auto`: when it
    /// is connected and authenticated, else over REST).
    #[must_use]
    pub fn with_trade_stream(mut self, stream: Arc<TradeStream>) -> Self {
        self.trade = Some(stream);
        self
    }

    /// The order-entry stream, if one was given.
    pub fn trade_stream(&self) -> Option<&Arc<TradeStream>> {
        self.trade.as_ref()
    }

    /// How many order creates went over each path so far.
    pub fn order_paths(&self) -> OrderPathCounts {
        OrderPathCounts {
            ws: self.paths.ws.load(std::sync::atomic::Ordering::Relaxed),
            rest: self.paths.rest.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Counts one create sent over `path`, here and in the metric.
    fn sent_over(&self, path: &'static str) {
        let counter = if path == "ws" {
            &self.paths.ws
        } else {
            &self.paths.rest
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        route::count(path, "create");
    }

    /// The trade stream, when a request sent now goes over it.
    fn stream_for_send(&self) -> Option<&Arc<TradeStream>> {
        match self.config.order_path {
            OrderPath::Rest => None,
            OrderPath::Ws => self.trade.as_ref(),
            OrderPath::Auto => self.trade.as_ref().filter(|s| s.is_ready()),
        }
    }

    /// The gateway's ports over this exchange: it is the router, the positions, the account,
    /// the instrument rules and the prices; the journal and the clock are the caller's.
    pub fn ports(
        self: &Arc<Self>,
        journal: Arc<dyn exec_gateway::Journal>,
        clock: Arc<dyn exec_gateway::Clock>,
    ) -> exec_gateway::Ports {
        exec_gateway::Ports {
            router: self.clone(),
            positions: self.clone(),
            account: self.clone(),
            meta: self.clone(),
            prices: self.clone(),
            journal,
            clock,
        }
    }

    /// Loads the instruments, runs the start catch-up, subscribes the private topics and
    /// spawns the tracking task (private stream events, REST polling while it is down).
    pub async fn start_tracking(
        self: &Arc<Self>,
        private_events: Option<EventReceiver>,
    ) -> PortResult<()> {
        self.refresh_symbol_meta().await?;
        self.catch_up().await?;
        if let Some(stream) = &self.private {
            let stream = stream.clone();
            // Acknowledged in the background: polling covers the time until it is.
            tokio::spawn(async move {
                let topics = [
                    PrivateTopic::Order,
                    PrivateTopic::Execution,
                    PrivateTopic::Position,
                    PrivateTopic::Wallet,
                ];
                if let Err(e) = stream.subscribe_private(&topics).await {
                    tracing::warn!(error = %e, "private topics not subscribed");
                }
            });
        }
        let me = Arc::downgrade(self);
        let cancel = self.cancel.clone();
        let handle = tokio::spawn(track(
            me,
            private_events,
            cancel,
            self.config.poll_interval,
            self.config.meta_refresh,
        ));
        *self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handle);
        Ok(())
    }

    /// Stops the tracking task (the streams stop when the last handle is dropped).
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Stops the tracking task and waits until it has ended: nothing is published after
    /// this returns (a clean process stop: the journal can then be brought up to date).
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let task = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            // The task ends at its next select; a panic in it has already been reported.
            let _ = task.await;
        }
    }

    /// The tracker (what has been published).
    pub fn tracker(&self) -> &Arc<Tracker> {
        &self.tracker
    }

    /// The public stream's last price for `symbol`, if it has one (no REST call).
    pub fn cached_last_price(&self, symbol: &Symbol) -> Option<Decimal> {
        self.public
            .as_ref()
            .and_then(|s| s.ticker(symbol.as_str()))
            .and_then(|t| t.last_price)
    }

    /// Whether the private stream is down or silent, so REST must be polled.
    pub fn private_stream_quiet(&self) -> bool {
        let Some(stream) = &self.private else {
            return true;
        };
        let h = stream.health();
        !h.connected
            || !h.authenticated
            || h.subscriptions.is_empty()
            || h.since_last_data
                .is_none_or(|d| d > self.config.silence_threshold)
    }

    /// One REST pass: executions since the newest seen, open orders, positions.
    pub async fn poll(&self) -> PortResult<()> {
        let execs = self.recent_executions().await?;
        let open = self.open_orders_all().await?;
        // A TP/SL child's parent is learned before its fills are published.
        self.tracker.learn_parents(&open);
        self.tracker.executions(&execs).await;
        self.tracker.orders(&open);
        Ok(())
    }

    /// The full catch-up (start, reconnect, lag): [`poll`](Self::poll) plus recent order
    /// history, positions and the wallet.
    pub async fn catch_up(&self) -> PortResult<()> {
        let history = self
            .rest
            .order_history(OrderHistory::new().limit(50))
            .await
            .map_err(port_error)?;
        // Closed TP/SL children name their parents before their fills are published.
        self.tracker.learn_parents(&history.list);
        self.poll().await?;
        let mut list = history.list;
        list.sort_by_key(|o| o.updated_time.unwrap_or(0));
        self.tracker.orders(&list);
        let positions = self
            .rest
            .positions(Positions::settle_coin(self.config.settle_coin.clone()))
            .await
            .map_err(port_error)?;
        self.tracker.positions(&positions.list);
        let wallet = self
            .rest
            .wallet_balance(AccountType::Unified, Some(self.config.settle_coin.clone()))
            .await
            .map_err(port_error)?;
        self.tracker.wallets(&wallet.list);
        Ok(())
    }

    /// Every execution since a little before the newest one published (the last 7 days,
    /// Bybit's default, when none is known yet), oldest first.
    ///
    /// Bybit answers a query with only `startTime` for [start, start + 7 days] and refuses a
    /// wider span (docs/v5/order/execution.mdx), so after a longer downtime one query would
    /// miss every later fill. The gap up to the exchange's own time (`/v5/market/time`: the
    /// local clock may be off) is walked in windows of at most 7 days, each read through its
    /// cursor; fills already published are dropped by the tracker (execId). A gap beyond the
    /// 2 years Bybit keeps is logged and read from as far back as Bybit still answers.
    async fn recent_executions(&self) -> PortResult<Vec<Execution>> {
        let Some(last) = self.tracker.last_exec_ms() else {
            let mut out = self.executions_in(Executions::new()).await?;
            out.sort_by_key(|e| e.exec_time.unwrap_or(0));
            return Ok(out);
        };
        let now = self.exchange_now_ms().await?;
        let mut start = last.saturating_sub(EXEC_OVERLAP_MS);
        let oldest_kept = now.saturating_sub(EXEC_KEPT_MS);
        if start < oldest_kept {
            tracing::error!(
                newest_known_fill_ms = last,
                exchange_now_ms = now,
                "the gap since the newest known fill is longer than the 2 years Bybit keeps \
                 executions: fills in between may be lost; reconcile with Bybit's statements"
            );
            start = oldest_kept;
        }
        let mut out = Vec::new();
        loop {
            let end = start.saturating_add(EXEC_WINDOW_MS);
            let query = Executions::new().window(TimestampMs(start), TimestampMs(end));
            out.extend(self.executions_in(query).await?);
            // The last window reaches past the exchange's now: fills made meanwhile count.
            if end >= now {
                break;
            }
            start = end.saturating_add(1);
        }
        out.sort_by_key(|e| e.exec_time.unwrap_or(0));
        Ok(out)
    }

    /// The pages of one execution query (at most [`MAX_PAGES`]).
    async fn executions_in(&self, base: Executions) -> PortResult<Vec<Execution>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = base.clone().limit(100);
            if let Some(c) = &cursor {
                query = query.cursor(c.clone());
            }
            let page = self.rest.executions(query).await.map_err(port_error)?;
            out.extend(page.list);
            if page.next_page_cursor.is_empty() {
                break;
            }
            cursor = Some(page.next_page_cursor);
        }
        Ok(out)
    }

    /// The exchange's time, ms (`/v5/market/time`; nanoseconds when given, else seconds).
    async fn exchange_now_ms(&self) -> PortResult<i64> {
        let t = self.rest.server_time().await.map_err(port_error)?;
        Ok(t.time_nano
            .parse::<i64>()
            .map(|ns| ns / 1_000_000)
            .unwrap_or_else(|_| t.time_second.saturating_mul(1000)))
    }

    /// An order neither the realtime endpoint nor order history's default window (the last
    /// 7 days) shows: closed before an exchange restart (docs/v5/order/open-order.mdx) and
    /// last changed more than 7 days ago. If the journal holds fills of it, order history
    /// still keeps it ("orders beyond 7 days: … which have fills", docs/v5/order/order-list.mdx)
    /// and its last change is near its newest fill: asked for in the window around that fill.
    /// An order without fills is gone for good after 24 hours (None).
    async fn forgotten_order(
        &self,
        symbol: &Symbol,
        order_link_id: &OrderLinkId,
    ) -> PortResult<Option<OrderSnapshot>> {
        let newest_fill = match self.journal.fills(order_link_id.as_str()).await {
            Ok(fills) => fills
                .iter()
                .filter(|f| f.order_link_id == order_link_id.as_str())
                .map(|f| f.time_ms)
                .max(),
            Err(e) => {
                tracing::warn!(
                    order_link_id = %order_link_id.as_str(),
                    error = %e,
                    "journal unreadable: an order past order history's window is not looked for"
                );
                None
            }
        };
        let Some(t) = newest_fill else {
            return Ok(None);
        };
        let from = t.saturating_sub(DAY_MS);
        let query = OrderHistory::new()
            .symbol(symbol.clone())
            .order_link_id(order_link_id.clone())
            .window(
                TimestampMs(from),
                TimestampMs(from.saturating_add(EXEC_WINDOW_MS)),
            );
        let page = self.rest.order_history(query).await.map_err(port_error)?;
        Ok(page
            .list
            .iter()
            .find(|o| o.order_link_id == order_link_id.as_str())
            .map(|o| self.snapshot(o)))
    }

    /// An order the exchange reports over REST, in the gateway's terms, after its price is
    /// compared with the one this process sent ([`Tracker::check_sent_price`]).
    fn snapshot(&self, o: &Order) -> OrderSnapshot {
        self.tracker.check_sent_price(o);
        wire::snapshot(o)
    }

    async fn open_orders_all(&self) -> PortResult<Vec<Order>> {
        self.open_orders_paged(OpenOrders::settle_coin(self.config.settle_coin.clone()))
            .await
    }

    async fn open_orders_paged(&self, base: OpenOrders) -> PortResult<Vec<Order>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = base.clone().limit(50);
            if let Some(c) = &cursor {
                query = query.cursor(c.clone());
            }
            let page = self.rest.open_orders(query).await.map_err(port_error)?;
            out.extend(page.list);
            if page.next_page_cursor.is_empty() {
                break;
            }
            cursor = Some(page.next_page_cursor);
        }
        Ok(out)
    }

    async fn handle(&self, event: WsEvent) -> Session {
        match event {
            WsEvent::Execution(m) => {
                self.tracker.executions(&m.data).await;
            }
            WsEvent::Order(m) => {
                self.tracker.orders(&m.data);
            }
            WsEvent::Position(m) => self.tracker.positions(&m.data),
            WsEvent::Wallet(m) => self.tracker.wallets(&m.data),
            // Topics acknowledged (on a fresh session, start or reconnect, the stream
            // resubscribes after authenticating, and data flows only from the acknowledgement)
            // or lost events: catch up from REST. Authentication alone is not a trigger: the
            // acknowledgement that follows it is, so a reconnect costs one catch-up, not two.
            WsEvent::Subscribed { .. } | WsEvent::Lagged { .. } => return Session::CatchUp,
            // Unless no acknowledgement is seen (one the stream cannot match to its request):
            // then the tracking loop catches up one poll interval after the authentication.
            WsEvent::Authenticated => return Session::Authenticated,
            _ => {}
        }
        Session::Data
    }

    /// Sends one create, once: every re-send is the gateway's outcome policy's (the REST
    /// client is built with its create re-sends off, [`gateway_rest_config`]). A refusal for
    /// a price or quantity rule comes back as [`PortError::RuleRefused`], so the policy can
    /// reload the rules and re-round.
    async fn create(&self, req: &OrderRequest) -> PortResult<OrderAck> {
        // Every order report of it is compared with the limit price sent (Bybit's
        // price-limit action may move it).
        if let Some(p) = req.price {
            self.tracker.expect_price(req.order_link_id.as_str(), p);
        }
        let order = new_order(req)?;
        if let Some(stream) = self.stream_for_send() {
            if let Some(ack) = self.create_over_stream(stream, req, &order).await? {
                return Ok(ack);
            }
        }
        self.sent_over("rest");
        let ack = self.rest.create_order(order).await.map_err(create_error)?;
        Ok(OrderAck {
            order_id: ack.order_id,
            order_link_id: ack.order_link_id,
        })
    }

    /// Sends one create over the trade stream, once. `None`: the stream did not write it and
    /// the path allows REST (`auto`), so it goes over REST now; nothing left, nothing can be
    /// doubled. An answer is read as REST's would be ([`route::refusal`]); no answer is an
    /// unknown outcome for the policy to resolve by lookup.
    async fn create_over_stream(
        &self,
        stream: &TradeStream,
        req: &OrderRequest,
        order: &NewOrder,
    ) -> PortResult<Option<OrderAck>> {
        let op = TradeOp::Create;
        let reply = match stream
            .send(op, order.as_wire(), self.config.trade_deadline)
            .await
        {
            Ok(reply) => reply,
            Err(bybit_ws::TradeError::NotSent { reason })
                if self.config.order_path == OrderPath::Auto =>
            {
                tracing::info!(order_link_id = %req.order_link_id.as_str(), %reason, "trade stream not ready: the create goes over REST");
                return Ok(None);
            }
            Err(e) => {
                if e.may_have_landed() {
                    self.sent_over("ws");
                }
                return Err(route::failure(e));
            }
        };
        self.sent_over("ws");
        if self.config.order_path == OrderPath::Auto && route::reroute_to_rest(&reply) {
            tracing::info!(order_link_id = %req.order_link_id.as_str(), ret_code = reply.ret_code, ret_msg = %reply.ret_msg, "create not executed over the trade stream: sent over REST");
            return Ok(None);
        }
        if reply.ret_code != 0 {
            let ctx = bybit_rest::ErrorContext {
                endpoint: op.name(),
                symbol: Some(req.symbol.as_str().into()),
                order_link_id: Some(req.order_link_id.as_str().into()),
                write: true,
            };
            return Err(route::refusal(op, &reply, ctx, true));
        }
        // Accepted: an answer that cannot be read still means the order exists, so it is an
        // unknown outcome (the lookup finds it), never a failure.
        let ack: bybit_types::rest::order::OrderAck =
            reply
                .decode("order.create")
                .map_err(|e| PortError::UnknownOutcome {
                    reason: format!(
                        "order.create accepted over the trade stream, answer unreadable: {e}"
                    ),
                })?;
        tracing::debug!(order_link_id = %ack.order_link_id, order_id = %ack.order_id, path = "ws", "order created");
        Ok(Some(OrderAck {
            order_id: ack.order_id,
            order_link_id: ack.order_link_id,
        }))
    }

    /// Sends one cancel over the trade stream. `None`: no answer (not written, or written and
    /// unanswered), so it goes over REST now: a cancel is idempotent by orderLinkId (one of an
    /// order already cancelled is refused 110001, which the gateway reads as gone), unlike a
    /// create. With `ws` routing, a cancel the stream could not write is a wait-and-retry.
    async fn cancel_over_stream(
        &self,
        stream: &TradeStream,
        cancel: &CancelOrder,
        order_link_id: &OrderLinkId,
    ) -> Option<PortResult<()>> {
        let op = TradeOp::Cancel;
        let reply = match stream
            .send(op, cancel.as_wire(), self.config.trade_deadline)
            .await
        {
            Ok(reply) => reply,
            Err(e) => {
                if e.may_have_landed() {
                    route::count("ws", "cancel");
                }
                // A cancel that cannot be written is refused on any path, as REST would refuse it.
                let invalid = matches!(e, bybit_ws::TradeError::InvalidArgument(_));
                if invalid || (self.config.order_path == OrderPath::Ws && !e.may_have_landed()) {
                    return Some(Err(route::failure(e)));
                }
                tracing::info!(order_link_id = %order_link_id.as_str(), error = %e, "cancel not answered over the trade stream: sent over REST");
                return None;
            }
        };
        route::count("ws", "cancel");
        if reply.ret_code == 0 {
            return Some(Ok(()));
        }
        if self.config.order_path == OrderPath::Auto && route::reroute_to_rest(&reply) {
            tracing::info!(order_link_id = %order_link_id.as_str(), ret_code = reply.ret_code, ret_msg = %reply.ret_msg, "cancel not executed over the trade stream: sent over REST");
            return None;
        }
        let ctx = bybit_rest::ErrorContext {
            endpoint: op.name(),
            symbol: Some(cancel.as_wire().symbol.as_str().into()),
            order_link_id: Some(order_link_id.as_str().into()),
            write: true,
        };
        Some(Err(route::refusal(op, &reply, ctx, false)))
    }

    /// The orderLinkIds of orders this process found standing at a limit price it did not
    /// send ([`Tracker::price_mismatches`]).
    pub fn price_mismatches(&self) -> Vec<String> {
        self.tracker.price_mismatches()
    }
}

/// The REST configuration the execution layer's client is built with: `config` with the
/// client's own create re-sends off, so the gateway's outcome policy is the one owner of
/// every write's re-send (at most `max_send_attempts` create requests per leg, SPEC R-ERR-1).
/// Reads and idempotent writes (amend, cancel, leverage) keep the client's retries.
pub fn gateway_rest_config(mut config: bybit_rest::RestConfig) -> bybit_rest::RestConfig {
    config.retry.resend_creates = false;
    config
}

fn new_order(req: &OrderRequest) -> PortResult<NewOrder> {
    let tif = match req.time_in_force {
        exec_gateway::TimeInForce::Gtc => TimeInForce::Gtc,
        exec_gateway::TimeInForce::Ioc => TimeInForce::Ioc,
    };
    let symbol = req.symbol.clone();
    let side = wire::wire_side(req.side);
    let qty = qty(req.qty)?;
    let mut order = match req.price {
        Some(p) => NewOrder::limit(symbol, side, qty, price(p)?),
        None => NewOrder::market(symbol, side, qty),
    };
    order = order
        .order_link_id(req.order_link_id.clone())
        .time_in_force(tif)
        .position_idx(0)
        .reduce_only(req.reduce_only);
    if let (Some(trigger), Some(direction)) = (req.trigger_price, req.trigger_direction) {
        let direction = match direction {
            TriggerDirection::Rise => bybit_rest::TriggerDirection::Rise,
            TriggerDirection::Fall => bybit_rest::TriggerDirection::Fall,
        };
        order = order.trigger(
            price(trigger)?,
            direction,
            bybit_types::TriggerBy::LastPrice,
        );
    }
    Ok(order)
}

/// What a private stream event asks of the tracking loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    /// Nothing more (data, or nothing to do).
    Data,
    /// A fresh session: a catch-up is due once its topics are acknowledged.
    Authenticated,
    /// Catch up from REST now.
    CatchUp,
}

/// The tracking loop: private stream events as they come; REST every `interval` while the
/// stream is quiet; a catch-up after every subscription acknowledgement or lag; the instrument rules
/// every `meta_refresh`.
async fn track(
    me: std::sync::Weak<LiveExchange>,
    mut events: Option<EventReceiver>,
    cancel: CancellationToken,
    interval: Duration,
    meta_refresh: Duration,
) {
    // The first poll one interval after the start: the start catch-up has just read the
    // same, and the private stream's subscription is usually acknowledged by then.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let meta_refresh = meta_refresh.max(Duration::from_secs(1));
    let mut meta =
        tokio::time::interval_at(tokio::time::Instant::now() + meta_refresh, meta_refresh);
    // Whether the REST fallback is polling: each change is one log line.
    let mut polling = false;
    // A session authenticated and not yet caught up (its acknowledgement not seen).
    let mut unacked = false;
    meta.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = async {
            match events.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            event = next => {
                let Some(live) = me.upgrade() else { return };
                match event {
                    None => events = None,
                    Some(event) => match live.handle(event).await {
                        Session::CatchUp => {
                            unacked = false;
                            tracing::debug!("REST catch-up after a subscription acknowledgement or lag");
                            if let Err(e) = live.catch_up().await {
                                tracing::warn!(error = %e, "REST catch-up failed; polling continues");
                            }
                        }
                        Session::Authenticated => {
                            unacked = true;
                            ticker.reset();
                        }
                        Session::Data => {}
                    },
                }
            }
            _ = meta.tick() => {
                let Some(live) = me.upgrade() else { return };
                if let Err(e) = live.refresh_symbol_meta().await {
                    tracing::warn!(error = %e, "instrument refresh failed; the old rules stay");
                }
            }
            _ = ticker.tick() => {
                let Some(live) = me.upgrade() else { return };
                if std::mem::take(&mut unacked) {
                    tracing::debug!("REST catch-up: no subscription acknowledgement seen since the authentication");
                    if let Err(e) = live.catch_up().await {
                        tracing::warn!(error = %e, "REST catch-up failed; polling continues");
                    }
                }
                let quiet = live.private_stream_quiet();
                if quiet != polling {
                    polling = quiet;
                    if quiet {
                        tracing::warn!(interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX), "private stream down or silent: REST fallback polling on");
                    } else {
                        tracing::info!("private stream delivering again: REST fallback polling off");
                    }
                }
                if quiet {
                    if let Err(e) = live.poll().await {
                        tracing::warn!(error = %e, "REST poll failed");
                    }
                }
            }
        }
    }
}

fn qty(v: Decimal) -> PortResult<Qty> {
    Qty::new(v).map_err(|e| PortError::InvalidInput(format!("qty {v}: {e}")))
}

fn price(v: Decimal) -> PortResult<Price> {
    Price::new(v).map_err(|e| PortError::InvalidInput(format!("price {v}: {e}")))
}

fn link(order_link_id: &OrderLinkId) -> OrderTarget {
    OrderTarget::LinkId(order_link_id.clone())
}

#[async_trait]
impl OrderRouter for LiveExchange {
    async fn place(&self, order: &OrderRequest) -> PortResult<OrderAck> {
        self.create(order).await
    }

    async fn sync_open_orders(&self, symbol: &Symbol) -> PortResult<Vec<OrderSnapshot>> {
        let orders = self
            .open_orders_paged(OpenOrders::symbol(symbol.clone()))
            .await?;
        Ok(orders.iter().map(|o| self.snapshot(o)).collect())
    }

    async fn get_order(
        &self,
        symbol: &Symbol,
        order_link_id: &OrderLinkId,
    ) -> PortResult<Option<OrderSnapshot>> {
        let found = self
            .rest
            .order_by_link_id(symbol.clone(), order_link_id.clone())
            .await
            .map_err(port_error)?;
        if found.is_some() {
            return Ok(found.as_ref().map(|o| self.snapshot(o)));
        }
        self.forgotten_order(symbol, order_link_id).await
    }

    async fn cancel_order(&self, symbol: &Symbol, order_link_id: &OrderLinkId) -> PortResult<()> {
        let cancel = CancelOrder::new(symbol.clone(), link(order_link_id));
        if let Some(stream) = self.stream_for_send() {
            if let Some(answer) = self
                .cancel_over_stream(stream, &cancel, order_link_id)
                .await
            {
                return answer;
            }
        }
        route::count("rest", "cancel");
        self.rest
            .cancel_order(cancel)
            .await
            .map(drop)
            .map_err(port_error)
    }

    async fn amend_order_qty(
        &self,
        symbol: &Symbol,
        order_link_id: &OrderLinkId,
        new_qty: Decimal,
    ) -> PortResult<()> {
        let amend = AmendOrder::new(symbol.clone(), link(order_link_id)).qty(qty(new_qty)?);
        self.rest
            .amend_order(amend)
            .await
            .map(drop)
            .map_err(port_error)
    }

    /// Order history (docs/v5/order/order-list.mdx: newest first, `limit` up to 50, then
    /// `nextPageCursor`), following the cursor for at most [`MAX_PAGES`] pages, so a trade's
    /// orders behind 50 newer ones are still found.
    async fn recent_orders(&self) -> PortResult<Vec<OrderSnapshot>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = OrderHistory::new().limit(50);
            if let Some(c) = &cursor {
                query = query.cursor(c.clone());
            }
            let page = self.rest.order_history(query).await.map_err(port_error)?;
            out.extend(page.list.iter().map(|o| self.snapshot(o)));
            if page.next_page_cursor.is_empty() {
                break;
            }
            cursor = Some(page.next_page_cursor);
        }
        Ok(out)
    }

    async fn set_stop_loss(&self, symbol: &Symbol, stop: Decimal) -> PortResult<()> {
        let request = TradingStop::full(symbol.clone(), 0).stop_loss(price(stop)?);
        self.rest
            .trading_stop(request)
            .await
            .map(drop)
            .map_err(port_error)
    }
}

#[async_trait]
impl PositionService for LiveExchange {
    async fn get_position(&self, symbol: &Symbol) -> PortResult<PositionState> {
        let list = self
            .rest
            .positions(Positions::symbol(symbol.clone()))
            .await
            .map_err(port_error)?;
        match list.list.first() {
            Some(p) => wire::position(p),
            None => Ok(PositionState::flat(symbol.clone())),
        }
    }

    async fn get_all_positions(&self) -> PortResult<Vec<PositionState>> {
        let list = self
            .rest
            .positions(Positions::settle_coin(self.config.settle_coin.clone()))
            .await
            .map_err(port_error)?;
        list.list
            .iter()
            .filter(|p| p.size > Decimal::ZERO)
            .map(wire::position)
            .collect()
    }

    async fn get_open_orders(&self, symbol: &Symbol) -> PortResult<Vec<OrderSnapshot>> {
        self.sync_open_orders(symbol).await
    }
}

#[async_trait]
impl AccountService for LiveExchange {
    async fn get_balance(&self) -> PortResult<Balance> {
        let wallet = self
            .rest
            .wallet_balance(AccountType::Unified, Some(self.config.settle_coin.clone()))
            .await
            .map_err(port_error)?;
        let account = wallet.list.first().ok_or_else(|| PortError::Rejected {
            code: 0,
            message: "wallet-balance returned no account".to_owned(),
        })?;
        Ok(wire::balance(account))
    }

    async fn set_leverage(&self, symbol: &Symbol, leverage: Decimal) -> PortResult<()> {
        let known = |set: &std::sync::Mutex<std::collections::HashMap<String, Decimal>>| {
            set.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(symbol.as_str())
                == Some(&leverage)
        };
        if known(&self.leverage) {
            return Ok(());
        }
        match self
            .rest
            .set_leverage(symbol.clone(), leverage, leverage)
            .await
        {
            Ok(_) => {}
            Err(e) if e.ret_code() == Some(LEVERAGE_NOT_MODIFIED) => {}
            Err(e) => return Err(port_error(e)),
        }
        self.leverage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(symbol.as_str().to_owned(), leverage);
        Ok(())
    }

    async fn set_isolated(&self, symbol: &Symbol) -> PortResult<()> {
        let leverage = self
            .get_position(symbol)
            .await?
            .leverage
            .unwrap_or(Decimal::ONE);
        self.rest
            .switch_isolated(symbol.clone(), true, leverage, leverage)
            .await
            .map_err(port_error)
    }

    async fn get_wallet_summary(&self) -> PortResult<Balance> {
        self.get_balance().await
    }
}

#[async_trait]
impl SymbolMetaService for LiveExchange {
    /// Reloads instruments-info (linear) into the `bybit-meta` cache. The async client is
    /// called directly rather than through [`RestInstrumentSource`], whose synchronous
    /// `fetch_all` would block a runtime thread (its own docs recommend this form in async
    /// code).
    async fn refresh_symbol_meta(&self) -> PortResult<usize> {
        let infos = self
            .rest
            .instruments(Category::Linear)
            .await
            .map_err(port_error)?;
        let mut cache = self
            .meta
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(cache.replace_all(&infos).loaded)
    }

    async fn get_symbol_meta(&self, symbol: &Symbol) -> PortResult<Arc<InstrumentRules>> {
        self.meta
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(symbol)
            .map_err(|e| PortError::InvalidInput(e.to_string()))
    }
}

#[async_trait]
impl PriceService for LiveExchange {
    /// Bybit's order price limit now (`GET /v5/market/price-limit`); `None` when Bybit gives
    /// no bound for the symbol.
    async fn price_limit(&self, symbol: &Symbol) -> PortResult<Option<exec_gateway::PriceLimit>> {
        let limit = self
            .rest
            .price_limit(Category::Linear, symbol.clone())
            .await
            .map_err(port_error)?;
        Ok(limit
            .buy_lmt
            .zip(limit.sell_lmt)
            .map(|(buy_max, sell_min)| exec_gateway::PriceLimit { buy_max, sell_min }))
    }

    /// The public stream's merged ticker when there is one, else REST tickers.
    async fn last_price(&self, symbol: &Symbol) -> PortResult<Decimal> {
        if let Some(price) = self
            .public
            .as_ref()
            .and_then(|s| s.ticker(symbol.as_str()))
            .and_then(|t| t.last_price)
        {
            return Ok(price);
        }
        let tickers = self
            .rest
            .tickers(Category::Linear, Some(symbol.clone()))
            .await
            .map_err(port_error)?;
        tickers
            .list
            .iter()
            .find(|t| t.symbol == symbol.as_str())
            .and_then(|t| t.last_price)
            .ok_or_else(|| PortError::Rejected {
                code: 0,
                message: format!("no last price for {}", symbol.as_str()),
            })
    }
}

fn ws_health(stream: Option<&Arc<WsStream>>, private: bool) -> WsHealth {
    let Some(stream) = stream else {
        return WsHealth {
            ok: false,
            last_msg_ago_sec: 0,
            error: Some("not configured".to_owned()),
        };
    };
    let h = stream.health();
    WsHealth {
        ok: h.connected && (!private || h.authenticated),
        last_msg_ago_sec: h.since_last_message.map_or(0, |d| d.as_secs()),
        error: h.last_error,
    }
}

#[async_trait]
impl HealthCheck for LiveExchange {
    async fn check_rest_health(&self) -> PortResult<RestHealth> {
        let start = Instant::now();
        let ok = self.rest.server_time().await.is_ok();
        Ok(RestHealth {
            ok,
            latency_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    async fn check_ws_health(&self) -> PortResult<(WsHealth, WsHealth)> {
        Ok((
            ws_health(self.public.as_ref(), false),
            ws_health(self.private.as_ref(), true),
        ))
    }

    async fn get_bybit_status(&self) -> PortResult<BybitStatus> {
        let (ws_public, ws_private) = self.check_ws_health().await?;
        Ok(BybitStatus {
            rest: self.check_rest_health().await?,
            ws_public,
            ws_private,
        })
    }
}
