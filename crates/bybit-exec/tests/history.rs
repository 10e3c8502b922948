//! History and P&L: after a demo trade and a faulted `serve`
//! trade on one journal file, `bybit-exec trades` lists both with the realised P&L the
//! exchange booked (Σ execPnl − Σ execFee of the trade's executions, `/emulator/state`), and
//! the status page shows both in its history, rendered by headless Chromium.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bybit_emulator::Emulator;
use bybit_exec::config::JournalLocation;
use bybit_exec::demo::{self, DemoArgs};
use bybit_exec::serve::Server;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::support::{control, emulator, eventually, settings};

const TAG: &str = "HIST_SERVE";

fn plan() -> Value {
    // The emulator's BTCUSDT stands still at 50 000 (support.rs).
    json!({
        "symbol": "BTCUSDT",
        "side": "Buy",
        "margin_usdt": "40",
        "leverage": "25",
        "dca_levels": [{"price": "48000", "margin_usdt": "20"}],
        "tp_levels": [
            {"price": "51000", "share": "0.3"},
            {"price": "52000", "share": "0.3"},
            {"price": "53000", "share": "0.4"}
        ],
        "client_tag": TAG,
    })
}

async fn post(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let body = if path == "/api/trades" {
        plan()
    } else {
        json!({})
    };
    let r = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("X-Bybit-Exec", "1")
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap())
}

async fn get(addr: std::net::SocketAddr, path: &str) -> Value {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Σ execPnl − Σ execFee of the executions whose orderLinkId ends in `_{tag}`, as the
/// exchange holds them.
async fn exchange_pnl(emu: &Emulator, tag: &str) -> Decimal {
    let state = emu.truth();
    let dec = |v: &Value| -> Decimal { v.as_str().unwrap_or("0").parse().unwrap() };
    let suffix = format!("_{tag}");
    let execs: Vec<&Value> = state["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["orderLinkId"].as_str().unwrap().ends_with(&suffix))
        .collect();
    assert!(execs.len() >= 3, "entry, TP1 and the close: {execs:?}");
    execs
        .iter()
        .map(|e| dec(&e["execPnl"]) - dec(&e["execFee"]))
        .sum()
}

/// `bybit-exec trades ARGS` on the journal `journal`.
fn trades_command(journal: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bybit-exec"))
        .arg("trades")
        .args(args)
        .env_clear()
        .env("EXECUTION_JOURNAL", journal)
        .env("EXECUTION_ERROR_LOG", "none")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "trades failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn realised_of(trades: &Value, tag: &str) -> Decimal {
    let t = trades["trades"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == tag)
        .unwrap_or_else(|| panic!("{tag} not listed: {trades}"));
    assert_eq!(t["phase"], "CLOSED", "{t}");
    assert!(t["openedTimeMs"].as_i64().unwrap() > 0, "{t}");
    assert!(
        t["closedTimeMs"].as_i64().unwrap() >= t["openedTimeMs"].as_i64().unwrap(),
        "{t}"
    );
    assert_eq!(t["pnl"]["unknownPnlFills"], 0, "{t}");
    t["pnl"]["realised"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trades_and_the_status_page_show_a_demo_and_a_faulted_serve_trade_with_the_exchanges_pnl() {
    let dir = tempfile::tempdir().unwrap();
    let journal: PathBuf = dir.path().join("journal.sqlite");

    // 1. The demo, on this journal file (its own embedded emulator). Its reconciliation sets
    //    the journal's realised P&L beside its exchange's Σ execPnl − execFee.
    let args = DemoArgs {
        quiet: true,
        journal: Some(journal.clone()),
        ..DemoArgs::default()
    };
    let report = demo::run_with(&args, Arc::new(|_: &str| {})).await.unwrap();
    assert!(report.agrees(), "{:?}", report.rows);
    let row = report
        .rows
        .iter()
        .find(|r| r.item.starts_with("realised P&L"))
        .expect("the demo reconciles the realised P&L");
    let demo_exchange: Decimal = row.exchange.parse().unwrap();
    assert!(
        demo_exchange > Decimal::ZERO,
        "the demo's targets make money"
    );

    // 2. A serve trade on the same file against an emulator, with faults: the entry's create
    //    lands but its answer is lost (looked up, not re-sent), and every WebSocket drops
    //    after the entry. TP1 fills, then the trade is closed by the control API.
    let emu = emulator().await;
    let mut s = settings(&emu);
    s.journal = JournalLocation::Sqlite(journal.clone());
    // The REST fault below is aimed at a REST create (the order-entry stream's own faults
    // are logs.rs's).
    s.order_path = exec_live::OrderPath::Rest;
    let server = Server::start(s, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.addr();
    control(&emu, "create-unknown", json!({"count": 1})).await;
    let (code, answer) = post(addr, "/api/trades").await;
    assert_eq!(code, 200, "{answer}");
    control(&emu, "ws/drop", json!({})).await;
    control(
        &emu,
        "price",
        json!({"symbol": "BTCUSDT", "price": "51000"}),
    )
    .await;
    eventually("TP1 filled and journaled", || async {
        server
            .runtime()
            .journal
            .fills("andre_TP1_")
            .await
            .unwrap()
            .iter()
            .any(|f| f.order_link_id.ends_with(TAG))
    })
    .await;
    let (code, answer) = post(addr, &format!("/api/trades/{TAG}/close")).await;
    assert_eq!(code, 200, "{answer}");
    eventually("the serve trade closed", || async {
        get(addr, &format!("/api/trades/{TAG}")).await["phase"] == "CLOSED"
    })
    .await;
    // The fault bit: the entry's create landed with its answer lost; the gateway's outcome
    // policy (the one owner of re-sends, R-ERR-1) looked it up by orderLinkId and found it,
    // so it was sent once, and one order carries it.
    let state = emu.truth();
    let entry_link = format!("andre_ENTRY_{TAG}");
    let creates = state["requests"]["createsByOrderLinkId"][&entry_link]
        .as_u64()
        .unwrap();
    assert_eq!(creates, 1, "the entry's create was sent again: {creates}");
    let outcomes: Vec<&str> = server
        .runtime()
        .journal
        .intent(&entry_link)
        .await
        .unwrap()
        .unwrap()
        .outcomes
        .iter()
        .map(exec_gateway::Outcome::name)
        .collect();
    assert_eq!(
        outcomes,
        ["unknown", "resolved"],
        "the entry's create was not faulted, or not resolved by a lookup"
    );
    let orders = state["closedOrders"]
        .as_array()
        .unwrap()
        .iter()
        .chain(state["openOrders"].as_array().unwrap())
        .filter(|o| o["orderLinkId"] == entry_link.as_str())
        .count();
    assert_eq!(orders, 1, "one entry order on the exchange");
    let serve_exchange = exchange_pnl(&emu, TAG).await;
    assert_ne!(serve_exchange, Decimal::ZERO);

    // 3. `bybit-exec trades` lists both with the exchange's realised P&L, exactly.
    let listed: Value = serde_json::from_str(&trades_command(&journal, &["--json"])).unwrap();
    let tags: Vec<&str> = listed["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags.len(), 2, "{listed}");
    assert!(tags[0].starts_with("DEMO_"), "{tags:?}");
    assert_eq!(tags[1], TAG);
    assert_eq!(realised_of(&listed, tags[0]), demo_exchange);
    assert_eq!(realised_of(&listed, TAG), serve_exchange);
    let table = trades_command(&journal, &[]);
    for want in [
        tags[0].to_owned(),
        TAG.to_owned(),
        demo_exchange.to_string(),
        serve_exchange.to_string(),
    ] {
        assert!(table.contains(&want), "{want} not in\n{table}");
    }
    let csv = trades_command(&journal, &["--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two rows:\n{csv}");
    assert!(
        lines[0].starts_with("tag,symbol,side,openedTimeMs,"),
        "{csv}"
    );
    assert!(
        lines[2].starts_with(&format!("{TAG},BTCUSDT,Buy,"))
            && lines[2].contains(&format!(",{serve_exchange},CLOSED")),
        "{csv}"
    );

    // 4. The status page: both trades in its history with their P&L, the wallet, the chart.
    eventually("both trades in /api/status history", || async {
        get(addr, "/api/status").await["history"]
            .as_array()
            .is_some_and(|h| h.len() == 2)
    })
    .await;
    let status = get(addr, "/api/status").await;
    assert!(status["wallet"]["equity"].is_string(), "{status}");
    assert_eq!(status["history"][0]["tag"], TAG, "newest first");
    let screenshot = std::env::var_os("STATUS_PAGE_SCREENSHOT").map(PathBuf::from);
    // The chart needs two equity readings (one per refresh pass, every 2 s).
    eventually("two equity points", || async {
        get(addr, "/api/status").await["equity"]
            .as_array()
            .is_some_and(|e| e.len() >= 2)
    })
    .await;
    if let Some(dom) = crate::serve::chromium(&format!("http://{addr}/"), screenshot.as_deref()) {
        let history = dom
            .split("id=\"history\"")
            .nth(1)
            .and_then(|rest| rest.split("</section>").next())
            .unwrap_or_default();
        for (tag, pnl) in [(tags[0], demo_exchange), (TAG, serve_exchange)] {
            let row = history
                .split("<tr class=\"history-row\">")
                .find(|r| r.starts_with(&format!("<td class=\"tag\">{tag}</td>")))
                .unwrap_or_else(|| panic!("no history row for {tag}:\n{history}"));
            assert!(
                row.contains(&format!(">{pnl}</span></td>")),
                "{tag}'s realised P&L {pnl} not in its row: {row}"
            );
        }
        assert!(dom.contains("id=\"wallet-equity\""), "no wallet:\n{dom}");
        assert!(
            dom.contains("<polyline class=\"line\""),
            "no equity chart:\n{dom}"
        );
        println!("chromium: the history shows {} and {TAG}", tags[0]);
    }
    assert!(server.stop().await, "a clean stop");
}
