//! Positions: the record shared by `GET /v5/position/list` and the private `position` topic,
//! and the request bodies of the position endpoints.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::enums::{Category, OrderType, PositionStatus, TpslMode, TriggerBy};
use crate::rest::Page;
use crate::serde_helpers;
use crate::WireSide;

/// `GET /v5/position/list` result.
pub type PositionList = Page<Position>;

/// A position, as REST and the private `position` topic report it (REFERENCE.md §7.3, §10).
///
/// One struct serves both. The entry price is the one field the two name differently: REST
/// says `avgPrice`, the stream says `entryPrice`. Both are kept, each written back only when
/// present so that each shape round-trips; [`Position::entry_price`] reads whichever is there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    /// Category (WebSocket only; REST has it once per page).
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub category: Option<Category>,
    /// Symbol name.
    pub symbol: String,
    /// `Buy` long, `Sell` short, `None` flat (`""` on the wire).
    #[serde(default, with = "serde_helpers::opt_side")]
    pub side: Option<WireSide>,
    /// Position size; `"0"` when flat.
    #[serde(with = "serde_helpers::decimal")]
    pub size: Decimal,
    /// 0 one-way, 1 hedge buy side, 2 hedge sell side.
    #[serde(default)]
    pub position_idx: i64,
    /// Deprecated margin mode flag, always 0; read the margin mode from account info.
    #[serde(default)]
    pub trade_mode: i64,
    /// Risk limit id.
    #[serde(default)]
    pub risk_id: i64,
    /// Risk limit value.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub risk_limit_value: Option<Decimal>,
    /// Average entry price (REST spelling).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub avg_price: Option<Decimal>,
    /// Average entry price (WebSocket spelling).
    #[serde(
        rename = "entryPrice",
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub ws_entry_price: Option<Decimal>,
    /// Mark price.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub mark_price: Option<Decimal>,
    /// Leverage; `""` under portfolio margin.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub leverage: Option<Decimal>,
    /// Break-even price (newer payloads).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub break_even_price: Option<Decimal>,
    /// Position value.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub position_value: Option<Decimal>,
    /// Deprecated position margin.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub position_balance: Option<Decimal>,
    /// 1 when auto-add-margin is on.
    #[serde(default)]
    pub auto_add_margin: i64,
    /// Position status.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub position_status: Option<PositionStatus>,
    /// Initial margin.
    #[serde(rename = "positionIM", default, with = "serde_helpers::opt_decimal")]
    pub position_im: Option<Decimal>,
    /// Initial margin at mark price (newer payloads).
    #[serde(
        rename = "positionIMByMp",
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub position_im_by_mp: Option<Decimal>,
    /// Maintenance margin.
    #[serde(rename = "positionMM", default, with = "serde_helpers::opt_decimal")]
    pub position_mm: Option<Decimal>,
    /// Maintenance margin at mark price (newer payloads).
    #[serde(
        rename = "positionMMByMp",
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub position_mm_by_mp: Option<Decimal>,
    /// Liquidation price; `""` when out of range or under portfolio margin.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub liq_price: Option<Decimal>,
    /// Deprecated bankruptcy price, usually `""`.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub bust_price: Option<Decimal>,
    /// Take-profit price; `"0"` or `""` when none.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub take_profit: Option<Decimal>,
    /// Stop-loss price; `"0"` or `""` when none.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub stop_loss: Option<Decimal>,
    /// Trailing-stop distance; `"0"` when none.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub trailing_stop: Option<Decimal>,
    /// Deprecated TP/SL mode, always `Full`.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub tpsl_mode: Option<TpslMode>,
    /// Unrealised profit and loss.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub unrealised_pnl: Option<Decimal>,
    /// Realised profit and loss of the current holding.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub cur_realised_pnl: Option<Decimal>,
    /// Cumulative realised profit and loss.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub cum_realised_pnl: Option<Decimal>,
    /// Settlement price of the session (USDC contracts).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub session_avg_price: Option<Decimal>,
    /// Delta (options only).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub delta: Option<Decimal>,
    /// Gamma (options only).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub gamma: Option<Decimal>,
    /// Vega (options only).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub vega: Option<Decimal>,
    /// Theta (options only).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub theta: Option<Decimal>,
    /// Auto-deleveraging rank, 0 to 5.
    #[serde(default)]
    pub adl_rank_indicator: i64,
    /// Whether the position can only be reduced (newer payloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_reduce_only: Option<bool>,
    /// Creation time, ms.
    #[serde(default, with = "serde_helpers::opt_int_str")]
    pub created_time: Option<i64>,
    /// Last update time, ms.
    #[serde(default, with = "serde_helpers::opt_int_str")]
    pub updated_time: Option<i64>,
    /// When the position was opened, ms; 0 when flat (newer payloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_time: Option<i64>,
    /// Cross sequence, shared with the fills that caused this update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// When the system last changed the maintenance margin rate, ms. REST has been seen
    /// spelling it `mmrSysUpdateTime`.
    #[serde(
        default,
        alias = "mmrSysUpdateTime",
        with = "serde_helpers::opt_int_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub mmr_sys_updated_time: Option<i64>,
    /// When the system last lowered the leverage, ms.
    #[serde(
        default,
        with = "serde_helpers::opt_int_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub leverage_sys_updated_time: Option<i64>,
}

impl Position {
    /// A position record for `symbol` with the given side and size and everything else empty.
    pub fn new(symbol: impl Into<String>, side: Option<WireSide>, size: Decimal) -> Self {
        Position {
            category: None,
            symbol: symbol.into(),
            side,
            size,
            position_idx: 0,
            trade_mode: 0,
            risk_id: 0,
            risk_limit_value: None,
            avg_price: None,
            ws_entry_price: None,
            mark_price: None,
            leverage: None,
            break_even_price: None,
            position_value: None,
            position_balance: None,
            auto_add_margin: 0,
            position_status: None,
            position_im: None,
            position_im_by_mp: None,
            position_mm: None,
            position_mm_by_mp: None,
            liq_price: None,
            bust_price: None,
            take_profit: None,
            stop_loss: None,
            trailing_stop: None,
            tpsl_mode: None,
            unrealised_pnl: None,
            cur_realised_pnl: None,
            cum_realised_pnl: None,
            session_avg_price: None,
            delta: None,
            gamma: None,
            vega: None,
            theta: None,
            adl_rank_indicator: 0,
            is_reduce_only: None,
            created_time: None,
            updated_time: None,
            open_time: None,
            seq: None,
            mmr_sys_updated_time: None,
            leverage_sys_updated_time: None,
        }
    }

    /// The average entry price, from `avgPrice` (REST) or `entryPrice` (stream).
    pub fn entry_price(&self) -> Option<Decimal> {
        self.avg_price.or(self.ws_entry_price)
    }

    /// Whether the position is flat: no side, or zero size.
    pub fn is_flat(&self) -> bool {
        self.side.is_none() || self.size.is_zero()
    }

    /// Size with a sign: positive long, negative short, zero flat.
    pub fn signed_size(&self) -> Decimal {
        match self.side {
            Some(WireSide::Buy) => self.size,
            Some(WireSide::Sell) => -self.size,
            None => Decimal::ZERO,
        }
    }
}

/// `POST /v5/position/set-leverage` body. Leverage values go out as strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetLeverageRequest {
    /// Category (`linear` or `inverse`).
    pub category: Category,
    /// Symbol.
    pub symbol: String,
    /// Leverage of the buy side.
    #[serde(with = "serde_helpers::caller_decimal")]
    pub buy_leverage: Decimal,
    /// Leverage of the sell side; must equal `buy_leverage` in one-way or cross mode.
    #[serde(with = "serde_helpers::caller_decimal")]
    pub sell_leverage: Decimal,
}

/// `POST /v5/position/switch-mode` body: 0 one-way, 3 hedge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchModeRequest {
    /// Category (`linear`).
    pub category: Category,
    /// Symbol; wins over `coin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Settle coin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coin: Option<String>,
    /// 0 one-way, 3 hedge.
    pub mode: i64,
}

/// `POST /v5/position/trading-stop` body. A price of `0` cancels that stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TradingStopRequest {
    /// Category.
    pub category: Category,
    /// Symbol.
    pub symbol: String,
    /// `Full` for the whole position, `Partial` for part of it.
    pub tpsl_mode: TpslMode,
    /// Which position: 0 one-way, 1 hedge buy, 2 hedge sell.
    pub position_idx: i64,
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
    /// Trailing-stop distance.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub trailing_stop: Option<Decimal>,
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
    /// Price at which the trailing stop activates.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub active_price: Option<Decimal>,
    /// Take-profit size (`Partial` mode).
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub tp_size: Option<Decimal>,
    /// Stop-loss size (`Partial` mode).
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub sl_size: Option<Decimal>,
    /// Limit price of the take-profit.
    #[serde(
        default,
        with = "serde_helpers::opt_caller_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub tp_limit_price: Option<Decimal>,
    /// Limit price of the stop-loss.
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
}

impl TradingStopRequest {
    /// A request that changes nothing yet.
    pub fn new(
        category: Category,
        symbol: impl Into<String>,
        tpsl_mode: TpslMode,
        position_idx: i64,
    ) -> Self {
        TradingStopRequest {
            category,
            symbol: symbol.into(),
            tpsl_mode,
            position_idx,
            take_profit: None,
            stop_loss: None,
            trailing_stop: None,
            tp_trigger_by: None,
            sl_trigger_by: None,
            active_price: None,
            tp_size: None,
            sl_size: None,
            tp_limit_price: None,
            sl_limit_price: None,
            tp_order_type: None,
            sl_order_type: None,
        }
    }
}
