//! The gateway on the paper router: the whole lifecycle on a price path, concurrency, and an
//! account too small to trade.

use std::collections::BTreeMap;
use std::sync::Arc;

use exec_events::{ErrorKind, ErrorLog, Event, Received};
use exec_gateway::journal::spawn_fill_recorder;
use exec_gateway::Clock;
use exec_gateway::{
    GatewayError, Journal, MemoryJournal, Outcome, Phase, PositionService, SqliteJournal,
};
use exec_gateway::{OrderRouter, Symbol};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::{OrderQuery, PriceSource};

use crate::support::{eventually, fills, paper, plan};

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

/// Open orders in the engine by orderLinkId → qty (non-empty ids only).
async fn open(p: &crate::support::Paper) -> BTreeMap<String, Decimal> {
    p.router
        .sync_open_orders(&btc())
        .await
        .unwrap()
        .into_iter()
        .filter(|o| !o.order_link_id.is_empty())
        .map(|o| (o.order_link_id, o.qty))
        .collect()
}

fn map(items: &[(&str, Decimal)]) -> BTreeMap<String, Decimal> {
    items.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn phases(j: &dyn Journal) -> Vec<Phase> {
    j.states("T1").unwrap().iter().map(|s| s.phase).collect()
}

#[tokio::test]
async fn the_whole_lifecycle_on_a_price_path() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(dir.path().join("data/journal.sqlite")).unwrap());
    let p = paper(dec!(10000), journal.clone(), None);
    let recorder =
        spawn_fill_recorder(&p.bus, journal.clone(), Arc::new(exec_gateway::SystemClock));
    let mut sub = p.bus.subscribe();
    let mut all_fills = Vec::new();
    let plan = plan("T1");
    // The price path, one print a second from t0 + 1 s: a dip through DCA1, then up through
    // TP1, TP2 and TP3. The engine prints each point when the clock reaches it.
    let t0 = p.clock.now_ms();
    p.router
        .set_price_source(
            "BTCUSDT",
            PriceSource::path(
                t0 + 1000,
                1000,
                &[dec!(48990), dec!(51010), dec!(52010), dec!(53010)],
            ),
        )
        .unwrap();
    let step = || {
        p.clock.advance(1000);
        p.router.advance();
    };

    // Entry: 100 USDT margin × 10 at 50 000 → 0.020 BTC, filled on the first ask level.
    let entry = p.gateway.execute_entry(&plan).await.unwrap();
    assert_eq!(entry.filled_qty, dec!(0.020));
    assert_eq!(entry.entry_price, dec!(50000.1));
    let f = fills(&mut sub);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].order_link_id, "andre_ENTRY_T1");
    all_fills.extend(f);
    assert_eq!(p.gateway.trade("T1").unwrap().phase, Phase::InPosition);
    assert_eq!(
        phases(journal.as_ref()),
        [Phase::Entering, Phase::InPosition]
    );

    // Three TPs, then two DCAs.
    let position = p.router.get_position(&btc()).await.unwrap();
    assert_eq!(position.size, dec!(0.020));
    p.gateway.setup_tps(&plan, &position).await.unwrap();
    p.gateway.setup_dcas(&plan, &position).await.unwrap();
    assert_eq!(
        open(&p).await,
        map(&[
            ("andre_TP1_T1", dec!(0.010)),
            ("andre_TP2_T1", dec!(0.006)),
            ("andre_TP3_T1", dec!(0.004)),
            ("andre_DCA1_T1", dec!(0.020)),
            ("andre_DCA2_T1", dec!(0.020)),
        ])
    );
    // Called again: nothing new.
    p.gateway.setup_tps(&plan, &position).await.unwrap();
    p.gateway.setup_dcas(&plan, &position).await.unwrap();
    assert_eq!(open(&p).await.len(), 5);
    let intents = journal.intents("T1").unwrap();
    let legs: Vec<_> = intents.iter().map(|r| r.intent.leg.as_str()).collect();
    assert_eq!(legs, ["ENTRY", "TP1", "TP2", "TP3", "DCA1", "DCA2"]);
    assert!(intents
        .iter()
        .all(|r| r.outcomes.len() == 1 && matches!(r.outcomes[0], Outcome::Acked { .. })));

    // The price dips through DCA1: it fills; the TPs are resized to the grown position.
    step();
    let f = fills(&mut sub);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].order_link_id.as_str(), f[0].qty),
        ("andre_DCA1_T1", dec!(0.020))
    );
    all_fills.extend(f);
    let position = p.router.get_position(&btc()).await.unwrap();
    assert_eq!(position.size, dec!(0.040));
    p.gateway.setup_tps(&plan, &position).await.unwrap();
    assert_eq!(
        open(&p).await,
        map(&[
            ("andre_TP1_T1", dec!(0.020)),
            ("andre_TP2_T1", dec!(0.012)),
            ("andre_TP3_T1", dec!(0.008)),
            ("andre_DCA2_T1", dec!(0.020)),
        ])
    );

    let names = |link: &str| -> Vec<&'static str> {
        journal
            .intent(link)
            .unwrap()
            .unwrap()
            .outcomes
            .iter()
            .map(Outcome::name)
            .collect()
    };
    assert_eq!(
        names("andre_TP1_T1"),
        ["acked", "amend_requested", "amended"]
    );

    // Up through TP1.
    step();
    let f = fills(&mut sub);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].order_link_id.as_str(), f[0].qty),
        ("andre_TP1_T1", dec!(0.020))
    );
    all_fills.extend(f);

    // Breakeven: DCA2 gone, TP2 and TP3 kept, a stop at the average entry.
    let state = p.gateway.trade("T1").unwrap();
    let state = p.gateway.move_to_breakeven(&state).await.unwrap();
    assert_eq!(state.phase, Phase::Breakeven);
    assert_eq!(
        open(&p).await,
        map(&[("andre_TP2_T1", dec!(0.012)), ("andre_TP3_T1", dec!(0.008))])
    );
    let wire = p
        .router
        .with_engine(|e, _| e.position_of("BTCUSDT"))
        .unwrap();
    // (50000.1 + 49000) / 2 = 49500.05, on the 0.10 tick: 49500.1.
    assert_eq!(wire.stop_loss, Some(dec!(49500.1)));

    // TP2 and TP3: flat.
    step();
    step();
    let f = fills(&mut sub);
    let links: Vec<_> = f.iter().map(|f| f.order_link_id.as_str()).collect();
    assert_eq!(links, ["andre_TP2_T1", "andre_TP3_T1"]);
    all_fills.extend(f);
    assert!(p.router.get_position(&btc()).await.unwrap().is_flat());

    let state = p
        .gateway
        .close_all(&state, "all targets hit")
        .await
        .unwrap();
    assert_eq!(state.phase, Phase::Closed);
    assert!(open(&p).await.is_empty());
    assert_eq!(
        phases(journal.as_ref()),
        [
            Phase::Entering,
            Phase::InPosition,
            Phase::Breakeven,
            Phase::Closing,
            Phase::Closed
        ]
    );
    assert_eq!(
        journal.intents("T1").unwrap().len(),
        6,
        "no close was needed"
    );

    // Each fill exactly once on the bus, and the same fills in the journal.
    let mut ids: Vec<_> = all_fills.iter().map(|f| f.exec_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    eventually("the journal has every fill", || {
        journal.fills("andre_").unwrap().len() == 5
    })
    .await;
    assert_eq!(journal.fills("andre_").unwrap(), all_fills);
    recorder.abort();
}

#[tokio::test]
async fn ten_concurrent_entries_put_one_order_in_the_engine() {
    let p = paper(dec!(10000), Arc::new(MemoryJournal::new()), None);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let gw = p.gateway.clone();
            tokio::spawn(async move { gw.execute_entry(&plan("T1")).await })
        })
        .collect();
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap().unwrap());
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    // And a later call.
    assert_eq!(
        p.gateway.execute_entry(&plan("T1")).await.unwrap(),
        results[0]
    );
    let orders = p.router.with_engine(|e, _| {
        e.order_history(&OrderQuery {
            symbol: Some("BTCUSDT".into()),
            ..OrderQuery::default()
        })
    });
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].order_link_id, "andre_ENTRY_T1");
}

#[tokio::test]
async fn too_small_a_balance_ends_in_error_with_one_event_and_one_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("data/logs/execution-error.log");
    let log = Arc::new(ErrorLog::open(&log_path).unwrap());
    let journal = Arc::new(MemoryJournal::new());
    let p = paper(dec!(5), journal.clone(), Some(log));
    let mut sub = p.bus.subscribe();
    let err = p.gateway.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(
        matches!(err, GatewayError::InsufficientBalance { .. }),
        "{err}"
    );
    assert_eq!(p.gateway.trade("T1").unwrap().phase, Phase::Error);
    let mut errors = Vec::new();
    while let Some(Received::Event(env)) = sub.try_recv() {
        if let Event::ExecutionError(e) = &*env.event {
            errors.push(e.clone());
        }
    }
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, ErrorKind::InsufficientBalance);
    assert_eq!(errors[0].order_link_id.as_deref(), Some("andre_ENTRY_T1"));
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");

    // Nothing else is sent: later operations on the trade are refused and the engine holds
    // no order of ours.
    let position = p.router.get_position(&btc()).await.unwrap();
    let later = p.gateway.setup_dcas(&plan("T1"), &position).await;
    assert!(later.is_err());
    let orders = p.router.with_engine(|e, _| {
        e.order_history(&OrderQuery {
            symbol: Some("BTCUSDT".into()),
            ..OrderQuery::default()
        })
    });
    assert!(orders
        .iter()
        .all(|o| o.order_status == bybit_types::OrderStatus::Rejected));
    assert_eq!(journal.intents("T1").unwrap().len(), 1);
    assert_eq!(
        journal.states("T1").unwrap().last().unwrap().phase,
        Phase::Error
    );
}

#[tokio::test]
async fn a_kill_between_intent_and_send_is_resolved_by_lookup_then_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    // The first process wrote the entry intent and died before sending it.
    let first = SqliteJournal::open(&path).unwrap();
    first
        .record_intent(&exec_gateway::Intent {
            trade_tag: "T1".into(),
            leg: "ENTRY".into(),
            order_link_id: "andre_ENTRY_T1".into(),
            symbol: "BTCUSDT".into(),
            side: "Buy".into(),
            qty: dec!(0.020),
            price: None,
            trigger_price: None,
            kind: "market".into(),
            reason: "execute_entry".into(),
            at_ms: 1,
        })
        .unwrap();
    std::mem::forget(first);
    // The next process reopens the file: the intent is there, the exchange has no such
    // order, so it is sent, once, with the same orderLinkId.
    let journal = Arc::new(SqliteJournal::open(&path).unwrap());
    let p = paper(dec!(10000), journal.clone(), None);
    let entry = p.gateway.execute_entry(&plan("T1")).await.unwrap();
    assert_eq!(entry.filled_qty, dec!(0.020));
    let row = journal.intent("andre_ENTRY_T1").unwrap().unwrap();
    assert_eq!(
        row.outcomes,
        [
            Outcome::Resolved {
                found: false,
                order_id: None
            },
            Outcome::Acked {
                order_id: p.router.with_engine(|e, _| {
                    e.order_history(&OrderQuery::default())[0].order_id.clone()
                })
            }
        ]
    );
    let orders = p
        .router
        .with_engine(|e, _| e.order_history(&OrderQuery::default()));
    assert_eq!(orders.len(), 1);
}
