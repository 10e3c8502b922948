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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_that_cannot_start_stops_its_emulator() {
    // The journal's directory cannot be created (its parent is a file): the start fails after
    // the emulator is up, and the emulator must be stopped before run_with returns.
    let file = tempfile::NamedTempFile::new().unwrap();
    let args = DemoArgs {
        journal: Some(file.path().join("journal.sqlite")),
        ..DemoArgs::default()
    };
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink_lines = lines.clone();
    let sink: demo::Sink = Arc::new(move |l: &str| sink_lines.lock().unwrap().push(l.to_owned()));
    let err = demo::run_with(&args, sink).await.unwrap_err();
    assert!(format!("{err:#}").contains("journal"), "{err:#}");
    let text = lines.lock().unwrap().join("\n");
    let addr = text
        .split("emulator listening on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {text}"))
        .to_owned();
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "the emulator on {addr} still accepts connections"
    );
}

/// A tag names one trade for ever (issue 15 item 2), so `demo --journal FILE` uses a fresh
/// tag on each run and works twice on one file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_twice_on_one_journal_file() {
    let dir = tempfile::tempdir().unwrap();
    let args = DemoArgs {
        quiet: true,
        journal: Some(dir.path().join("journal.sqlite")),
        ..DemoArgs::default()
    };
    for run in 1..=2 {
        let report = demo::run_with(&args, Arc::new(|_: &str| {})).await.unwrap();
        assert!(report.agrees(), "run {run}");
    }
}
