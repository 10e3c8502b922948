//! Order and position commands: create, amend, cancel, leverage, trading-stop.

use bybit_meta::InstrumentRules;
use bybit_types::{
    CancelType, CreateType, InstrumentStatus, OrderStatus, OrderType, StopOrderType, TimeInForce,
    WireSide,
};
use rust_decimal::Decimal;
use std::borrow::Cow;

use super::{Engine, Scope};
use crate::command::{
    Amend, CancelAll, NewOrder, OrderFilter, OrderKey, TradingStop, TriggerDirection,
};
use crate::reject::Reject;
use crate::state::OrderState;
use crate::OrderAck;

impl Engine {
    /// `POST /v5/order/create`.
    pub fn create_order(&mut self, now: i64, req: &NewOrder) -> Result<OrderAck, Reject> {
        self.touch(now);
        let result = self.create_inner(req);
        self.flush();
        result
    }

    /// `POST /v5/order/create-batch`: each item is placed (or refused) on its own, in order.
    pub fn create_batch(&mut self, now: i64, reqs: &[NewOrder]) -> Vec<Result<OrderAck, Reject>> {
        self.touch(now);
        let results = reqs.iter().map(|req| self.create_inner(req)).collect();
        self.flush();
        results
    }

    pub(super) fn create_inner(&mut self, req: &NewOrder) -> Result<OrderAck, Reject> {
        let inst = self.instrument(&req.symbol)?;
        self.check_one_way(&req.symbol)?;
        let rules = inst.rules.clone();
        if inst.info.status != InstrumentStatus::Trading {
            return Err(Reject::not_live());
        }
        let is_market = match &req.order_type {
            OrderType::Market => true,
            OrderType::Limit => false,
            // `Unknown` and any type a later bybit-types adds: the emulator trades only these two.
            other => {
                return Err(Reject::params(format!(
                    "params error: orderType invalid: {}",
                    other.as_str()
                )))
            }
        };
        let tif = if is_market {
            // Market orders are IOC unless the caller asks for all-or-nothing.
            if req.time_in_force == Some(TimeInForce::Fok) {
                TimeInForce::Fok
            } else {
                TimeInForce::Ioc
            }
        } else {
            match req.time_in_force.clone().unwrap_or(TimeInForce::Gtc) {
                tif @ (TimeInForce::Gtc
                | TimeInForce::Ioc
                | TimeInForce::Fok
                | TimeInForce::PostOnly) => tif,
                other => {
                    return Err(Reject::params(format!(
                        "params error: timeInForce invalid: {other}"
                    )))
                }
            }
        };
        if let Some(link) = &req.order_link_id {
            if bybit_types::OrderLinkId::new(link.as_str()).is_err() {
                return Err(Reject::params(format!(
                    "params error: orderLinkId invalid: {link:?}"
                )));
            }
            if self.by_link.contains_key(link) || self.used_links.contains(link) {
                return Err(Reject::duplicate_order_link_id());
            }
        }
        let close_all = req.qty.is_zero() && req.reduce_only && req.close_on_trigger;
        // `closeOnTrigger` "can only reduce your position, not increase it"
        // (v5/order/create-order): such an order is held to the reduce-only rules, so one
        // that would open or add is refused with reduce-only's 110017.
        let closing = req.reduce_only || req.close_on_trigger;
        if !close_all {
            if req.qty <= Decimal::ZERO {
                return Err(Reject::qty_below_min());
            }
            if !rules.is_on_step(req.qty) {
                return Err(Reject::qty_not_on_step(req.qty, rules.qty_step()));
            }
            if req.qty < rules.min_order_qty() {
                return Err(Reject::qty_below_min());
            }
            let max = if is_market {
                rules.max_mkt_order_qty()
            } else {
                rules.max_order_qty()
            };
            // A reduce-only order is cut to the position it closes (Bybit splits a large one);
            // one that waits for a trigger has no position to be cut to yet.
            if req.qty > max && !(closing && req.trigger_price.is_none()) {
                return Err(Reject::qty_above_max());
            }
        }
        let price = if is_market {
            None
        } else {
            let price = req.price.ok_or_else(|| {
                Reject::params("params error: price is required for Limit orders")
            })?;
            Some(Self::check_price(&rules, price)?)
        };
        let last = self.last_price(&req.symbol);
        let trigger = match req.trigger_price {
            None => None,
            Some(tp) => {
                let tp = Self::check_price(&rules, tp)?;
                let direction = req
                    .trigger_direction
                    .ok_or_else(|| Reject::params("params error: triggerDirection is required"))?;
                match direction {
                    TriggerDirection::Rise if tp <= last => {
                        return Err(Reject::trigger_expect_rising(tp, last))
                    }
                    TriggerDirection::Fall if tp >= last => {
                        return Err(Reject::trigger_expect_falling(tp, last))
                    }
                    _ => {}
                }
                Some((tp, direction))
            }
        };
        // A limit price must sit inside the instrument's price-limit band around the price it
        // goes live at (the last price, or the trigger price of a conditional): beyond it, it
        // is moved to the bound or refused, as the account's price-limit action says.
        let price = match price {
            Some(p) => {
                Some(self.apply_band(&req.symbol, req.side, p, trigger.map_or(last, |t| t.0))?)
            }
            None => None,
        };
        // TP/SL given with the order must sit on the profitable / protective side of the price
        // the order opens at, as set_trading_stop requires of a position's.
        let entry = price.or(trigger.map(|t| t.0)).unwrap_or(last);
        for (value, is_tp) in [(req.take_profit, true), (req.stop_loss, false)] {
            if let Some(v) = value {
                let v = Self::check_price(&rules, v)?;
                Self::check_stop_side(req.side, v, entry, is_tp)?;
            }
        }
        let pos = self.position_view(&req.symbol);
        let mut qty = req.qty;
        if closing {
            // A conditional reduce-only order is checked when it triggers: the position it
            // closes may not exist yet.
            if trigger.is_none() {
                match pos.side {
                    None => return Err(Reject::reduce_only_zero_position()),
                    Some(held) if held == req.side => {
                        return Err(Reject::reduce_only_not_satisfied())
                    }
                    Some(_) => {}
                }
                if close_all || qty > pos.size {
                    qty = pos.size;
                }
            }
        } else {
            let reference = price.or(trigger.map(|t| t.0)).unwrap_or(last);
            let min_notional = rules.min_notional();
            if qty * reference < min_notional {
                return Err(Reject::below_min_notional(min_notional));
            }
        }
        let open_here = |o: &&OrderState| o.symbol == req.symbol;
        if trigger.is_some() {
            let waiting = self
                .open_iter()
                .filter(open_here)
                .filter(|o| {
                    o.is_conditional_waiting() && o.stop_order_type == Some(StopOrderType::Stop)
                })
                .count();
            if waiting >= self.limits.max_conditional_orders_per_symbol {
                return Err(Reject::too_many_stop_orders());
            }
        } else {
            let active = self
                .open_iter()
                .filter(open_here)
                .filter(|o| matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled))
                .count();
            if active >= self.limits.max_active_orders_per_symbol {
                return Err(Reject::too_many_active_orders());
            }
            if !closing {
                if self.wallet <= Decimal::ZERO {
                    return Err(Reject::insufficient_wallet());
                }
                let reference = price.unwrap_or(last);
                if self.order_cost(&req.symbol, req.side, qty, reference) > self.available() {
                    return Err(Reject::insufficient_available());
                }
            }
        }

        let seq = self.next_order_seq();
        let order_id = self.uuid();
        let link_id = req.order_link_id.clone().unwrap_or_default();
        let now = self.now;
        let order = OrderState {
            seq,
            order_id: order_id.clone(),
            link_id: link_id.clone(),
            symbol: req.symbol.clone(),
            side: req.side,
            order_type: if is_market {
                OrderType::Market
            } else {
                OrderType::Limit
            },
            price: price.unwrap_or(Decimal::ZERO),
            qty,
            leaves: qty,
            cum_qty: Decimal::ZERO,
            cum_value: Decimal::ZERO,
            cum_fee: Decimal::ZERO,
            closed_pnl: Decimal::ZERO,
            status: if trigger.is_some() {
                OrderStatus::Untriggered
            } else {
                OrderStatus::New
            },
            tif,
            reduce_only: req.reduce_only,
            close_on_trigger: req.close_on_trigger,
            close_all,
            trigger_price: trigger.map(|t| t.0),
            trigger_direction: trigger.map(|t| t.1),
            stop_order_type: trigger.map(|_| StopOrderType::Stop),
            // A conditional is created "by stop order" (v5/enum createType).
            create_type: if trigger.is_some() {
                CreateType::CreateByStopOrder
            } else {
                CreateType::CreateByUser
            },
            cancel_type: None,
            reject_reason: Cow::Borrowed("EC_NoError"),
            take_profit: req.take_profit,
            stop_loss: req.stop_loss,
            parent_link: String::new(),
            last_price_on_created: last,
            created: now,
            updated: now,
        };
        self.by_id.insert(order_id.clone(), seq);
        if !link_id.is_empty() {
            self.by_link.insert(link_id.clone(), seq);
            if self.used_links.insert(link_id.clone()) {
                self.used_links_order.push_back(link_id.clone());
                if self.used_links_order.len() > super::LINK_IDS_KEPT {
                    if let Some(old) = self.used_links_order.pop_front() {
                        self.used_links.remove(&old);
                    }
                }
            }
        }
        self.orders.insert(seq, order);
        self.open.insert(seq);
        self.mark_order(seq);
        // Bybit pushes a position message on every order create, amend and cancel.
        self.mark_position(&req.symbol);
        if trigger.is_none() {
            self.activate(seq);
        }
        self.settle_market(&req.symbol);
        Ok(OrderAck {
            order_id,
            order_link_id: link_id,
        })
    }

    /// A long's take-profit above `base` and stop-loss below it; a short's the other way.
    pub(super) fn check_stop_side(
        side: WireSide,
        value: Decimal,
        base: Decimal,
        is_tp: bool,
    ) -> Result<(), Reject> {
        let above = (side == WireSide::Buy) == is_tp;
        let name = if is_tp { "TakeProfit" } else { "StopLoss" };
        if above && value <= base {
            return Err(Reject::params(format!(
                "{name}:{value} set for {side} position should be higher than base_price:{base}??LastPrice"
            )));
        }
        if !above && value >= base {
            return Err(Reject::params(format!(
                "{name}:{value} set for {side} position should be lower than base_price:{base}??LastPrice"
            )));
        }
        Ok(())
    }

    pub(super) fn check_price(rules: &InstrumentRules, price: Decimal) -> Result<Decimal, Reject> {
        if price <= Decimal::ZERO {
            return Err(Reject::params(format!(
                "params error: price invalid: {price}"
            )));
        }
        if price < rules.min_price() || price > rules.max_price() {
            return Err(Reject::price_out_of_range());
        }
        if !rules.is_on_tick(price) {
            return Err(Reject::price_not_on_tick(price, rules.tick_size()));
        }
        Ok(price)
    }

    /// `POST /v5/order/amend`: quantity, price or trigger price of an open order.
    pub fn amend_order(&mut self, now: i64, req: &Amend) -> Result<OrderAck, Reject> {
        self.touch(now);
        let result = self.amend_inner(req);
        self.flush();
        result
    }

    pub(super) fn amend_inner(&mut self, req: &Amend) -> Result<OrderAck, Reject> {
        let rules = self.instrument(&req.symbol)?.rules.clone();
        let seq = self
            .find(&req.key, &req.symbol)
            .ok_or_else(Reject::order_not_exists)?;
        let order = self.orders.get(&seq).ok_or_else(Reject::order_not_exists)?;
        if !order.is_open() {
            return Err(Reject::order_not_exists());
        }
        let mut changed = false;
        let mut new_qty = order.qty;
        if let Some(qty) = req.qty {
            if qty <= Decimal::ZERO || qty < rules.min_order_qty() {
                return Err(Reject::qty_below_min());
            }
            if !rules.is_on_step(qty) {
                return Err(Reject::qty_not_on_step(qty, rules.qty_step()));
            }
            if qty > rules.max_order_qty() {
                return Err(Reject::qty_above_max());
            }
            if qty <= order.cum_qty {
                return Err(Reject::amend_qty_not_above_filled());
            }
            changed |= qty != order.qty;
            new_qty = qty;
        }
        let mut new_price = order.price;
        if let Some(price) = req.price {
            if order.order_type == OrderType::Market {
                return Err(Reject::params(
                    "params error: cannot amend the price of a market order",
                ));
            }
            let price = Self::check_price(&rules, price)?;
            let reference = match (order.is_conditional_waiting(), order.trigger_price) {
                (true, Some(tp)) => tp,
                _ => self.last_price(&req.symbol),
            };
            let price = self.apply_band(&req.symbol, order.side, price, reference)?;
            changed |= price != order.price;
            new_price = price;
        }
        let mut new_trigger = order.trigger_price;
        if let Some(tp) = req.trigger_price {
            if !order.is_conditional_waiting() {
                return Err(Reject::params(
                    "params error: triggerPrice can only be amended before it triggers",
                ));
            }
            let tp = Self::check_price(&rules, tp)?;
            let last = self.last_price(&req.symbol);
            match order.trigger_direction {
                Some(TriggerDirection::Rise) if tp <= last => {
                    return Err(Reject::trigger_expect_rising(tp, last))
                }
                Some(TriggerDirection::Fall) if tp >= last => {
                    return Err(Reject::trigger_expect_falling(tp, last))
                }
                _ => {}
            }
            changed |= Some(tp) != order.trigger_price;
            new_trigger = Some(tp);
        }
        if !changed {
            return Err(Reject::params("order not modified"));
        }
        // A larger or dearer resting order needs the margin for the difference.
        if !order.closes_only() && !order.is_conditional_waiting() {
            let cost = self.order_cost_replacing(
                &order.symbol,
                order.side,
                new_qty - order.cum_qty,
                new_price,
                Some(seq),
            );
            if cost > Decimal::ZERO && cost > self.available() {
                return Err(Reject::insufficient_available());
            }
        }
        let ack = OrderAck {
            order_id: order.order_id.clone(),
            order_link_id: order.link_id.clone(),
        };
        let symbol = order.symbol.clone();
        // A position's TP or SL order is the position's level: moving its trigger moves the
        // level (as trading-stop would); its size is always the whole position.
        let position_level = match order.stop_order_type {
            Some(StopOrderType::TakeProfit | StopOrderType::StopLoss) => {
                order.stop_order_type.clone()
            }
            _ => None,
        };
        if position_level.is_some() && (req.qty.is_some() || req.price.is_some()) {
            return Err(Reject::params(
                "params error: a position's TP/SL order can only have its triggerPrice amended",
            ));
        }
        let now = self.now;
        if let Some(order) = self.orders.get_mut(&seq) {
            order.leaves = new_qty - order.cum_qty;
            order.qty = new_qty;
            order.price = new_price;
            order.trigger_price = new_trigger;
            order.updated = now;
        }
        match position_level {
            Some(StopOrderType::TakeProfit) => self.position(&symbol).take_profit = new_trigger,
            Some(StopOrderType::StopLoss) => self.position(&symbol).stop_loss = new_trigger,
            _ => {}
        }
        self.mark_order(seq);
        self.mark_position(&symbol);
        // A limit amended through the market trades now, as on the exchange.
        let crosses = self.orders.get(&seq).is_some_and(|o| {
            o.order_type == OrderType::Limit
                && !o.is_conditional_waiting()
                && self.is_marketable(&symbol, o.side, o.price)
        });
        if crosses {
            self.activate(seq);
        }
        self.settle_market(&symbol);
        Ok(ack)
    }

    /// `POST /v5/order/cancel`.
    pub fn cancel_order(
        &mut self,
        now: i64,
        symbol: &str,
        key: &OrderKey,
    ) -> Result<OrderAck, Reject> {
        self.touch(now);
        let result = (|| {
            self.instrument(symbol)?;
            let seq = self
                .find(key, symbol)
                .ok_or_else(Reject::order_not_exists)?;
            let order = self.orders.get(&seq).ok_or_else(Reject::order_not_exists)?;
            if !order.is_open() {
                return Err(Reject::order_not_exists());
            }
            let ack = OrderAck {
                order_id: order.order_id.clone(),
                order_link_id: order.link_id.clone(),
            };
            self.cancel_by_user(seq);
            Ok(ack)
        })();
        self.flush();
        result
    }

    /// A user's cancel: a live order ends `Cancelled`; a conditional one that has not
    /// triggered ends `Deactivated` (v5/enum orderStatus). Cancelling a position's TP or SL
    /// order removes that level from the position, as trading-stop with `0` would.
    fn cancel_by_user(&mut self, seq: u64) {
        let Some(o) = self.orders.get(&seq) else {
            return;
        };
        let symbol = o.symbol.clone();
        let waiting = o.is_conditional_waiting();
        let kind = o.stop_order_type.clone();
        let status = if waiting {
            OrderStatus::Deactivated
        } else {
            OrderStatus::Cancelled
        };
        self.close_order(seq, status, Some(CancelType::CancelByUser), "EC_NoError");
        if waiting {
            match kind {
                Some(StopOrderType::TakeProfit) => self.position(&symbol).take_profit = None,
                Some(StopOrderType::StopLoss) => self.position(&symbol).stop_loss = None,
                _ => {}
            }
        }
        self.mark_position(&symbol);
    }

    /// `POST /v5/order/cancel-all`: cancels every open order that matches, in creation order.
    pub fn cancel_all(&mut self, now: i64, req: &CancelAll) -> Result<Vec<OrderAck>, Reject> {
        self.touch(now);
        let result = (|| {
            if let Some(symbol) = &req.symbol {
                self.instrument(symbol)?;
            } else if req.settle_coin.is_none() && req.base_coin.is_none() {
                return Err(Reject::params(
                    "params error: symbol, baseCoin or settleCoin is required",
                ));
            }
            let matching: Vec<u64> = self
                .open_iter()
                .filter(|o| o.is_open())
                .filter(|o| {
                    self.order_matches(
                        o,
                        &Scope {
                            symbol: req.symbol.as_deref(),
                            base_coin: req.base_coin.as_deref(),
                            settle_coin: req.settle_coin.as_deref(),
                        },
                        req.filter,
                    )
                })
                .filter(|o| !req.stop_only || o.stop_order_type == Some(StopOrderType::Stop))
                .map(|o| o.seq)
                .collect();
            let mut acks = Vec::with_capacity(matching.len());
            for seq in matching {
                if let Some(o) = self.orders.get(&seq) {
                    acks.push(OrderAck {
                        order_id: o.order_id.clone(),
                        order_link_id: o.link_id.clone(),
                    });
                    self.cancel_by_user(seq);
                }
            }
            Ok(acks)
        })();
        self.flush();
        result
    }

    pub(super) fn order_matches(
        &self,
        o: &OrderState,
        scope: &Scope<'_>,
        filter: Option<OrderFilter>,
    ) -> bool {
        // Bybit's priority: symbol, then base coin, then settle coin.
        let info = self.instruments.get(&o.symbol).map(|i| &i.info);
        let in_scope = if let Some(symbol) = scope.symbol {
            o.symbol == symbol
        } else if let Some(coin) = scope.base_coin {
            info.is_some_and(|i| i.base_coin == coin)
        } else if let Some(coin) = scope.settle_coin {
            info.is_some_and(|i| i.settle_coin == coin)
        } else {
            true
        };
        if !in_scope {
            return false;
        }
        match filter {
            None => true,
            Some(OrderFilter::Order) => o.stop_order_type.is_none(),
            Some(OrderFilter::StopOrder) => o.stop_order_type.is_some(),
        }
    }

    /// `POST /v5/position/set-leverage` (one-way: buy and sell must match).
    pub fn set_leverage(
        &mut self,
        now: i64,
        symbol: &str,
        buy: Decimal,
        sell: Decimal,
    ) -> Result<(), Reject> {
        self.touch(now);
        let result = (|| {
            let inst = self.instrument(symbol)?;
            let filter = &inst.info.leverage_filter;
            if buy != sell {
                return Err(Reject::params(
                    "params error: buyLeverage must equal sellLeverage in one-way mode",
                ));
            }
            if buy < filter.min_leverage || buy > filter.max_leverage {
                return Err(Reject::params(format!(
                    "params error: leverage {buy} outside [{}, {}]",
                    filter.min_leverage, filter.max_leverage
                )));
            }
            if !filter.leverage_step.is_zero() && !(buy % filter.leverage_step).is_zero() {
                return Err(Reject::params(format!(
                    "params error: leverage {buy} is not a multiple of {}",
                    filter.leverage_step
                )));
            }
            if self.position_view(symbol).leverage == buy {
                return Err(Reject::leverage_not_modified());
            }
            let previous = self.position(symbol).leverage;
            self.position(symbol).leverage = buy;
            if self.available() < Decimal::ZERO {
                self.position(symbol).leverage = previous;
                return Err(Reject::new(110044, "Available margin is insufficient."));
            }
            self.position(symbol).updated = self.now;
            self.mark_position(symbol);
            self.outbox.wallet = true;
            Ok(())
        })();
        self.flush();
        result
    }

    /// `POST /v5/position/trading-stop` (Full mode): take-profit and stop-loss on the position,
    /// triggered by the last price; `0` removes one.
    pub fn set_trading_stop(&mut self, now: i64, req: &TradingStop) -> Result<(), Reject> {
        self.touch(now);
        let result = (|| {
            let rules = self.instrument(&req.symbol)?.rules.clone();
            let pos = self.position_view(&req.symbol);
            let Some(side) = pos.side else {
                return Err(Reject::params("can not set tp/sl/ts for zero position"));
            };
            let last = self.last_price(&req.symbol);
            let check =
                |value: Option<Decimal>, is_tp: bool| -> Result<Option<Option<Decimal>>, Reject> {
                    let Some(v) = value else { return Ok(None) };
                    if v.is_zero() {
                        return Ok(Some(None));
                    }
                    let v = Self::check_price(&rules, v)?;
                    Self::check_stop_side(side, v, last, is_tp)?;
                    Ok(Some(Some(v)))
                };
            let tp = check(req.take_profit, true)?;
            let sl = check(req.stop_loss, false)?;
            let new_tp = tp.unwrap_or(pos.take_profit);
            let new_sl = sl.unwrap_or(pos.stop_loss);
            if new_tp == pos.take_profit && new_sl == pos.stop_loss {
                return Err(Reject::not_modified());
            }
            let now = self.now;
            let p = self.position(&req.symbol);
            p.take_profit = new_tp;
            p.stop_loss = new_sl;
            p.updated = now;
            self.mark_position(&req.symbol);
            self.sync_position_stops(&req.symbol);
            Ok(())
        })();
        self.flush();
        result
    }
}
