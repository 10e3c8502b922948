//! R-SAFE-1, R-SAFE-2: bad plans are refused before anything is sent,
//! counted at the emulator (`GET /emulator/state`'s `requests`), through the live adapters.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use exec_gateway::{
    GatewayConfig, GatewayError, Journal as _, MemoryJournal, OrderRequest, OrderRouter, Side,
    Symbol, TradePlan,
};
use exec_live::LiveConfig;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::support::{btc, connect_with, plan, start_emulator, Live, Process};

/// The adapters with no REST polling while the private stream is up (a still market sends
/// no private data, and polls would blur the count), BTCUSDT the one configured symbol.
async fn process(emu: &bybit_emulator::Emulator, journal: Arc<MemoryJournal>) -> Process {
    let live = LiveConfig {
        poll_interval: Duration::from_secs(3600),
        silence_threshold: Duration::from_secs(3600),
        ..LiveConfig::default()
    };
    let mut config = GatewayConfig::new(dec!(5000));
    config.symbols = Some(BTreeSet::from([btc()]));
    connect_with(emu, journal, None, live, config).await
}

/// The emulator's request counts.
async fn requests(live: &Live) -> Value {
    live.emu.truth()["requests"].clone()
}

/// The counts once the adapters' own background reads (the tracker's catch-up after the
/// private stream's subscription ack, or after a fill) have stopped: unchanged over 300 ms,
/// polled under a 10 s deadline.
async fn settled(live: &Live) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut last = requests(live).await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = requests(live).await;
        if now == last {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "requests never settle: {now}"
        );
        last = now;
    }
}

fn total(counts: &Value) -> u64 {
    counts["total"].as_u64().unwrap()
}

/// How a bad plan is written, and what must refuse it.
enum Bad {
    /// The plan's JSON (the control API's body): serde refuses it.
    Json(Value),
    /// A plan the gateway refuses, naming this field.
    Plan(TradePlan, &'static str),
}

fn with(f: impl FnOnce(&mut TradePlan)) -> TradePlan {
    let mut p = plan("BAD1");
    f(&mut p);
    p
}

fn json_plan(f: impl FnOnce(&mut Value)) -> Value {
    let mut v = serde_json::to_value(plan("BAD1")).unwrap();
    f(&mut v);
    v
}

fn cases() -> Vec<(&'static str, Bad)> {
    vec![
        (
            "TP at price 0",
            Bad::Plan(
                with(|p| p.tp_levels[0].price = dec!(0)),
                "tp_levels[0].price",
            ),
        ),
        (
            "negative TP",
            Bad::Plan(
                with(|p| p.tp_levels[1].price = dec!(-52000)),
                "tp_levels[1].price",
            ),
        ),
        (
            "TP on the loss side of a long",
            Bad::Plan(
                with(|p| p.tp_levels[0].price = dec!(49500)),
                "tp_levels[0].price",
            ),
        ),
        (
            "TPs out of order",
            Bad::Plan(
                with(|p| {
                    p.tp_levels[1].price = dec!(50500);
                }),
                "tp_levels[1].price",
            ),
        ),
        (
            "TP shares not adding up to 1",
            Bad::Plan(with(|p| p.tp_levels[2].share = dec!(0.3)), "tp_levels"),
        ),
        (
            "DCA above the price of a long",
            Bad::Plan(
                with(|p| p.dca_levels[0].price = dec!(51000)),
                "dca_levels[0].price",
            ),
        ),
        (
            "DCAs out of order",
            Bad::Plan(
                with(|p| p.dca_levels[1].price = dec!(49500)),
                "dca_levels[1].price",
            ),
        ),
        (
            "DCA at price 1 (outside the band)",
            Bad::Plan(
                with(|p| p.dca_levels[1].price = dec!(1)),
                "dca_levels[1].price",
            ),
        ),
        (
            "DCA notional over the cap",
            Bad::Plan(
                with(|p| p.dca_levels[0].margin_usdt = dec!(600)),
                "dca_levels[0].margin_usdt",
            ),
        ),
        (
            "whole trade with every DCA filled over the cap",
            Bad::Plan(
                with(|p| {
                    p.margin_usdt = dec!(200);
                    p.dca_levels[0].margin_usdt = dec!(160);
                    p.dca_levels[1].margin_usdt = dec!(160);
                }),
                "dca_levels",
            ),
        ),
        (
            "entry notional over the cap",
            Bad::Plan(
                with(|p| {
                    p.margin_usdt = dec!(600);
                    p.dca_levels.clear();
                }),
                "margin_usdt",
            ),
        ),
        (
            "leverage 0",
            Bad::Plan(with(|p| p.leverage = dec!(0)), "leverage"),
        ),
        (
            "leverage above the instrument's",
            Bad::Plan(with(|p| p.leverage = dec!(1000)), "leverage"),
        ),
        (
            "symbol not configured",
            Bad::Plan(
                with(|p| p.symbol = Symbol::new("ETHUSDT").unwrap()),
                "symbol",
            ),
        ),
        (
            "unknown field stop_loss",
            Bad::Json(json_plan(|v| v["stop_loss"] = json!("90000"))),
        ),
        (
            "unknown field in a TP",
            Bad::Json(json_plan(|v| v["tp_levels"][0]["stop"] = json!("1"))),
        ),
        (
            "margin \"4_0\"",
            Bad::Json(json_plan(|v| v["margin_usdt"] = json!("4_0"))),
        ),
        (
            "margin \"4e1\"",
            Bad::Json(json_plan(|v| v["margin_usdt"] = json!("4e1"))),
        ),
        (
            "margin as a JSON float",
            Bad::Json(json_plan(|v| v["margin_usdt"] = json!(40.0))),
        ),
        (
            "TP price as a JSON number",
            Bad::Json(json_plan(|v| v["tp_levels"][0]["price"] = json!(51000))),
        ),
    ]
}

/// Each bad plan refused, naming its field, with zero requests
/// reaching the emulator (R-SAFE-1).
#[tokio::test]
async fn every_bad_plan_is_refused_with_zero_requests_at_the_emulator() {
    let emu = start_emulator(dec!(100000)).await;
    let p = process(&emu, Arc::new(MemoryJournal::new())).await;
    let live = Live::over(emu, &p);
    live.ticker_ready().await;
    // The good plan passes the same check (so the cases fail for their own reason).
    p.gateway.check_plan(&plan("GOOD")).await.unwrap();
    let json_good: TradePlan =
        serde_json::from_value(serde_json::to_value(plan("GOOD")).unwrap()).unwrap();
    assert_eq!(json_good, plan("GOOD"));

    let before = settled(&live).await;
    for (name, case) in cases() {
        match case {
            Bad::Json(v) => {
                let err = serde_json::from_value::<TradePlan>(v).unwrap_err();
                println!("{name}: {err}");
            }
            Bad::Plan(bad, field) => {
                let err = p.gateway.execute_entry(&bad).await.unwrap_err();
                assert!(err.is_plan_refused(), "{name}: {err}");
                match &err {
                    GatewayError::PlanRefused { field: got, .. } => {
                        assert_eq!(got, field, "{name}: {err}")
                    }
                    other => panic!("{name}: {other}"),
                }
                let err = p.gateway.open_trade(&bad).await.unwrap_err();
                assert!(err.is_plan_refused(), "{name}: {err}");
            }
        }
    }
    let after = requests(&live).await;
    assert_eq!(total(&after), total(&before), "{before} → {after}");
    assert!(live.exchange_orders().is_empty());
}

/// R-SAFE-2: a second trade on a symbol with an open trade, a position no trade owns, and the
/// tag of a finished trade are conflicts, refused before any order is sent.
#[tokio::test]
async fn conflicts_are_refused_before_anything_is_sent() {
    let emu = start_emulator(dec!(100000)).await;
    let journal = Arc::new(MemoryJournal::new());
    let p = process(&emu, journal.clone()).await;
    let live = Live::over(emu, &p);
    live.ticker_ready().await;

    let first = plan("OWN1");
    p.gateway.execute_entry(&first).await.unwrap();

    // A second open trade on BTCUSDT: refused from memory, no request at all.
    let before = settled(&live).await;
    let err = p.gateway.execute_entry(&plan("OWN2")).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("OWN1"), "{err}");
    let after = requests(&live).await;
    assert_eq!(total(&after), total(&before), "{before} → {after}");

    // Closed, OWN1's tag names a finished trade for ever.
    let state = p.gateway.trade("OWN1").unwrap();
    p.gateway.close_all(&state, "test").await.unwrap();
    let before = settled(&live).await;
    let err = p.gateway.execute_entry(&first).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("finished"), "{err}");
    assert_eq!(total(&requests(&live).await), total(&before));

    // A position no trade owns (placed outside the layer): refused, saying what it found;
    // only the position read reaches the exchange.
    let foreign = OrderRequest {
        symbol: btc(),
        side: Side::Buy,
        qty: dec!(0.01),
        price: None,
        trigger_price: None,
        trigger_direction: None,
        reduce_only: false,
        time_in_force: exec_gateway::TimeInForce::Ioc,
        order_link_id: bybit_types::OrderLinkId::new("manual-1").unwrap(),
    };
    p.exchange.place(&foreign).await.unwrap();
    let before = settled(&live).await;
    let err = p.gateway.execute_entry(&plan("OWN3")).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("0.01"), "{err}");
    let after = requests(&live).await;
    assert_eq!(
        after["byPath"].get("/v5/order/create"),
        before["byPath"].get("/v5/order/create"),
        "{after}"
    );
    assert_eq!(total(&after) - total(&before), 1, "{before} → {after}");
    assert!(p
        .gateway
        .trade("OWN3")
        .is_none_or(|t| t.filled_qty.is_zero()));

    // With the opt-in, the trade adopts it and owns both quantities.
    let mut adopt = plan("OWN4");
    adopt.adopt_position = true;
    let entry = p.gateway.execute_entry(&adopt).await.unwrap();
    let own = p
        .exchange
        .get_order(
            &btc(),
            &bybit_types::OrderLinkId::new("andre_ENTRY_OWN4").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(own.filled_qty > dec!(0));
    assert_eq!(
        entry.filled_qty,
        dec!(0.01) + own.filled_qty,
        "adopted + entered"
    );
    // A reconcile pass keeps the adopted quantity (it rebuilds the entry from its order).
    p.gateway.reconcile().await.unwrap();
    assert_eq!(
        p.gateway.trade("OWN4").unwrap().filled_qty,
        entry.filled_qty
    );
    // So does a restart: the adoption is journaled (an Adopt write), and the next process's
    // recover() gives the trade what it adopted as well as its entry's fill.
    let writes = journal.writes("OWN4").await.unwrap();
    assert!(
        writes
            .iter()
            .any(|w| w.kind == exec_gateway::WriteKind::Adopt && w.value == Some(dec!(0.01))),
        "{writes:?}"
    );
    p.exchange.shutdown().await;
    let next = process(&live.emu, journal.clone()).await;
    next.gateway.recover().await.unwrap();
    assert_eq!(
        next.gateway.trade("OWN4").unwrap().filled_qty,
        entry.filled_qty,
        "adopted + entered, after a restart"
    );
}

/// The TradePlan's unknown JSON field is named in the refusal (the control API's 4xx text).
#[test]
fn an_unknown_field_is_named() {
    let v = json_plan(|v| v["stop_loss"] = json!("90000"));
    let err = serde_json::from_value::<TradePlan>(v).unwrap_err();
    assert!(err.to_string().contains("stop_loss"), "{err}");
    let v = json_plan(|v| v["margin_usdt"] = json!("4_0"));
    let err = serde_json::from_value::<TradePlan>(v).unwrap_err();
    assert!(err.to_string().contains("4_0"), "{err}");
    // `adopt_position` may be left out.
    let mut v = serde_json::to_value(plan("A")).unwrap();
    v.as_object_mut().unwrap().remove("adopt_position");
    assert!(
        !serde_json::from_value::<TradePlan>(v)
            .unwrap()
            .adopt_position
    );
}

/// R-SAFE-2: the symbol is claimed atomically. Ten entries with ten tags on BTCUSDT at once
/// (their ownership checks read the position over REST, so they interleave): one opens,
/// nine are conflicts, and one entry order reaches the emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_entries_with_different_tags_open_one_trade() {
    let emu = start_emulator(dec!(100000)).await;
    let p = process(&emu, Arc::new(MemoryJournal::new())).await;
    let live = Live::over(emu, &p);
    live.ticker_ready().await;
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let gw = p.gateway.clone();
            tokio::spawn(async move { gw.execute_entry(&plan(&format!("C{i}"))).await })
        })
        .collect();
    let mut opened = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => opened += 1,
            Err(e) => assert!(e.is_conflict(), "{e}"),
        }
    }
    assert_eq!(opened, 1);
    let counts = requests(&live).await;
    // Whichever path each took (REST or the order-entry stream).
    let creates: u64 = counts["createsByOrderLinkId"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(serde_json::Value::as_u64)
        .sum();
    assert_eq!(creates, 1, "{counts}");
}
