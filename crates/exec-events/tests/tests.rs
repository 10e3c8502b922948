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

/// One name for a record's time in JSON, `timeMs`; a fill journaled with
/// the older `time_ms` and no `pnl` still reads back.
#[test]
fn a_fill_writes_time_ms_as_timems_and_reads_the_old_name() {
    let mut f = fill(1);
    f.pnl = Some(dec!(1.5));
    let v = serde_json::to_value(&f).unwrap();
    assert_eq!(v["timeMs"], 1);
    assert_eq!(v["pnl"], "1.5");
    assert!(v.get("time_ms").is_none(), "{v}");
    assert_eq!(serde_json::from_value::<Fill>(v).unwrap(), f);
    let old = r#"{"exec_id":"exec-1","symbol":"BTCUSDT","side":"Buy","order_id":"o1",
        "order_link_id":"andre_ENTRY_T1","price":"95000","qty":"0.001","fee":"0.05225",
        "fee_currency":"USDT","is_maker":false,"exec_kind":"Trade","time_ms":1,
        "simulated":false}"#;
    assert_eq!(serde_json::from_str::<Fill>(old).unwrap(), fill(1));
}
