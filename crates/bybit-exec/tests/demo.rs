//! `bybit-exec demo`: the whole trade on the embedded emulator agrees with the exchange.

use std::sync::{Arc, Mutex};

use bybit_exec::demo::{self, DemoArgs, Inject};
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
        "position BTCUSDT          flat",
        "position BTCUSDT          Buy 0.040 at 49500.05 (average entry)",
        "(position stop)    Sell 0.020 (the whole position) trigger",
        "andre_ENTRY_DEMO   Buy 0.020 market, filled 0.020 at 50000.1",
        "orderLinkIds read andre_<LEG>_<TAG>",
        "reconciliation",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(!text.contains('✗'), "{text}");
}

/// The rows that disagree after injecting `fault`, as (item, layer, exchange).
async fn disagreeing(fault: Inject) -> Vec<(String, String, String)> {
    let args = DemoArgs {
        quiet: true,
        inject: vec![fault],
        ..DemoArgs::default()
    };
    let report = demo::run_with(&args, Arc::new(|_: &str| {})).await.unwrap();
    assert!(!report.agrees(), "{fault:?}: the table agrees");
    report
        .rows
        .iter()
        .filter(|r| !r.agrees())
        .map(|r| (r.item.clone(), r.layer.clone(), r.exchange.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_behind_the_layers_back_makes_the_table_disagree() {
    // The layer sees the order on its private stream (so "open orders" agree), but never
    // journaled it: exactly the duplicate-order check fails.
    assert_eq!(
        disagreeing(Inject::StrayOrder).await,
        [("orders not in the journal".into(), "0".into(), "1".into())]
    );
}

/// A fill the layer published twice: the fills row names it, and the leg's filled quantity
/// is off by as much.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doubled_fill_makes_the_fills_row_disagree() {
    let bad = disagreeing(Inject::DoubledFill).await;
    let fills = bad
        .iter()
        .find(|(item, ..)| item.starts_with("fills"))
        .unwrap_or_else(|| panic!("fills row agrees: {bad:?}"));
    assert!(fills.1.contains("1 published twice"), "{fills:?}");
    assert!(
        bad.iter()
            .all(|(item, ..)| item.starts_with("fills") || item.starts_with("TP3")),
        "{bad:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_position_makes_the_position_row_disagree() {
    assert_eq!(
        disagreeing(Inject::ChangedPosition).await,
        [("position BTCUSDT".into(), "0.005".into(), "0".into())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_status_the_exchange_does_not_share_makes_its_row_disagree() {
    assert_eq!(
        disagreeing(Inject::LegStatus).await,
        [(
            "TP1 andre_TP1_DEMO".into(),
            "cancelled, 0.02 filled".into(),
            "filled 0.02".into()
        )]
    );
}

/// Each injected fault makes the command itself fail (exit 1) with the row marked.
#[test]
fn the_demo_command_exits_non_zero_when_a_row_disagrees() {
    for (fault, item) in [
        ("stray-order", "orders not in the journal"),
        ("doubled-fill", "fills (each once, by execId)"),
        ("changed-position", "position BTCUSDT"),
        ("leg-status", "TP1 andre_TP1_DEMO"),
        ("booked-pnl", "realised P&L (USDT)"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bybit-exec"))
            .args(["demo", "--quiet", "--inject", fault])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{fault}: {stdout}");
        let row = stdout
            .lines()
            .find(|l| l.starts_with('│') && l.contains(item))
            .unwrap_or_else(|| panic!("{fault}: no {item} row in {stdout}"));
        assert!(row.contains('✗'), "{fault}: {row}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("disagree"),
            "{fault}"
        );
    }
}

/// Ctrl-C in the middle of the trade (position open, five orders resting): the demo closes
/// what it opened (orders cancelled, position flat, both sides of the table agree) and exits
/// with 130.
#[test]
fn ctrl_c_closes_what_the_demo_opened_and_exits_130() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_bybit-exec"))
        .args(["demo", "--hold-at-step", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the demo never held; printed {printed:#?}"));
        printed.push(line.clone());
        if line.contains("holding here until Ctrl-C") {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    printed.extend(lines.iter());
    let out = child.wait_with_output().unwrap();
    let text = printed.join("\n");
    assert_eq!(out.status.code(), Some(130), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted by Ctrl-C"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in ["Ctrl-C: closing", "DEMO → Closed", "reconciliation"] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    let row = |item: &str| {
        text.lines()
            .find(|l| l.starts_with('│') && l.contains(item))
            .unwrap_or_else(|| panic!("no {item} row in {text}"))
            .to_owned()
    };
    // Nothing of the trade is left: no open order, the position flat, on both sides.
    assert!(
        row("open orders").contains("┆ 0 ") && row("open orders").contains('✓'),
        "{text}"
    );
    assert!(row("position BTCUSDT").contains('✓'), "{text}");
    assert!(row("position BTCUSDT").contains("┆ 0 "), "{text}");
    assert!(!text.contains('✗'), "{text}");
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

/// A tag names one trade for ever, so `demo --journal FILE` uses a fresh
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

/// `--tag` in the SPEC's form, with the orderLinkId prefix (`andre_DX`): the demo runs its
/// trade to flat and agrees (it waited for `andre_ENTRY_andre_DX`, an id the layer never
/// makes, and failed after 10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_tag_carrying_the_prefix_runs_and_agrees() {
    let args = DemoArgs {
        quiet: true,
        tag: "andre_DX".to_owned(),
        ..DemoArgs::default()
    };
    let report = demo::run_with(&args, Arc::new(|_: &str| {})).await.unwrap();
    assert!(report.agrees(), "{:?}", report.rows);
    assert_eq!(report.fills, 5);
    let history = report.history.expect("the trade is in the journal");
    assert_eq!(history.fills, 5, "{history:?}");
}

/// The realised P&L row compares the journal's P&L with the exchange's: a funding payment
/// only the journal holds makes exactly that row disagree, by that payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pnl_the_exchange_never_booked_makes_the_pnl_row_disagree() {
    let bad = disagreeing(Inject::BookedPnl).await;
    assert_eq!(bad.len(), 1, "{bad:?}");
    let (item, layer, exchange) = &bad[0];
    assert_eq!(item, "realised P&L (USDT)");
    let layer: rust_decimal::Decimal = layer.parse().unwrap();
    let exchange: rust_decimal::Decimal = exchange.parse().unwrap();
    assert_eq!(exchange - layer, rust_decimal_macros::dec!(1), "{bad:?}");
}
