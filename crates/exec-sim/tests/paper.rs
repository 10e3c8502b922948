//! The gateway on the paper router: the whole lifecycle on a price path, concurrency, and an
//! account too small to trade.

use std::sync::Arc;

use exec_events::{ErrorKind, ErrorLog, Event, Received};
use exec_gateway::testing::{run_lifecycle, LifecycleBackend};
use exec_gateway::{GatewayError, Journal, MemoryJournal, Outcome, Phase, PositionService};
use exec_gateway::{OrderRouter, Symbol};
use exec_journal::SqliteJournal;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::OrderQuery;

use crate::support::{paper, plan};

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

/// The paper backend of the shared reference lifecycle (exec-gateway's `testing` feature; the
/// live adapters run the same driver against the emulator in exec-live's tests).
struct PaperBackend {
    p: crate::support::Paper,
    journal: Arc<dyn Journal>,
}

#[async_trait::async_trait]
impl LifecycleBackend for PaperBackend {
    fn gateway(&self) -> &exec_gateway::Gateway {
        &self.p.gateway
    }
    fn journal(&self) -> Arc<dyn Journal> {
        self.journal.clone()
    }
    fn bus(&self) -> &exec_events::EventBus {
        &self.p.bus
    }
    fn router(&self) -> &dyn OrderRouter {
        self.p.router.as_ref()
    }
    fn positions(&self) -> &dyn PositionService {
        self.p.router.as_ref()
    }
    /// One print a second: the clock moves on, then the engine prints the price and
    /// publishes the fills it causes before this returns.
    async fn move_price(&self, price: Decimal) {
        self.p.clock.advance(1000);
        self.p.router.set_price("BTCUSDT", price).await.unwrap();
    }
    async fn stop_loss(&self) -> Option<Decimal> {
        self.p
            .router
            .with_engine(|e, _| e.position_of("BTCUSDT"))
            .await
            .unwrap()
            .stop_loss
    }
}

#[tokio::test]
async fn the_whole_lifecycle_on_a_price_path() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(dir.path().join("data/journal.sqlite")).unwrap());
    let p = paper(dec!(10000), journal.clone(), None).await;
    run_lifecycle(&PaperBackend { p, journal }).await;
}

#[tokio::test]
async fn ten_concurrent_entries_put_one_order_in_the_engine() {
    let p = paper(dec!(10000), Arc::new(MemoryJournal::new()), None).await;
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
    let orders = p
        .router
        .with_engine(|e, _| {
            e.order_history(&OrderQuery {
                symbol: Some("BTCUSDT".into()),
                ..OrderQuery::default()
            })
        })
        .await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].order_link_id, "andre_ENTRY_T1");
}

#[tokio::test]
async fn too_small_a_balance_ends_in_error_with_one_event_and_one_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("data/logs/execution-error.log");
    let log = Arc::new(ErrorLog::open(&log_path).unwrap());
    let journal = Arc::new(MemoryJournal::new());
    let p = paper(dec!(5), journal.clone(), Some(log)).await;
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
        .await
        .iter()
        .all(|o| o.order_status == bybit_types::OrderStatus::Rejected));
    assert_eq!(journal.intents("T1").await.unwrap().len(), 1);
    assert_eq!(
        journal.states("T1").await.unwrap().last().unwrap().phase,
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
        .await
        .unwrap();
    std::mem::forget(first);
    // The next process reopens the file: the intent is there, the exchange has no such
    // order, so it is sent, once, with the same orderLinkId.
    let journal = Arc::new(SqliteJournal::open(&path).unwrap());
    let p = paper(dec!(10000), journal.clone(), None).await;
    let entry = p.gateway.execute_entry(&plan("T1")).await.unwrap();
    assert_eq!(entry.filled_qty, dec!(0.020));
    let row = journal.intent("andre_ENTRY_T1").await.unwrap().unwrap();
    assert_eq!(
        row.outcomes,
        [
            Outcome::Resolved {
                found: false,
                order_id: None
            },
            Outcome::Acked {
                order_id: p
                    .router
                    .with_engine(|e, _| {
                        e.order_history(&OrderQuery::default())[0].order_id.clone()
                    })
                    .await
            }
        ]
    );
    let orders = p
        .router
        .with_engine(|e, _| e.order_history(&OrderQuery::default()));
    assert_eq!(orders.await.len(), 1);
}

/// The router journals each fill before publishing it: a bus subscriber that never reads (so
/// the bus overflows) loses nothing from the journal, and no fill is journaled twice (the
/// journal keys fills by execId).
#[tokio::test]
async fn every_fill_is_journaled_once_even_when_the_bus_overflows() {
    use exec_events::{EventBus, Side};
    use exec_gateway::{ManualClock, OrderRequest};
    use sim_engine::{defaults, Engine, EngineConfig};

    let mut config = EngineConfig::new(defaults::instruments(), dec!(100000), 7)
        .with_price("BTCUSDT", dec!(50000));
    config.static_prices = true;
    let bus = EventBus::new(2);
    let mut deaf = bus.subscribe();
    let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::new());
    let router = exec_sim::PaperRouter::new(
        Engine::new(config).unwrap(),
        bus.clone(),
        Arc::new(ManualClock::new(1_700_000_000_000)),
        journal.clone(),
    )
    .await
    .unwrap();

    // Entry, two adds, then a reduce-only close: every order a market order that fills.
    let legs = [
        ("t_ENTRY", Side::Buy, dec!(0.010), false),
        ("t_DCA1", Side::Buy, dec!(0.020), false),
        ("t_DCA2", Side::Buy, dec!(0.030), false),
        ("t_CLOSE", Side::Sell, dec!(0.060), true),
    ];
    for (link, side, qty, reduce_only) in legs {
        let req = OrderRequest {
            symbol: btc(),
            side,
            qty,
            price: None,
            trigger_price: None,
            trigger_direction: None,
            reduce_only,
            time_in_force: exec_gateway::TimeInForce::Ioc,
            order_link_id: bybit_types::OrderLinkId::new(link).unwrap(),
        };
        router.place(&req).await.unwrap();
    }
    assert!(
        matches!(deaf.recv().await, Received::Lagged { .. }),
        "the bus must have overflowed for this test to mean anything"
    );
    let fills = journal.fills("t_").await.unwrap();
    let mut ids: Vec<&str> = fills.iter().map(|f| f.exec_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), fills.len(), "an execId journaled twice");
    for (link, _, qty, _) in legs {
        let filled: Decimal = fills
            .iter()
            .filter(|f| f.order_link_id == link)
            .map(|f| f.qty)
            .sum();
        assert_eq!(
            filled, qty,
            "{link}: journaled fills must add up to the order"
        );
    }
}

/// A router without a private stream still feeds the gateway's waits (R-WS-4): the paper
/// router publishes its order, fill and position events on the gateway's bus as it acts, so
/// an entry and a close finish on those events alone. With lookups held off for an hour
/// (`stream_silence`, `fill_timeout`), only the events can end the waits within the bound.
#[tokio::test]
async fn paper_events_on_the_bus_end_the_entry_and_close_waits() {
    let mut config = exec_gateway::GatewayConfig::new(dec!(5000));
    config.stream_silence = std::time::Duration::from_secs(3600);
    config.fill_timeout = std::time::Duration::from_secs(3600);
    let p = crate::support::paper_with(
        dec!(10000),
        Arc::new(exec_gateway::MemoryJournal::new()),
        None,
        config,
    )
    .await;
    let plan = crate::support::plan("B1");
    let bound = std::time::Duration::from_secs(30);
    let entry = tokio::time::timeout(bound, p.gateway.execute_entry(&plan))
        .await
        .expect("the entry's fill event never reached the gateway")
        .unwrap();
    assert_eq!(entry.filled_qty, dec!(0.020));
    let state = p.gateway.trade("B1").unwrap();
    let closed = tokio::time::timeout(bound, p.gateway.close_all(&state, "test"))
        .await
        .expect("the close's position event never reached the gateway")
        .unwrap();
    assert_eq!(closed.phase, exec_gateway::Phase::Closed);
}
