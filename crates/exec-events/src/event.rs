//! The events themselves, in the gateway's vocabulary.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Buy or sell. The gateway's own, so events need no exchange types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Side {
    /// Buy (long).
    Buy,
    /// Sell (short).
    Sell,
}

impl Side {
    /// The other side: the side that closes a position of this side.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// `"Buy"` or `"Sell"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "Buy",
            Side::Sell => "Sell",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderEventKind {
    /// The exchange accepted it (resting, waiting for a trigger, or about to fill).
    Accepted,
    /// Amended, or a conditional order triggered.
    Updated,
    /// Some of it filled; the rest rests.
    PartiallyFilled,
    /// All of it filled.
    Filled,
    /// Cancelled (by us, by the exchange, or an IOC remainder); may have filled in part.
    Cancelled,
    /// Refused by the exchange after it was accepted for processing.
    Rejected,
}

/// An order's state after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// What changed.
    pub kind: OrderEventKind,
    /// Symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// The exchange's order id.
    pub order_id: String,
    /// Our orderLinkId (`""` for an order someone else placed).
    pub order_link_id: String,
    /// Ordered quantity.
    pub qty: Decimal,
    /// Limit price, if any.
    pub price: Option<Decimal>,
    /// Trigger price of a conditional order, if any.
    pub trigger_price: Option<Decimal>,
    /// Quantity filled so far.
    pub filled_qty: Decimal,
    /// Average fill price, once something filled.
    pub avg_price: Option<Decimal>,
    /// Reduce-only.
    pub reduce_only: bool,
    /// Why it was rejected or cancelled, when the exchange says.
    pub reason: Option<String>,
    /// Produced by a dry-run router: nothing was sent.
    pub simulated: bool,
}

/// Why a fill happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExecKind {
    /// A normal trade.
    Trade,
    /// A funding payment (no quantity changes hands).
    Funding,
    /// A liquidation or auto-deleveraging fill.
    Liquidation,
    /// Anything else, with the exchange's word for it.
    Other(String),
}

/// One execution. `exec_id` is unique per fill: consumers de-duplicate on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The exchange's execution id.
    pub exec_id: String,
    /// Symbol.
    pub symbol: String,
    /// Side of the order that filled.
    pub side: Side,
    /// The exchange's order id.
    pub order_id: String,
    /// Our orderLinkId (`""` if none).
    pub order_link_id: String,
    /// Fill price.
    pub price: Decimal,
    /// Fill quantity.
    pub qty: Decimal,
    /// Fee paid (negative: a rebate). For a funding execution, the funding paid (negative:
    /// received).
    pub fee: Decimal,
    /// The exchange's realised profit or loss of this execution before fees (Bybit's
    /// `execPnl`: non-zero on fills that reduce a position); `None` where the exchange does not
    /// say (`execution.fast`, a dry run, fills journaled before it was kept).
    #[serde(default)]
    pub pnl: Option<Decimal>,
    /// The coin the fee is in.
    pub fee_currency: String,
    /// The order rested on the book.
    pub is_maker: bool,
    /// Trade, funding, …
    pub exec_kind: ExecKind,
    /// Exchange time in ms (`timeMs` in JSON, the layer's one name for a record's time).
    #[serde(rename = "timeMs", alias = "time_ms")]
    pub time_ms: i64,
    /// Produced by a dry-run router: nothing was sent.
    pub simulated: bool,
}

/// A position after a change (size 0 and no side: flat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionUpdate {
    /// Symbol.
    pub symbol: String,
    /// Side, `None` when flat.
    pub side: Option<Side>,
    /// Size in contracts.
    pub size: Decimal,
    /// Average entry price.
    pub entry_price: Option<Decimal>,
    /// Leverage.
    pub leverage: Option<Decimal>,
    /// Unrealised PnL.
    pub unrealised_pnl: Option<Decimal>,
}

/// The wallet after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletUpdate {
    /// Coin, `USDT`.
    pub coin: String,
    /// Wallet balance.
    pub wallet_balance: Decimal,
    /// Available to open new positions.
    pub available: Decimal,
}

/// A connection or service became healthy or unhealthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthUpdate {
    /// `rest`, `wsPublic`, `wsPrivate`, `journal`, `events`, …
    pub component: String,
    /// Healthy now.
    pub ok: bool,
    /// What is wrong, when not ok.
    pub detail: Option<String>,
}

/// What kind of fatal or trade-ending error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not enough balance or margin: the trade is aborted (R-ERR-3).
    InsufficientBalance,
    /// The API key or signature was refused: fatal, trading stops (R-ERR-2).
    Auth,
    /// The exchange refused an order definitively.
    Rejected,
    /// An order's outcome could not be resolved.
    UnknownOutcome,
    /// The intent journal could not be written: no new orders.
    Journal,
    /// The plan or an input was invalid.
    InvalidInput,
    /// A subscriber lagged behind the bus and must re-read state.
    EventsLagged,
    /// An order stands on the exchange at a limit price the layer did not send (Bybit's
    /// price-limit action moved it to the band): flagged, never accepted silently.
    PriceMismatch,
    /// Anything else.
    Other,
}

/// The `execution.error` event (R-ERR-5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionError {
    /// What kind.
    pub kind: ErrorKind,
    /// The trade's client tag, when one trade is concerned.
    pub trade_tag: Option<String>,
    /// The leg (`ENTRY`, `TP1`, `DCA2`, `CLOSE1`), when one order is concerned.
    pub leg: Option<String>,
    /// The order's orderLinkId, when one order is concerned.
    pub order_link_id: Option<String>,
    /// The exchange's retCode, when it answered with one.
    pub ret_code: Option<i64>,
    /// What happened, in words. Built from typed errors, which never carry a secret.
    pub message: String,
    /// When (ms since the epoch, from the gateway's clock; `timeMs` in JSON).
    #[serde(rename = "timeMs", alias = "time_ms")]
    pub time_ms: i64,
}

/// What a dry-run router would have sent (nothing was sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WouldSend {
    /// Which operation: `place_market_entry`, `place_tp_order`, `cancel_order`,
    /// `set_leverage`, … (the name only: it is a metric label, a bounded set).
    pub operation: String,
    /// Symbol.
    pub symbol: String,
    /// Side, for orders.
    pub side: Option<Side>,
    /// Quantity after rounding, for orders.
    pub qty: Option<Decimal>,
    /// Price after rounding, for limit orders.
    pub price: Option<Decimal>,
    /// Trigger price, for conditional orders and stops.
    pub trigger_price: Option<Decimal>,
    /// The orderLinkId.
    pub order_link_id: Option<String>,
    /// The leverage, for `set_leverage`.
    #[serde(default)]
    pub leverage: Option<Decimal>,
}

impl WouldSend {
    /// An operation on a symbol, with no order details yet.
    pub fn new(operation: impl Into<String>, symbol: impl Into<String>) -> Self {
        WouldSend {
            operation: operation.into(),
            symbol: symbol.into(),
            side: None,
            qty: None,
            price: None,
            trigger_price: None,
            order_link_id: None,
            leverage: None,
        }
    }
}

/// Everything the bus carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// An order changed.
    Order(OrderEvent),
    /// A fill.
    Fill(Fill),
    /// A position changed.
    Position(PositionUpdate),
    /// The wallet changed.
    Wallet(WalletUpdate),
    /// A health change.
    Health(HealthUpdate),
    /// `execution.error`.
    #[serde(rename = "execution.error")]
    ExecutionError(ExecutionError),
    /// A dry run's "would send".
    WouldSend(WouldSend),
}

impl Event {
    /// The fill, if this is one.
    pub fn as_fill(&self) -> Option<&Fill> {
        match self {
            Event::Fill(fill) => Some(fill),
            _ => None,
        }
    }

    /// The order event, if this is one.
    pub fn as_order(&self) -> Option<&OrderEvent> {
        match self {
            Event::Order(order) => Some(order),
            _ => None,
        }
    }

    /// The execution error, if this is one.
    pub fn as_error(&self) -> Option<&ExecutionError> {
        match self {
            Event::ExecutionError(error) => Some(error),
            _ => None,
        }
    }
}
