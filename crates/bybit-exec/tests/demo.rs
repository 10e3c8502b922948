//! `bybit-exec demo`: the whole trade on the embedded emulator agrees with the exchange.

use std::sync::{Arc, Mutex};

use bybit_exec::demo::{self, DemoArgs};
use exec_gateway::Phase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_trade_runs_to_flat_and_agrees_with_the_exchange() {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink_lines = lines.clone();
    let sink: demo::Sink = Arc::new(move |l: &str| sink_lines.lock().unwrap().push(l.to_owned()));
    let report = demo::run_with(&DemoArgs::default(), sink).await.unwrap();
    let text = lines.lock().unwrap().join("\n");
    assert!(report.agrees(), "{text}");
    assert_eq!(report.fills, 5, "entry, DCA1, TP1, TP2, TP3");
    assert_eq!(
        report.phases,
        [
            Phase::Entering,
            Phase::InPosition,
            Phase::Breakeven,
            Phase::Closing,
            Phase::Closed
        ]
    );
    // The timeline shows orders, fills and state changes as they happen.
    for want in [
        "fill     taker            andre_ENTRY_DEMO",
        "order    Updated          andre_TP1_DEMO     Sell 0.020",
        "order    Cancelled        andre_DCA2_DEMO",
        "state    DEMO → Breakeven",
        "position BTCUSDT          flat 0",
        "reconciliation",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(!text.contains('✗'), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_behind_the_layers_back_makes_the_table_disagree() {
    let args = DemoArgs {
        quiet: true,
        inject_stray_order: true,
        ..DemoArgs::default()
    };
    let report = demo::run_with(&args, Arc::new(|_: &str| {})).await.unwrap();
    assert!(!report.agrees());
    let bad: Vec<_> = report
        .rows
        .iter()
        .filter(|r| !r.agrees())
        .map(|r| (r.item.as_str(), r.layer.as_str(), r.exchange.as_str()))
        .collect();
    // The layer sees the order on its private stream (so "open orders" agree), but never
    // journaled it: exactly the duplicate-order check fails.
    assert_eq!(bad, [("orders not in the journal", "0", "1")]);
}
