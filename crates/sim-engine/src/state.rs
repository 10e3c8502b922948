//! The engine's own records of orders, positions and fills. Converted to Bybit's wire shapes
//! only at the edge (`wire_out`), so the matching code works with plain decimals.

use bybit_types::{
    CancelType, CreateType, ExecType, OrderStatus, OrderType, StopOrderType, TimeInForce, WireSide,
};
use std::borrow::Cow;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::command::TriggerDirection;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OrderState {
    /// Creation sequence: time priority and a stable iteration order.
    pub(crate) seq: u64,
    pub(crate) order_id: String,
    pub(crate) link_id: String,
    pub(crate) symbol: String,
    pub(crate) side: WireSide,
    pub(crate) order_type: OrderType,
    /// Limit price, or the protection price of a market order once it is live.
    pub(crate) price: Decimal,
    pub(crate) qty: Decimal,
    pub(crate) leaves: Decimal,
    pub(crate) cum_qty: Decimal,
    pub(crate) cum_value: Decimal,
    pub(crate) cum_fee: Decimal,
    pub(crate) closed_pnl: Decimal,
    pub(crate) status: OrderStatus,
    pub(crate) tif: TimeInForce,
    pub(crate) reduce_only: bool,
    pub(crate) close_on_trigger: bool,
    /// Close whatever the position is when it triggers (qty 0 + reduceOnly + closeOnTrigger,
    /// and position TP/SL).
    pub(crate) close_all: bool,
    pub(crate) trigger_price: Option<Decimal>,
    pub(crate) trigger_direction: Option<TriggerDirection>,
    pub(crate) stop_order_type: Option<StopOrderType>,
    pub(crate) create_type: CreateType,
    pub(crate) cancel_type: Option<CancelType>,
    pub(crate) reject_reason: Cow<'static, str>,
    pub(crate) take_profit: Option<Decimal>,
    pub(crate) stop_loss: Option<Decimal>,
    /// A TP/SL child's `parentOrderLinkId`: the orderLinkId of the order whose attached
    /// TP/SL it came from; empty for every other order (v5/order/open-order).
    pub(crate) parent_link: String,
    pub(crate) last_price_on_created: Decimal,
    pub(crate) created: i64,
    pub(crate) updated: i64,
}

impl OrderState {
    /// A closing order: `reduceOnly`, or `closeOnTrigger`, which "can only reduce your
    /// position, not increase it" (v5/order/create-order). Both are held to the reduce-only
    /// rules: never margin, cut to the position, cancelled when there is nothing to reduce.
    pub(crate) fn closes_only(&self) -> bool {
        self.reduce_only || self.close_on_trigger
    }

    pub(crate) fn is_open(&self) -> bool {
        self.status.is_open()
    }

    pub(crate) fn is_conditional_waiting(&self) -> bool {
        self.status == OrderStatus::Untriggered
    }

    pub(crate) fn avg_price(&self) -> Option<Decimal> {
        if self.cum_qty.is_zero() {
            None
        } else {
            Some((self.cum_value / self.cum_qty).round_dp(8).normalize())
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PositionState {
    pub(crate) side: Option<WireSide>,
    pub(crate) size: Decimal,
    pub(crate) avg: Decimal,
    pub(crate) leverage: Decimal,
    pub(crate) cum_realised: Decimal,
    pub(crate) cur_realised: Decimal,
    pub(crate) take_profit: Option<Decimal>,
    pub(crate) stop_loss: Option<Decimal>,
    /// The orderLinkIds of the orders whose attached TP / SL the position's TP / SL are:
    /// their children's `parentOrderLinkId`. Set-trading-stop keeps them (futures); a TP/SL
    /// first set by set-trading-stop has none (v5/order/open-order, parentOrderLinkId).
    pub(crate) tp_parent: String,
    pub(crate) sl_parent: String,
    pub(crate) created: i64,
    pub(crate) updated: i64,
    /// The match event that last changed the position; -1 for a symbol never traded
    /// (v5/websocket/private/position).
    pub(crate) seq: i64,
}

impl PositionState {
    pub(crate) fn flat(leverage: Decimal, now: i64) -> Self {
        PositionState {
            side: None,
            size: Decimal::ZERO,
            avg: Decimal::ZERO,
            leverage,
            cum_realised: Decimal::ZERO,
            cur_realised: Decimal::ZERO,
            take_profit: None,
            stop_loss: None,
            tp_parent: String::new(),
            sl_parent: String::new(),
            created: now,
            updated: now,
            seq: -1,
        }
    }

    /// +size for a long, -size for a short.
    pub(crate) fn signed_size(&self) -> Decimal {
        match self.side {
            Some(WireSide::Buy) => self.size,
            Some(WireSide::Sell) => -self.size,
            None => Decimal::ZERO,
        }
    }

    pub(crate) fn unrealised(&self, mark: Decimal) -> Decimal {
        (mark - self.avg) * self.signed_size()
    }

    /// Applies a fill of `qty` at `price` on `side`; returns the closed size and the
    /// realised PnL (before fees).
    pub(crate) fn apply_fill(
        &mut self,
        side: WireSide,
        qty: Decimal,
        price: Decimal,
        now: i64,
    ) -> (Decimal, Decimal) {
        self.updated = now;
        match self.side {
            None => {
                self.side = Some(side);
                self.size = qty;
                self.avg = price;
                self.created = now;
                self.cur_realised = Decimal::ZERO;
                (Decimal::ZERO, Decimal::ZERO)
            }
            Some(held) if held == side => {
                let total = self.size + qty;
                self.avg = ((self.avg * self.size + price * qty) / total).round_dp(10);
                self.size = total;
                (Decimal::ZERO, Decimal::ZERO)
            }
            Some(held) => {
                let closed = qty.min(self.size);
                let direction = if held == WireSide::Buy {
                    Decimal::ONE
                } else {
                    Decimal::NEGATIVE_ONE
                };
                let pnl = (price - self.avg) * closed * direction;
                self.size -= closed;
                let rest = qty - closed;
                if self.size.is_zero() {
                    self.side = None;
                    self.avg = Decimal::ZERO;
                    self.take_profit = None;
                    self.stop_loss = None;
                    self.tp_parent.clear();
                    self.sl_parent.clear();
                    if rest > Decimal::ZERO {
                        self.side = Some(side);
                        self.size = rest;
                        self.avg = price;
                        self.created = now;
                        self.cur_realised = Decimal::ZERO;
                    }
                }
                (closed, pnl)
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ExecRecord {
    /// `Trade` for fills, `Funding` for funding settlements.
    pub(crate) exec_type: ExecType,
    pub(crate) exec_id: String,
    pub(crate) order_id: String,
    pub(crate) link_id: String,
    pub(crate) symbol: String,
    pub(crate) side: WireSide,
    pub(crate) order_type: OrderType,
    pub(crate) stop_order_type: Option<StopOrderType>,
    pub(crate) create_type: CreateType,
    pub(crate) order_price: Decimal,
    pub(crate) order_qty: Decimal,
    pub(crate) leaves_after: Decimal,
    pub(crate) price: Decimal,
    pub(crate) qty: Decimal,
    pub(crate) fee: Decimal,
    pub(crate) fee_rate: Decimal,
    pub(crate) is_maker: bool,
    pub(crate) closed_size: Decimal,
    pub(crate) pnl: Decimal,
    pub(crate) mark_price: Decimal,
    pub(crate) time: i64,
    pub(crate) seq: i64,
}
