//! SPEC R-WS-4 / R-GW-6: the layer is down for 10 days with a
//! trade open; meanwhile TP1 fills (8 days in) and funding is charged every 8 hours. Bybit
//! answers an execution query for at most 7 days (docs/v5/order/execution.mdx, `startTime`:
//! "Only startTime is passed, return range between startTime and startTime+7 days"), so the
//! restart's catch-up must walk the gap in windows: the TP1 fill is published once by the
//! start catch-up, every funding once, and the journal ends equal to the exchange.

use std::collections::BTreeSet;
use std::sync::Arc;

use exec_events::ExecKind;
use exec_gateway::{Journal, OrderStatus, Phase, PositionService};
use exec_journal::SqliteJournal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::support::{btc, connect, eventually, fills, live, plan};

async fn control(base: &str, path: &str, body: Value) {
    let reply: Value = reqwest::Client::new()
        .post(format!("{base}/emulator{path}"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["ok"], json!(true), "{path}: {reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_days_down_the_tp_fill_and_funding_are_published_once_and_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    let l = live(dec!(10000), journal.clone(), None).await;
    l.ticker_ready().await;
    let plan = plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    eventually("the entry fill is journaled", async || {
        journal.fills("andre_").await.unwrap().len() == 1
    })
    .await;

    // The process stops cleanly.
    l.exchange.shutdown().await;
    let crate::support::Live {
        emu,
        exchange,
        gateway,
        ..
    } = l;
    drop(gateway);
    drop(exchange);
    drop(journal);
    let base = emu.http_url();

    // 8 days pass, TP1 fills, 2 more days pass: funding every 8 hours throughout.
    control(&base, "/time/pass", json!({"days": 8})).await;
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", dec!(51010)))
        .unwrap();
    control(&base, "/time/pass", json!({"days": 2})).await;
    let exchange_fills = emu
        .state()
        .read(|e| e.executions(&sim_engine::ExecutionQuery::default()));
    let tp1 = exchange_fills
        .iter()
        .find(|x| x.order_link_id == "andre_TP1_T1")
        .expect("TP1 filled on the exchange");
    let entry_ms = exchange_fills
        .iter()
        .filter(|x| x.order_link_id.starts_with("andre_") && x.order_link_id != "andre_TP1_T1")
        .filter_map(|x| x.exec_time)
        .max()
        .expect("the entry fill");
    assert!(
        tp1.exec_time.unwrap() - entry_ms > 7 * 86_400_000,
        "TP1 filled more than one Bybit window after the newest fill the journal knows"
    );
    let funding: BTreeSet<String> = exchange_fills
        .iter()
        .filter(|x| {
            x.exec_type
                .as_ref()
                .is_some_and(|t| t.as_str() == "Funding")
        })
        .map(|x| x.exec_id.clone())
        .collect();
    assert_eq!(funding.len(), 30, "10 days of 8-hour funding");

    // A new process on the same journal. Its start catch-up alone (before any stream
    // event) reports TP1 and every funding, once.
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    let mut p = connect(&emu, journal.clone(), None).await;
    let first = fills(&mut p.sub);
    let tp_fills: Vec<_> = first
        .iter()
        .filter(|f| f.order_link_id == "andre_TP1_T1")
        .collect();
    assert_eq!(
        tp_fills.len(),
        1,
        "the start catch-up must find the TP1 fill 8 days after the last known one: {first:?}"
    );
    assert_eq!(
        (tp_fills[0].qty, tp_fills[0].price),
        (dec!(0.010), tp1.exec_price)
    );
    let published_funding: BTreeSet<String> = first
        .iter()
        .filter(|f| f.exec_kind == ExecKind::Funding)
        .map(|f| f.exec_id.clone())
        .collect();
    assert_eq!(published_funding, funding, "every funding once");
    assert_eq!(
        first.len(),
        31,
        "TP1 and 30 fundings, nothing twice: {first:?}"
    );

    let recovered = p.gateway.recover().await.unwrap();
    assert_eq!(recovered.len(), 1);
    let found = &recovered[0];
    assert_eq!(found.state.phase, Phase::InPosition);
    assert_eq!(found.state.filled_qty, dec!(0.020));
    assert_eq!(
        found.state.orders.get("TP1").unwrap().1,
        Some(OrderStatus::Filled)
    );

    // Later catch-ups (the stream's subscription, a poll) publish nothing again.
    p.exchange.catch_up().await.unwrap();
    p.exchange.poll().await.unwrap();
    assert!(fills(&mut p.sub).is_empty());

    // The journal equals the exchange: every fill of the layer's orders, by
    // (execId, orderLinkId, qty, price).
    let key = |id: &str, link: &str, qty, price| (id.to_owned(), link.to_owned(), qty, price);
    let exchange_side: BTreeSet<_> = exchange_fills
        .iter()
        .filter(|x| x.order_link_id.starts_with("andre_"))
        .map(|x| key(&x.exec_id, &x.order_link_id, x.exec_qty, x.exec_price))
        .collect();
    eventually("the journal holds TP1", async || {
        journal.fills("andre_").await.unwrap().len() == exchange_side.len()
    })
    .await;
    let journal_side: BTreeSet<_> = journal
        .fills("andre_")
        .await
        .unwrap()
        .iter()
        .map(|f| key(&f.exec_id, &f.order_link_id, f.qty, f.price))
        .collect();
    assert_eq!(journal_side, exchange_side);
    p.exchange.shutdown().await;
}

/// Against the emulator: every private push of a fill reversed
/// (position before execution before order, `/emulator/ws/shuffle`) and each `Filled`
/// followed by the cancel race's second `Filled` (`/emulator/ws/double-filled`;
/// docs/v5/websocket/private/order.mdx, tip). The entry and TP1 fills are each published
/// once with the exchange's (execId, orderLinkId, qty, price), and each order's `Filled`
/// is published once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_pushes_and_double_filled_publish_each_fill_and_filled_once() {
    let journal: Arc<dyn Journal> = Arc::new(exec_gateway::MemoryJournal::new());
    let l = live(dec!(10000), journal.clone(), None).await;
    l.ticker_ready().await;
    l.control("/ws/shuffle", json!({})).await;
    l.control("/ws/double-filled", json!({"count": 50})).await;
    let mut sub = l.bus.subscribe();
    let plan = plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    l.set_price(dec!(51010));
    let truth: Vec<(String, String, rust_decimal::Decimal, rust_decimal::Decimal)> = {
        let mut v: Vec<_> = l.emu.state().read(|e| {
            e.executions(&sim_engine::ExecutionQuery::default())
                .into_iter()
                .map(|x| (x.exec_id, x.order_link_id, x.exec_qty, x.exec_price))
                .collect()
        });
        v.sort();
        v
    };
    assert_eq!(truth.len(), 2, "entry and TP1: {truth:?}");
    let mut published = Vec::new();
    let mut filled = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while published.len() < 2 || filled.len() < 2 {
        match tokio::time::timeout_at(deadline, sub.recv()).await {
            Ok(exec_events::Received::Event(env)) => match &*env.event {
                exec_events::Event::Fill(f) => {
                    published.push((f.exec_id.clone(), f.order_link_id.clone(), f.qty, f.price));
                }
                exec_events::Event::Order(o) if o.kind == exec_events::OrderEventKind::Filled => {
                    filled.push(o.order_link_id.clone());
                }
                _ => {}
            },
            other => panic!("waiting for fills: {other:?}; so far {published:?} {filled:?}"),
        }
    }
    // Let any duplicate arrive (the race's second Filled, a catch-up), then look again.
    l.exchange.catch_up().await.unwrap();
    while let Some(exec_events::Received::Event(env)) = sub.try_recv() {
        match &*env.event {
            exec_events::Event::Fill(f) => {
                published.push((f.exec_id.clone(), f.order_link_id.clone(), f.qty, f.price));
            }
            exec_events::Event::Order(o) if o.kind == exec_events::OrderEventKind::Filled => {
                filled.push(o.order_link_id.clone());
            }
            _ => {}
        }
    }
    published.sort();
    assert_eq!(published, truth);
    filled.sort();
    assert_eq!(filled, ["andre_ENTRY_T1", "andre_TP1_T1"]);
    let state = l.emu.truth();
    assert_eq!(
        state["faults"]["wsConnections"].as_u64().map(|n| n > 0),
        Some(true)
    );
}

/// SPEC R-GW-6: the exchange has forgotten an order
/// the journal knows. TP1 filled while the layer was down, then 10 days passed (order history
/// answers the last 7 days by default: docs/v5/order/order-list.mdx) and the exchange
/// restarted (the realtime endpoint forgets closed orders: docs/v5/order/open-order.mdx), so
/// a lookup of TP1 by orderLinkId finds nothing anywhere. Returns the new process after its
/// start catch-up and `recover()`, and the emulator's base URL.
async fn forgotten_tp1() -> (
    bybit_emulator::Emulator,
    crate::support::Process,
    Vec<exec_gateway::Recovered>,
    Arc<dyn Journal>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    let l = live(dec!(10000), journal.clone(), None).await;
    l.ticker_ready().await;
    let plan = plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    eventually("the entry fill is journaled", async || {
        journal.fills("andre_").await.unwrap().len() == 1
    })
    .await;
    l.exchange.shutdown().await;
    let crate::support::Live {
        emu,
        exchange,
        gateway,
        ..
    } = l;
    drop(gateway);
    drop(exchange);
    drop(journal);
    let base = emu.http_url();

    // TP1 fills while the layer is down; 10 days pass; Bybit restarts.
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", dec!(51010)))
        .unwrap();
    control(&base, "/time/pass", json!({"days": 10})).await;
    control(&base, "/exchange-restart", json!({})).await;

    // Nothing answers for TP1 (nor the entry) by orderLinkId any more.
    let creds = bybit_sign::Credentials::new(crate::support::KEY, crate::support::SECRET).unwrap();
    let rest = bybit_rest::RestClient::new(
        bybit_rest::RestConfig::with_base_url(base.clone()).credentials(creds),
    )
    .unwrap();
    for link in ["andre_TP1_T1", "andre_ENTRY_T1"] {
        let link = bybit_types::OrderLinkId::new(link).unwrap();
        let found = bybit_rest::BybitRest::order_by_link_id(&rest, btc(), link)
            .await
            .unwrap();
        assert!(found.is_none(), "must be forgotten: {found:?}");
    }

    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    let p = connect(&emu, journal.clone(), None).await;
    let recovered = p.gateway.recover().await.unwrap();
    (emu, p, recovered, journal, dir)
}

/// The forgotten order is never sent again, and its fill (found by the catch-up's windows)
/// is published once and journaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_the_exchange_forgot_is_never_resent() {
    let (emu, mut p, recovered, journal, _dir) = forgotten_tp1().await;
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    let tp_fills: Vec<_> = fills(&mut p.sub)
        .into_iter()
        .filter(|f| f.order_link_id == "andre_TP1_T1")
        .collect();
    assert_eq!(tp_fills.len(), 1);
    eventually("TP1's fill is journaled", async || {
        journal.fills("andre_TP1_T1").await.unwrap().len() == 1
    })
    .await;
    // Nothing sent again, even when the TPs are set up again (what a caller does after a
    // restart): one create request per leg for the whole run. Its outcome is not the point.
    let _ = p
        .gateway
        .setup_tps(&plan("T1"), &p.exchange.get_position(&btc()).await.unwrap())
        .await;
    let truth = emu.truth();
    for link in ["andre_ENTRY_T1", "andre_TP1_T1"] {
        assert_eq!(
            truth["requests"]["createsByOrderLinkId"][link],
            json!(1),
            "{link}: {}",
            truth["requests"]
        );
    }
    p.exchange.shutdown().await;
}

/// The forgotten orders are resolved, not left unknown: the lookup finds neither TP1 nor the
/// entry by orderLinkId, so exec-live asks order history for the window around each one's
/// newest journaled fill (the catch-up journaled TP1's), where Bybit keeps orders with fills
/// for 2 years: both Filled, the filled quantity as the position says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_the_exchange_forgot_is_resolved_from_fills_and_the_position() {
    let (_emu, p, recovered, _journal, _dir) = forgotten_tp1().await;
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    let state = &recovered[0].state;
    assert_eq!(
        state.orders.get("TP1").map(|o| o.1),
        Some(Some(OrderStatus::Filled)),
        "TP1 resolved from its fill: {state:?}"
    );
    assert_eq!(
        state.orders.get("ENTRY").map(|o| o.1),
        Some(Some(OrderStatus::Filled)),
        "{state:?}"
    );
    assert_eq!(
        state.orders.get("TP2").map(|o| o.1),
        Some(Some(OrderStatus::Open))
    );
    assert_eq!(state.phase, Phase::InPosition);
    assert_eq!(state.filled_qty, dec!(0.020));
    p.exchange.shutdown().await;
}

/// `/v5/position/trading-stop` answers 34040 "not modified" when the stop is
/// already what was asked (docs/v5/error.mdx); `bybit-rest` reads it as `AlreadySet`, so
/// setting the same stop twice (a re-send, a repeated breakeven) is a success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_the_same_stop_twice_is_a_success() {
    use exec_gateway::OrderRouter;
    let journal: Arc<dyn Journal> = Arc::new(exec_gateway::MemoryJournal::new());
    let l = live(dec!(10000), journal, None).await;
    l.ticker_ready().await;
    l.gateway.execute_entry(&plan("T1")).await.unwrap();
    l.exchange.set_stop_loss(&btc(), dec!(45000)).await.unwrap();
    let rest = bybit_rest::RestClient::new(
        bybit_rest::RestConfig::with_base_url(l.emu.http_url()).credentials(
            bybit_sign::Credentials::new(crate::support::KEY, crate::support::SECRET).unwrap(),
        ),
    )
    .unwrap();
    let again = bybit_rest::BybitRest::trading_stop(
        &rest,
        bybit_rest::TradingStop::full(btc(), 0)
            .stop_loss(bybit_types::Price::new(dec!(45000)).unwrap()),
    )
    .await
    .unwrap();
    assert!(
        matches!(again, bybit_rest::Change::AlreadySet),
        "34040 from the emulator: {again:?}"
    );
    l.exchange.set_stop_loss(&btc(), dec!(45000)).await.unwrap();
}

/// SPEC R-GW-6, the case with NO fills: TP2 was acknowledged and
/// journaled, then cancelled on the exchange while the layer was down (unfilled). Order
/// history keeps a Cancelled order without fills for 24 hours only
/// (docs/v5/order/order-list.mdx), realtime forgets closed orders when the exchange restarts
/// (docs/v5/order/open-order.mdx), so after 10 days and a restart no lookup finds TP2 and no
/// execution names it. What the exchange still says: TP2 is not among the open orders (which
/// Bybit never forgets), and the catch-up walked every execution since the newest journaled
/// fill without finding one of TP2's. So TP2 is closed with nothing filled: it must be
/// resolved (not left unknown) and never sent again under its orderLinkId.
///
/// `recover()` resolves it as closed with nothing filled (journaled `Cancelled`); before, it
/// left TP2's status `None` and the leg unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfilled_order_the_exchange_forgot_is_resolved_and_never_resent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    let l = live(dec!(10000), journal.clone(), None).await;
    l.ticker_ready().await;
    let plan = plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    eventually("the entry fill is journaled", async || {
        journal.fills("andre_").await.unwrap().len() == 1
    })
    .await;
    l.exchange.shutdown().await;
    let crate::support::Live {
        emu,
        exchange,
        gateway,
        ..
    } = l;
    drop(gateway);
    drop(exchange);
    drop(journal);
    let base = emu.http_url();

    // While the layer is down TP2 is cancelled unfilled (by hand, on the exchange); 10 days
    // pass; Bybit restarts.
    emu.state()
        .execute(|e, now| {
            e.cancel_order(
                now,
                "BTCUSDT",
                &sim_engine::OrderKey::LinkId("andre_TP2_T1".into()),
            )
        })
        .unwrap();
    control(&base, "/time/pass", json!({"days": 10})).await;
    control(&base, "/exchange-restart", json!({})).await;
    let creds = bybit_sign::Credentials::new(crate::support::KEY, crate::support::SECRET).unwrap();
    let rest = bybit_rest::RestClient::new(
        bybit_rest::RestConfig::with_base_url(base.clone()).credentials(creds),
    )
    .unwrap();
    let link = bybit_types::OrderLinkId::new("andre_TP2_T1").unwrap();
    let found = bybit_rest::BybitRest::order_by_link_id(&rest, btc(), link)
        .await
        .unwrap();
    assert!(found.is_none(), "TP2 must be forgotten: {found:?}");

    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    let p = connect(&emu, journal.clone(), None).await;
    let recovered = p.gateway.recover().await.unwrap();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    let state = &recovered[0].state;
    assert!(journal.fills("andre_TP2_T1").await.unwrap().is_empty());
    assert_eq!(
        state.orders.get("TP1").map(|o| o.1),
        Some(Some(OrderStatus::Open)),
        "{state:?}"
    );
    // Setting the TPs up again (what a caller does after a restart) sends nothing under
    // TP2's orderLinkId either. Its outcome is not the point.
    let _ = p
        .gateway
        .setup_tps(&plan, &p.exchange.get_position(&btc()).await.unwrap())
        .await;
    let truth = emu.truth();
    assert_eq!(
        truth["requests"]["createsByOrderLinkId"]["andre_TP2_T1"],
        json!(1),
        "never sent again: {}",
        truth["requests"]
    );
    let tp2 = state.orders.get("TP2").and_then(|o| o.1);
    assert!(
        matches!(tp2, Some(OrderStatus::Cancelled)),
        "TP2 closed unfilled, resolved rather than unknown: {tp2:?} in {state:?}"
    );
    assert!(
        !recovered[0].unresolved.contains(&"andre_TP2_T1".to_owned()),
        "{recovered:?}"
    );
    p.exchange.shutdown().await;
}
