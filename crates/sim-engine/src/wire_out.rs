//! The engine's records in Bybit's wire shapes, as REST returns them and the private stream
//! pushes them.

use bybit_types::rest::account::{WalletAccount, WalletCoin};
use bybit_types::rest::execution::Execution;
use bybit_types::rest::order::Order;
use bybit_types::rest::position::Position;
use bybit_types::{
    AccountType, CancelType, Category, PositionStatus, StopOrderType, TpslMode, TriggerBy,
};
use rust_decimal::Decimal;

use crate::engine::Engine;
use crate::state::{ExecRecord, OrderState, PositionState};

/// Money is reported with 8 decimals at most, trailing zeros dropped.
fn money(v: Decimal) -> Decimal {
    v.round_dp(8).normalize()
}

/// Which channel an order record goes out on. REST and the private stream print "nothing" differently: the
/// open-order REST capture (v5/order/open-order) has `avgPrice "0"`, `triggerPrice "0.00"`,
/// `stopOrderType "UNKNOWN"`; the `order` stream capture (v5/websocket/private/order) has `""`
/// for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// `GET /v5/order/realtime`, `/v5/order/history`.
    Rest,
    /// The `order` topic.
    Stream,
}

impl Engine {
    /// An order as `GET /v5/order/realtime` and `/v5/order/history` list it.
    pub(crate) fn order_on_rest(&self, o: &OrderState) -> Order {
        self.order_wire(o, Channel::Rest)
    }

    /// An order as the `order` topic pushes it.
    pub(crate) fn order_on_stream(&self, o: &OrderState) -> Order {
        self.order_wire(o, Channel::Stream)
    }

    fn order_wire(&self, o: &OrderState, channel: Channel) -> Order {
        let none = match channel {
            Channel::Rest => Some(Decimal::ZERO),
            Channel::Stream => None,
        };
        let mut w = Order::new(&o.order_id, &o.symbol, o.side, o.qty, o.status.clone());
        w.category = Some(Category::Linear);
        w.order_link_id = o.link_id.clone();
        w.price = Some(o.price);
        w.position_idx = 0;
        w.create_type = Some(o.create_type.clone());
        w.cancel_type = Some(o.cancel_type.clone().unwrap_or(CancelType::Unspecified));
        w.reject_reason = o.reject_reason.to_string();
        w.avg_price = o.avg_price().or(none);
        w.leaves_qty = Some(if o.is_open() { o.leaves } else { Decimal::ZERO });
        w.leaves_value = Some(money(if o.is_open() {
            o.leaves * o.price
        } else {
            Decimal::ZERO
        }));
        w.cum_exec_qty = Some(o.cum_qty);
        w.cum_exec_value = Some(money(o.cum_value));
        w.cum_exec_fee = Some(money(o.cum_fee));
        w.closed_pnl = Some(money(o.closed_pnl));
        w.time_in_force = Some(o.tif.clone());
        w.order_type = Some(o.order_type.clone());
        w.stop_order_type = match channel {
            Channel::Rest => Some(
                o.stop_order_type
                    .clone()
                    .unwrap_or(StopOrderType::Unspecified),
            ),
            Channel::Stream => o.stop_order_type.clone(),
        };
        w.trigger_price = o.trigger_price.or(none);
        w.trigger_direction = o.trigger_direction.map_or(0, |d| d.as_int());
        w.trigger_by = o.trigger_price.map(|_| TriggerBy::LastPrice);
        w.take_profit = o.take_profit.or(none);
        w.stop_loss = o.stop_loss.or(none);
        w.tp_trigger_by = o.take_profit.map(|_| TriggerBy::LastPrice);
        w.sl_trigger_by = o.stop_loss.map(|_| TriggerBy::LastPrice);
        w.tpsl_mode = (o.take_profit.is_some() || o.stop_loss.is_some()).then_some(TpslMode::Full);
        w.last_price_on_created = Some(o.last_price_on_created);
        w.reduce_only = o.reduce_only;
        w.close_on_trigger = o.close_on_trigger;
        w.parent_order_link_id = Some(o.parent_link.clone());
        w.smp_type = Some(bybit_types::SmpType::None);
        w.created_time = Some(o.created);
        w.updated_time = Some(o.updated);
        w.cum_fee_detail = if o.cum_fee.is_zero() {
            Default::default()
        } else {
            [("USDT".to_owned(), money(o.cum_fee))]
                .into_iter()
                .collect()
        };
        w
    }

    pub(crate) fn execution_wire(&self, e: &ExecRecord) -> Execution {
        Execution {
            category: Some(Category::Linear),
            symbol: e.symbol.clone(),
            // Bybit's linear executions say "0" (not a spot margin trade).
            is_leverage: Some("0".to_owned()),
            order_id: e.order_id.clone(),
            order_link_id: e.link_id.clone(),
            side: e.side,
            order_price: Some(e.order_price),
            order_qty: Some(e.order_qty),
            leaves_qty: Some(if e.leaves_after.is_zero() {
                Decimal::ZERO
            } else {
                e.leaves_after
            }),
            create_type: Some(e.create_type.clone()),
            order_type: Some(e.order_type.clone()),
            stop_order_type: Some(
                e.stop_order_type
                    .clone()
                    .unwrap_or(StopOrderType::Unspecified),
            ),
            exec_fee: Some(money(e.fee)),
            exec_fee_v2: None,
            exec_id: e.exec_id.clone(),
            exec_price: e.price,
            exec_qty: e.qty,
            exec_pnl: Some(money(e.pnl)),
            exec_type: Some(e.exec_type.clone()),
            exec_value: Some(money(e.price * e.qty)),
            exec_time: Some(e.time),
            is_maker: e.is_maker,
            fee_rate: Some(e.fee_rate),
            trade_iv: None,
            mark_iv: None,
            mark_price: Some(e.mark_price),
            index_price: Some(e.mark_price),
            underlying_price: None,
            block_trade_id: String::new(),
            closed_size: Some(e.closed_size),
            extra_fees: None,
            seq: Some(e.seq),
            fee_currency: "USDT".to_owned(),
            market_unit: None,
        }
    }

    pub(crate) fn position_wire(&self, symbol: &str, p: &PositionState) -> Position {
        let mark = self.last_price(symbol);
        let mut w = Position::new(symbol, p.side, p.size);
        let value = p.size * p.avg;
        let im = self.position_im(symbol);
        w.category = Some(Category::Linear);
        w.position_idx = 0;
        w.risk_id = 1;
        w.avg_price = Some(money(p.avg));
        w.mark_price = Some(mark);
        w.leverage = Some(p.leverage.normalize());
        w.position_value = Some(money(value));
        w.position_status = Some(PositionStatus::Normal);
        let mm = p.size * mark * Decimal::new(5, 3);
        w.position_im = Some(money(im));
        w.position_mm = Some(money(mm));
        // docs/v5/position/position.mdx: `positionIMByMp` / `positionMMByMp` are "the same
        // value as" positionIM / positionMM; `openTime` is 0 when flat; `breakEvenPrice` is
        // (entry × qty − realised) / (qty − |qty| × max(taker, 0.00055)), qty signed.
        w.position_im_by_mp = Some(money(im));
        w.position_mm_by_mp = Some(money(mm));
        w.open_time = Some(if p.side.is_some() { p.created } else { 0 });
        w.break_even_price = p.side.map(|side| {
            let qty = if side == bybit_types::WireSide::Buy {
                p.size
            } else {
                -p.size
            };
            let rate = self.fees.taker.max(Decimal::new(55, 5));
            let denominator = qty - p.size * rate;
            if denominator.is_zero() {
                Decimal::ZERO
            } else {
                ((p.avg * qty - p.cur_realised) / denominator).round_dp(8)
            }
        });
        w.take_profit = Some(p.take_profit.unwrap_or(Decimal::ZERO));
        w.stop_loss = Some(p.stop_loss.unwrap_or(Decimal::ZERO));
        w.trailing_stop = Some(Decimal::ZERO);
        w.tpsl_mode = Some(TpslMode::Full);
        w.unrealised_pnl = Some(money(p.unrealised(mark)));
        w.cur_realised_pnl = Some(money(p.cur_realised));
        w.cum_realised_pnl = Some(money(p.cum_realised));
        w.is_reduce_only = Some(false);
        w.created_time = Some(p.created);
        w.updated_time = Some(p.updated);
        w.seq = Some(p.seq);
        w
    }

    pub(crate) fn wallet_wire(&self) -> WalletAccount {
        let upl = self.unrealised();
        let position_im = self.total_position_im();
        let order_im = self.total_order_im();
        let mm = self.total_maintenance();
        let equity = self.wallet + upl;
        let available = self.available().max(Decimal::ZERO);
        let rate = |x: Decimal| {
            if equity > Decimal::ZERO {
                (x / equity).round_dp(4)
            } else {
                Decimal::ZERO
            }
        };
        WalletAccount {
            account_type: Some(AccountType::Unified),
            account_im_rate: Some(rate(position_im + order_im)),
            account_im_rate_by_mp: None,
            account_mm_rate: Some(rate(mm)),
            account_mm_rate_by_mp: None,
            total_equity: Some(money(equity)),
            total_wallet_balance: Some(money(self.wallet)),
            total_margin_balance: Some(money(equity)),
            total_available_balance: Some(money(available)),
            total_perp_upl: Some(money(upl)),
            total_initial_margin: Some(money(position_im + order_im)),
            total_initial_margin_by_mp: None,
            total_maintenance_margin: Some(money(mm)),
            total_maintenance_margin_by_mp: None,
            account_ltv: None,
            coin: vec![WalletCoin {
                coin: "USDT".to_owned(),
                equity: Some(money(equity)),
                usd_value: Some(money(equity)),
                wallet_balance: Some(money(self.wallet)),
                free: None,
                locked: Some(Decimal::ZERO),
                spot_hedging_qty: Some(Decimal::ZERO),
                borrow_amount: Some(Decimal::ZERO),
                available_to_borrow: None,
                // Deprecated for UNIFIED since 2025-01: Bybit sends "".
                available_to_withdraw: None,
                accrued_interest: Some(Decimal::ZERO),
                total_order_im: Some(money(order_im)),
                total_position_im: Some(money(position_im)),
                total_position_mm: Some(money(mm)),
                unrealised_pnl: Some(money(upl)),
                cum_realised_pnl: Some(money(self.cum_realised)),
                bonus: Some(Decimal::ZERO),
                collateral_switch: Some(true),
                margin_collateral: Some(true),
                spot_borrow: Some(Decimal::ZERO),
            }],
        }
    }
}

impl Engine {
    /// The ticker of one symbol as `GET /v5/market/tickers` and `tickers.{symbol}` report it.
    /// Mark and index follow the last price; the funding rate is the configured one
    /// ([`crate::EngineConfig::funding_rate`]), settled every instrument funding interval.
    pub fn ticker(&self, symbol: &str) -> Result<bybit_types::rest::market::Ticker, crate::Reject> {
        let book = self.book(symbol, 1)?;
        let Some(m) = self.markets.get(symbol) else {
            return Err(crate::Reject::unknown_symbol(symbol));
        };
        let interval = self
            .instruments
            .get(symbol)
            .and_then(|i| i.info.funding_interval)
            .unwrap_or(480);
        let period = interval.max(1).saturating_mul(60_000);
        let next_funding = (self.now / period + 1).saturating_mul(period);
        let pcnt = if m.prev_price_24h.is_zero() {
            Decimal::ZERO
        } else {
            ((m.last - m.prev_price_24h) / m.prev_price_24h).round_dp(6)
        };
        let open_interest = self.positions.get(symbol).map_or(Decimal::ZERO, |p| p.size);
        Ok(bybit_types::rest::market::Ticker {
            symbol: symbol.to_owned(),
            tick_direction: Some(if m.last >= m.prev_print {
                bybit_types::TickDirection::PlusTick
            } else {
                bybit_types::TickDirection::MinusTick
            }),
            price24h_pcnt: Some(pcnt),
            last_price: Some(m.last),
            prev_price24h: Some(m.prev_price_24h),
            high_price24h: Some(m.high_24h),
            low_price24h: Some(m.low_24h),
            prev_price1h: Some(m.prev_price_24h),
            mark_price: Some(m.last),
            index_price: Some(m.last),
            open_interest: Some(open_interest),
            open_interest_value: Some(money(open_interest * m.last)),
            turnover24h: Some(money(m.turnover_24h)),
            volume24h: Some(m.volume_24h),
            next_funding_time: Some(next_funding),
            funding_rate: Some(self.funding_rate),
            funding_interval_hour: Some(interval / 60),
            bid1_price: book.bids.first().map(|l| l.price),
            bid1_size: book.bids.first().map(|l| l.qty),
            ask1_price: book.asks.first().map(|l| l.price),
            ask1_size: book.asks.first().map(|l| l.qty),
            ..Default::default()
        })
    }
}
