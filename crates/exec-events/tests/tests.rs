//! exec-events integration tests: the bus's slow-subscriber policy and the error log.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod bus;
mod error_log;

use exec_events::{ExecKind, Fill, Side};
use rust_decimal_macros::dec;

pub(crate) fn fill(n: u32) -> Fill {
    Fill {
        exec_id: format!("exec-{n}"),
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        order_id: "o1".into(),
        order_link_id: "andre_ENTRY_T1".into(),
        price: dec!(95000),
        qty: dec!(0.001),
        fee: dec!(0.05225),
        fee_currency: "USDT".into(),
        is_maker: false,
        pnl: None,
        exec_kind: ExecKind::Trade,
        time_ms: 1,
        simulated: false,
    }
}
