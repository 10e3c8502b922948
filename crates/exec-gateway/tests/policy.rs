//! Every branch of the outcome policy (`exec_gateway::policy`), on execute_entry.

use futures_util::FutureExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exec_events::{ErrorKind, ErrorLog, Event};
use exec_gateway::{
    GatewayError, Journal, MemoryJournal, OrderAck, OrderStatus, Outcome, Phase, PortError, Side,
};
use rust_decimal_macros::dec;

use crate::support::{drain, plan, snapshot, Mocks};

const ENTRY: &str = "andre_ENTRY_T1";

fn ack() -> Result<OrderAck, PortError> {
    Ok(OrderAck {
        order_id: "id-1".into(),
        order_link_id: ENTRY.into(),
    })
}

fn filled() -> Option<exec_gateway::OrderSnapshot> {
    Some(snapshot(ENTRY, Side::Buy, dec!(0.02), OrderStatus::Filled))
}

async fn outcomes(journal: &MemoryJournal) -> Vec<&'static str> {
    journal
        .intent(ENTRY)
        .await
        .unwrap()
        .unwrap()
        .outcomes
        .iter()
        .map(Outcome::name)
        .collect()
}

#[tokio::test]
async fn accepted_entry_is_journaled_before_it_is_sent_and_filled() {
    let mut m = Mocks::new();
    let journal = Arc::new(MemoryJournal::new());
    let seen_at_send = Arc::new(Mutex::new(None));
    let (j, s) = (journal.clone(), seen_at_send.clone());
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(move |req| {
            // The intent is in the journal when the request goes out.
            *s.lock().unwrap() = Some(
                j.intent(req.order_link_id.as_str())
                    .now_or_never()
                    .unwrap()
                    .unwrap()
                    .is_some(),
            );
            assert_eq!(req.qty, dec!(0.020));
            assert!(!req.reduce_only && req.price.is_none());
            ack()
        });
    m.router
        .expect_get_order()
        .times(1)
        .returning(|_, _| Ok(filled()));
    let gw = m.build(journal.clone(), None);
    let r = gw.execute_entry(&plan("T1")).await.unwrap();
    assert_eq!((r.entry_price, r.filled_qty), (dec!(50000), dec!(0.02)));
    assert_eq!(r.order_link_id, ENTRY);
    assert_eq!(*seen_at_send.lock().unwrap(), Some(true));
    assert_eq!(outcomes(&journal).await, ["acked"]);
    let phases: Vec<_> = journal
        .states("T1")
        .await
        .unwrap()
        .iter()
        .map(|s| s.phase)
        .collect();
    assert_eq!(phases, [Phase::Entering, Phase::InPosition]);
    assert!(journal.plan("T1").await.unwrap().is_some());
}

#[tokio::test]
async fn a_definitive_reject_is_not_retried_and_not_looked_up() {
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(|_| {
            Err(PortError::Rejected {
                code: 110094,
                message: "below minimum value".into(),
            })
        });
    m.router.expect_get_order().times(0);
    let (gw, journal) = m.build_mem();
    let err = gw.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(err.is_definitive_reject(), "{err}");
    assert!(matches!(
        err,
        GatewayError::Rejected {
            code: Some(110094),
            ..
        }
    ));
    assert_eq!(outcomes(&journal).await, ["rejected"]);
    assert_eq!(gw.trade("T1").unwrap().phase, Phase::Error);
}

#[tokio::test]
async fn unknown_outcome_then_found_by_link_id_is_not_sent_again() {
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(|_| {
            Err(PortError::UnknownOutcome {
                reason: "retCode 10016: System error".into(),
            })
        });
    m.router.expect_get_order().times(1).returning(|_, link| {
        assert_eq!(link.as_str(), ENTRY);
        Ok(filled())
    });
    let (gw, journal) = m.build_mem();
    let r = gw.execute_entry(&plan("T1")).await.unwrap();
    assert_eq!(r.filled_qty, dec!(0.02));
    assert_eq!(outcomes(&journal).await, ["unknown", "resolved"]);
}

#[tokio::test]
async fn unknown_outcome_not_found_is_resent_with_the_same_link_id() {
    let mut m = Mocks::new();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s = sent.clone();
    let sends = AtomicUsize::new(0);
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(2)
        .returning(move |req| {
            s.lock()
                .unwrap()
                .push(req.order_link_id.as_str().to_owned());
            if sends.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(PortError::UnknownOutcome {
                    reason: "timeout".into(),
                })
            } else {
                ack()
            }
        });
    let lookups = AtomicUsize::new(0);
    m.router.expect_get_order().times(2).returning(move |_, _| {
        // First the lookup after the timeout (never arrived), then the fill wait.
        Ok((lookups.fetch_add(1, Ordering::SeqCst) > 0)
            .then(|| snapshot(ENTRY, Side::Buy, dec!(0.02), OrderStatus::Filled)))
    });
    let (gw, journal) = m.build_mem();
    gw.execute_entry(&plan("T1")).await.unwrap();
    assert_eq!(*sent.lock().unwrap(), [ENTRY, ENTRY]);
    assert_eq!(outcomes(&journal).await, ["unknown", "resolved", "acked"]);
    assert_eq!(
        journal.intents("T1").await.unwrap().len(),
        1,
        "one intent, two sends"
    );
}

#[tokio::test]
async fn unknown_outcome_that_never_resolves_stops_after_the_configured_sends() {
    let mut m = Mocks::new();
    m.config.max_send_attempts = 2;
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(2)
        .returning(|_| {
            Err(PortError::UnknownOutcome {
                reason: "retCode 10000: server timeout".into(),
            })
        });
    m.router
        .expect_get_order()
        .times(2)
        .returning(|_, _| Ok(None));
    let (gw, _journal) = m.build_mem();
    let mut sub = gw.bus().subscribe();
    let err = gw.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    let errors: Vec<_> = drain(&mut sub)
        .into_iter()
        .filter_map(|e| e.as_error().map(|e| e.kind))
        .collect();
    assert_eq!(errors, [ErrorKind::UnknownOutcome]);
    assert_ne!(
        gw.trade("T1").unwrap().phase,
        Phase::Error,
        "unknown is not a reject"
    );
}

#[tokio::test]
async fn a_duplicate_link_id_counts_as_placed() {
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(|_| {
            Err(PortError::DuplicateLinkId {
                message: "OrderLinkedID is duplicate".into(),
            })
        });
    m.router
        .expect_get_order()
        .times(1)
        .returning(|_, _| Ok(filled()));
    let (gw, _) = m.build_mem();
    assert_eq!(
        gw.execute_entry(&plan("T1")).await.unwrap().filled_qty,
        dec!(0.02)
    );
}

#[tokio::test]
async fn insufficient_balance_aborts_with_one_error_event_and_one_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("logs/execution-error.log");
    let log = Arc::new(ErrorLog::open(&log_path).unwrap());
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(|_| {
            Err(PortError::InsufficientBalance {
                code: 110007,
                message: "ab not enough for new order".into(),
            })
        });
    m.router.expect_get_order().times(0);
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .times(0);
    m.router.expect_sync_open_orders().times(0);
    let journal = Arc::new(MemoryJournal::new());
    let gw = m.build(journal.clone(), Some(log));
    let mut sub = gw.bus().subscribe();
    let err = gw.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(matches!(
        err,
        GatewayError::InsufficientBalance { code: 110007, .. }
    ));
    assert!(err.aborts_trade());
    assert_eq!(gw.trade("T1").unwrap().phase, Phase::Error);
    let events = drain(&mut sub);
    let errors: Vec<_> = events.iter().filter_map(Event::as_error).collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, ErrorKind::InsufficientBalance);
    assert_eq!(errors[0].ret_code, Some(110007));
    assert_eq!(errors[0].order_link_id.as_deref(), Some(ENTRY));
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.contains("110007") && text.contains("T1"));
    // Nothing else is sent for the aborted trade; a second call answers from its state.
    let again = gw
        .setup_tps(&plan("T1"), &crate::support::long(dec!(0.02), dec!(50000)))
        .await
        .unwrap_err();
    assert!(
        matches!(again, GatewayError::TradeAborted { .. }),
        "{again}"
    );
    assert_eq!(
        journal.states("T1").await.unwrap().last().unwrap().phase,
        Phase::Error
    );
}

#[tokio::test]
async fn an_auth_error_is_fatal_and_stops_all_trading() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("execution-error.log");
    let log = Arc::new(ErrorLog::open(&log_path).unwrap());
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(|_| {
            Err(PortError::Auth {
                code: 10004,
                message: "error sign!".into(),
            })
        });
    m.router.expect_get_order().times(0);
    let gw = m.build(Arc::new(MemoryJournal::new()), Some(log));
    let mut sub = gw.bus().subscribe();
    let err = gw.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(matches!(err, GatewayError::Auth { code: 10004, .. }));
    assert!(err.is_fatal());
    assert!(gw.halted().is_some());
    let kinds: Vec<_> = drain(&mut sub)
        .iter()
        .filter_map(|e| e.as_error().map(|e| e.kind))
        .collect();
    assert_eq!(kinds, [ErrorKind::Auth]);
    assert_eq!(
        std::fs::read_to_string(&log_path).unwrap().lines().count(),
        1
    );
    // Another trade is refused before anything is sent (the entry is placed once).
    let err = gw.execute_entry(&plan("T2")).await.unwrap_err();
    assert!(matches!(err, GatewayError::Halted { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_waits_then_looks_up_before_resending() {
    let mut m = Mocks::new();
    let sends = AtomicUsize::new(0);
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(2)
        .returning(move |_| {
            if sends.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(PortError::RateLimited {
                    retry_after: Duration::from_secs(2),
                })
            } else {
                ack()
            }
        });
    let lookups = AtomicUsize::new(0);
    m.router.expect_get_order().times(2).returning(move |_, _| {
        Ok((lookups.fetch_add(1, Ordering::SeqCst) > 0).then(|| filled().unwrap()))
    });
    let (gw, journal) = m.build_mem();
    let start = tokio::time::Instant::now();
    gw.execute_entry(&plan("T1")).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "waited the retry-after"
    );
    assert_eq!(outcomes(&journal).await, ["unknown", "resolved", "acked"]);
}

#[tokio::test(start_paused = true)]
async fn a_lookup_that_keeps_failing_leaves_the_leg_unknown_and_sends_nothing_more() {
    let mut m = Mocks::new();
    m.config.retry_backoff = vec![Duration::from_millis(100), Duration::from_millis(300)];
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(|_| {
            Err(PortError::UnknownOutcome {
                reason: "reset".into(),
            })
        });
    m.router.expect_get_order().times(3).returning(|_, _| {
        Err(PortError::UnknownOutcome {
            reason: "timeout".into(),
        })
    });
    let (gw, _) = m.build_mem();
    let err = gw.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(matches!(err, GatewayError::OutcomeUnknown { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_lookup_after_a_timeout_backs_off_100_300_1000_ms() {
    // R-ERR-1: network / 5xx → retry with backoff 100, 300, 1000 ms.
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(|_| {
            Err(PortError::UnknownOutcome {
                reason: "retCode 10016: System error".into(),
            })
        });
    let calls = AtomicUsize::new(0);
    m.router.expect_get_order().times(4).returning(move |_, _| {
        if calls.fetch_add(1, Ordering::SeqCst) < 3 {
            Err(PortError::UnknownOutcome {
                reason: "502".into(),
            })
        } else {
            Ok(filled())
        }
    });
    let (gw, _) = m.build_mem();
    let start = tokio::time::Instant::now();
    gw.execute_entry(&plan("T1")).await.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn reads_wait_out_a_rate_limit() {
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let calls = AtomicUsize::new(0);
    m.positions
        .expect_get_position()
        .times(2)
        .returning(move |_| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(PortError::RateLimited {
                    retry_after: Duration::from_secs(3),
                })
            } else {
                Ok(crate::support::long(dec!(0.02), dec!(50000)))
            }
        });
    m.router
        .expect_set_stop_loss()
        .times(1)
        .returning(|_, _| Ok(()));
    let (gw, _) = m.build_mem();
    let start = tokio::time::Instant::now();
    let state = exec_gateway::TradeState::new(&plan("T1"));
    gw.move_to_breakeven(&state).await.unwrap();
    assert!(start.elapsed() >= Duration::from_secs(3));
}
