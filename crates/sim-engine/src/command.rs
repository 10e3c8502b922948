//! What the engine is asked to do: orders, amendments, cancels, leverage, TP/SL, queries.
//! These are Bybit's request parameters after the emulator has parsed them; the engine checks
//! the trading rules and answers with Bybit's retCodes.

use bybit_types::{OrderType, TimeInForce, WireSide};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Which order: by Bybit's id or by the client's `orderLinkId` (the id wins when both are
/// given, as on Bybit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderKey {
    /// `orderId`.
    Id(String),
    /// `orderLinkId`.
    LinkId(String),
}

/// Direction a conditional order waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TriggerDirection {
    /// 1: triggers when the last price rises to the trigger price.
    Rise,
    /// 2: triggers when the last price falls to the trigger price.
    Fall,
}

impl TriggerDirection {
    /// Bybit's integer.
    pub fn as_int(self) -> i64 {
        match self {
            TriggerDirection::Rise => 1,
            TriggerDirection::Fall => 2,
        }
    }
}

/// `POST /v5/order/create` for a linear one-way symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: WireSide,
    /// `Market` or `Limit`.
    pub order_type: OrderType,
    /// Quantity; `0` only with `reduce_only` and `close_on_trigger` (close the whole position).
    pub qty: Decimal,
    /// Limit price (required for `Limit`, ignored for `Market`).
    pub price: Option<Decimal>,
    /// Time in force; `GTC` when absent, always `IOC` for market orders.
    pub time_in_force: Option<TimeInForce>,
    /// Client order id.
    pub order_link_id: Option<String>,
    /// Only reduce the position.
    pub reduce_only: bool,
    /// Closing order (treated as reduce-only when it triggers).
    pub close_on_trigger: bool,
    /// Makes this a conditional order.
    pub trigger_price: Option<Decimal>,
    /// Required with `trigger_price`.
    pub trigger_direction: Option<TriggerDirection>,
    /// Take-profit to set on the position when this order fills.
    pub take_profit: Option<Decimal>,
    /// Stop-loss to set on the position when this order fills.
    pub stop_loss: Option<Decimal>,
}

impl NewOrder {
    /// A market order.
    pub fn market(symbol: &str, side: WireSide, qty: Decimal) -> Self {
        NewOrder {
            symbol: symbol.to_owned(),
            side,
            order_type: OrderType::Market,
            qty,
            price: None,
            time_in_force: None,
            order_link_id: None,
            reduce_only: false,
            close_on_trigger: false,
            trigger_price: None,
            trigger_direction: None,
            take_profit: None,
            stop_loss: None,
        }
    }

    /// A GTC limit order.
    pub fn limit(symbol: &str, side: WireSide, qty: Decimal, price: Decimal) -> Self {
        NewOrder {
            order_type: OrderType::Limit,
            price: Some(price),
            time_in_force: Some(TimeInForce::Gtc),
            ..NewOrder::market(symbol, side, qty)
        }
    }

    /// Sets the `orderLinkId`.
    #[must_use]
    pub fn link_id(mut self, id: &str) -> Self {
        self.order_link_id = Some(id.to_owned());
        self
    }

    /// Marks the order reduce-only.
    #[must_use]
    pub fn reduce_only(mut self) -> Self {
        self.reduce_only = true;
        self
    }

    /// Sets the time in force.
    #[must_use]
    pub fn tif(mut self, tif: TimeInForce) -> Self {
        self.time_in_force = Some(tif);
        self
    }

    /// Makes the order conditional.
    #[must_use]
    pub fn trigger(mut self, price: Decimal, direction: TriggerDirection) -> Self {
        self.trigger_price = Some(price);
        self.trigger_direction = Some(direction);
        self
    }
}

/// `POST /v5/order/amend`. `None` leaves a field unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amend {
    /// Symbol.
    pub symbol: String,
    /// Which order.
    pub key: OrderKey,
    /// New total quantity.
    pub qty: Option<Decimal>,
    /// New limit price.
    pub price: Option<Decimal>,
    /// New trigger price (conditional orders).
    pub trigger_price: Option<Decimal>,
}

/// `POST /v5/order/cancel-all`: by symbol, or every symbol settled in `settle_coin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CancelAll {
    /// Only this symbol.
    pub symbol: Option<String>,
    /// Every symbol of this base coin (when no symbol is given).
    pub base_coin: Option<String>,
    /// Every symbol settled in this coin (when neither symbol nor base coin is given).
    pub settle_coin: Option<String>,
    /// Only plain orders (`Order`), only conditional ones (`StopOrder`), or all (`None`).
    pub filter: Option<OrderFilter>,
    /// `stopOrderType=Stop` with `StopOrder`: only conditional orders, not a position's TP/SL
    /// (v5/order/cancel-all).
    pub stop_only: bool,
}

/// Which kinds of orders an operation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderFilter {
    /// Plain (active) orders.
    Order,
    /// Conditional orders.
    StopOrder,
}

/// `POST /v5/position/trading-stop` in `Full` mode. `Some(0)` removes a level; `None` leaves
/// it unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradingStop {
    /// Symbol.
    pub symbol: String,
    /// Take-profit trigger price.
    pub take_profit: Option<Decimal>,
    /// Stop-loss trigger price.
    pub stop_loss: Option<Decimal>,
}

/// `GET /v5/order/realtime` and `/v5/order/history` filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OrderQuery {
    /// Only this symbol.
    pub symbol: Option<String>,
    /// Only symbols of this base coin.
    pub base_coin: Option<String>,
    /// Only symbols settled in this coin.
    pub settle_coin: Option<String>,
    /// Only this order (open or recently closed, whatever `open_only` says).
    pub key: Option<OrderKey>,
    /// Plain or conditional orders only.
    pub filter: Option<OrderFilter>,
}

/// `GET /v5/execution/list` filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExecutionQuery {
    /// Only this symbol.
    pub symbol: Option<String>,
    /// Only this order's fills.
    pub key: Option<OrderKey>,
    /// Only fills at or after this time.
    pub start_ms: Option<i64>,
    /// Only fills at or before this time.
    pub end_ms: Option<i64>,
}
