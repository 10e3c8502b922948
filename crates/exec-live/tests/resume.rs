//! R-SAFE-4, R-GW-6: `recover()` journals what its lookups find and
//! finishes the work in flight from the journaled plan, one test per branch, through the live
//! adapters against the emulator. Each "process" is a fresh gateway and adapters on the same
//! journal and exchange; the previous one is stopped as a kill would leave it (what it had
//! journaled, and what the exchange had, and nothing else).

use std::sync::Arc;

use exec_gateway::{
    Intent, Journal, MemoryJournal, OrderRequest, OrderRouter, Outcome, Phase, PositionService,
    PriceService, Recovered, Side,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::{btc, connect, eventually_async, plan, start_emulator, Process};

async fn ready(p: &Process) {
    eventually_async("a ticker price", || async {
        p.exchange.last_price(&btc()).await.is_ok()
    })
    .await;
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn intent(
    tag: &str,
    leg: &str,
    side: Side,
    qty: Decimal,
    price: Option<Decimal>,
    at_ms: i64,
) -> Intent {
    Intent {
        trade_tag: tag.into(),
        leg: leg.into(),
        order_link_id: format!("andre_{leg}_{tag}"),
        symbol: "BTCUSDT".into(),
        side: side.as_str().into(),
        qty,
        price,
        trigger_price: None,
        kind: if price.is_some() { "limit" } else { "market" }.into(),
        reason: "test".into(),
        at_ms,
    }
}

/// The trade's open orders on the exchange: (leg link, qty).
async fn open_of(p: &Process, tag: &str) -> Vec<(String, Decimal)> {
    let mut open: Vec<(String, Decimal)> = p
        .exchange
        .sync_open_orders(&btc())
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.order_link_id.ends_with(&format!("_{tag}")))
        .map(|o| (o.order_link_id, o.qty))
        .collect();
    open.sort();
    open
}

/// Stops `old` (as a kill leaves it) and starts a new process that runs `recover()`.
async fn restart(
    emu: &bybit_emulator::Emulator,
    old: Process,
    journal: &Arc<MemoryJournal>,
) -> (Process, Vec<Recovered>) {
    old.exchange.stop();
    drop(old);
    let p = connect(emu, journal.clone(), None).await;
    ready(&p).await;
    let found = p.gateway.recover().await.unwrap();
    (p, found)
}

async fn last_state(journal: &MemoryJournal, tag: &str) -> Phase {
    journal.states(tag).await.unwrap().last().unwrap().phase
}

/// Branch "on the exchange but not journaled as placed" and "ENTERING with an open
/// position": killed after the entry was sent, before its answer was journaled. recover()
/// journals the lookup (found), the trade IN_POSITION, and places its TPs and DCAs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_sent_but_not_journaled_is_journaled_found_and_the_trade_finished() {
    let emu = start_emulator(dec!(100000)).await;
    let journal = Arc::new(MemoryJournal::new());
    let p = connect(&emu, journal.clone(), None).await;
    ready(&p).await;
    let plan = plan("X1");
    journal.record_plan(&plan, now_ms()).await.unwrap();
    journal
        .record_state("X1", Phase::Entering, "execute_entry", now_ms())
        .await
        .unwrap();
    journal
        .record_intent(&intent(
            "X1",
            "ENTRY",
            Side::Buy,
            dec!(0.02),
            None,
            now_ms(),
        ))
        .await
        .unwrap();
    let sent = OrderRequest {
        symbol: btc(),
        side: Side::Buy,
        qty: dec!(0.02),
        price: None,
        trigger_price: None,
        trigger_direction: None,
        reduce_only: false,
        time_in_force: exec_gateway::TimeInForce::Ioc,
        order_link_id: bybit_types::OrderLinkId::new("andre_ENTRY_X1").unwrap(),
    };
    p.exchange.place(&sent).await.unwrap();

    let (p, found) = restart(&emu, p, &journal).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let r = &found[0];
    assert!(
        r.disagreements
            .contains(&"andre_ENTRY_X1: on the exchange but not journaled as placed".to_owned()),
        "{r:?}"
    );
    assert!(
        r.disagreements
            .iter()
            .any(|d| d.contains("journal says ENTERING but a position of 0.02")),
        "{r:?}"
    );
    assert_eq!(r.resolved, ["andre_ENTRY_X1: found"]);
    assert!(r.unresolved.is_empty());
    assert!(
        matches!(
            journal
                .intent("andre_ENTRY_X1")
                .await
                .unwrap()
                .unwrap()
                .outcomes
                .as_slice(),
            [Outcome::Resolved { found: true, .. }]
        ),
        "the lookup is journaled"
    );
    assert_eq!(r.state.phase, Phase::InPosition);
    assert_eq!(last_state(&journal, "X1").await, Phase::InPosition);
    assert_eq!(
        r.resumed,
        ["take-profits complete", "DCAs complete"],
        "{r:?}"
    );
    assert!(!r.state.unprotected && r.state.problems.is_empty(), "{r:?}");
    let open = open_of(&p, "X1").await;
    let legs: Vec<&str> = open.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        legs,
        [
            "andre_DCA1_X1",
            "andre_DCA2_X1",
            "andre_TP1_X1",
            "andre_TP2_X1",
            "andre_TP3_X1"
        ]
    );
    let tps: Decimal = open
        .iter()
        .filter(|(l, _)| l.contains("TP"))
        .map(|(_, q)| *q)
        .sum();
    assert_eq!(tps, dec!(0.020));
    // A second pass finds nothing to do and sends nothing.
    let again = p.gateway.reconcile().await.unwrap();
    assert!(again.is_settled(), "{again:?}");
    assert_eq!(open_of(&p, "X1").await, open);
}

/// Branch "journaled as placed but unknown": TP1 journaled acked, the exchange has never seen
/// it. recover() reports it, does not send it again (the exchange had it once), places the
/// other TPs, and marks the trade unprotected with TP1 listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tp_journaled_as_placed_but_unknown_is_flagged_and_the_rest_placed() {
    let emu = start_emulator(dec!(100000)).await;
    let journal = Arc::new(MemoryJournal::new());
    let p = connect(&emu, journal.clone(), None).await;
    ready(&p).await;
    let plan = plan("X2");
    p.gateway.execute_entry(&plan).await.unwrap();
    journal
        .record_intent(&intent(
            "X2",
            "TP1",
            Side::Sell,
            dec!(0.01),
            Some(dec!(51000)),
            now_ms(),
        ))
        .await
        .unwrap();
    journal
        .record_outcome(
            "andre_TP1_X2",
            &Outcome::Acked {
                order_id: "gone".into(),
            },
            now_ms(),
        )
        .await
        .unwrap();

    let (p, found) = restart(&emu, p, &journal).await;
    let r = &found[0];
    assert!(
        r.disagreements
            .contains(&"andre_TP1_X2: journaled as placed but unknown to the exchange".to_owned()),
        "{r:?}"
    );
    assert_eq!(r.state.phase, Phase::InPosition);
    assert!(r.state.unprotected, "{r:?}");
    assert_eq!(r.state.problems.len(), 1, "{r:?}");
    assert_eq!(r.state.problems[0].leg, "TP1");
    assert_eq!(r.state.problems[0].kind, "unknown");
    let open = open_of(&p, "X2").await;
    assert!(open.iter().all(|(l, _)| l != "andre_TP1_X2"), "{open:?}");
    assert!(open.iter().any(|(l, _)| l == "andre_TP2_X2"), "{open:?}");
    assert!(open.iter().any(|(l, _)| l == "andre_TP3_X2"), "{open:?}");
    // A background pass meets the same standing problems: they stay listed, and are not
    // published (or logged) again.
    let mut sub = p.bus.subscribe();
    let again = p.gateway.reconcile().await.unwrap();
    assert!(!again.is_settled());
    assert!(again.trades[0].state.unprotected);
    let mut errors = Vec::new();
    while let Some(exec_events::Received::Event(env)) = sub.try_recv() {
        if let exec_events::Event::ExecutionError(e) = &*env.event {
            errors.push(e.clone());
        }
    }
    assert!(errors.is_empty(), "{errors:?}");
}

/// Branch "CLOSING with orders left": killed mid-close. recover() finishes the close: no
/// order of the trade left, the position flat, CLOSED journaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trade_left_closing_is_closed() {
    let emu = start_emulator(dec!(100000)).await;
    let journal = Arc::new(MemoryJournal::new());
    let p = connect(&emu, journal.clone(), None).await;
    ready(&p).await;
    let plan = plan("X3");
    let opened = p.gateway.open_trade(&plan).await.unwrap();
    assert!(opened.state.problems.is_empty(), "{opened:?}");
    journal
        .record_state("X3", Phase::Closing, "close_all: operator", now_ms())
        .await
        .unwrap();
    assert_eq!(open_of(&p, "X3").await.len(), 5);

    let (p, found) = restart(&emu, p, &journal).await;
    let r = &found[0];
    assert_eq!(r.resumed, ["CLOSING: closed"], "{r:?}");
    assert_eq!(r.state.phase, Phase::Closed);
    assert_eq!(last_state(&journal, "X3").await, Phase::Closed);
    assert!(open_of(&p, "X3").await.is_empty());
    assert!(p.exchange.get_position(&btc()).await.unwrap().is_flat());
}

/// An intent whose order never reached the exchange, old enough that it can no longer land,
/// is journaled "not placed", and the leg is then sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_that_never_landed_is_journaled_not_placed_and_sent_once() {
    let emu = start_emulator(dec!(100000)).await;
    let journal = Arc::new(MemoryJournal::new());
    let p = connect(&emu, journal.clone(), None).await;
    ready(&p).await;
    let plan = plan("X4");
    let entry = p.gateway.execute_entry(&plan).await.unwrap();
    let position = p.exchange.get_position(&btc()).await.unwrap();
    p.gateway.setup_tps(&plan, &position).await.unwrap();
    assert_eq!(entry.filled_qty, dec!(0.020));
    journal
        .record_intent(&intent(
            "X4",
            "DCA1",
            Side::Buy,
            dec!(0.02),
            Some(dec!(49000)),
            now_ms() - 60_000,
        ))
        .await
        .unwrap();
    // DCA2's intent is fresh: its order might still land, so the lookup alone does not settle
    // it; the resumed setup_dcas does (looked up, then sent once under the outcome policy).
    journal
        .record_intent(&intent(
            "X4",
            "DCA2",
            Side::Buy,
            dec!(0.02),
            Some(dec!(48000)),
            now_ms(),
        ))
        .await
        .unwrap();

    let (p, found) = restart(&emu, p, &journal).await;
    let r = &found[0];
    assert_eq!(r.resolved, ["andre_DCA1_X4: not placed"], "{r:?}");
    assert!(r.unresolved.is_empty());
    assert_eq!(
        r.resumed,
        ["take-profits complete", "DCAs complete"],
        "{r:?}"
    );
    let open = open_of(&p, "X4").await;
    assert!(open.iter().any(|(l, _)| l == "andre_DCA1_X4"), "{open:?}");
    assert!(open.iter().any(|(l, _)| l == "andre_DCA2_X4"), "{open:?}");
    let truth = emu.truth();
    for dca in ["andre_DCA1_X4", "andre_DCA2_X4"] {
        assert_eq!(
            truth["requests"]["createsByOrderLinkId"][dca], 1,
            "{dca} sent once"
        );
    }
}

/// TPs resized after a DCA filled while the process was down: recover() amends them to the
/// trade's quantity (entry + DCA1), which is the position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tps_are_resized_after_a_dca_filled_while_down() {
    let emu = start_emulator(dec!(100000)).await;
    let journal = Arc::new(MemoryJournal::new());
    let p = connect(&emu, journal.clone(), None).await;
    ready(&p).await;
    let plan = plan("X5");
    p.gateway.open_trade(&plan).await.unwrap();
    p.exchange.stop();
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", dec!(48900)))
        .unwrap();
    let (p, found) = restart(&emu, p, &journal).await;
    let r = &found[0];
    let position = p.exchange.get_position(&btc()).await.unwrap();
    assert_eq!(position.size, dec!(0.040), "DCA1 filled");
    let tps: Decimal = open_of(&p, "X5")
        .await
        .iter()
        .filter(|(l, _)| l.contains("TP"))
        .map(|(_, q)| *q)
        .sum();
    assert_eq!(tps, dec!(0.040), "{r:?}");
}
