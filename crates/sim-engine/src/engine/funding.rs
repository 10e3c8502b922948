//! Funding: every funding interval linear positions pay or receive funding, reported as
//! `execType` `Funding` executions (v5/enum execType; v5/websocket/private/execution).

use bybit_types::{CreateType, ExecType, OrderType, WireSide};
use rust_decimal::{Decimal, RoundingStrategy};

use super::Engine;
use crate::state::ExecRecord;

impl Engine {
    /// The instrument's funding period in ms (instruments-info `fundingInterval`, minutes;
    /// 8 hours when it does not say).
    pub(crate) fn funding_period(&self, symbol: &str) -> i64 {
        self.instruments
            .get(symbol)
            .and_then(|i| i.info.funding_interval)
            .unwrap_or(480)
            .max(1)
            .saturating_mul(60_000)
    }

    /// Settles funding for `symbol` when time has reached its next funding time: the position
    /// pays `size × mark × rate` (a long pays a positive rate, a short receives it), rounded to
    /// 8 decimals, as one `Funding` execution whose `execFee` is exactly what the wallet loses
    /// (negative when it gains). Funding times are whole multiples of the period, as the
    /// ticker's `nextFundingTime`; a jump over several of them settles one.
    pub(super) fn settle_funding(&mut self, symbol: &str) {
        let now = self.now;
        let period = self.funding_period(symbol);
        let next_after_now = (now.div_euclid(period) + 1).saturating_mul(period);
        let Some(m) = self.markets.get_mut(symbol) else {
            return;
        };
        // First sight of time, or time stepped back (a clock fault undone): wait for the next.
        if m.next_funding == i64::MIN || m.next_funding > next_after_now {
            m.next_funding = next_after_now;
            return;
        }
        if now < m.next_funding {
            return;
        }
        m.next_funding = next_after_now;
        let pos = self.position_view(symbol);
        let Some(side) = pos.side else { return };
        let mark = self.last_price(symbol);
        let rate = self.funding_rate;
        let value = pos.size * mark;
        let direction = if side == WireSide::Buy {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        let fee = (value * rate * direction)
            .round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero);
        self.wallet -= fee;
        self.cum_realised -= fee;
        let event = self.next_match_event();
        {
            let p = self.position(symbol);
            p.cum_realised -= fee;
            p.cur_realised -= fee;
            p.seq = event;
            p.updated = now;
        }
        let exec_id = self.uuid();
        self.push_execution(ExecRecord {
            exec_type: ExecType::Funding,
            exec_id,
            order_id: String::new(),
            link_id: String::new(),
            symbol: symbol.to_owned(),
            side,
            // v5/enum orderType: "UNKNOWN ... is used when execType is Funding".
            order_type: OrderType::Unknown("UNKNOWN".to_owned()),
            stop_order_type: None,
            create_type: CreateType::CreateByUser,
            order_price: mark,
            order_qty: pos.size,
            leaves_after: Decimal::ZERO,
            price: mark,
            qty: pos.size,
            fee,
            fee_rate: rate,
            is_maker: false,
            closed_size: Decimal::ZERO,
            pnl: Decimal::ZERO,
            mark_price: mark,
            time: now,
            seq: event,
        });
        self.mark_position(symbol);
        self.outbox.wallet = true;
    }
}
