//! Matching: orders meet the book, triggers fire, resting orders fill, orders close.

use bybit_meta::RoundingMode;
use bybit_types::{
    CancelType, CreateType, ExecType, OrderStatus, OrderType, StopOrderType, TimeInForce, WireSide,
};
use rust_decimal::{Decimal, RoundingStrategy};
use std::borrow::Cow;

use super::{round_price, Engine, MAX_CASCADE};
use crate::command::TriggerDirection;
use crate::state::{ExecRecord, OrderState};

impl Engine {
    /// Reacts to the current last price until nothing more happens: conditional orders
    /// (position TP/SL among them), resting limit orders.
    pub(super) fn settle_market(&mut self, symbol: &str) {
        for _ in 0..MAX_CASCADE {
            let Some(m) = self.markets.get_mut(symbol) else {
                return;
            };
            if m.cross_seq == m.settled_seq {
                return;
            }
            m.settled_seq = m.cross_seq;
            self.fire_conditionals(symbol);
            self.fill_resting(symbol);
        }
    }

    pub(super) fn fire_conditionals(&mut self, symbol: &str) {
        let last = self.last_price(symbol);
        let due: Vec<u64> = self
            .open_iter()
            .filter(|o| o.symbol == symbol && o.is_conditional_waiting())
            .filter(|o| match (o.trigger_price, o.trigger_direction) {
                (Some(tp), Some(TriggerDirection::Rise)) => last >= tp,
                (Some(tp), Some(TriggerDirection::Fall)) => last <= tp,
                _ => false,
            })
            .map(|o| o.seq)
            .collect();
        for seq in due {
            self.trigger(seq);
        }
    }

    /// A conditional order's trigger was reached: it becomes a live order, or is deactivated
    /// when it can no longer be placed (no margin, nothing left to reduce).
    ///
    /// On the way it passes through `Triggered`, "the instantaneous state for conditional
    /// orders from Untriggered to New" (v5/enum), which the `order` stream sees before `New`
    /// or `Filled`.
    pub(super) fn trigger(&mut self, seq: u64) {
        let Some(o) = self.orders.get(&seq) else {
            return;
        };
        // An earlier trigger in the same print may have closed it (a TP that cleared the SL).
        if !o.is_conditional_waiting() {
            return;
        }
        let symbol = o.symbol.clone();
        let stop_kind = o.stop_order_type.clone();
        let (side, is_reduce) = (o.side, o.closes_only());
        let price = if o.order_type == OrderType::Limit {
            o.price
        } else {
            self.last_price(&symbol)
        };
        let qty = o.qty;
        let pos = self.position_view(&symbol);
        let now = self.now;
        if is_reduce {
            let reduces = pos.side.is_some_and(|held| held != side);
            if !reduces {
                self.close_order(
                    seq,
                    OrderStatus::Deactivated,
                    Some(CancelType::CancelByReduceOnly),
                    "EC_NoError",
                );
                return;
            }
            if let Some(o) = self.orders.get_mut(&seq) {
                if o.close_all || o.qty > pos.size {
                    o.qty = pos.size;
                    o.leaves = pos.size;
                }
            }
        } else if self.order_cost(&symbol, side, qty, price) > self.available() {
            self.close_order(seq, OrderStatus::Deactivated, None, "EC_Others");
            return;
        }
        // A position TP/SL that fires is no longer the position's: it now is a closing order.
        match stop_kind {
            Some(StopOrderType::TakeProfit) => self.position(&symbol).take_profit = None,
            Some(StopOrderType::StopLoss) => self.position(&symbol).stop_loss = None,
            _ => {}
        }
        if let Some(o) = self.orders.get_mut(&seq) {
            o.status = OrderStatus::Triggered;
            o.updated = now;
        }
        self.mark_order_passing(seq);
        if let Some(o) = self.orders.get_mut(&seq) {
            o.status = OrderStatus::New;
        }
        self.mark_order(seq);
        self.mark_position(&symbol);
        self.activate(seq);
    }

    /// Keeps a position's take-profit and stop-loss as Bybit keeps them: as Untriggered
    /// conditional orders (`stopOrderType` `TakeProfit` / `StopLoss`, `createType`
    /// `CreateByTakeProfit` / `CreateByStopLoss`, qty 0 = the whole position, reduce-only,
    /// close-on-trigger) that `/v5/order/realtime` lists and the `order` stream pushes
    /// (v5/position/trading-stop). A level set, moved or removed creates, moves or deactivates
    /// its order; when the position is cleared they end `Deactivated` with `cancelType`
    /// `CancelByTpSlTsClear` (v5/enum).
    pub(super) fn sync_position_stops(&mut self, symbol: &str) {
        let pos = self.position_view(symbol);
        for kind in [StopOrderType::TakeProfit, StopOrderType::StopLoss] {
            let is_tp = kind == StopOrderType::TakeProfit;
            let wanted = match pos.side {
                Some(held) => {
                    let level = if is_tp {
                        pos.take_profit
                    } else {
                        pos.stop_loss
                    };
                    level.map(|price| (held.opposite(), price))
                }
                None => None,
            };
            let existing = self
                .open_iter()
                .find(|o| {
                    o.symbol == symbol
                        && o.is_conditional_waiting()
                        && o.stop_order_type.as_ref() == Some(&kind)
                })
                .map(|o| (o.seq, o.side, o.trigger_price));
            match (existing, wanted) {
                (None, None) => {}
                (Some((seq, _, _)), None) => {
                    let cancel = if pos.side.is_none() {
                        CancelType::CancelByTpSlTsClear
                    } else {
                        CancelType::CancelByUser
                    };
                    self.close_order(seq, OrderStatus::Deactivated, Some(cancel), "EC_NoError");
                }
                // Already as wanted.
                (Some((_, side, trigger)), Some((want_side, price)))
                    if side == want_side && trigger == Some(price) => {}
                (Some((seq, side, _)), Some((want_side, price))) if side == want_side => {
                    let now = self.now;
                    if let Some(o) = self.orders.get_mut(&seq) {
                        o.trigger_price = Some(price);
                        o.updated = now;
                    }
                    self.mark_order(seq);
                }
                (existing, Some((side, price))) => {
                    if let Some((seq, _, _)) = existing {
                        self.close_order(
                            seq,
                            OrderStatus::Deactivated,
                            Some(CancelType::CancelByTpSlTsClear),
                            "EC_NoError",
                        );
                    }
                    self.place_position_stop(symbol, kind.clone(), side, price);
                }
            }
        }
    }

    /// A new Untriggered TP or SL order closing the whole position of `symbol`.
    fn place_position_stop(
        &mut self,
        symbol: &str,
        kind: StopOrderType,
        side: WireSide,
        price: Decimal,
    ) {
        let is_tp = kind == StopOrderType::TakeProfit;
        // A long's take-profit waits for a rise, its stop-loss for a fall; a short's the reverse.
        let direction = if (side == WireSide::Sell) == is_tp {
            TriggerDirection::Rise
        } else {
            TriggerDirection::Fall
        };
        let parent_link = {
            let pos = self.position(symbol);
            if is_tp {
                pos.tp_parent.clone()
            } else {
                pos.sl_parent.clone()
            }
        };
        let seq = self.next_order_seq();
        let order_id = self.uuid();
        let now = self.now;
        let last = self.last_price(symbol);
        self.orders.insert(
            seq,
            OrderState {
                seq,
                order_id: order_id.clone(),
                link_id: String::new(),
                symbol: symbol.to_owned(),
                side,
                order_type: OrderType::Market,
                price: Decimal::ZERO,
                qty: Decimal::ZERO,
                leaves: Decimal::ZERO,
                cum_qty: Decimal::ZERO,
                cum_value: Decimal::ZERO,
                cum_fee: Decimal::ZERO,
                closed_pnl: Decimal::ZERO,
                status: OrderStatus::Untriggered,
                tif: TimeInForce::Ioc,
                reduce_only: true,
                close_on_trigger: true,
                close_all: true,
                trigger_price: Some(price),
                trigger_direction: Some(direction),
                stop_order_type: Some(kind),
                create_type: if is_tp {
                    CreateType::CreateByTakeProfit
                } else {
                    CreateType::CreateByStopLoss
                },
                cancel_type: None,
                reject_reason: Cow::Borrowed("EC_NoError"),
                take_profit: None,
                stop_loss: None,
                parent_link,
                last_price_on_created: last,
                created: now,
                updated: now,
            },
        );
        self.by_id.insert(order_id, seq);
        self.open.insert(seq);
        self.mark_order(seq);
    }

    /// Resting limit orders against the last print by a taker on their other side: a print
    /// through the price fills the whole order; a print exactly at it fills at most one book
    /// level (partial fills).
    pub(super) fn fill_resting(&mut self, symbol: &str) {
        let last = self.last_price(symbol);
        let taker = self
            .markets
            .get(symbol)
            .map_or(WireSide::Buy, |m| m.last_taker);
        let resting: Vec<(u64, WireSide, Decimal)> = self
            .open_iter()
            .filter(|o| {
                o.symbol == symbol
                    && o.order_type == OrderType::Limit
                    && matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled)
            })
            .map(|o| (o.seq, o.side, o.price))
            .collect();
        let mut event = None;
        for (seq, side, price) in resting {
            // Only a taker on the other side trades with a resting order: a buyer's print never
            // fills a bid, including the remainder of the order that printed it.
            if taker != side.opposite() {
                continue;
            }
            let through = match side {
                WireSide::Buy => last < price,
                WireSide::Sell => last > price,
            };
            let touch = last == price;
            if !through && !touch {
                continue;
            }
            let leaves = self.orders.get(&seq).map_or(Decimal::ZERO, |o| o.leaves);
            let qty = if through {
                leaves
            } else {
                leaves.min(self.level_qty(symbol, price))
            };
            if qty > Decimal::ZERO {
                let event = match event {
                    Some(event) => event,
                    None => *event.insert(self.next_match_event()),
                };
                self.fill(seq, price, qty, true, event);
            }
        }
    }

    /// A live order meets the book: it takes what it can, then rests, or is cancelled as its
    /// time in force says.
    pub(super) fn activate(&mut self, seq: u64) {
        let Some(o) = self.orders.get(&seq) else {
            return;
        };
        let symbol = o.symbol.clone();
        let side = o.side;
        let tif = o.tif.clone();
        let is_market = o.order_type == OrderType::Market;
        let Ok(inst) = self.instrument(&symbol) else {
            return;
        };
        let protection = inst.protection;
        let rules = inst.rules.clone();
        let last = self.last_price(&symbol);
        let limit = if is_market {
            let cap = match side {
                WireSide::Buy => round_price(
                    &rules,
                    last * (Decimal::ONE + protection),
                    RoundingMode::Down,
                ),
                WireSide::Sell => {
                    round_price(&rules, last * (Decimal::ONE - protection), RoundingMode::Up)
                }
            };
            if let Some(o) = self.orders.get_mut(&seq) {
                o.price = cap;
            }
            cap
        } else {
            o.price
        };
        let marketable = self.is_marketable(&symbol, side, limit);
        if !is_market && tif == TimeInForce::PostOnly && marketable {
            // A system cancel: Bybit says why in rejectReason and leaves cancelType UNKNOWN.
            self.close_order(
                seq,
                OrderStatus::Cancelled,
                None,
                "EC_PostOnlyWillTakeLiquidity",
            );
            return;
        }
        let levels = if marketable {
            let leaves = self.orders.get(&seq).map_or(Decimal::ZERO, |o| o.leaves);
            self.reachable(&symbol, side, limit, leaves)
        } else {
            Vec::new()
        };
        if tif == TimeInForce::Fok {
            let available: Decimal = levels.iter().map(|l| l.qty).sum();
            let leaves = self.orders.get(&seq).map_or(Decimal::ZERO, |o| o.leaves);
            if available < leaves {
                self.close_order(seq, OrderStatus::Cancelled, None, "EC_CancelForNoFullFill");
                return;
            }
        }
        let mut last_fill = None;
        let mut traded = Decimal::ZERO;
        let event = self.next_match_event();
        for level in levels {
            let leaves = self.orders.get(&seq).map_or(Decimal::ZERO, |o| o.leaves);
            if leaves.is_zero() {
                break;
            }
            let take = leaves.min(level.qty);
            let filled = self.fill(seq, level.price, take, false, event);
            if filled.is_zero() {
                break;
            }
            traded += filled;
            last_fill = Some(level.price);
        }
        if let Some(price) = last_fill {
            self.print(&symbol, price, traded, Some(side));
        }
        let (leaves, status) = self
            .orders
            .get(&seq)
            .map_or((Decimal::ZERO, OrderStatus::Filled), |o| {
                (o.leaves, o.status.clone())
            });
        if !leaves.is_zero()
            && status.is_open()
            && (is_market || tif == TimeInForce::Ioc || tif == TimeInForce::Fok)
        {
            let reason = if traded.is_zero() {
                "EC_NoImmediateQtyToFill"
            } else {
                "EC_CancelForNoFullFill"
            };
            self.close_order(seq, OrderStatus::Cancelled, None, reason);
        }
    }

    /// Fills `qty` of order `seq` at `price`. Returns what was filled: a reduce-only order
    /// never fills beyond the position it reduces.
    pub(super) fn fill(
        &mut self,
        seq: u64,
        price: Decimal,
        qty: Decimal,
        is_maker: bool,
        event: i64,
    ) -> Decimal {
        let Some(o) = self.orders.get(&seq) else {
            return Decimal::ZERO;
        };
        let symbol = o.symbol.clone();
        let side = o.side;
        let reduce = o.closes_only();
        let pos = self.position_view(&symbol);
        let qty = if reduce {
            match pos.side {
                Some(held) if held != side => qty.min(pos.size),
                _ => Decimal::ZERO,
            }
        } else {
            qty
        };
        if qty <= Decimal::ZERO {
            if reduce {
                self.close_order(
                    seq,
                    OrderStatus::Cancelled,
                    Some(CancelType::CancelByReduceOnly),
                    "EC_NoError",
                );
            }
            return Decimal::ZERO;
        }
        let now = self.now;
        let rate = if is_maker {
            self.fees.maker
        } else {
            self.fees.taker
        };
        let value = price * qty;
        let fee = (value * rate).round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero);
        let held_before = self.position_view(&symbol).side;
        let (closed, pnl) = self.position(&symbol).apply_fill(side, qty, price, now);
        // The wallet moves by exactly what the execution reports (execPnl and execFee carry 8
        // decimals), so start + Σ execPnl − Σ execFee is the wallet to the last digit.
        let pnl = pnl.round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero);
        self.wallet += pnl - fee;
        self.cum_realised += pnl - fee;
        {
            let p = self.position(&symbol);
            p.cum_realised += pnl - fee;
            if held_before.is_some() && p.side == Some(side) && held_before != p.side {
                // Flipped: the new position's own realised PnL is only its opening fee share.
                p.cur_realised = -(fee * (qty - closed) / qty);
            } else {
                p.cur_realised += pnl - fee;
            }
            p.seq = event;
        }
        let (
            order_id,
            link_id,
            order_type,
            stop_type,
            create_type,
            order_price,
            order_qty,
            leaves_after,
            tp,
            sl,
        );
        {
            let Some(o) = self.orders.get_mut(&seq) else {
                return Decimal::ZERO;
            };
            o.cum_qty += qty;
            o.cum_value += value;
            o.cum_fee += fee;
            // Closed PnL belongs to the part that closed a position; an opening fill has none.
            if closed > Decimal::ZERO {
                o.closed_pnl += pnl - fee * closed / qty;
            }
            o.leaves -= qty;
            o.updated = now;
            o.status = if o.leaves.is_zero() {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            };
            order_id = o.order_id.clone();
            link_id = o.link_id.clone();
            order_type = o.order_type.clone();
            stop_type = o.stop_order_type.clone();
            create_type = o.create_type.clone();
            order_price = o.price;
            order_qty = o.qty;
            leaves_after = o.leaves;
            tp = o.take_profit;
            sl = o.stop_loss;
        }
        if self.orders.get(&seq).is_some_and(|o| !o.is_open()) {
            self.retire(seq);
        }
        let exec_id = self.uuid();
        let parent = link_id.clone();
        self.push_execution(ExecRecord {
            exec_type: ExecType::Trade,
            exec_id,
            order_id,
            link_id,
            symbol: symbol.clone(),
            side,
            order_type,
            stop_order_type: stop_type,
            create_type,
            order_price,
            order_qty,
            leaves_after,
            price,
            qty,
            fee,
            fee_rate: rate,
            is_maker,
            closed_size: closed,
            pnl,
            mark_price: self.last_price(&symbol),
            time: now,
            seq: event,
        });
        // TP/SL given with the order attach to the position it opened.
        if tp.is_some() || sl.is_some() {
            let p = self.position(&symbol);
            if p.side == Some(side) {
                if tp.is_some() {
                    p.take_profit = tp;
                    p.tp_parent.clone_from(&parent);
                }
                if sl.is_some() {
                    p.stop_loss = sl;
                    p.sl_parent.clone_from(&parent);
                }
            }
        }
        self.mark_order(seq);
        self.mark_position(&symbol);
        self.outbox.wallet = true;
        self.cancel_stale_reduce_only(&symbol);
        self.sync_position_stops(&symbol);
        qty
    }

    /// Keeps an execution (the oldest go beyond [`crate::Limits::executions_kept`]) and queues
    /// its push.
    pub(super) fn push_execution(&mut self, record: ExecRecord) {
        self.executions.push_back(record);
        self.outbox.executions.push(self.executions.len() - 1);
        while self.executions.len() > self.limits.executions_kept {
            self.executions.pop_front();
            self.outbox.executions.retain(|i| *i > 0);
            for i in &mut self.outbox.executions {
                *i -= 1;
            }
        }
    }

    /// Reduce-only orders that can no longer reduce (the position closed or flipped) are
    /// cancelled, as Bybit does.
    pub(super) fn cancel_stale_reduce_only(&mut self, symbol: &str) {
        let pos = self.position_view(symbol);
        let stale: Vec<u64> = self
            .open_iter()
            .filter(|o| {
                o.symbol == symbol
                    && o.closes_only()
                    && matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled)
            })
            .filter(|o| pos.side.is_none_or(|held| held == o.side))
            .map(|o| o.seq)
            .collect();
        for seq in stale {
            self.close_order(
                seq,
                OrderStatus::Cancelled,
                Some(CancelType::CancelByReduceOnly),
                "EC_NoError",
            );
        }
    }

    pub(super) fn close_order(
        &mut self,
        seq: u64,
        status: OrderStatus,
        cancel: Option<CancelType>,
        reason: &'static str,
    ) {
        let now = self.now;
        if let Some(o) = self.orders.get_mut(&seq) {
            o.status = status;
            o.cancel_type = cancel;
            o.reject_reason = Cow::Borrowed(reason);
            o.updated = now;
        }
        self.retire(seq);
        self.mark_order(seq);
        self.outbox.wallet = true;
    }

    /// Keeps a closed order for lookups (and duplicate-orderLinkId checks) until the window of
    /// recent closed orders moves past it.
    pub(super) fn retire(&mut self, seq: u64) {
        if !self.open.remove(&seq) {
            return;
        }
        self.closed.push_back(seq);
        while self.closed.len() > self.limits.recent_closed_orders {
            let Some(old) = self.closed.pop_front() else {
                break;
            };
            if let Some(o) = self.orders.remove(&old) {
                self.by_id.remove(&o.order_id);
                if !o.link_id.is_empty() {
                    self.by_link.remove(&o.link_id);
                }
            }
        }
    }
}
