//! The SQLite journal: durable before send, readable after a kill, refusing an impossible path.

use std::sync::Arc;

use exec_events::{ErrorKind, Event};
use exec_gateway::{
    GatewayError, Intent, Journal, JournalError, MockJournal, Outcome, Phase, SqliteJournal,
};
use rust_decimal_macros::dec;

use crate::support::{drain, plan, snapshot, Mocks};

fn intent(link: &str) -> Intent {
    Intent {
        trade_tag: "T1".into(),
        leg: "ENTRY".into(),
        order_link_id: link.into(),
        symbol: "BTCUSDT".into(),
        side: "Buy".into(),
        qty: dec!(0.020),
        price: None,
        trigger_price: None,
        kind: "market".into(),
        reason: "execute_entry".into(),
        at_ms: 1,
    }
}

#[test]
fn every_kind_of_row_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let j = SqliteJournal::open(dir.path().join("data/journal.sqlite")).unwrap();
    j.record_plan(&plan("T1"), 1).unwrap();
    j.record_plan(&plan("T1"), 2).unwrap();
    j.record_intent(&intent("andre_ENTRY_T1")).unwrap();
    j.record_intent(&intent("andre_ENTRY_T1")).unwrap();
    j.record_outcome(
        "andre_ENTRY_T1",
        &Outcome::Unknown {
            reason: "timeout".into(),
        },
        3,
    )
    .unwrap();
    j.record_outcome(
        "andre_ENTRY_T1",
        &Outcome::Acked {
            order_id: "o1".into(),
        },
        4,
    )
    .unwrap();
    j.record_state("T1", Phase::Entering, "execute_entry", 5)
        .unwrap();
    let fill = exec_events::Fill {
        exec_id: "e1".into(),
        symbol: "BTCUSDT".into(),
        side: exec_gateway::Side::Buy,
        order_id: "o1".into(),
        order_link_id: "andre_ENTRY_T1".into(),
        price: dec!(50000),
        qty: dec!(0.02),
        fee: dec!(0.55),
        fee_currency: "USDT".into(),
        is_maker: false,
        exec_kind: exec_events::ExecKind::Trade,
        time_ms: 6,
        simulated: false,
    };
    assert!(j.record_fill(&fill).unwrap());
    assert!(
        !j.record_fill(&fill).unwrap(),
        "a fill is recorded once by execId"
    );
    assert_eq!(j.plan("T1").unwrap().unwrap(), plan("T1"));
    let rows = j.intents("T1").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].intent, intent("andre_ENTRY_T1"));
    let names: Vec<_> = rows[0].outcomes.iter().map(Outcome::name).collect();
    assert_eq!(names, ["unknown", "acked"]);
    assert_eq!(j.fills("andre_").unwrap(), vec![fill]);
    assert_eq!(j.states("T1").unwrap()[0].phase, Phase::Entering);
}

#[test]
fn an_intent_survives_a_kill_between_writing_and_sending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let j = SqliteJournal::open(&path).unwrap();
    j.record_intent(&intent("andre_ENTRY_T1")).unwrap();
    // A kill: the connection is never closed, nothing is flushed on the way out.
    std::mem::forget(j);
    let reopened = SqliteJournal::open(&path).unwrap();
    let row = reopened.intent("andre_ENTRY_T1").unwrap().unwrap();
    assert_eq!(row.intent.qty, dec!(0.020));
    assert!(
        row.outcomes.is_empty(),
        "sent or not is unknown: a lookup must decide"
    );
}

#[tokio::test]
async fn after_a_kill_the_reopened_journal_makes_the_gateway_look_up_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let j = SqliteJournal::open(&path).unwrap();
    j.record_intent(&intent("andre_ENTRY_T1")).unwrap();
    std::mem::forget(j);
    let mut m = Mocks::new();
    m.router.expect_place_market_entry().times(0);
    m.router.expect_get_order().returning(|_, l| {
        Ok(Some(snapshot(
            l.as_str(),
            exec_gateway::Side::Buy,
            dec!(0.02),
            exec_gateway::OrderStatus::Filled,
        )))
    });
    let gw = m.build(Arc::new(SqliteJournal::open(&path).unwrap()), None);
    assert_eq!(
        gw.execute_entry(&plan("T1")).await.unwrap().filled_qty,
        dec!(0.02)
    );
}

#[test]
fn a_journal_on_a_path_that_cannot_be_created_refuses_to_open() {
    // Tests run as root, which can write into a read-only directory; a path under a regular
    // file cannot be created by anyone.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteJournal::open(file.join("journal.sqlite")).unwrap_err();
    assert!(matches!(err, JournalError::Open { .. }));
    assert!(err.to_string().contains("not-a-directory"), "{err}");
}

#[tokio::test]
async fn a_journal_that_cannot_be_written_stops_new_orders() {
    let mut journal = MockJournal::new();
    journal.expect_record_plan().returning(|_, _| Ok(()));
    journal.expect_record_state().returning(|_, _, _, _| Ok(()));
    journal.expect_intent().returning(|_| Ok(None));
    journal
        .expect_record_intent()
        .returning(|_| Err(JournalError::Io("disk I/O error".into())));
    let mut m = Mocks::new();
    m.router.expect_place_market_entry().times(0);
    let gw = m.build(Arc::new(journal), None);
    let mut sub = gw.bus().subscribe();
    let err = gw.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(matches!(err, GatewayError::Journal(_)), "{err}");
    assert!(err.to_string().contains("no order sent"));
    let kinds: Vec<_> = drain(&mut sub)
        .iter()
        .filter_map(Event::as_error)
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [ErrorKind::Journal]);
}

#[tokio::test]
async fn the_fill_recorder_records_each_fill_once_and_reports_a_lag() {
    use exec_events::{EventBus, Received};
    let bus = EventBus::new(4);
    let journal = Arc::new(exec_gateway::MemoryJournal::new());
    let mut watcher = bus.subscribe();
    let recorder = exec_gateway::journal::spawn_fill_recorder(
        &bus,
        journal.clone(),
        Arc::new(exec_gateway::ManualClock::new(7)),
    );
    // Ten fills before the recorder runs (single-threaded test runtime): it lags by six.
    for n in 0..10 {
        bus.publish(Event::Fill(fill(n)));
    }
    crate::support_wait(|| journal.fills("").unwrap().len() == 4).await;
    // The same fill again is not recorded twice.
    bus.publish(Event::Fill(fill(9)));
    bus.publish(Event::Fill(fill(10)));
    crate::support_wait(|| journal.fills("").unwrap().len() == 5).await;
    let ids: Vec<_> = journal
        .fills("")
        .unwrap()
        .into_iter()
        .map(|f| f.exec_id)
        .collect();
    assert_eq!(ids, ["e6", "e7", "e8", "e9", "e10"]);
    let mut lag = None;
    while let Some(r) = watcher.try_recv() {
        if let Received::Event(env) = r {
            if let Some(e) = env.event.as_error() {
                lag = Some(e.clone());
            }
        }
    }
    let lag = lag.expect("the recorder reported its lag");
    assert_eq!(lag.kind, ErrorKind::EventsLagged);
    assert_eq!(lag.time_ms, 7);
    assert!(lag.message.contains("missed 6"), "{}", lag.message);
    recorder.abort();
}

fn fill(n: u32) -> exec_events::Fill {
    exec_events::Fill {
        exec_id: format!("e{n}"),
        symbol: "BTCUSDT".into(),
        side: exec_gateway::Side::Buy,
        order_id: "o1".into(),
        order_link_id: "andre_ENTRY_T1".into(),
        price: dec!(50000),
        qty: dec!(0.001),
        fee: dec!(0.01),
        fee_currency: "USDT".into(),
        is_maker: false,
        exec_kind: exec_events::ExecKind::Trade,
        time_ms: 1,
        simulated: false,
    }
}
