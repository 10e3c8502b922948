//! Domain types: the trade plan, positions, orders and the trade's lifecycle.

use std::collections::BTreeMap;

use bybit_types::{OrderLinkId, Symbol};
use exec_events::Side;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One take-profit level.
///
/// Serde (the control API's body and the journal's copy): unknown fields are refused and
/// decimals are JSON strings in the one strict grammar (`bybit_types::parse_decimal`: no `_`,
/// no exponent, no JSON number), R-SAFE-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TpLevel {
    /// The limit price.
    #[serde(with = "strict_decimal")]
    pub price: Decimal,
    /// The share of the position this level closes (a fraction; the shares of a plan add up to
    /// at most 1). Quantities are floored to the step, so the TPs together never exceed the
    /// position.
    #[serde(with = "strict_decimal")]
    pub share: Decimal,
}

/// One DCA level: an order on the entry side at a worse price than the entry.
/// Serde as [`TpLevel`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcaLevel {
    /// The level's price (limit price, or trigger price for conditional DCAs).
    #[serde(with = "strict_decimal")]
    pub price: Decimal,
    /// Margin in USDT committed at this level, **before leverage**: the order's value is
    /// `margin_usdt × leverage`.
    #[serde(with = "strict_decimal")]
    pub margin_usdt: Decimal,
}

/// What the state machine wants traded (SPEC §7). Ready values: the gateway does no strategy.
///
/// Serde: unknown fields are refused (`"stop_loss": "90000"` is an error, not ignored) and
/// every decimal is a JSON string in `bybit_types::parse_decimal`'s grammar (R-SAFE-1).
/// `adopt_position` may be left out (false).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradePlan {
    /// The instrument.
    #[serde(with = "symbol_serde")]
    pub symbol: Symbol,
    /// The entry side.
    pub side: Side,
    /// The amount of USDT put up as **margin, before leverage** (SPEC's `baseQty`). The
    /// entry's position value is `margin_usdt × leverage`, and its quantity that value divided
    /// by the current price, floored to the step.
    #[serde(with = "strict_decimal")]
    pub margin_usdt: Decimal,
    /// Leverage, e.g. 25.
    #[serde(with = "strict_decimal")]
    pub leverage: Decimal,
    /// DCA levels, in order (DCA1 first).
    pub dca_levels: Vec<DcaLevel>,
    /// Take-profit levels, in order (TP1 nearest); SPEC R-GW-2 uses three.
    pub tp_levels: Vec<TpLevel>,
    /// The trade's tag, e.g. `andre_RAD_20251122_1306`. It names the trade in every
    /// orderLinkId (with the layer's prefix and the leg) and in the journal.
    pub client_tag: String,
    /// Take over a position already open on the symbol that no open trade owns (R-SAFE-2).
    /// Without it (the default) such a position refuses the entry as a conflict; with it the
    /// trade owns that quantity as well as its own entry's.
    #[serde(default)]
    pub adopt_position: bool,
}

/// Decimals as JSON strings in the strict grammar (`bybit_types::parse_decimal`); a JSON
/// number, `"4_0"` or `"4e1"` is refused.
mod strict_decimal {
    use rust_decimal::Decimal;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Decimal;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal written as a string, e.g. \"100.5\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Decimal, E> {
                bybit_types::parse_decimal(text)
                    .map_err(|e| E::custom(format!("invalid decimal {text:?}: {}", e.reason())))
            }
        }
        d.deserialize_str(Visitor)
    }
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
    /// The exchange's mark price, where known.
    pub mark_price: Option<Decimal>,
    /// The exchange's liquidation price, where it gives one (Bybit sends `""` for many
    /// unified-account positions).
    pub liq_price: Option<Decimal>,
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
            mark_price: None,
            liq_price: None,
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

/// How long an order stays on the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeInForce {
    /// Good till cancelled: a resting limit (TP, DCA) or a conditional order.
    Gtc,
    /// Immediate or cancel: a market order (entry, close); what does not fill at once is
    /// cancelled.
    Ioc,
}

/// An order ready to send: rounded, validated, named. Everything a router needs is here:
/// the kind (market, limit or conditional, [`OrderRequest::kind`]), the time in force and
/// reduce-only; why it is sent belongs to the journal and the log, not the router.
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
    /// Time in force.
    pub time_in_force: TimeInForce,
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
    /// Equity (wallet balance plus unrealised P&L), where the exchange reports it.
    pub equity: Option<Decimal>,
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
    /// The legs that were refused or could not be resolved after the entry filled, latest
    /// problem per leg (R-SAFE-3). A leg placed later is taken off the list.
    pub problems: Vec<LegProblem>,
    /// The entry filled and a take-profit leg is missing, refused or unresolved: the position
    /// is not protected as planned (R-SAFE-3). Cleared once every TP leg is placed, or the
    /// trade is closed.
    pub unprotected: bool,
}

/// What went wrong with one leg of a trade (R-SAFE-3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegProblem {
    /// The leg (`TP1`, `DCA2`, `CLOSE1`).
    pub leg: String,
    /// The leg's orderLinkId.
    pub order_link_id: String,
    /// What kind of failure: `rejected`, `unknown` (outcome not resolved), `invalid` (the
    /// instrument's rules refused it before sending), `error` (anything else).
    pub kind: String,
    /// The exchange's retCode, when it answered with one.
    pub ret_code: Option<i64>,
    /// Why, in words.
    pub reason: String,
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
            problems: Vec::new(),
            unprotected: false,
        }
    }
}
