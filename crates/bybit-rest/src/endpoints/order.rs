//! Orders: create / amend / cancel / cancel-all, the batch endpoints with a result per item,
//! open orders, order history and executions (docs/v5/order/*.mdx).
//!
//! The create path is the one that must never turn a lost reply into a second order: it is
//! re-sent only when it carries an orderLinkId, and a re-send answered 110072 ("orderLinkId is
//! duplicate": our own earlier attempt got through) resolves to the order that exists.

use rust_decimal::Decimal;

use bybit_types::rest::execution::ExecutionList;
use bybit_types::rest::order::{
    AmendOrderRequest, BatchOrderAck, BatchRequest, CancelAllOrdersRequest, CancelAllResult,
    CancelOrderRequest, CreateOrderRequest, Order, OrderAck, OrderList, OrderRef,
};
use bybit_types::{
    Category, ExecType, OrderFilter, OrderId, OrderLinkId, OrderStatus, OrderType, Price, Qty,
    RetExtInfo, SmpType, Symbol, TimeInForce, TimestampMs, TpslMode, TriggerBy, WireSide,
};

use crate::client::{Call, Reply, RestClient};
use crate::error::{codes, DecodeStage, ErrorContext, RestError};
use crate::limiter::Priority;
use crate::retry::RetryPolicy;
use crate::routes::{
    EXECUTIONS, ORDER_AMEND, ORDER_AMEND_BATCH, ORDER_CANCEL, ORDER_CANCEL_ALL, ORDER_CANCEL_BATCH,
    ORDER_CREATE, ORDER_CREATE_BATCH, ORDER_HISTORY, ORDER_REALTIME,
};

/// The most orders one batch may carry (linear, docs/v5/order/batch-place.mdx).
pub const MAX_BATCH: usize = 20;

/// Which order an amend or cancel addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderTarget {
    /// Bybit's order id.
    Id(OrderId),
    /// The client's order id.
    LinkId(OrderLinkId),
}

impl OrderTarget {
    fn wire(&self) -> OrderRef {
        match self {
            OrderTarget::Id(id) => OrderRef::OrderId(id.as_str().to_owned()),
            OrderTarget::LinkId(id) => OrderRef::OrderLinkId(id.as_str().to_owned()),
        }
    }

    fn link(&self) -> Option<&str> {
        match self {
            OrderTarget::LinkId(id) => Some(id.as_str()),
            OrderTarget::Id(_) => None,
        }
    }
}

/// Which way a conditional order's trigger price must be crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerDirection {
    /// Triggers when the price rises to the trigger price (1).
    Rise,
    /// Triggers when the price falls to the trigger price (2).
    Fall,
}

/// A new order (`POST /v5/order/create`, docs/v5/order/create-order.mdx). Category linear
/// unless set. Give it an [`OrderLinkId`]: only then is it retried after an unknown outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    wire: CreateOrderRequest,
    symbol: Symbol,
    link: Option<OrderLinkId>,
}

impl NewOrder {
    /// Whether an order on the exchange is this one (for a duplicate orderLinkId): same
    /// symbol, side, order type and quantity. The price is not compared: a market order's
    /// recorded price is Bybit's protection price, not what was asked.
    fn is_same_as(&self, found: &Order) -> bool {
        found.symbol == self.wire.symbol
            && found.side == self.wire.side
            && found.qty == self.wire.qty
            && found
                .order_type
                .as_ref()
                .is_none_or(|t| *t == self.wire.order_type)
    }

    fn new(symbol: Symbol, side: WireSide, order_type: OrderType, qty: Qty) -> Self {
        NewOrder {
            wire: CreateOrderRequest::new(
                Category::Linear,
                symbol.as_str(),
                side,
                order_type,
                qty.get(),
            ),
            symbol,
            link: None,
        }
    }

    /// A limit order (GTC unless [`time_in_force`](Self::time_in_force) says otherwise).
    pub fn limit(symbol: Symbol, side: WireSide, qty: Qty, price: Price) -> Self {
        let mut order = Self::new(symbol, side, OrderType::Limit, qty);
        order.wire.price = Some(price.get());
        order
    }

    /// A market order.
    pub fn market(symbol: Symbol, side: WireSide, qty: Qty) -> Self {
        Self::new(symbol, side, OrderType::Market, qty)
    }

    /// The client's id: makes the create safe to retry.
    pub fn order_link_id(mut self, id: OrderLinkId) -> Self {
        self.wire.order_link_id = Some(id.as_str().to_owned());
        self.link = Some(id);
        self
    }

    /// Category (default linear).
    pub fn category(mut self, category: Category) -> Self {
        self.wire.category = category;
        self
    }

    /// Time in force.
    pub fn time_in_force(mut self, tif: TimeInForce) -> Self {
        self.wire.time_in_force = Some(tif);
        self
    }

    /// Reduce-only: never opens or increases a position. Jumps the local queue.
    pub fn reduce_only(mut self, yes: bool) -> Self {
        self.wire.reduce_only = Some(yes);
        self
    }

    /// Close-on-trigger (a closing conditional order). Jumps the local queue.
    pub fn close_on_trigger(mut self, yes: bool) -> Self {
        self.wire.close_on_trigger = Some(yes);
        self
    }

    /// Position index: 0 one-way, 1 hedge buy side, 2 hedge sell side.
    pub fn position_idx(mut self, idx: i64) -> Self {
        self.wire.position_idx = Some(idx);
        self
    }

    /// Makes it conditional: it triggers when the price crosses `price` in `direction`.
    pub fn trigger(mut self, price: Price, direction: TriggerDirection, by: TriggerBy) -> Self {
        self.wire.trigger_price = Some(price.get());
        self.wire.trigger_direction = Some(match direction {
            TriggerDirection::Rise => 1,
            TriggerDirection::Fall => 2,
        });
        self.wire.trigger_by = Some(by);
        self
    }

    /// Attached take-profit.
    pub fn take_profit(mut self, price: Price) -> Self {
        self.wire.take_profit = Some(price.get());
        self
    }

    /// Attached stop-loss.
    pub fn stop_loss(mut self, price: Price) -> Self {
        self.wire.stop_loss = Some(price.get());
        self
    }

    /// Which price triggers the attached take-profit / stop-loss.
    pub fn tpsl_trigger_by(mut self, tp: TriggerBy, sl: TriggerBy) -> Self {
        self.wire.tp_trigger_by = Some(tp);
        self.wire.sl_trigger_by = Some(sl);
        self
    }

    /// TP/SL mode of the attached stops.
    pub fn tpsl_mode(mut self, mode: TpslMode) -> Self {
        self.wire.tpsl_mode = Some(mode);
        self
    }

    /// Self-match prevention.
    pub fn smp_type(mut self, smp: SmpType) -> Self {
        self.wire.smp_type = Some(smp);
        self
    }

    /// The symbol.
    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }

    /// The client's id, if any.
    pub fn link_id(&self) -> Option<&OrderLinkId> {
        self.link.as_ref()
    }

    /// Whether the order can only lower risk (reduce-only or close-on-trigger).
    pub fn reduces_risk(&self) -> bool {
        self.wire.reduce_only == Some(true) || self.wire.close_on_trigger == Some(true)
    }

    /// The request body as Bybit receives it.
    pub fn as_wire(&self) -> &CreateOrderRequest {
        &self.wire
    }

    fn priority(&self) -> Priority {
        if self.reduces_risk() {
            Priority::High
        } else {
            Priority::Normal
        }
    }
}

/// An amend (`POST /v5/order/amend`, docs/v5/order/amend-order.mdx). Fields left unset stay.
#[derive(Debug, Clone, PartialEq)]
pub struct AmendOrder {
    wire: AmendOrderRequest,
    symbol: Symbol,
    target: OrderTarget,
}

impl AmendOrder {
    /// An amend of `target` on `symbol` that changes nothing yet.
    pub fn new(symbol: Symbol, target: OrderTarget) -> Self {
        AmendOrder {
            wire: AmendOrderRequest::new(Category::Linear, symbol.as_str(), target.wire()),
            symbol,
            target,
        }
    }

    /// Category (default linear).
    pub fn category(mut self, category: Category) -> Self {
        self.wire.category = category;
        self
    }

    /// New quantity.
    pub fn qty(mut self, qty: Qty) -> Self {
        self.wire.qty = Some(qty.get());
        self
    }

    /// New limit price.
    pub fn price(mut self, price: Price) -> Self {
        self.wire.price = Some(price.get());
        self
    }

    /// New trigger price.
    pub fn trigger_price(mut self, price: Price) -> Self {
        self.wire.trigger_price = Some(price.get());
        self
    }

    /// New take-profit.
    pub fn take_profit(mut self, price: Price) -> Self {
        self.wire.take_profit = Some(price.get());
        self
    }

    /// Removes the take-profit (Bybit's `"0"`).
    pub fn clear_take_profit(mut self) -> Self {
        self.wire.take_profit = Some(Decimal::ZERO);
        self
    }

    /// New stop-loss.
    pub fn stop_loss(mut self, price: Price) -> Self {
        self.wire.stop_loss = Some(price.get());
        self
    }

    /// Removes the stop-loss (Bybit's `"0"`).
    pub fn clear_stop_loss(mut self) -> Self {
        self.wire.stop_loss = Some(Decimal::ZERO);
        self
    }

    /// The request body as Bybit receives it.
    pub fn as_wire(&self) -> &AmendOrderRequest {
        &self.wire
    }
}

/// A cancel (`POST /v5/order/cancel`, docs/v5/order/cancel-order.mdx).
#[derive(Debug, Clone, PartialEq)]
pub struct CancelOrder {
    wire: CancelOrderRequest,
    symbol: Symbol,
    target: OrderTarget,
}

impl CancelOrder {
    /// A cancel of `target` on `symbol`.
    pub fn new(symbol: Symbol, target: OrderTarget) -> Self {
        CancelOrder {
            wire: CancelOrderRequest::new(Category::Linear, symbol.as_str(), target.wire()),
            symbol,
            target,
        }
    }

    /// Category (default linear).
    pub fn category(mut self, category: Category) -> Self {
        self.wire.category = category;
        self
    }

    /// The request body as Bybit receives it.
    pub fn as_wire(&self) -> &CancelOrderRequest {
        &self.wire
    }
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Bybit cancelled it.
    Cancelled(OrderAck),
    /// A re-sent cancel was answered 110001: the first attempt (or a fill) got there first.
    AlreadyGone,
}

/// `POST /v5/order/cancel-all` (docs/v5/order/cancel-all.mdx) for one symbol or settle coin.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelAll {
    wire: CancelAllOrdersRequest,
}

impl CancelAll {
    fn empty() -> Self {
        CancelAll {
            wire: CancelAllOrdersRequest {
                category: Category::Linear,
                symbol: None,
                base_coin: None,
                settle_coin: None,
                order_filter: None,
                stop_order_type: None,
            },
        }
    }

    /// Every open order of `symbol` (conditional and TP/SL included unless filtered).
    pub fn symbol(symbol: Symbol) -> Self {
        let mut all = Self::empty();
        all.wire.symbol = Some(symbol.as_str().to_owned());
        all
    }

    /// Every open order settled in `coin` (e.g. `USDT`).
    pub fn settle_coin(coin: impl Into<String>) -> Self {
        let mut all = Self::empty();
        all.wire.settle_coin = Some(coin.into());
        all
    }

    /// Only this kind of order.
    pub fn order_filter(mut self, filter: OrderFilter) -> Self {
        self.wire.order_filter = Some(filter);
        self
    }

    /// Category (default linear).
    pub fn category(mut self, category: Category) -> Self {
        self.wire.category = category;
        self
    }
}

/// `GET /v5/order/realtime` (docs/v5/order/open-order.mdx): open orders by symbol or settle
/// coin, or one order by id (open or recently closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOrders {
    category: Category,
    symbol: Option<Symbol>,
    settle_coin: Option<String>,
    order_id: Option<OrderId>,
    order_link_id: Option<OrderLinkId>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl OpenOrders {
    /// Open orders of one symbol.
    pub fn symbol(symbol: Symbol) -> Self {
        OpenOrders {
            category: Category::Linear,
            symbol: Some(symbol),
            settle_coin: None,
            order_id: None,
            order_link_id: None,
            limit: None,
            cursor: None,
        }
    }

    /// Open orders settled in `coin`.
    pub fn settle_coin(coin: impl Into<String>) -> Self {
        OpenOrders {
            settle_coin: Some(coin.into()),
            symbol: None,
            ..Self::symbol_less()
        }
    }

    fn symbol_less() -> Self {
        OpenOrders {
            category: Category::Linear,
            symbol: None,
            settle_coin: None,
            order_id: None,
            order_link_id: None,
            limit: None,
            cursor: None,
        }
    }

    /// Only the order with this client id (Bybit then also returns it when recently closed).
    pub fn order_link_id(mut self, id: OrderLinkId) -> Self {
        self.order_link_id = Some(id);
        self
    }

    /// Only the order with this id.
    pub fn order_id(mut self, id: OrderId) -> Self {
        self.order_id = Some(id);
        self
    }

    /// Page size, 1..=50.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The next page's cursor.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Category (default linear).
    pub fn category(mut self, category: Category) -> Self {
        self.category = category;
        self
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![("category", self.category.as_str().to_owned())];
        push(&mut p, "symbol", self.symbol.as_ref().map(Symbol::as_str));
        push(&mut p, "settleCoin", self.settle_coin.as_deref());
        push(
            &mut p,
            "orderId",
            self.order_id.as_ref().map(OrderId::as_str),
        );
        push(
            &mut p,
            "orderLinkId",
            self.order_link_id.as_ref().map(OrderLinkId::as_str),
        );
        push(
            &mut p,
            "limit",
            self.limit.map(|l| l.to_string()).as_deref(),
        );
        push(&mut p, "cursor", self.cursor.as_deref());
        p
    }
}

/// What order history and executions share: the category, one symbol or order, a time window
/// and a page. Each query adds its own filter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HistoryScope {
    category: Category,
    symbol: Option<Symbol>,
    order_id: Option<OrderId>,
    order_link_id: Option<OrderLinkId>,
    start_time: Option<TimestampMs>,
    end_time: Option<TimestampMs>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl HistoryScope {
    /// The last 7 days (Bybit's default window), every symbol, linear.
    fn new() -> Self {
        HistoryScope {
            category: Category::Linear,
            symbol: None,
            order_id: None,
            order_link_id: None,
            start_time: None,
            end_time: None,
            limit: None,
            cursor: None,
        }
    }

    /// The query string's pairs, with the query's own `filter` after the order ids.
    fn params(&self, filter: (&'static str, Option<&str>)) -> Vec<(&'static str, String)> {
        let mut p = vec![("category", self.category.as_str().to_owned())];
        push(&mut p, "symbol", self.symbol.as_ref().map(Symbol::as_str));
        push(
            &mut p,
            "orderId",
            self.order_id.as_ref().map(OrderId::as_str),
        );
        push(
            &mut p,
            "orderLinkId",
            self.order_link_id.as_ref().map(OrderLinkId::as_str),
        );
        push(&mut p, filter.0, filter.1);
        push(
            &mut p,
            "startTime",
            self.start_time.map(|t| t.0.to_string()).as_deref(),
        );
        push(
            &mut p,
            "endTime",
            self.end_time.map(|t| t.0.to_string()).as_deref(),
        );
        push(
            &mut p,
            "limit",
            self.limit.map(|l| l.to_string()).as_deref(),
        );
        push(&mut p, "cursor", self.cursor.as_deref());
        p
    }
}

/// The builder methods of a query over a [`HistoryScope`] (its field `scope`); `$max` is the
/// endpoint's largest page.
macro_rules! history_scope_builders {
    ($max:literal) => {
        /// One symbol.
        pub fn symbol(mut self, symbol: Symbol) -> Self {
            self.scope.symbol = Some(symbol);
            self
        }

        /// One order by client id.
        pub fn order_link_id(mut self, id: OrderLinkId) -> Self {
            self.scope.order_link_id = Some(id);
            self
        }

        /// One order by id.
        pub fn order_id(mut self, id: OrderId) -> Self {
            self.scope.order_id = Some(id);
            self
        }

        /// Time window (at most 7 days).
        pub fn window(mut self, start: TimestampMs, end: TimestampMs) -> Self {
            self.scope.start_time = Some(start);
            self.scope.end_time = Some(end);
            self
        }

        #[doc = concat!("Page size, 1..=", $max, ".")]
        pub fn limit(mut self, limit: u32) -> Self {
            self.scope.limit = Some(limit);
            self
        }

        /// The next page's cursor.
        pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
            self.scope.cursor = Some(cursor.into());
            self
        }
    };
}

/// `GET /v5/order/history` (docs/v5/order/order-list.mdx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderHistory {
    scope: HistoryScope,
    order_status: Option<OrderStatus>,
}

impl OrderHistory {
    /// Closed orders of the last 7 days (Bybit's default window), every symbol.
    pub fn new() -> Self {
        OrderHistory {
            scope: HistoryScope::new(),
            order_status: None,
        }
    }

    history_scope_builders!(50);

    /// Only orders in this status.
    pub fn order_status(mut self, status: OrderStatus) -> Self {
        self.order_status = Some(status);
        self
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        self.scope.params((
            "orderStatus",
            self.order_status.as_ref().map(|s| s.as_str()),
        ))
    }
}

impl Default for OrderHistory {
    fn default() -> Self {
        Self::new()
    }
}

/// `GET /v5/execution/list` (docs/v5/order/execution.mdx): fills with a time window and cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executions {
    scope: HistoryScope,
    exec_type: Option<ExecType>,
}

impl Executions {
    /// Fills of the last 7 days (Bybit's default window), every symbol.
    pub fn new() -> Self {
        Executions {
            scope: HistoryScope::new(),
            exec_type: None,
        }
    }

    history_scope_builders!(100);

    /// Only this kind of execution (e.g. `Trade`, `Funding`).
    pub fn exec_type(mut self, exec_type: ExecType) -> Self {
        self.exec_type = Some(exec_type);
        self
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        self.scope
            .params(("execType", self.exec_type.as_ref().map(|e| e.as_str())))
    }
}

impl Default for Executions {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) fn push(params: &mut Vec<(&'static str, String)>, key: &'static str, v: Option<&str>) {
    if let Some(v) = v {
        params.push((key, v.to_owned()));
    }
}

/// One batch item's outcome: its ack, or its own error (with its retCode, symbol and
/// orderLinkId), even when the envelope said retCode 0.
pub type BatchItem = Result<BatchOrderAck, RestError>;

impl RestClient {
    /// Places an order (`POST /v5/order/create`). With an orderLinkId a lost reply is retried
    /// and a duplicate answer resolves to the order that exists; without one the request is
    /// sent once and an unknown outcome is reported ([`RestError::is_outcome_unknown`]).
    ///
    /// A 110072 ("orderLinkId is duplicate") counts as success and returns the existing order
    /// (SPEC R-ORD-5), whether it answers our own re-send or a caller's second call, but only
    /// when the order found is the same order (symbol, side, type and quantity): an id reused
    /// for a different order stays an error ([`RestError::is_duplicate_order_link_id`]).
    pub async fn create_order(&self, order: NewOrder) -> Result<OrderAck, RestError> {
        let call = create_call(&order)?;
        let sent = self.execute::<OrderAck>(&call).await;
        match sent.result {
            Ok(reply) => Ok(reply.result),
            Err(error) if error.is_duplicate_order_link_id() => {
                let found = self
                    .resolve(&order.wire.category, &order.symbol, order.link.as_ref())
                    .await;
                match found {
                    Ok(Some(found)) if order.is_same_as(&found) => {
                        tracing::info!(
                            order_id = %found.order_id,
                            resent = sent.sends > 1,
                            "duplicate orderLinkId resolved to the existing order"
                        );
                        Ok(OrderAck {
                            order_id: found.order_id,
                            order_link_id: found.order_link_id,
                        })
                    }
                    _ => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// The exact signed request [`create_order`](Self::create_order) would send now: the JSON
    /// body and its `X-BAPI-*` headers. Nothing is sent. For logs, dry runs and benchmarks.
    pub fn preview_create(&self, order: &NewOrder) -> Result<bybit_sign::SignedPost, RestError> {
        self.preview(create_call(order)?)
    }

    /// The order with this client id, open or closed: `/v5/order/realtime` first (it keeps
    /// recently closed orders), then `/v5/order/history`.
    pub async fn order_by_link_id(
        &self,
        symbol: Symbol,
        link: OrderLinkId,
    ) -> Result<Option<Order>, RestError> {
        self.resolve(&Category::Linear, &symbol, Some(&link)).await
    }

    async fn resolve(
        &self,
        category: &Category,
        symbol: &Symbol,
        link: Option<&OrderLinkId>,
    ) -> Result<Option<Order>, RestError> {
        let Some(link) = link else { return Ok(None) };
        let open = self
            .open_orders(
                OpenOrders::symbol(symbol.clone())
                    .category(category.clone())
                    .order_link_id(link.clone()),
            )
            .await?;
        if let Some(order) = open
            .list
            .into_iter()
            .find(|o| o.order_link_id == link.as_str())
        {
            return Ok(Some(order));
        }
        let mut history = OrderHistory::new()
            .symbol(symbol.clone())
            .order_link_id(link.clone());
        history.scope.category = category.clone();
        let closed = self.order_history(history).await?;
        Ok(closed
            .list
            .into_iter()
            .find(|o| o.order_link_id == link.as_str()))
    }

    /// Amends an open order (`POST /v5/order/amend`). Retried on transient failures: an amend
    /// sets absolute values, so a repeat changes nothing more.
    ///
    /// A re-sent amend answered 10001 (Bybit refuses an amend that changes nothing) may mean
    /// the first attempt got through: the order is looked up, and if it already holds every
    /// value asked for, the amend is reported done.
    pub async fn amend_order(&self, amend: AmendOrder) -> Result<OrderAck, RestError> {
        let call = Call::post(&ORDER_AMEND, amend.as_wire())?
            .symbol(Some(amend.symbol.as_str()))
            .link(amend.target.link());
        let sent = self.execute::<OrderAck>(&call).await;
        match sent.result {
            Ok(reply) => Ok(reply.result),
            Err(error) if sent.sends > 1 && error.ret_code() == Some(codes::PARAMS) => {
                let found = self
                    .find_order(&amend.wire.category, &amend.symbol, &amend.target)
                    .await;
                match found {
                    Ok(Some(order)) if amend_applied(&amend.wire, &order) => Ok(OrderAck {
                        order_id: order.order_id,
                        order_link_id: order.order_link_id,
                    }),
                    _ => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// The open (or recently closed) order `target` addresses, from `/v5/order/realtime`.
    async fn find_order(
        &self,
        category: &Category,
        symbol: &Symbol,
        target: &OrderTarget,
    ) -> Result<Option<Order>, RestError> {
        let query = OpenOrders::symbol(symbol.clone()).category(category.clone());
        let query = match target {
            OrderTarget::Id(id) => query.order_id(id.clone()),
            OrderTarget::LinkId(id) => query.order_link_id(id.clone()),
        };
        let list = self.open_orders(query).await?.list;
        Ok(list.into_iter().find(|o| match target {
            OrderTarget::Id(id) => o.order_id == id.as_str(),
            OrderTarget::LinkId(id) => o.order_link_id == id.as_str(),
        }))
    }

    /// Cancels an order (`POST /v5/order/cancel`). Retried on transient failures; a re-sent
    /// cancel answered 110001 means the order is already gone.
    pub async fn cancel_order(&self, cancel: CancelOrder) -> Result<CancelOutcome, RestError> {
        let call = Call::post(&ORDER_CANCEL, cancel.as_wire())?
            .symbol(Some(cancel.symbol.as_str()))
            .link(cancel.target.link())
            .priority(Priority::High);
        let sent = self.execute::<OrderAck>(&call).await;
        match sent.result {
            Ok(reply) => Ok(CancelOutcome::Cancelled(reply.result)),
            Err(error) if sent.sends > 1 && error.ret_code() == Some(codes::ORDER_NOT_FOUND) => {
                Ok(CancelOutcome::AlreadyGone)
            }
            Err(error) => Err(error),
        }
    }

    /// Cancels every open order of a symbol or settle coin (`POST /v5/order/cancel-all`).
    pub async fn cancel_all(&self, scope: CancelAll) -> Result<CancelAllResult, RestError> {
        let call = Call::post(&ORDER_CANCEL_ALL, &scope.wire)?
            .symbol(scope.wire.symbol.as_deref())
            .priority(Priority::High);
        self.execute(&call).await.result.map(|r| r.result)
    }

    /// Places up to 20 orders in one request (`POST /v5/order/create-batch`,
    /// docs/v5/order/batch-place.mdx). Returns one result per order, in request order: the
    /// envelope can say retCode 0 while items failed. Retried only when every order carries an
    /// orderLinkId; items answered 110072 on a re-send resolve to the existing orders when they
    /// are the same orders (symbol, side, type and quantity).
    pub async fn create_batch(&self, orders: Vec<NewOrder>) -> Result<Vec<BatchItem>, RestError> {
        let category =
            batch_category(&ORDER_CREATE_BATCH, orders.iter().map(|o| &o.wire.category))?;
        let body = BatchRequest {
            category: category.clone(),
            request: orders.iter().map(|o| o.wire.clone()).collect(),
        };
        let all_linked = orders.iter().all(|o| o.link.is_some());
        let priority = if orders.iter().all(NewOrder::reduces_risk) {
            Priority::High
        } else {
            Priority::Normal
        };
        let call = Call::post(&ORDER_CREATE_BATCH, &body)?
            .policy(RetryPolicy::Create {
                has_link_id: all_linked,
            })
            .priority(priority)
            .cost(batch_cost(orders.len()));
        let sent = self
            .execute::<bybit_types::rest::order::BatchResult>(&call)
            .await;
        let resent = sent.sends > 1;
        let reply = sent.result?;
        let targets: Vec<(Option<&str>, Option<&str>)> = orders
            .iter()
            .map(|o| {
                (
                    Some(o.symbol.as_str()),
                    o.link.as_ref().map(OrderLinkId::as_str),
                )
            })
            .collect();
        let mut items = split_batch(&ORDER_CREATE_BATCH, &targets, reply);
        if resent {
            for (item, order) in items.iter_mut().zip(&orders) {
                let duplicate = matches!(item, Err(e) if e.is_duplicate_order_link_id());
                if duplicate {
                    // Only our own earlier attempt counts: an id that belongs to a
                    // different order stays the caller's error, as in create_order.
                    if let Ok(Some(found)) = self
                        .resolve(&category, &order.symbol, order.link.as_ref())
                        .await
                        .map(|found| found.filter(|f| order.is_same_as(f)))
                    {
                        *item = Ok(BatchOrderAck {
                            category: Some(category.clone()),
                            symbol: found.symbol,
                            order_id: found.order_id,
                            order_link_id: found.order_link_id,
                            create_at: found.created_time,
                        });
                    }
                }
            }
        }
        Ok(items)
    }

    /// Amends up to 20 orders (`POST /v5/order/amend-batch`), one result per order.
    pub async fn amend_batch(&self, amends: Vec<AmendOrder>) -> Result<Vec<BatchItem>, RestError> {
        let category = batch_category(&ORDER_AMEND_BATCH, amends.iter().map(|a| &a.wire.category))?;
        let body = BatchRequest {
            category,
            request: amends.iter().map(|a| a.wire.clone()).collect(),
        };
        let call = Call::post(&ORDER_AMEND_BATCH, &body)?.cost(batch_cost(amends.len()));
        let reply = self.execute(&call).await.result?;
        let targets: Vec<_> = amends
            .iter()
            .map(|a| (Some(a.symbol.as_str()), a.target.link()))
            .collect();
        Ok(split_batch(&ORDER_AMEND_BATCH, &targets, reply))
    }

    /// Cancels up to 20 orders (`POST /v5/order/cancel-batch`), one result per order.
    pub async fn cancel_batch(
        &self,
        cancels: Vec<CancelOrder>,
    ) -> Result<Vec<BatchItem>, RestError> {
        let category = batch_category(
            &ORDER_CANCEL_BATCH,
            cancels.iter().map(|c| &c.wire.category),
        )?;
        let body = BatchRequest {
            category,
            request: cancels.iter().map(|c| c.wire.clone()).collect(),
        };
        let call = Call::post(&ORDER_CANCEL_BATCH, &body)?
            .priority(Priority::High)
            .cost(batch_cost(cancels.len()));
        let reply = self.execute(&call).await.result?;
        let targets: Vec<_> = cancels
            .iter()
            .map(|c| (Some(c.symbol.as_str()), c.target.link()))
            .collect();
        Ok(split_batch(&ORDER_CANCEL_BATCH, &targets, reply))
    }

    /// One page of open (or, by id, recently closed) orders (`GET /v5/order/realtime`).
    pub async fn open_orders(&self, query: OpenOrders) -> Result<OrderList, RestError> {
        let call = Call::get(&ORDER_REALTIME, &query.params())
            .symbol(query.symbol.as_ref().map(Symbol::as_str))
            .link(query.order_link_id.as_ref().map(OrderLinkId::as_str));
        self.execute(&call).await.result.map(|r| r.result)
    }

    /// One page of order history (`GET /v5/order/history`).
    pub async fn order_history(&self, query: OrderHistory) -> Result<OrderList, RestError> {
        let call = Call::get(&ORDER_HISTORY, &query.params())
            .symbol(query.scope.symbol.as_ref().map(Symbol::as_str))
            .link(query.scope.order_link_id.as_ref().map(OrderLinkId::as_str));
        self.execute(&call).await.result.map(|r| r.result)
    }

    /// One page of executions (`GET /v5/execution/list`).
    pub async fn executions(&self, query: Executions) -> Result<ExecutionList, RestError> {
        let call = Call::get(&EXECUTIONS, &query.params())
            .symbol(query.scope.symbol.as_ref().map(Symbol::as_str))
            .link(query.scope.order_link_id.as_ref().map(OrderLinkId::as_str));
        self.execute(&call).await.result.map(|r| r.result)
    }
}

/// Whether `order` already holds every value the amend asks for (`0` for TP/SL means none).
fn amend_applied(amend: &AmendOrderRequest, order: &Order) -> bool {
    let same = |asked: Option<Decimal>, has: Option<Decimal>| match asked {
        None => true,
        Some(v) if v.is_zero() => has.is_none_or(|h| h.is_zero()),
        Some(v) => has == Some(v),
    };
    same(amend.qty, Some(order.qty))
        && same(amend.price, order.price)
        && same(amend.trigger_price, order.trigger_price)
        && same(amend.take_profit, order.take_profit)
        && same(amend.stop_loss, order.stop_loss)
}

/// The one place a create request is made: body, context, retry policy and priority.
fn create_call(order: &NewOrder) -> Result<Call, RestError> {
    let link = order.link_id().map(OrderLinkId::as_str);
    Ok(Call::post(&ORDER_CREATE, order.as_wire())?
        .symbol(Some(order.symbol().as_str()))
        .link(link)
        .policy(RetryPolicy::Create {
            has_link_id: link.is_some(),
        })
        .priority(order.priority()))
}

fn batch_cost(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// The category shared by every item; refuses an empty, oversized or mixed batch.
fn batch_category<'a>(
    ep: &'static crate::routes::Endpoint,
    mut categories: impl ExactSizeIterator<Item = &'a Category>,
) -> Result<Category, RestError> {
    let len = categories.len();
    let invalid = |reason: String| RestError::InvalidRequest {
        ctx: ErrorContext::new(ep.label, true),
        reason,
    };
    if len == 0 || len > MAX_BATCH {
        return Err(invalid(format!(
            "a batch holds 1 to {MAX_BATCH} orders, got {len}"
        )));
    }
    let first = categories.next().cloned().unwrap_or(Category::Linear);
    if categories.any(|c| *c != first) {
        return Err(invalid(
            "every order of a batch must have the same category".to_owned(),
        ));
    }
    Ok(first)
}

/// Pairs each requested item with its `retExtInfo.list` entry (same index) and its ack.
fn split_batch(
    ep: &'static crate::routes::Endpoint,
    targets: &[(Option<&str>, Option<&str>)],
    reply: Reply<bybit_types::rest::order::BatchResult>,
) -> Vec<BatchItem> {
    let Reply { result, ext } = reply;
    let RetExtInfo { list: codes_list } = ext;
    let mut acks = result.list.into_iter();
    targets
        .iter()
        .enumerate()
        .map(|(i, (symbol, link))| {
            let ctx = ErrorContext {
                endpoint: ep.label,
                symbol: symbol.map(Into::into),
                order_link_id: link.map(Into::into),
                write: true,
            };
            let ack = acks.next();
            match (codes_list.get(i), ack) {
                (Some(code), Some(ack)) if code.code == 0 => Ok(ack),
                (Some(code), _) if code.code != 0 => Err(RestError::Exchange {
                    ctx,
                    code: code.code,
                    message: code.msg.clone(),
                }),
                _ => Err(RestError::Decode {
                    ctx,
                    stage: DecodeStage::Result,
                    status: 200,
                    len: 0,
                    first_bytes: String::new(),
                    reason: format!("no result or retExtInfo entry for batch item {i}"),
                }),
            }
        })
        .collect()
}
