//! `serve`'s control API and event stream, live routing on the emulator.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bybit_emulator::Emulator;
use bybit_exec::serve::Server;
use serde_json::{json, Value};

use crate::support::{control, emulator, eventually, settings};

fn plan(tag: &str) -> Value {
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
        "client_tag": tag,
    })
}

async fn server(emu: &Emulator) -> Server {
    Server::start(settings(emu), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("X-Bybit-Exec", "1")
        .json(body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap())
}

async fn set_price(emu: &Emulator, price: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/emulator/price", emu.http_url()))
        .json(&json!({"symbol": "BTCUSDT", "price": price}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

fn leg<'a>(trade: &'a Value, leg: &str) -> &'a Value {
    trade["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["leg"] == leg)
        .unwrap_or_else(|| panic!("no {leg} in {trade}"))
}

/// A money field written `"4_0"`, `"4e1"` or as a JSON number, or an unknown field, is refused
/// with a 400 that names the field, and nothing reaches the exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loose_money_and_unknown_fields_are_refused_naming_the_field() {
    let emu = emulator().await;
    let server = server(&emu).await;
    let addr = server.addr();
    let cases: [(&str, Value, &str); 5] = [
        ("margin_usdt", json!("4_0"), "margin_usdt"),
        ("margin_usdt", json!("4e1"), "margin_usdt"),
        ("leverage", json!(25.0), "leverage"),
        ("leverage", json!(25), "leverage"),
        ("stop_loss", json!("90000"), "stop_loss"),
    ];
    for (field, value, needle) in cases {
        let mut body = plan("API_BAD");
        body[field] = value.clone();
        let (code, answer) = post(addr, "/api/trades", &body).await;
        assert_eq!(code, 400, "{field}={value}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(needle), "{field}={value}: {error}");
    }
    let mut body = plan("API_BAD");
    body["tp_levels"][0]["share"] = json!(0.3);
    let (code, answer) = post(addr, "/api/trades", &body).await;
    assert_eq!(code, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("tp_levels[0].share"),
        "{answer}"
    );
    let state = emu.truth();
    let creates = &state["requests"]["createsByOrderLinkId"];
    assert!(
        creates.as_object().is_some_and(|c| c.is_empty()),
        "an order reached the exchange: {creates}"
    );
    assert!(server.stop().await);
}

/// Every SPEC operation on a trade through the control API: the trade with each leg, the
/// take-profits resized after a DCA filled, breakeven, close (SPEC R-GW-1..5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_on_a_trade_is_in_the_control_api() {
    let emu = emulator().await;
    let server = server(&emu).await;
    let addr = server.addr();
    let (code, answer) = post(addr, "/api/trades", &plan("API_OPS")).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["trade"]["unprotected"], false, "{answer}");

    let (code, trade) = get(addr, "/api/trades/API_OPS").await;
    assert_eq!(code, 200, "{trade}");
    assert_eq!(trade["phase"], "IN_POSITION");
    for l in ["ENTRY", "TP1", "TP2", "TP3", "DCA1"] {
        assert!(leg(&trade, l)["orderLinkId"].is_string(), "{l}: {trade}");
    }
    assert_eq!(trade["missingLegs"], json!([]));
    let (_, list) = get(addr, "/api/trades").await;
    assert!(
        list["trades"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["tag"] == "API_OPS"),
        "{list}"
    );
    let tp3_qty = async |server: &Server| {
        server
            .runtime()
            .journal
            .intent("andre_TP3_API_OPS")
            .await
            .unwrap()
            .unwrap()
            .intent
            .qty
    };
    let before = tp3_qty(&server).await;
    assert!(before > rust_decimal::Decimal::ZERO);
    // DCA1 fills at 48 000; /tps resizes the take-profits to the grown position.
    set_price(&emu, "47990").await;
    eventually("DCA1 filled", || async {
        server
            .runtime()
            .journal
            .fills("andre_")
            .await
            .unwrap()
            .iter()
            .any(|f| f.order_link_id == "andre_DCA1_API_OPS")
    })
    .await;
    let (code, answer) = post(addr, "/api/trades/API_OPS/tps", &json!({})).await;
    assert_eq!(code, 200, "{answer}");
    // The journal keeps the amended quantity as the intent's last write.
    let writes = server.runtime().journal.writes("API_OPS").await.unwrap();
    assert!(
        writes
            .iter()
            .any(|w| format!("{w:?}").contains("andre_TP3_API_OPS")),
        "TP3 not resized: {writes:?}"
    );
    let (code, answer) = post(addr, "/api/trades/API_OPS/dcas", &json!({})).await;
    assert_eq!(code, 200, "{answer}");
    // An operation takes no fields.
    let (code, answer) = post(addr, "/api/trades/API_OPS/breakeven", &json!({"at": "1"})).await;
    assert_eq!(code, 400, "{answer}");
    set_price(&emu, "50000").await;
    let (code, answer) = post(addr, "/api/trades/API_OPS/breakeven", &json!({})).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["trade"]["phase"], "BREAKEVEN", "{answer}");
    let (code, answer) = post(addr, "/api/trades/API_OPS/close", &json!({})).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["trade"]["phase"], "CLOSED", "{answer}");
    let (code, _) = post(addr, "/api/trades/NOPE/tps", &json!({})).await;
    assert_eq!(code, 404);
    assert!(server.stop().await);
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<String>,
    event: String,
    data: String,
}

/// Reads events from `/api/events` (resuming after `last` if given) until `done` holds for
/// what was read, at most 10 s.
async fn read_events(
    addr: SocketAddr,
    last: Option<&str>,
    done: impl Fn(&[Sse]) -> bool,
) -> Vec<Sse> {
    let mut request = reqwest::Client::new().get(format!("http://{addr}/api/events"));
    if let Some(last) = last {
        request = request.header("Last-Event-ID", last);
    }
    let mut response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut buffer = String::new();
    let mut events = Vec::new();
    while !done(&events) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("timed out; read {events:?}"))
            .unwrap()
            .expect("the stream ended");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut e = Sse {
                id: None,
                event: "message".to_owned(),
                data: String::new(),
            };
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    e.id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("event:") {
                    e.event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    e.data.push_str(v.trim_start());
                }
            }
            if !block.trim().starts_with(':') {
                events.push(e);
            }
        }
    }
    events
}

fn fills(events: &[Sse]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e.event == "fill")
        .map(|e| {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            (
                v["data"]["exec_id"].as_str().unwrap().to_owned(),
                v["data"]["order_link_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The event stream loses and repeats nothing: a client of `GET /api/events` disconnects
/// mid-trade and reconnects with `Last-Event-ID`; it receives every fill exactly once (the
/// DCA's and the close's that happened while it was away, not the entry's again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_client_reconnecting_with_last_event_id_gets_every_fill_once() {
    let emu = emulator().await;
    let server = server(&emu).await;
    let addr = server.addr();
    let (code, answer) = post(addr, "/api/trades", &plan("API_SSE")).await;
    assert_eq!(code, 200, "{answer}");
    // First connection: everything from the start, until the entry's fill.
    let first = read_events(addr, None, |e| {
        fills(e).iter().any(|(_, l)| l == "andre_ENTRY_API_SSE")
    })
    .await;
    let entry_fill = first.iter().rev().find(|e| e.event == "fill").unwrap();
    let last_id = entry_fill.id.clone().unwrap();
    // Disconnected (dropped): DCA1 fills, then the trade is closed.
    set_price(&emu, "47990").await;
    eventually("DCA1 filled", || async {
        server
            .runtime()
            .journal
            .fills("andre_")
            .await
            .unwrap()
            .iter()
            .any(|f| f.order_link_id == "andre_DCA1_API_SSE")
    })
    .await;
    let (code, answer) = post(addr, "/api/trades/API_SSE/close", &json!({})).await;
    assert_eq!(code, 200, "{answer}");
    eventually("the close's fill journaled", || async {
        server
            .runtime()
            .journal
            .fills("andre_")
            .await
            .unwrap()
            .iter()
            .any(|f| f.order_link_id.starts_with("andre_CLOSE"))
    })
    .await;
    let journaled = server.runtime().journal.fills("andre_").await.unwrap();
    let after_entry: Vec<&str> = journaled
        .iter()
        .filter(|f| f.order_link_id != "andre_ENTRY_API_SSE")
        .map(|f| f.exec_id.as_str())
        .collect();
    assert!(after_entry.len() >= 2, "{journaled:?}");
    // Reconnect with the last id seen: every later fill, each once, the entry's not again.
    let again = read_events(addr, Some(&last_id), |e| {
        fills(e).len() >= after_entry.len()
    })
    .await;
    let got = fills(&again);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (id, _) in &got {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    for id in &after_entry {
        assert_eq!(counts.get(id), Some(&1), "fill {id} in {got:?}");
    }
    assert_eq!(got.len(), after_entry.len(), "{got:?}");
    assert!(
        got.iter().all(|(_, l)| l != "andre_ENTRY_API_SSE"),
        "the entry's fill again: {got:?}"
    );
    // Ids only grow: the stream resumed after the id it was given.
    let seq = |id: &str| id.split_once('-').unwrap().1.parse::<u64>().unwrap();
    assert!(again
        .iter()
        .filter_map(|e| e.id.as_deref())
        .all(|id| seq(id) > seq(&last_id)));
    // The stream is a read: no control header needed, but another site's page is refused.
    let foreign = reqwest::Client::new()
        .get(format!("http://{addr}/api/events"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status().as_u16(), 403);
    assert!(server.stop().await);
}

/// A plan with `"manage": true` is run by `serve`'s reference manager the way the demo runs
/// its trade: take-profits resized after the DCA fill, breakeven after TP1, CLOSED once the
/// last take-profit leaves the position flat — with no further call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_trade_runs_to_closed_without_another_call() {
    let emu = emulator().await;
    // The background reconciler also resizes TPs after a DCA fill and closes a flat trade:
    // put off, so what this test sees is the manager's own work.
    let mut s = settings(&emu);
    s.reconcile_every = Duration::from_secs(600);
    let server = Server::start(s, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.addr();
    let mut body = plan("API_MGD");
    body["manage"] = json!(true);
    let (code, answer) = post(addr, "/api/trades", &body).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["managed"], true);
    let journal = server.runtime().journal.clone();
    let phase = || {
        server
            .runtime()
            .gateway
            .trade("API_MGD")
            .map(|s| s.phase.as_str())
    };

    set_price(&emu, "47990").await;
    eventually("TPs resized after DCA1 filled", || async {
        journal
            .writes("API_MGD")
            .await
            .unwrap()
            .iter()
            .any(|w| format!("{w:?}").contains("andre_TP3_API_MGD"))
    })
    .await;
    set_price(&emu, "51010").await;
    eventually("breakeven after TP1", || async {
        phase() == Some("BREAKEVEN")
    })
    .await;
    set_price(&emu, "53010").await;
    eventually("closed once flat", || async { phase() == Some("CLOSED") }).await;
    let symbol = exec_gateway::Symbol::new("BTCUSDT").unwrap();
    let position = server
        .runtime()
        .ports
        .positions
        .get_position(&symbol)
        .await
        .unwrap();
    assert!(position.is_flat(), "{position:?}");
    assert!(server.stop().await);
}

/// A leg refused after the entry filled is reported everywhere (R-SAFE-3): the exchange
/// refuses take-profits after the entry filled (an account allowed one active order per
/// symbol: TP1 rests, TP2 and TP3 are refused — an exchange surprise, not a foreseeable
/// refusal). The API's answer, an
/// `execution.error`, one error-log line, `bybit_exec_errors_total`, the status page's JSON
/// and `GET /api/trades/{tag}` all say so; with `EXECUTION_ON_TP_FAILURE=close` the position
/// ends flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_profit_refused_after_the_entry_is_loud_and_the_close_policy_ends_flat() {
    for policy in [
        exec_gateway::TpFailurePolicy::KeepFlagged,
        exec_gateway::TpFailurePolicy::Close,
    ] {
        let mut config = bybit_emulator::EmulatorConfig::with_defaults(
            crate::support::KEY,
            crate::support::SECRET,
            rust_decimal_macros::dec!(10000),
            7,
        );
        config.static_prices = true;
        config.engine = config
            .engine
            .with_price("BTCUSDT", rust_decimal_macros::dec!(50000));
        config.engine.limits.max_active_orders_per_symbol = 1;
        let emu = Emulator::start("127.0.0.1:0", config).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("errors.log");
        let mut s = settings(&emu);
        s.error_log = Some(log.clone());
        s.on_tp_failure = policy;
        let server = Server::start(s, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = server.addr();
        let mut events = server.runtime().bus.subscribe();
        let mut body = plan("API_TPX");
        body["dca_levels"] = json!([]);
        let (code, answer) = post(addr, "/api/trades", &body).await;
        assert_eq!(code, 502, "{policy:?}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains("entry filled at"), "{error}");
        assert!(error.contains("TP2"), "{error}");
        assert_eq!(answer["entry"]["filledQty"], "0.020", "{answer}");
        assert!(
            !answer["trade"]["problems"].as_array().unwrap().is_empty(),
            "{answer}"
        );

        // execution.error on the bus, naming the trade and the leg.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = tokio::time::timeout_at(deadline, events.recv())
                .await
                .unwrap();
            if let exec_events::Received::Event(env) = got {
                if let exec_events::Event::ExecutionError(e) = env.event.as_ref() {
                    let text = format!("{e:?}");
                    if text.contains("TP") && text.contains("API_TPX") {
                        break;
                    }
                }
            }
        }
        // One error-log line for the refused leg.
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(
            logged
                .lines()
                .any(|l| l.contains("API_TPX") && l.contains("TP")),
            "{logged}"
        );
        let metrics = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("bybit_exec_errors_total{kind="),
            "{metrics}"
        );
        let (_, trade) = get(addr, "/api/trades/API_TPX").await;
        let symbol = exec_gateway::Symbol::new("BTCUSDT").unwrap();
        let position = server
            .runtime()
            .ports
            .positions
            .get_position(&symbol)
            .await
            .unwrap();
        match policy {
            exec_gateway::TpFailurePolicy::KeepFlagged => {
                assert_eq!(trade["unprotected"], true, "{trade}");
                assert_eq!(trade["phase"], "IN_POSITION", "{trade}");
                assert!(!position.is_flat(), "kept: {position:?}");
                let (_, status) = get(addr, "/api/status").await;
                let listed = status["trades"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|t| t["tag"] == "API_TPX")
                    .unwrap_or_else(|| panic!("{status}"))
                    .clone();
                assert_eq!(listed["unprotected"], true, "{listed}");
                assert!(
                    !listed["problems"].as_array().unwrap().is_empty(),
                    "{listed}"
                );
                // The page itself, rendered by its own script.
                if let Some(dom) = crate::serve::chromium(&format!("http://{addr}/"), None) {
                    assert!(dom.contains("UNPROTECTED: take-profit missing"), "{dom}");
                    assert!(dom.contains("leg failed: TP2 rejected"), "{dom}");
                }
            }
            exec_gateway::TpFailurePolicy::Close => {
                assert_eq!(trade["phase"], "CLOSED", "{trade}");
                assert!(position.is_flat(), "closed: {position:?}");
            }
        }
        assert!(server.stop().await);
    }
}

/// A fault storm leaves nothing unfinished: a 30 s storm of 5xx answers and held requests
/// while a trade is open and being closed, then calm: within 30 s serve's background
/// reconciler leaves nothing unresolved and the trade not stuck in CLOSING, with no call
/// repeated (R-SAFE-4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_storm_of_5xx_and_held_requests_the_reconciler_leaves_nothing_stuck() {
    let emu = emulator().await;
    let server = server(&emu).await;
    let addr = server.addr();
    let (code, answer) = post(addr, "/api/trades", &plan("API_STORM")).await;
    assert_eq!(code, 200, "{answer}");

    let storm = Duration::from_secs(30);
    let started = tokio::time::Instant::now();
    // 5xx for the first half, every request held (then dropped) for the second.
    control(&emu, "fail", json!({"count": 1_000_000, "status": 503})).await;
    // The close is asked once, in the storm; it cannot finish there.
    let close = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("http://{addr}/api/trades/API_STORM/close"))
            .header("X-Bybit-Exec", "1")
            .json(&json!({}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep_until(started + storm / 2).await;
    control(&emu, "reset", json!({})).await;
    control(&emu, "hold", json!({"count": 1_000_000, "ms": 3000})).await;
    tokio::time::sleep_until(started + storm).await;
    // Calm.
    control(&emu, "reset", json!({})).await;
    let answered = close.await.unwrap();
    println!("the close asked in the storm answered {answered:?}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, status) = get(addr, "/api/status").await;
        let phase = server
            .runtime()
            .gateway
            .trade("API_STORM")
            .map(|s| s.phase.as_str());
        let unresolved = status["unresolved"].as_array().map_or(99, Vec::len);
        if phase == Some("CLOSED") && unresolved == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "30 s after the storm: phase {phase:?}, {unresolved} unresolved: {status}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let symbol = exec_gateway::Symbol::new("BTCUSDT").unwrap();
    let position = server
        .runtime()
        .ports
        .positions
        .get_position(&symbol)
        .await
        .unwrap();
    assert!(position.is_flat(), "{position:?}");
    // Nothing of the trade rests on the exchange, and no order was created twice.
    let state = emu.truth();
    let creates = &state["requests"]["createsByOrderLinkId"];
    println!("creates by orderLinkId: {creates}");
    // The storm's requests were refused unexecuted (503, held), so a create sent again is
    // never one the exchange already had: none refused as a duplicate orderLinkId.
    assert_eq!(state["requests"]["duplicates"], 0, "{}", state["requests"]);
    let resting: Vec<&Value> = state["openOrders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| {
            o["orderLinkId"]
                .as_str()
                .is_some_and(|l| l.contains("API_STORM"))
        })
        .collect();
    assert!(resting.is_empty(), "{resting:?}");
    assert!(server.stop().await);
}

/// R-SAFE-1/2 through serve: a second trade on a symbol and a reused finished tag are
/// answered 409, a plan on a symbol outside `EXECUTION_SYMBOLS` or with a take-profit on the
/// loss side 422 — each before anything reaches the exchange (creates counted there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_409_and_refused_plans_422_with_nothing_sent() {
    let emu = emulator().await;
    let server = server(&emu).await;
    let addr = server.addr();
    let (code, answer) = post(addr, "/api/trades", &plan("API_ONE")).await;
    assert_eq!(code, 200, "{answer}");
    let creates = || async {
        emu.truth()["requests"]["createsByOrderLinkId"]
            .as_object()
            .unwrap()
            .len()
    };
    let before = creates().await;

    let (code, answer) = post(addr, "/api/trades", &plan("API_TWO")).await;
    assert_eq!(code, 409, "a second trade on BTCUSDT: {answer}");
    let mut eth = plan("API_ETH");
    eth["symbol"] = json!("ETHUSDT");
    let (code, answer) = post(addr, "/api/trades", &eth).await;
    assert_eq!(code, 422, "a symbol not configured: {answer}");
    let mut loss = plan("API_LOSS");
    loss["tp_levels"][0]["price"] = json!("49000");
    let (code, answer) = post(addr, "/api/trades", &loss).await;
    assert!(
        code == 422 || code == 409,
        "a loss-side TP: {code} {answer}"
    );
    assert_eq!(creates().await, before, "an order reached the exchange");

    // A finished trade's tag names it for ever.
    let (code, answer) = post(addr, "/api/trades/API_ONE/close", &json!({})).await;
    assert_eq!(code, 200, "{answer}");
    let before = creates().await;
    let (code, answer) = post(addr, "/api/trades", &plan("API_ONE")).await;
    assert_eq!(code, 409, "a finished tag: {answer}");
    assert_eq!(creates().await, before, "an order reached the exchange");
    assert!(server.stop().await);
}

/// Every answer shows each leg as the exchange last reported it: the
/// opening answer has the take-profits and the DCA open and the entry filled (not "sent"), a
/// take-profit the market filled shows filled, the close answer the legs cancelled and the
/// close order filled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_show_each_legs_status_as_the_exchange_last_reported_it() {
    let emu = emulator().await;
    // The background reconciler's lookups would also refresh the statuses, every 3 s: put
    // off, so the stream is what is tested.
    let mut s = settings(&emu);
    s.reconcile_every = Duration::from_secs(600);
    let server = Server::start(s, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.addr();
    let (code, answer) = post(addr, "/api/trades", &plan("API_FRESH")).await;
    assert_eq!(code, 200, "{answer}");
    let trade = &answer["trade"];
    assert_eq!(leg(trade, "ENTRY")["status"], "Filled", "{trade}");
    for l in ["TP1", "TP2", "TP3", "DCA1"] {
        assert_eq!(leg(trade, l)["status"], "Open", "{l}: {trade}");
    }
    // TP1 fills on the exchange with no call of this layer: the trade learns it from the
    // stream.
    set_price(&emu, "51010").await;
    eventually("TP1 shown filled", || async {
        let (_, trade) = get(addr, "/api/trades/API_FRESH").await;
        leg(&trade, "TP1")["status"] == "Filled"
    })
    .await;
    let (code, answer) = post(addr, "/api/trades/API_FRESH/close", &json!({})).await;
    assert_eq!(code, 200, "{answer}");
    let trade = &answer["trade"];
    assert_eq!(leg(trade, "TP1")["status"], "Filled", "{trade}");
    for l in ["TP2", "TP3", "DCA1"] {
        assert_eq!(leg(trade, l)["status"], "Cancelled", "{l}: {trade}");
    }
    assert_eq!(leg(trade, "CLOSE1")["status"], "Filled", "{trade}");
    assert!(server.stop().await);
}

/// A path no route takes, or a route asked with a method it does not take, is refused with
/// a JSON body that says why (the fuzzer found axum's bare 404 and 405 here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_path_or_method_is_refused_with_a_reason() {
    let emu = emulator().await;
    let server = server(&emu).await;
    let addr = server.addr();
    let (code, answer) = get(addr, "/api/nothing").await;
    assert_eq!(code, 404, "{answer}");
    let why = answer["error"].as_str().unwrap();
    assert!(why.contains("/api/nothing"), "{answer}");
    let r = reqwest::Client::new()
        .delete(format!("http://{addr}/api/trades"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let answer: Value = r.json().await.unwrap();
    let why = answer["error"].as_str().unwrap();
    assert!(
        why.contains("DELETE") && why.contains("/api/trades"),
        "{answer}"
    );
    assert!(server.stop().await);
}
