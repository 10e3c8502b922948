//! The operator commands against an in-process emulator.

use std::path::Path;

use bybit_exec::config::{JournalLocation, Routing, Settings};
use bybit_exec::demo::{self, DemoArgs};
use bybit_exec::ops::{self, CloseAllArgs, JournalArgs, OpsCommand, OrdersArgs, Output};
use bybit_exec::runtime::Runtime;
use exec_gateway::Symbol;
use serde_json::Value;

use crate::support::{emulator, settings};

const JSON: Output = Output { json: true };
const TABLE: Output = Output { json: false };

fn on_journal(emu: &bybit_emulator::Emulator, path: &Path) -> Settings {
    let mut s = settings(emu);
    s.journal = JournalLocation::Sqlite(path.to_owned());
    s
}

/// Opens trade `tag` (entry and three TPs) in one process, then stops it.
async fn open_trade(s: Settings, tag: &str) {
    let rt = Runtime::start(s).await.unwrap();
    let mut plan = demo::plan(tag).unwrap();
    plan.dca_levels.clear();
    rt.gateway.execute_entry(&plan).await.unwrap();
    let position = rt
        .ports
        .positions
        .get_position(&Symbol::new("BTCUSDT").unwrap())
        .await
        .unwrap();
    rt.gateway.setup_tps(&plan, &position).await.unwrap();
    rt.shutdown().await;
}

async fn json(command: OpsCommand, s: Settings) -> Value {
    let done = ops::execute(&command, s).await.unwrap();
    assert!(done.ok, "{}", done.text);
    serde_json::from_str(&done.text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_positions_balance_recover_and_close_all() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    open_trade(on_journal(&emu, &path), "OPS1").await;

    let orders = json(
        OpsCommand::Orders(OrdersArgs {
            symbol: None,
            out: JSON,
        }),
        on_journal(&emu, &path),
    )
    .await;
    let links: Vec<&str> = orders
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderLinkId"].as_str().unwrap())
        .collect();
    assert_eq!(links.len(), 3, "{orders}");
    for leg in ["TP1", "TP2", "TP3"] {
        assert!(
            links.contains(&format!("andre_{leg}_OPS1").as_str()),
            "{links:?}"
        );
    }
    let table = ops::execute(
        &OpsCommand::Orders(OrdersArgs::default()),
        on_journal(&emu, &path),
    )
    .await
    .unwrap();
    assert!(table.text.contains("andre_TP1_OPS1"), "{}", table.text);

    let positions = json(OpsCommand::Positions(JSON), on_journal(&emu, &path)).await;
    assert_eq!(positions[0]["symbol"], "BTCUSDT");
    assert_eq!(positions[0]["size"], "0.020");
    let balance = json(OpsCommand::Balance(JSON), on_journal(&emu, &path)).await;
    assert_eq!(balance["coin"], "USDT");
    assert!(
        balance["available"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            < 10000.0
    );

    let recovered = json(OpsCommand::Recover(JSON), on_journal(&emu, &path)).await;
    assert_eq!(recovered[0]["tag"], "OPS1", "{recovered}");
    assert_eq!(recovered[0]["phase"], "IN_POSITION");

    let closed = json(
        OpsCommand::CloseAll(CloseAllArgs {
            symbol: "btcusdt".to_owned(),
            out: JSON,
        }),
        on_journal(&emu, &path),
    )
    .await;
    assert_eq!(closed["ok"], true, "{closed}");
    assert_eq!(closed["closed"][0]["tag"], "OPS1");
    assert!(emu
        .state()
        .read(|e| e.position_of("BTCUSDT").unwrap().size.is_zero()));
    let none = ops::execute(
        &OpsCommand::Orders(OrdersArgs::default()),
        on_journal(&emu, &path),
    )
    .await
    .unwrap();
    assert_eq!(none.text, "no open orders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_preflight_against_the_emulator() {
    let emu = emulator().await;
    // SPEC R-HEALTH-1's JSON.
    let status = json(OpsCommand::Status(JSON), settings(&emu)).await;
    assert_eq!(status["rest"]["ok"], true);
    assert_eq!(status["wsPublic"]["ok"], true);
    assert_eq!(status["wsPrivate"]["ok"], true);
    let table = ops::execute(&OpsCommand::Status(TABLE), settings(&emu))
        .await
        .unwrap();
    assert!(table.text.starts_with("healthy"), "{}", table.text);

    let pre = json(OpsCommand::Preflight(JSON), settings(&emu)).await;
    assert_eq!(pre["ok"], true, "{pre}");
    // Too little margin: the pre-flight says which check failed and exits non-zero.
    let mut s = settings(&emu);
    s.min_available_usdt = rust_decimal_macros::dec!(1000000);
    let done = ops::execute(&OpsCommand::Preflight(TABLE), s)
        .await
        .unwrap();
    assert!(!done.ok);
    assert!(done.text.contains("AvailableMargin"), "{}", done.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_shows_a_demo_trade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.sqlite");
    // An explicit tag (the default one gets the run's time appended with --journal).
    let args = DemoArgs {
        journal: Some(path.clone()),
        quiet: true,
        tag: "DEMOJ".to_owned(),
        ..DemoArgs::default()
    };
    let report = demo::run_with(&args, std::sync::Arc::new(|_: &str| {}))
        .await
        .unwrap();
    assert!(report.agrees());
    // The journal command needs no exchange: any settings with the journal's path.
    let mut s = Settings::for_emulator("http://127.0.0.1:9", "k", "s").unwrap();
    s.journal = JournalLocation::Sqlite(path);
    let text = ops::execute(
        &OpsCommand::Journal(JournalArgs {
            trade_tag: "DEMOJ".to_owned(),
            out: TABLE,
        }),
        s.clone(),
    )
    .await
    .unwrap()
    .text;
    for want in [
        "andre_ENTRY_DEMO",
        "andre_DCA2_DEMO",
        "acked",
        "amended to 0.020",
        "cancelled",
        "time (UTC)",
        "realised P&L ",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    // The states in order, each line with its UTC time.
    let states: Vec<&str> = text
        .split("states\n")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|l| l.split('┆').nth(1).map(str::trim))
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        states,
        [
            "state",
            "ENTERING",
            "IN_POSITION",
            "BREAKEVEN",
            "CLOSING",
            "CLOSED"
        ],
        "{text}"
    );
    let year = 2000..2100;
    let entry_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("andre_ENTRY_DEMOJ"))
        .collect();
    assert_eq!(entry_lines.len(), 2, "its intent and its fill:\n{text}");
    assert!(
        entry_lines
            .iter()
            .all(|l| l.split('┆').next().is_some_and(|t| t.contains('T')
                && t.trim_start_matches(['│', ' '])
                    .get(..4)
                    .and_then(|y| y.parse::<i32>().ok())
                    .is_some_and(|y| year.contains(&y)))),
        "every line of the entry starts with its time:\n{text}"
    );
    let v = json(
        OpsCommand::Journal(JournalArgs {
            trade_tag: "DEMOJ".to_owned(),
            out: JSON,
        }),
        s.clone(),
    )
    .await;
    assert_eq!(v["intents"].as_array().unwrap().len(), 6);
    assert_eq!(v["fills"].as_array().unwrap().len(), 5);
    // One name for times: `timeMs` on every intent, write, fill and state;
    // none of the older names anywhere.
    for list in ["intents", "writes", "fills", "states"] {
        for row in v[list].as_array().unwrap() {
            let row = if list == "intents" {
                &row["intent"]
            } else {
                row
            };
            assert!(row["timeMs"].as_i64().unwrap() > 0, "{list}: {row}");
        }
    }
    let text = v.to_string();
    for old in ["time_ms", "at_ms", "atMs"] {
        assert!(!text.contains(&format!("\"{old}\"")), "{old} in {text}");
    }
    assert!(v["trade"]["pnl"]["realised"].is_string(), "{v}");
    let missing = ops::execute(
        &OpsCommand::Journal(JournalArgs {
            trade_tag: "NOPE".to_owned(),
            out: TABLE,
        }),
        s,
    )
    .await
    .unwrap();
    assert!(!missing.ok && missing.text.contains("no trade \"NOPE\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_and_dry_run_never_touch_the_live_journal() {
    // A live trade is open on the exchange and in the live journal.
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    open_trade(on_journal(&emu, &path), "LIVE1").await;
    let dry = || {
        let mut s = on_journal(&emu, &path);
        s.routing = Routing::DryRun;
        s
    };
    // close-all, recover and preflight refuse any routing but live, saying so.
    for command in [
        OpsCommand::CloseAll(CloseAllArgs {
            symbol: "BTCUSDT".to_owned(),
            out: JSON,
        }),
        OpsCommand::Recover(JSON),
        OpsCommand::Preflight(JSON),
    ] {
        let err = ops::execute(&command, dry()).await.unwrap_err().to_string();
        assert!(err.contains("refuses dry-run routing"), "{err}");
    }
    // A paper process pointed at the live journal is refused before it reads a trade.
    let mut paper = on_journal(&emu, &path);
    paper.routing = Routing::Paper;
    paper.credentials = None;
    let err = Runtime::start(paper).await.unwrap_err().to_string();
    assert!(
        // Named as the operator knows it: BYBIT_ENV=emulator is no value BYBIT_ENV takes.
        err.contains("belongs to the local emulator (loopback URLs) with live routing")
            && !err.contains("BYBIT_ENV=emulator"),
        "{err}"
    );
    // Reading commands show the real account whatever the routing.
    let positions = json(OpsCommand::Positions(JSON), dry()).await;
    assert_eq!(positions[0]["size"], "0.020", "{positions}");
    // The live trade is still open in the live journal and on the exchange.
    let journal = exec_journal::SqliteJournal::open(&path).unwrap();
    assert_eq!(
        exec_gateway::Journal::open_trades(&journal).await.unwrap(),
        ["LIVE1"]
    );
    assert!(!emu
        .state()
        .read(|e| e.position_of("BTCUSDT").unwrap().size.is_zero()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_unhealthy_as_json_instead_of_failing() {
    // SPEC R-HEALTH-1: nothing listens on the port; the answer is still the JSON, ok false.
    let dead = Settings::for_emulator("http://127.0.0.1:1", "k", "s").unwrap();
    let done = ops::execute(&OpsCommand::Status(JSON), dead).await.unwrap();
    assert!(!done.ok);
    let v: Value = serde_json::from_str(&done.text).unwrap();
    assert_eq!(v["rest"]["ok"], false, "{v}");
    assert_eq!(v["wsPublic"]["ok"], false, "{v}");
    assert_eq!(v["wsPrivate"]["ok"], false, "{v}");
    assert!(v["wsPrivate"]["error"].is_string(), "{v}");
    // A key the exchange refuses: REST and the public stream are up, the private one is not.
    let emu = emulator().await;
    let wrong = Settings::for_emulator(&emu.http_url(), "wrong-key", "wrong-secret").unwrap();
    let done = ops::execute(&OpsCommand::Status(JSON), wrong)
        .await
        .unwrap();
    assert!(!done.ok, "{}", done.text);
    let v: Value = serde_json::from_str(&done.text).unwrap();
    assert_eq!(v["rest"]["ok"], true, "{v}");
    assert_eq!(v["wsPublic"]["ok"], true, "{v}");
    assert_eq!(v["wsPrivate"]["ok"], false, "{v}");
    assert!(v["wsPrivate"]["error"].is_string(), "{v}");
}
