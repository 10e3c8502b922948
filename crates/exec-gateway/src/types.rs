//! Domain types: the trade plan, positions, orders and the trade's lifecycle.

use std::collections::BTreeMap;

use bybit_types::{OrderLinkId, Symbol};
use exec_events::Side;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One take-profit level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TpLevel {
    /// The limit price.
    pub price: Decimal,
    /// The share of the position this level closes (a fraction; the shares of a plan add up to
    /// at most 1). Quantities are floored to the step, so the TPs together never exceed the
    /// position.
    pub share: Decimal,
}

/// One DCA level: an order on the entry side at a worse price than the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DcaLevel {
    /// The level's price (limit price, or trigger price for conditional DCAs).
    pub price: Decimal,
    /// Margin in USDT committed at this level, **before leverage**: the order's value is
    /// `margin_usdt × leverage`.
    pub margin_usdt: Decimal,
}

/// What the state machine wants traded (SPEC §7). Ready values: the gateway does no strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradePlan {
    /// The instrument.
    #[serde(with = "symbol_serde")]
    pub symbol: Symbol,
    /// The entry side.
    pub side: Side,
    /// The amount of USDT put up as **margin, before leverage** (SPEC's `baseQty`). The
    /// entry's position value is `margin_usdt × leverage`, and its quantity that value divided
    /// by the current price, floored to the step.
    pub margin_usdt: Decimal,
    /// Leverage, e.g. 25.
    pub leverage: Decimal,
    /// DCA levels, in order (DCA1 first).
    pub dca_levels: Vec<DcaLevel>,
    /// Take-profit levels, in order (TP1 nearest); SPEC R-GW-2 uses three.
    pub tp_levels: Vec<TpLevel>,
    /// The trade's tag, e.g. `andre_RAD_20251122_1306`. It names the trade in every
    /// orderLinkId (with the layer's prefix and the leg) and in the journal.
    pub client_tag: String,
}

mod symbol_serde {
    use bybit_types::Symbol;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(symbol: &Symbol, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(symbol.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Symbol, D::Error> {
        let text = String::deserialize(d)?;
        Symbol::new(text).map_err(serde::de::Error::custom)
    }
}

/// A position as the position service reports it (SPEC R-POS-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionState {
    /// Symbol.
    pub symbol: Symbol,
    /// Side; `None` when flat.
    pub side: Option<Side>,
    /// Size in contracts (0 when flat).
    pub size: Decimal,
    /// Average entry price.
    pub entry_price: Option<Decimal>,
    /// Leverage.
    pub leverage: Option<Decimal>,
    /// Unrealised PnL.
    pub unrealised_pnl: Option<Decimal>,
    /// When the position was opened (ms), where known.
    pub created_ms: Option<i64>,
}

impl PositionState {
    /// A flat position.
    pub fn flat(symbol: Symbol) -> Self {
        PositionState {
            symbol,
            side: None,
            size: Decimal::ZERO,
            entry_price: None,
            leverage: None,
            unrealised_pnl: None,
            created_ms: None,
        }
    }

    /// No position.
    pub fn is_flat(&self) -> bool {
        self.side.is_none() || self.size.is_zero()
    }
}

/// Which way a conditional order's trigger waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TriggerDirection {
    /// Triggers when the last price rises to the trigger.
    Rise,
    /// Triggers when the last price falls to the trigger.
    Fall,
}

/// An order ready to send: rounded, validated, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// Symbol.
    pub symbol: Symbol,
    /// Side.
    pub side: Side,
    /// Quantity, on the step.
    pub qty: Decimal,
    /// Limit price, on the tick (`None`: market).
    pub price: Option<Decimal>,
    /// Trigger price (a conditional order), on the tick.
    pub trigger_price: Option<Decimal>,
    /// Trigger direction, with `trigger_price`.
    pub trigger_direction: Option<TriggerDirection>,
    /// Reduce-only.
    pub reduce_only: bool,
    /// The deterministic orderLinkId.
    pub order_link_id: OrderLinkId,
}

impl OrderRequest {
    /// `market`, `limit` or `conditional`, as the journal records it.
    pub fn kind(&self) -> &'static str {
        match (self.trigger_price, self.price) {
            (Some(_), _) => "conditional",
            (None, Some(_)) => "limit",
            (None, None) => "market",
        }
    }
}

/// An accepted order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderAck {
    /// The exchange's order id.
    pub order_id: String,
    /// The orderLinkId.
    pub order_link_id: String,
}

/// An order's status in the gateway's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Resting.
    Open,
    /// A conditional order waiting for its trigger.
    Untriggered,
    /// Partly filled, the rest resting.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled or deactivated (possibly after a partial fill).
    Cancelled,
    /// Rejected.
    Rejected,
}

impl OrderStatus {
    /// Can still fill.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            OrderStatus::Open | OrderStatus::Untriggered | OrderStatus::PartiallyFilled
        )
    }
}

/// An order as the router reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSnapshot {
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// The exchange's order id.
    pub order_id: String,
    /// The orderLinkId (`""` for orders placed without one).
    pub order_link_id: String,
    /// Ordered quantity.
    pub qty: Decimal,
    /// Limit price.
    pub price: Option<Decimal>,
    /// Trigger price.
    pub trigger_price: Option<Decimal>,
    /// Filled so far.
    pub filled_qty: Decimal,
    /// Average fill price.
    pub avg_price: Option<Decimal>,
    /// Status.
    pub status: OrderStatus,
    /// Reduce-only.
    pub reduce_only: bool,
}

/// Balances (SPEC R-ACC-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    /// Wallet balance, USDT.
    pub wallet: Decimal,
    /// Available for new orders, USDT.
    pub available: Decimal,
}

/// Where a trade is in its life.
///
/// `Idle → Entering → InPosition → (Breakeven) → Closing → Closed`, or `Error` from any
/// state when the trade was aborted (insufficient balance, a fatal error, an entry refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    /// Planned, nothing sent.
    Idle,
    /// The entry is being placed or filled.
    Entering,
    /// In a position; TPs and DCAs may rest.
    InPosition,
    /// DCAs cancelled, TPs kept, stop at the entry price.
    Breakeven,
    /// Being closed.
    Closing,
    /// Flat, done.
    Closed,
    /// Aborted; see the journal and the error log.
    Error,
}

impl Phase {
    /// The journal's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "IDLE",
            Phase::Entering => "ENTERING",
            Phase::InPosition => "IN_POSITION",
            Phase::Breakeven => "BREAKEVEN",
            Phase::Closing => "CLOSING",
            Phase::Closed => "CLOSED",
            Phase::Error => "ERROR",
        }
    }
}

/// A trade as the gateway tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeState {
    /// The plan's client tag.
    pub tag: String,
    /// Symbol.
    pub symbol: Symbol,
    /// Entry side.
    pub side: Side,
    /// Lifecycle phase.
    pub phase: Phase,
    /// Average entry price, once filled.
    pub entry_price: Option<Decimal>,
    /// Entry quantity filled.
    pub filled_qty: Decimal,
    /// The orders of each leg (`ENTRY`, `TP1`, `DCA2`, …) by leg code: their orderLinkId and
    /// the last status seen.
    pub orders: BTreeMap<String, (String, Option<OrderStatus>)>,
    /// Why the trade is in ERROR.
    pub error: Option<String>,
}

impl TradeState {
    /// A new trade for `plan`.
    pub fn new(plan: &TradePlan) -> Self {
        TradeState {
            tag: plan.client_tag.clone(),
            symbol: plan.symbol.clone(),
            side: plan.side,
            phase: Phase::Idle,
            entry_price: None,
            filled_qty: Decimal::ZERO,
            orders: BTreeMap::new(),
            error: None,
        }
    }
}
