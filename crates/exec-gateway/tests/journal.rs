//! The SQLite journal: durable before send, readable after a kill, refusing an impossible path.

use futures_util::FutureExt;
use std::sync::{Arc, Mutex};

use exec_events::{ErrorKind, Event};
use exec_gateway::{
    GatewayError, Journal, JournalError, MemoryJournal, MockAccountService, MockJournal,
    OrderStatus, Outcome, Phase, PortError, Side, WriteKind, WriteRecord, WriteStage,
};
use exec_journal::SqliteJournal;
use rust_decimal_macros::dec;

use crate::support::{drain, entry_intent as intent, long, plan, snapshot, Mocks};

#[tokio::test]
async fn every_kind_of_row_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let j = SqliteJournal::open(dir.path().join("data/journal.sqlite")).unwrap();
    j.record_plan(&plan("T1"), 1).await.unwrap();
    j.record_plan(&plan("T1"), 2).await.unwrap();
    j.record_intent(&intent("andre_ENTRY_T1")).await.unwrap();
    j.record_intent(&intent("andre_ENTRY_T1")).await.unwrap();
    j.record_outcome(
        "andre_ENTRY_T1",
        &Outcome::Unknown {
            reason: "timeout".into(),
        },
        3,
    )
    .await
    .unwrap();
    j.record_outcome(
        "andre_ENTRY_T1",
        &Outcome::Acked {
            order_id: "o1".into(),
        },
        4,
    )
    .await
    .unwrap();
    j.record_state("T1", Phase::Entering, "execute_entry", 5)
        .await
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
        pnl: None,
        exec_kind: exec_events::ExecKind::Trade,
        time_ms: 6,
        simulated: false,
    };
    assert!(j.record_fill(&fill).await.unwrap());
    assert!(
        !j.record_fill(&fill).await.unwrap(),
        "a fill is recorded once by execId"
    );
    assert_eq!(j.plan("T1").await.unwrap().unwrap(), plan("T1"));
    let rows = j.intents("T1").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].intent, intent("andre_ENTRY_T1"));
    let names: Vec<_> = rows[0].outcomes.iter().map(Outcome::name).collect();
    assert_eq!(names, ["unknown", "acked"]);
    assert_eq!(j.fills("andre_").await.unwrap(), vec![fill]);
    assert_eq!(j.states("T1").await.unwrap()[0].phase, Phase::Entering);
}

#[tokio::test]
async fn an_intent_survives_a_kill_between_writing_and_sending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let j = SqliteJournal::open(&path).unwrap();
    j.record_intent(&intent("andre_ENTRY_T1")).await.unwrap();
    // A kill: the connection is never closed, nothing is flushed on the way out.
    std::mem::forget(j);
    let reopened = SqliteJournal::open(&path).unwrap();
    let row = reopened.intent("andre_ENTRY_T1").await.unwrap().unwrap();
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
    j.record_intent(&intent("andre_ENTRY_T1")).await.unwrap();
    std::mem::forget(j);
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(0);
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
    journal.expect_states().returning(|_| Ok(Vec::new()));
    journal.expect_open_trades().returning(|| Ok(Vec::new()));
    journal.expect_intent().returning(|_| Ok(None));
    journal
        .expect_record_intent()
        .returning(|_| Err(JournalError::Io("disk I/O error".into())));
    journal.expect_record_write().returning(|_| Ok(()));
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(0);
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
        pnl: None,
        exec_kind: exec_events::ExecKind::Trade,
        time_ms: 1,
        simulated: false,
    }
}

// Cancels, the stop-loss and the leverage are journaled before they
// are sent and with their outcome after; a journal that cannot be written sends none of them.

/// A journal whose reads answer and whose every write fails.
fn failing_journal(states_too: bool) -> MockJournal {
    let io = || JournalError::Io("disk I/O error".into());
    let mut journal = MockJournal::new();
    journal.expect_intent().returning(|_| Ok(None));
    journal.expect_intents().returning(|_| Ok(Vec::new()));
    journal
        .expect_record_plan()
        .returning(move |_, _| Err(io()));
    journal.expect_record_intent().returning(move |_| Err(io()));
    journal
        .expect_record_outcome()
        .returning(move |_, _, _| Err(io()));
    journal.expect_record_write().returning(move |_| Err(io()));
    if states_too {
        journal
            .expect_record_state()
            .returning(move |_, _, _, _| Err(io()));
    } else {
        journal.expect_record_state().returning(|_, _, _, _| Ok(()));
    }
    journal
}

fn dca_and_tp_open() -> Vec<exec_gateway::OrderSnapshot> {
    vec![
        snapshot("andre_TP1_T1", Side::Sell, dec!(0.01), OrderStatus::Open),
        snapshot("andre_DCA1_T1", Side::Buy, dec!(0.02), OrderStatus::Open),
    ]
}

#[tokio::test]
async fn with_a_broken_journal_breakeven_sends_no_cancel_and_no_stop() {
    // With a DCA to cancel (the cancel is refused), and with none (the stop is refused).
    for open in [dca_and_tp_open(), Vec::new()] {
        let mut m = Mocks::new();
        m.router
            .expect_sync_open_orders()
            .returning(move |_| Ok(open.clone()));
        m.router.expect_cancel_order().times(0);
        m.router.expect_set_stop_loss().times(0);
        m.positions
            .expect_get_position()
            .returning(|_| Ok(long(dec!(0.04), dec!(50000))));
        let gw = m.build(Arc::new(failing_journal(false)), None);
        let mut sub = gw.bus().subscribe();
        let state = exec_gateway::TradeState::new(&plan("T1"));
        let err = gw.move_to_breakeven(&state).await.unwrap_err();
        assert!(matches!(err, GatewayError::Journal(_)), "{err}");
        let kinds: Vec<_> = drain(&mut sub)
            .iter()
            .filter_map(Event::as_error)
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, [ErrorKind::Journal]);
    }
}

#[tokio::test]
async fn with_a_broken_journal_close_all_sends_no_cancel_and_no_close() {
    // States journal (so the cancels are reached) but writes fail; then everything fails.
    for states_too in [false, true] {
        let mut m = Mocks::new();
        m.router
            .expect_sync_open_orders()
            .returning(|_| Ok(dca_and_tp_open()));
        m.router.expect_cancel_order().times(0);
        m.router
            .expect_place()
            .withf(crate::support::is_close)
            .times(0);
        m.positions
            .expect_get_position()
            .returning(|_| Ok(long(dec!(0.04), dec!(50000))));
        let gw = m.build(Arc::new(failing_journal(states_too)), None);
        let state = exec_gateway::TradeState::new(&plan("T1"));
        let err = gw.close_all(&state, "stop hit").await.unwrap_err();
        assert!(matches!(err, GatewayError::Journal(_)), "{err}");
    }
}

#[tokio::test]
async fn with_a_broken_journal_the_leverage_is_not_set() {
    let mut m = Mocks::new();
    m.account = MockAccountService::new();
    m.account.expect_set_leverage().times(0);
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(0);
    let mut journal = MockJournal::new();
    journal.expect_intent().returning(|_| Ok(None));
    journal.expect_intents().returning(|_| Ok(Vec::new()));
    journal.expect_states().returning(|_| Ok(Vec::new()));
    journal.expect_open_trades().returning(|| Ok(Vec::new()));
    journal.expect_record_plan().returning(|_, _| Ok(()));
    journal.expect_record_state().returning(|_, _, _, _| Ok(()));
    journal
        .expect_record_write()
        .returning(|_| Err(JournalError::Io("disk I/O error".into())));
    let gw = m.build(Arc::new(journal), None);
    let err = gw.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(matches!(err, GatewayError::Journal(_)), "{err}");
}

/// The last write journaled for the trade, as `(kind, link, stage)`.
fn last_write(journal: &MemoryJournal) -> Option<(WriteKind, Option<String>, WriteStage)> {
    journal
        .writes("T1")
        .now_or_never()
        .unwrap()
        .unwrap()
        .pop()
        .map(|w| (w.kind, w.order_link_id, w.stage))
}

#[tokio::test]
async fn cancels_and_the_stop_are_journaled_before_they_are_sent_and_after() {
    let journal = Arc::new(MemoryJournal::new());
    let mut m = Mocks::new();
    let open = Arc::new(Mutex::new(dca_and_tp_open()));
    let o = open.clone();
    m.router
        .expect_sync_open_orders()
        .returning(move |_| Ok(o.lock().unwrap().clone()));
    let j = journal.clone();
    m.router
        .expect_cancel_order()
        .times(1)
        .returning(move |_, l| {
            // At the moment of the send, its intent is the latest record.
            assert_eq!(
                last_write(&j),
                Some((
                    WriteKind::Cancel,
                    Some(l.as_str().to_owned()),
                    WriteStage::Requested
                ))
            );
            open.lock()
                .unwrap()
                .retain(|x| x.order_link_id != l.as_str());
            Ok(())
        });
    m.positions
        .expect_get_position()
        .returning(|_| Ok(long(dec!(0.04), dec!(50000))));
    let j = journal.clone();
    m.router
        .expect_set_stop_loss()
        .times(1)
        .returning(move |_, _| {
            assert_eq!(
                last_write(&j),
                Some((WriteKind::StopLoss, None, WriteStage::Requested))
            );
            Ok(())
        });
    let gw = m.build(journal.clone(), None);
    let state = exec_gateway::TradeState::new(&plan("T1"));
    gw.move_to_breakeven(&state).await.unwrap();
    let writes: Vec<_> = journal
        .writes("T1")
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.kind, w.order_link_id, w.value, w.stage))
        .collect();
    let dca = Some("andre_DCA1_T1".to_owned());
    assert_eq!(
        writes,
        [
            (WriteKind::Cancel, dca.clone(), None, WriteStage::Requested),
            (WriteKind::Cancel, dca, None, WriteStage::Done),
            (
                WriteKind::StopLoss,
                None,
                Some(dec!(50000)),
                WriteStage::Requested
            ),
            (
                WriteKind::StopLoss,
                None,
                Some(dec!(50000)),
                WriteStage::Done
            ),
        ]
    );
}

#[tokio::test]
async fn the_leverage_is_journaled_before_it_is_sent_and_a_refusal_after() {
    let journal = Arc::new(MemoryJournal::new());
    let mut m = Mocks::new();
    m.account = MockAccountService::new();
    let j = journal.clone();
    m.account
        .expect_set_leverage()
        .times(1)
        .returning(move |_, _| {
            assert_eq!(
                last_write(&j),
                Some((WriteKind::Leverage, None, WriteStage::Requested))
            );
            Err(PortError::Rejected {
                code: 10001,
                message: "leverage invalid".into(),
            })
        });
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(0);
    let gw = m.build(journal.clone(), None);
    gw.execute_entry(&plan("T1")).await.unwrap_err();
    let stages: Vec<_> = journal
        .writes("T1")
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.kind, w.stage.name()))
        .collect();
    assert_eq!(
        stages,
        [
            (WriteKind::Leverage, "requested"),
            (WriteKind::Leverage, "failed")
        ]
    );
}

#[tokio::test]
async fn sqlite_keeps_writes_in_order_and_reads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let write = |stage| WriteRecord {
        trade_tag: "T1".into(),
        kind: WriteKind::StopLoss,
        symbol: "BTCUSDT".into(),
        order_link_id: None,
        value: Some(dec!(49512.3)),
        stage,
        at_ms: 1,
    };
    let written = [
        write(WriteStage::Requested),
        write(WriteStage::Failed {
            reason: "retCode 10001".into(),
        }),
    ];
    {
        let j = SqliteJournal::open(&path).unwrap();
        for w in &written {
            j.record_write(w).await.unwrap();
        }
    }
    let j = SqliteJournal::open(&path).unwrap();
    assert_eq!(j.writes("T1").await.unwrap(), written);
    assert!(j.writes("T2").await.unwrap().is_empty());
}

/// `open_trades` (recover() starts from it) on both journals: a plan whose last state is
/// neither CLOSED nor ERROR, or that has no state yet, is open; a reopened trade (CLOSED then
/// ENTERING again) is open; the order is the plans'.
async fn check_open_trades(j: &dyn Journal) {
    for tag in ["T1", "T2", "T3", "T4", "T5"] {
        j.record_plan(&plan(tag), 1).await.unwrap();
    }
    j.record_state("T1", Phase::Entering, "", 1).await.unwrap();
    j.record_state("T1", Phase::InPosition, "", 2)
        .await
        .unwrap();
    j.record_state("T2", Phase::InPosition, "", 3)
        .await
        .unwrap();
    j.record_state("T2", Phase::Closed, "", 4).await.unwrap();
    j.record_state("T3", Phase::Error, "", 5).await.unwrap();
    j.record_state("T4", Phase::Closed, "", 6).await.unwrap();
    j.record_state("T4", Phase::Entering, "", 7).await.unwrap();
    // T5: a plan and no state yet.
    assert_eq!(j.open_trades().await.unwrap(), ["T1", "T4", "T5"]);
    j.record_state("T1", Phase::Closed, "", 8).await.unwrap();
    assert_eq!(j.open_trades().await.unwrap(), ["T4", "T5"]);
}

#[tokio::test]
async fn open_trades_in_memory() {
    check_open_trades(&MemoryJournal::new()).await;
}

#[tokio::test]
async fn open_trades_in_sqlite_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    check_open_trades(&SqliteJournal::open(&path).unwrap()).await;
    let reopened = SqliteJournal::open(&path).unwrap();
    assert_eq!(reopened.open_trades().await.unwrap(), ["T4", "T5"]);
}

/// An amend is journaled before it is sent, as a write record, even for an
/// order whose intent the journal does not hold (placed under another journal): the
/// position grew, setup_tps resizes the open TPs, and each amend finds its `Requested`
/// record in the journal when it goes out, then `Done`. A refused amend is journaled
/// `Failed`.
#[tokio::test]
async fn an_amend_without_an_intent_is_journaled_as_a_write_before_it_is_sent() {
    let journal = Arc::new(MemoryJournal::new());
    let mut m = Mocks::new();
    let open = vec![
        snapshot("andre_TP1_T1", Side::Sell, dec!(0.010), OrderStatus::Open),
        snapshot("andre_TP2_T1", Side::Sell, dec!(0.006), OrderStatus::Open),
        snapshot("andre_TP3_T1", Side::Sell, dec!(0.004), OrderStatus::Open),
    ];
    m.router
        .expect_sync_open_orders()
        .returning(move |_| Ok(open.clone()));
    let j = journal.clone();
    m.router
        .expect_amend_order_qty()
        .times(3)
        .returning(move |_, link, qty| {
            assert_eq!(
                last_write(&j),
                Some((
                    WriteKind::Amend,
                    Some(link.as_str().to_owned()),
                    WriteStage::Requested
                ))
            );
            assert_eq!(
                j.writes("T1")
                    .now_or_never()
                    .unwrap()
                    .unwrap()
                    .last()
                    .unwrap()
                    .value,
                Some(qty)
            );
            if link.as_str() == "andre_TP2_T1" {
                return Err(PortError::Rejected {
                    code: 110001,
                    message: "order not exists".into(),
                });
            }
            Ok(())
        });
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .times(0);
    let gw = m.build(journal.clone(), None);
    let err = gw
        .setup_tps(&plan("T1"), &long(dec!(0.040), dec!(49500)))
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Port { .. }), "{err}");
    let writes: Vec<_> = journal
        .writes("T1")
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.order_link_id.unwrap(), w.value, w.stage.name()))
        .collect();
    assert_eq!(
        writes,
        [
            ("andre_TP1_T1".to_owned(), Some(dec!(0.020)), "requested"),
            ("andre_TP1_T1".to_owned(), Some(dec!(0.020)), "done"),
            ("andre_TP2_T1".to_owned(), Some(dec!(0.012)), "requested"),
            ("andre_TP2_T1".to_owned(), Some(dec!(0.012)), "failed"),
            // R-SAFE-3: one leg failing does not leave the others unsized.
            ("andre_TP3_T1".to_owned(), Some(dec!(0.008)), "requested"),
            ("andre_TP3_T1".to_owned(), Some(dec!(0.008)), "done"),
        ]
    );
    assert!(journal.intent("andre_TP1_T1").await.unwrap().is_none());
}

/// A journal that cannot be written sends no amend.
#[tokio::test]
async fn with_a_broken_journal_no_amend_is_sent() {
    let mut m = Mocks::new();
    let open = vec![snapshot(
        "andre_TP1_T1",
        Side::Sell,
        dec!(0.010),
        OrderStatus::Open,
    )];
    m.router
        .expect_sync_open_orders()
        .returning(move |_| Ok(open.clone()));
    m.router.expect_amend_order_qty().never();
    m.router.expect_place().withf(crate::support::is_tp).never();
    let gw = m.build(Arc::new(failing_journal(false)), None);
    let err = gw
        .setup_tps(&plan("T1"), &long(dec!(0.040), dec!(49500)))
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Journal(_)), "{err}");
}

// Paper routing keeps its account in the journal file, saved in one
// transaction with the fills of the change it follows.

#[tokio::test]
async fn a_paper_account_is_saved_with_its_fills_in_one_write_and_read_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    for journal in [
        Box::new(SqliteJournal::open(&path).unwrap()) as Box<dyn Journal>,
        Box::new(MemoryJournal::new()),
    ] {
        assert_eq!(journal.paper_account().await.unwrap(), None);
        journal.record_fill(&fill(1)).await.unwrap();
        journal
            .save_paper_account("{\"v\":1}", &[fill(1), fill(2)], 10)
            .await
            .unwrap();
        journal
            .save_paper_account("{\"v\":2}", &[fill(3)], 11)
            .await
            .unwrap();
        assert_eq!(
            journal.paper_account().await.unwrap().as_deref(),
            Some("{\"v\":2}")
        );
        let ids: Vec<_> = journal
            .fills("")
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.exec_id)
            .collect();
        assert_eq!(ids, ["e1", "e2", "e3"], "each fill once, in order");
    }
    // The file keeps the last account after it is closed and opened again.
    let reopened = SqliteJournal::open(&path).unwrap();
    assert_eq!(
        reopened.paper_account().await.unwrap().as_deref(),
        Some("{\"v\":2}")
    );
    assert_eq!(reopened.fills("").await.unwrap().len(), 3);
}
