//! Orders: create/amend/cancel replies, batch results, the order record shared by REST
//! queries and the private `order` topic, and the request bodies of the order endpoints.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::enums::{
    CancelType, Category, CreateType, OrderFilter, OrderStatus, OrderType, SlippageToleranceType,
    SmpType, StopOrderType, TimeInForce, TpslMode, TriggerBy,
};
use crate::envelope::{ItemResult, RetExtInfo};
use crate::rest::execution::ExtraFees;
use crate::rest::Page;
use crate::serde_helpers;
use crate::WireSide;

/// `POST /v5/order/create`, `/amend` and `/cancel` result: the ids of the order acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderAck {
    /// Bybit's order id.
    pub order_id: String,
    /// The client's id; `""` when the order had none.
    #[serde(default)]
    pub order_link_id: String,
}

/// `POST /v5/order/cancel-all` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAllResult {
    /// The orders that were cancelled.
    #[serde(default)]
    pub list: Vec<OrderAck>,
    /// `"1"` on success, `"0"` on failure; some categories omit it.
    #[serde(default)]
    pub success: String,
}

impl CancelAllResult {
    /// Whether Bybit reported the request as done. A missing flag counts as success, because
    /// the categories that omit it report failure through `retCode` instead.
    pub fn is_success(&self) -> bool {
        self.success != "0"
    }
}

/// One item of a batch create/amend/cancel result.
///
/// Whether the item succeeded is in the envelope's `retExtInfo.list` at the same index, not
/// here: a failed item still appears, with `orderId: ""`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchOrderAck {
    /// Category of the order.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub category: Option<Category>,
    /// Symbol of the order.
    #[serde(default)]
    pub symbol: String,
    /// Bybit's order id; `""` when the item failed.
    #[serde(default)]
    pub order_id: String,
    /// The client's id.
    #[serde(default)]
    pub order_link_id: String,
    /// Creation time in ms (batch create only); `""` when the item failed.
    #[serde(
        default,
        with = "serde_helpers::opt_int_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub create_at: Option<i64>,
}

/// `POST /v5/order/create-batch` (and amend-/cancel-batch) result, also the `data` of the
/// trade stream's batch replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResult {
    /// One entry per requested order, in request order.
    #[serde(default)]
    pub list: Vec<BatchOrderAck>,
}

impl BatchResult {
    /// Pairs each item with its `{code, msg}` from `retExtInfo`, matched by index. An item
    /// without a matching entry gets `None`, which callers must treat as an unknown outcome.
    pub fn with_results<'a>(
        &'a self,
        ext: &'a RetExtInfo,
    ) -> impl Iterator<Item = (&'a BatchOrderAck, Option<&'a ItemResult>)> + 'a {
        self.list
            .iter()
            .enumerate()
            .map(move |(i, item)| (item, ext.list.get(i)))
    }
}

/// `GET /v5/order/realtime` and `GET /v5/order/history` result.
pub type OrderList = Page<Order>;

/// An order as REST queries and the private `order` topic report it (REFERENCE.md §7.1).
///
/// One struct serves both: the WebSocket record adds `category` and a few fields REST lacks,
/// and REST adds `basePrice`/`extraFees`, all of which are optional here. Fields that one of
/// the shapes omits are skipped when `None`; the rest are written as Bybit writes them, with
/// `""` for no value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Category (WebSocket only; REST has it once per page).
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub category: Option<Category>,
    /// Bybit's order id.
    pub order_id: String,
    /// The client's id; `""` when none was given.
    #[serde(default)]
    pub order_link_id: String,
    /// The id of the parent order (TP/SL attached orders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_order_link_id: Option<String>,
    /// Spot margin flag: `"0"`, `"1"` or `""`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_leverage: Option<String>,
    /// Block trade id; `""` for normal orders.
    #[serde(default)]
    pub block_trade_id: String,
    /// Symbol name.
    pub symbol: String,
    /// Limit price; `"0"` or `""` for market orders.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub price: Option<Decimal>,
    /// Broker price (broker orders only).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub broker_order_price: Option<Decimal>,
    /// Order quantity.
    #[serde(with = "serde_helpers::decimal")]
    pub qty: Decimal,
    /// Side.
    pub side: WireSide,
    /// 0 one-way, 1 hedge buy side, 2 hedge sell side.
    #[serde(default)]
    pub position_idx: i64,
    /// Order status.
    pub order_status: OrderStatus,
    /// Who created the order (WebSocket; newer REST).
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub create_type: Option<CreateType>,
    /// Why it was cancelled; `UNKNOWN` when it was not.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub cancel_type: Option<CancelType>,
    /// Reject reason such as `EC_NoError` or `EC_PostOnlyWillTakeLiquidity`. Kept as text:
    /// the list is long, open-ended and only ever logged or matched on a few values.
    #[serde(default)]
    pub reject_reason: String,
    /// Average fill price; `""` or `"0"` when nothing filled.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub avg_price: Option<Decimal>,
    /// Quantity still open.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub leaves_qty: Option<Decimal>,
    /// Value still open.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub leaves_value: Option<Decimal>,
    /// Filled quantity.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub cum_exec_qty: Option<Decimal>,
    /// Filled value.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub cum_exec_value: Option<Decimal>,
    /// Fees paid (deprecated for linear and spot; see `cum_fee_detail`).
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub cum_exec_fee: Option<Decimal>,
    /// Closed profit and loss of this order (WebSocket).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub closed_pnl: Option<Decimal>,
    /// Fee coin (deprecated; WebSocket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_currency: Option<String>,
    /// Time in force.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub time_in_force: Option<TimeInForce>,
    /// Order type.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub order_type: Option<OrderType>,
    /// Stop order type; `UNKNOWN` or `""` for plain orders.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub stop_order_type: Option<StopOrderType>,
    /// Trigger type of a spot OCO order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oco_trigger_by: Option<String>,
    /// Implied volatility (options).
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub order_iv: Option<Decimal>,
    /// Unit of a spot market order's qty (`baseCoin` / `quoteCoin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_unit: Option<String>,
    /// Slippage tolerance type of a market order.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub slippage_tolerance_type: Option<SlippageToleranceType>,
    /// Slippage tolerance value.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub slippage_tolerance: Option<Decimal>,
    /// Trigger price of a conditional order; `"0"`/`""` when none.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub trigger_price: Option<Decimal>,
    /// Take-profit price; `"0"`/`""` when none.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub take_profit: Option<Decimal>,
    /// Stop-loss price; `"0"`/`""` when none.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub stop_loss: Option<Decimal>,
    /// TP/SL mode; `""` when the order has no TP/SL.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub tpsl_mode: Option<TpslMode>,
    /// Limit price of a partial take-profit.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub tp_limit_price: Option<Decimal>,
    /// Limit price of a partial stop-loss.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub sl_limit_price: Option<Decimal>,
    /// Price that triggers the take-profit.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub tp_trigger_by: Option<TriggerBy>,
    /// Price that triggers the stop-loss.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub sl_trigger_by: Option<TriggerBy>,
    /// 1 triggers on a rise, 2 on a fall, 0 not conditional.
    #[serde(default)]
    pub trigger_direction: i64,
    /// Price that triggers a conditional order.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub trigger_by: Option<TriggerBy>,
    /// Last price when the order was created.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub last_price_on_created: Option<Decimal>,
    /// Market price at placement (spot REST).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub base_price: Option<Decimal>,
    /// Reduce-only flag.
    #[serde(default)]
    pub reduce_only: bool,
    /// Close-on-trigger flag.
    #[serde(default)]
    pub close_on_trigger: bool,
    /// Option order placement type (`iv`, `price`); `""` otherwise.
    #[serde(default)]
    pub place_type: String,
    /// Self-match prevention type.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub smp_type: Option<SmpType>,
    /// Self-match prevention group; 0 when none.
    #[serde(default)]
    pub smp_group: i64,
    /// The order that self-matched with this one; `""` when none.
    #[serde(default)]
    pub smp_order_id: String,
    /// Creation time, ms.
    #[serde(default, with = "serde_helpers::opt_int_str")]
    pub created_time: Option<i64>,
    /// Last update time, ms.
    #[serde(default, with = "serde_helpers::opt_int_str")]
    pub updated_time: Option<i64>,
    /// Extra fees (order history); `""` when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_fees: Option<ExtraFees>,
    /// Fees paid so far, by coin.
    #[serde(
        default,
        with = "serde_helpers::decimal_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub cum_fee_detail: BTreeMap<String, Decimal>,
    /// Whether the order may take RPI liquidity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpi_taker_access: Option<bool>,
    /// Quantity matched against RPI orders.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub rpi_matched_qty: Option<Decimal>,
}

impl Order {
    /// A new order record with the given identity and everything else empty, as Bybit would
    /// print an order with no fills, no TP/SL and no timestamps yet.
    pub fn new(
        order_id: impl Into<String>,
        symbol: impl Into<String>,
        side: WireSide,
        qty: Decimal,
        order_status: OrderStatus,
    ) -> Self {
        Order {
            category: None,
            order_id: order_id.into(),
            order_link_id: String::new(),
            parent_order_link_id: None,
            is_leverage: None,
            block_trade_id: String::new(),
            symbol: symbol.into(),
            price: None,
            broker_order_price: None,
            qty,
            side,
            position_idx: 0,
            order_status,
            create_type: None,
            cancel_type: None,
            reject_reason: String::new(),
            avg_price: None,
            leaves_qty: None,
            leaves_value: None,
            cum_exec_qty: None,
            cum_exec_value: None,
            cum_exec_fee: None,
            closed_pnl: None,
            fee_currency: None,
            time_in_force: None,
            order_type: None,
            stop_order_type: None,
            oco_trigger_by: None,
            order_iv: None,
            market_unit: None,
            slippage_tolerance_type: None,
            slippage_tolerance: None,
            trigger_price: None,
            take_profit: None,
            stop_loss: None,
            tpsl_mode: None,
            tp_limit_price: None,
            sl_limit_price: None,
            tp_trigger_by: None,
            sl_trigger_by: None,
            trigger_direction: 0,
            trigger_by: None,
            last_price_on_created: None,
            base_price: None,
            reduce_only: false,
            close_on_trigger: false,
            place_type: String::new(),
            smp_type: None,
            smp_group: 0,
            smp_order_id: String::new(),
            created_time: None,
            updated_time: None,
            extra_fees: None,
            cum_fee_detail: BTreeMap::new(),
            rpi_taker_access: None,
            rpi_matched_qty: None,
        }
    }

    /// Whether the order can still trade or trigger.
    pub fn is_open(&self) -> bool {
        self.order_status.is_open()
    }

    /// Filled quantity, zero when Bybit sent none.
    pub fn filled_qty(&self) -> Decimal {
        self.cum_exec_qty.unwrap_or(Decimal::ZERO)
    }
}

/// `POST /v5/order/create` body (also one item of a batch create and the `args` of the
/// trade stream's `order.create`). Optional fields are omitted when `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrderRequest {
    /// Category.
    pub category: Category,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: WireSide,
    /// Order type.
    pub order_type: OrderType,
    /// Quantity.
    #[serde(with = "serde_helpers::caller_decimal")]
    pub qty: Decimal,
    /// Limit price (ignored for market orders).
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub price: Option<Decimal>,
    /// Time in force; Bybit's default is GTC (IOC for market orders).
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_in_force: Option<TimeInForce>,
    /// 0 one-way, 1 hedge buy, 2 hedge sell; Bybit's default is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_idx: Option<i64>,
    /// Client order id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_link_id: Option<String>,
    /// Reduce-only flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce_only: Option<bool>,
    /// Close-on-trigger flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_on_trigger: Option<bool>,
    /// Trigger price, which makes the order conditional.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub trigger_price: Option<Decimal>,
    /// 1 triggers on a rise, 2 on a fall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_direction: Option<i64>,
    /// Price that triggers a conditional order.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub trigger_by: Option<TriggerBy>,
    /// Take-profit price.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub take_profit: Option<Decimal>,
    /// Stop-loss price.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_loss: Option<Decimal>,
    /// Price that triggers the take-profit.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub tp_trigger_by: Option<TriggerBy>,
    /// Price that triggers the stop-loss.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub sl_trigger_by: Option<TriggerBy>,
    /// TP/SL mode.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub tpsl_mode: Option<TpslMode>,
    /// Limit price of a partial take-profit.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub tp_limit_price: Option<Decimal>,
    /// Limit price of a partial stop-loss.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub sl_limit_price: Option<Decimal>,
    /// Order type of the take-profit.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub tp_order_type: Option<OrderType>,
    /// Order type of the stop-loss.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub sl_order_type: Option<OrderType>,
    /// Self-match prevention type.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub smp_type: Option<SmpType>,
    /// Slippage tolerance type of a market order.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub slippage_tolerance_type: Option<SlippageToleranceType>,
    /// Slippage tolerance value.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub slippage_tolerance: Option<Decimal>,
}

impl CreateOrderRequest {
    /// A request with the required fields and every optional one left out.
    pub fn new(
        category: Category,
        symbol: impl Into<String>,
        side: WireSide,
        order_type: OrderType,
        qty: Decimal,
    ) -> Self {
        CreateOrderRequest {
            category,
            symbol: symbol.into(),
            side,
            order_type,
            qty,
            price: None,
            time_in_force: None,
            position_idx: None,
            order_link_id: None,
            reduce_only: None,
            close_on_trigger: None,
            trigger_price: None,
            trigger_direction: None,
            trigger_by: None,
            take_profit: None,
            stop_loss: None,
            tp_trigger_by: None,
            sl_trigger_by: None,
            tpsl_mode: None,
            tp_limit_price: None,
            sl_limit_price: None,
            tp_order_type: None,
            sl_order_type: None,
            smp_type: None,
            slippage_tolerance_type: None,
            slippage_tolerance: None,
        }
    }
}

/// `POST /v5/order/amend` body. A field left `None` is left unchanged by Bybit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmendOrderRequest {
    /// Category.
    pub category: Category,
    /// Symbol.
    pub symbol: String,
    /// Bybit's order id; wins over `order_link_id` when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Client order id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_link_id: Option<String>,
    /// New quantity.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub qty: Option<Decimal>,
    /// New price.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub price: Option<Decimal>,
    /// New trigger price.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub trigger_price: Option<Decimal>,
    /// New take-profit; `0` removes it.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub take_profit: Option<Decimal>,
    /// New stop-loss; `0` removes it.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_loss: Option<Decimal>,
    /// Price that triggers the take-profit.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub tp_trigger_by: Option<TriggerBy>,
    /// Price that triggers the stop-loss.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub sl_trigger_by: Option<TriggerBy>,
    /// Price that triggers a conditional order.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub trigger_by: Option<TriggerBy>,
    /// TP/SL mode.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub tpsl_mode: Option<TpslMode>,
    /// Limit price of a partial take-profit.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub tp_limit_price: Option<Decimal>,
    /// Limit price of a partial stop-loss.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub sl_limit_price: Option<Decimal>,
}

impl AmendOrderRequest {
    /// An amend of nothing yet, addressed by exactly one id.
    pub fn new(category: Category, symbol: impl Into<String>, id: OrderRef) -> Self {
        let (order_id, order_link_id) = id.split();
        AmendOrderRequest {
            category,
            symbol: symbol.into(),
            order_id,
            order_link_id,
            qty: None,
            price: None,
            trigger_price: None,
            take_profit: None,
            stop_loss: None,
            tp_trigger_by: None,
            sl_trigger_by: None,
            trigger_by: None,
            tpsl_mode: None,
            tp_limit_price: None,
            sl_limit_price: None,
        }
    }
}

/// Which id an amend or cancel addresses an order by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRef {
    /// Bybit's order id.
    OrderId(String),
    /// The client's order id.
    OrderLinkId(String),
}

impl OrderRef {
    fn split(self) -> (Option<String>, Option<String>) {
        match self {
            OrderRef::OrderId(id) => (Some(id), None),
            OrderRef::OrderLinkId(id) => (None, Some(id)),
        }
    }
}

/// `POST /v5/order/cancel` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelOrderRequest {
    /// Category.
    pub category: Category,
    /// Symbol.
    pub symbol: String,
    /// Bybit's order id; wins over `order_link_id` when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Client order id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_link_id: Option<String>,
    /// Spot only: which kind of order.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_filter: Option<OrderFilter>,
}

impl CancelOrderRequest {
    /// A cancel addressed by exactly one id.
    pub fn new(category: Category, symbol: impl Into<String>, id: OrderRef) -> Self {
        let (order_id, order_link_id) = id.split();
        CancelOrderRequest {
            category,
            symbol: symbol.into(),
            order_id,
            order_link_id,
            order_filter: None,
        }
    }
}

/// `POST /v5/order/cancel-all` body. Linear needs one of `symbol`, `base_coin`, `settle_coin`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAllOrdersRequest {
    /// Category.
    pub category: Category,
    /// Symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Base coin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_coin: Option<String>,
    /// Settle coin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_coin: Option<String>,
    /// Which kinds of order; Bybit's default is all of them, conditional and TP/SL included.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_filter: Option<OrderFilter>,
    /// `Stop` to cancel only conditional orders.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_order_type: Option<StopOrderType>,
}

/// `POST /v5/order/create-batch` (and amend-/cancel-batch) body: `{category, request:[...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRequest<T> {
    /// Category of every order in the batch.
    pub category: Category,
    /// The orders, at most 20 for linear.
    pub request: Vec<T>,
}
