//! The five operations: what they send, and that each is idempotent.

use std::sync::{Arc, Mutex};

use exec_gateway::{
    DcaMode, GatewayError, Journal, MemoryJournal, OrderAck, OrderRequest, OrderSnapshot,
    OrderStatus, Phase, PortError, PositionState, Side, TriggerDirection,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::{long, plan, snapshot, symbol, Mocks};

type Log = Arc<Mutex<Vec<OrderRequest>>>;

fn recorder() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn acked(log: &Log) -> impl Fn(&OrderRequest) -> Result<OrderAck, PortError> + Send + 'static {
    let log = log.clone();
    move |req| {
        log.lock().unwrap().push(req.clone());
        Ok(OrderAck {
            order_id: format!("id-{}", req.order_link_id.as_str()),
            order_link_id: req.order_link_id.as_str().to_owned(),
        })
    }
}

/// What a router would list after `log`'s orders were placed (all resting).
fn resting(log: &Log) -> Vec<OrderSnapshot> {
    log.lock()
        .unwrap()
        .iter()
        .map(|r| OrderSnapshot {
            price: r.price,
            trigger_price: r.trigger_price,
            reduce_only: r.reduce_only,
            ..snapshot(r.order_link_id.as_str(), r.side, r.qty, OrderStatus::Open)
        })
        .collect()
}

#[tokio::test]
async fn ten_concurrent_entries_place_one_order_and_agree() {
    let mut m = Mocks::new();
    let log = recorder();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(acked(&log));
    m.router.expect_get_order().returning(|_, l| {
        Ok(Some(snapshot(
            l.as_str(),
            Side::Buy,
            dec!(0.02),
            OrderStatus::Filled,
        )))
    });
    let (gw, _) = m.build_mem();
    let gw = Arc::new(gw);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let gw = gw.clone();
            tokio::spawn(async move { gw.execute_entry(&plan("T1")).await })
        })
        .collect();
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap().unwrap());
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_entry_after_a_restart_is_found_by_its_link_id_not_sent_again() {
    let journal = Arc::new(MemoryJournal::new());
    // First process: sent, then died before seeing the answer.
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(|_| {
            Err(PortError::UnknownOutcome {
                reason: "killed".into(),
            })
        });
    m.router.expect_get_order().returning(|_, _| {
        Err(PortError::UnknownOutcome {
            reason: "still down".into(),
        })
    });
    m.config.retry_backoff = vec![];
    let first = m.build(journal.clone(), None);
    assert!(first.execute_entry(&plan("T1")).await.is_err());
    // Second process, same journal: looks up first and never sends.
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(0);
    m.router.expect_get_order().returning(|_, l| {
        Ok(Some(snapshot(
            l.as_str(),
            Side::Buy,
            dec!(0.02),
            OrderStatus::Filled,
        )))
    });
    let second = m.build(journal.clone(), None);
    let r = second.execute_entry(&plan("T1")).await.unwrap();
    assert_eq!(r.filled_qty, dec!(0.02));
}

#[tokio::test]
async fn the_max_notional_guard_refuses_before_sending() {
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(0);
    let (gw, journal) = m.build_mem();
    let mut big = plan("T1");
    big.margin_usdt = dec!(1000); // × 10 = 10 000 USDT > 5 000
    let err = gw.execute_entry(&big).await.unwrap_err();
    // R-GW-1 / R-SAFE-1: refused by the whole-plan check, naming the field.
    assert!(
        matches!(&err, GatewayError::PlanRefused { field, .. } if field == "margin_usdt"),
        "{err}"
    );
    assert!(journal.intents("T1").await.unwrap().is_empty());
}

#[tokio::test]
async fn setup_tps_splits_the_position_without_exceeding_it_and_is_idempotent() {
    let mut m = Mocks::new();
    let log = recorder();
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .times(3)
        .returning(acked(&log));
    let l = log.clone();
    m.router
        .expect_sync_open_orders()
        .returning(move |_| Ok(resting(&l)));
    m.router.expect_amend_order_qty().times(0);
    let (gw, _) = m.build_mem();
    // 0.023 BTC: 0.5 → 0.0115 → 0.011, 0.3 → 0.0069 → 0.006, last takes 0.006.
    let position = long(dec!(0.023), dec!(50000));
    gw.setup_tps(&plan("T1"), &position).await.unwrap();
    gw.setup_tps(&plan("T1"), &position).await.unwrap();
    let sent = log.lock().unwrap().clone();
    let qtys: Vec<Decimal> = sent.iter().map(|r| r.qty).collect();
    assert_eq!(qtys, [dec!(0.011), dec!(0.006), dec!(0.006)]);
    assert!(qtys.iter().sum::<Decimal>() <= position.size);
    for (i, r) in sent.iter().enumerate() {
        assert_eq!(r.order_link_id.as_str(), format!("andre_TP{}_T1", i + 1));
        assert_eq!(r.side, Side::Sell);
        assert!(r.reduce_only);
        assert!(r.price.is_some() && r.trigger_price.is_none());
    }
}

#[tokio::test]
async fn setup_tps_after_the_position_grew_amends_the_open_tps() {
    let mut m = Mocks::new();
    let open = vec![
        snapshot("andre_TP1_T1", Side::Sell, dec!(0.010), OrderStatus::Open),
        snapshot("andre_TP2_T1", Side::Sell, dec!(0.006), OrderStatus::Open),
        snapshot("andre_TP3_T1", Side::Sell, dec!(0.004), OrderStatus::Open),
    ];
    m.router
        .expect_sync_open_orders()
        .returning(move |_| Ok(open.clone()));
    let amends = Arc::new(Mutex::new(Vec::new()));
    let a = amends.clone();
    m.router
        .expect_amend_order_qty()
        .times(3)
        .returning(move |_, l, q| {
            a.lock().unwrap().push((l.as_str().to_owned(), q));
            Ok(())
        });
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .times(0);
    let (gw, _) = m.build_mem();
    gw.setup_tps(&plan("T1"), &long(dec!(0.040), dec!(49500)))
        .await
        .unwrap();
    let amends = amends.lock().unwrap().clone();
    let total: Decimal = amends.iter().map(|(_, q)| *q).sum();
    assert_eq!(total, dec!(0.040));
    assert_eq!(amends[0], ("andre_TP1_T1".to_owned(), dec!(0.020)));
}

#[tokio::test]
async fn setup_dcas_places_one_limit_per_level_on_the_entry_side_once() {
    let mut m = Mocks::new();
    let log = recorder();
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .times(2)
        .returning(acked(&log));
    let l = log.clone();
    m.router
        .expect_sync_open_orders()
        .returning(move |_| Ok(resting(&l)));
    let (gw, _) = m.build_mem();
    let position = long(dec!(0.02), dec!(50000));
    gw.setup_dcas(&plan("T1"), &position).await.unwrap();
    gw.setup_dcas(&plan("T1"), &position).await.unwrap();
    let sent = log.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].order_link_id.as_str(), "andre_DCA1_T1");
    assert_eq!(sent[0].side, Side::Buy);
    assert_eq!(sent[0].price, Some(dec!(49000)));
    // 100 USDT × 10 ÷ 49 000 = 0.0204… → 0.020.
    assert_eq!(sent[0].qty, dec!(0.020));
    assert!(!sent[0].reduce_only);
}

#[tokio::test]
async fn conditional_dcas_trigger_at_the_level_in_the_adverse_direction() {
    let mut m = Mocks::new();
    m.config.dca_mode = DcaMode::Conditional;
    let log = recorder();
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .times(2)
        .returning(acked(&log));
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let (gw, _) = m.build_mem();
    gw.setup_dcas(&plan("T1"), &long(dec!(0.02), dec!(50000)))
        .await
        .unwrap();
    let sent = log.lock().unwrap().clone();
    assert_eq!(sent[1].trigger_price, Some(dec!(48000)));
    assert_eq!(sent[1].trigger_direction, Some(TriggerDirection::Fall));
    assert_eq!(sent[1].price, None);
}

#[tokio::test]
async fn a_dca_not_worse_than_the_entry_is_refused() {
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .times(0);
    let (gw, _) = m.build_mem();
    let err = gw
        .setup_dcas(&plan("T1"), &long(dec!(0.02), dec!(47000)))
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::InvalidPlan { .. }), "{err}");
}

fn mixed_open_orders() -> Vec<OrderSnapshot> {
    vec![
        snapshot("andre_TP1_T1", Side::Sell, dec!(0.01), OrderStatus::Open),
        snapshot("andre_DCA1_T1", Side::Buy, dec!(0.02), OrderStatus::Open),
        snapshot(
            "andre_DCA2_T1",
            Side::Buy,
            dec!(0.02),
            OrderStatus::Untriggered,
        ),
        // A person's manual order and another trade's DCA: never touched.
        snapshot("manual_1", Side::Buy, dec!(0.5), OrderStatus::Open),
        snapshot("", Side::Buy, dec!(0.5), OrderStatus::Open),
        snapshot("andre_DCA1_T10", Side::Buy, dec!(0.02), OrderStatus::Open),
        snapshot("other_DCA1_T1", Side::Buy, dec!(0.02), OrderStatus::Open),
    ]
}

#[tokio::test]
async fn breakeven_cancels_only_this_trades_dcas_keeps_tps_and_sets_the_stop() {
    let mut m = Mocks::new();
    let open = Arc::new(Mutex::new(mixed_open_orders()));
    let o = open.clone();
    m.router
        .expect_sync_open_orders()
        .returning(move |_| Ok(o.lock().unwrap().clone()));
    let cancelled = Arc::new(Mutex::new(Vec::new()));
    let (c, o) = (cancelled.clone(), open.clone());
    m.router.expect_cancel_order().returning(move |_, l| {
        c.lock().unwrap().push(l.as_str().to_owned());
        o.lock().unwrap().retain(|x| x.order_link_id != l.as_str());
        Ok(())
    });
    m.positions
        .expect_get_position()
        .returning(|_| Ok(long(dec!(0.04), dec!(49512.34))));
    let stops = Arc::new(Mutex::new(Vec::new()));
    let s = stops.clone();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    m.router.expect_set_stop_loss().returning(move |_, p| {
        s.lock().unwrap().push(p);
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Ok(())
        } else {
            Err(PortError::Rejected {
                code: 34040,
                message: "not modified".into(),
            })
        }
    });
    let (gw, journal) = m.build_mem();
    let state = exec_gateway::TradeState::new(&plan("T1"));
    gw.move_to_breakeven(&state).await.unwrap();
    let after = gw.move_to_breakeven(&state).await.unwrap();
    assert_eq!(
        *cancelled.lock().unwrap(),
        ["andre_DCA1_T1", "andre_DCA2_T1"]
    );
    assert_eq!(*stops.lock().unwrap(), [dec!(49512.3), dec!(49512.3)]);
    assert_eq!(after.phase, Phase::Breakeven);
    assert_eq!(
        journal.states("T1").await.unwrap().len(),
        1,
        "one state change"
    );
}

#[tokio::test]
async fn close_all_cancels_ours_splits_above_max_market_qty_and_confirms_flat() {
    let mut m = Mocks::new();
    let open = Arc::new(Mutex::new(mixed_open_orders()));
    let o = open.clone();
    m.router
        .expect_sync_open_orders()
        .returning(move |_| Ok(o.lock().unwrap().clone()));
    let cancelled = Arc::new(Mutex::new(Vec::new()));
    let c = cancelled.clone();
    let o = open.clone();
    m.router.expect_cancel_order().returning(move |_, l| {
        c.lock().unwrap().push(l.as_str().to_owned());
        o.lock().unwrap().retain(|x| x.order_link_id != l.as_str());
        Ok(())
    });
    let position = Arc::new(Mutex::new(long(dec!(200), dec!(50000))));
    let p = position.clone();
    m.positions
        .expect_get_position()
        .returning(move |_| Ok(p.lock().unwrap().clone()));
    let closes = recorder();
    let (cl, p) = (closes.clone(), position.clone());
    m.router
        .expect_place()
        .withf(crate::support::is_close)
        .times(2)
        .returning(move |req| {
            cl.lock().unwrap().push(req.clone());
            let mut pos = p.lock().unwrap();
            pos.size -= req.qty;
            if pos.size.is_zero() {
                *pos = PositionState::flat(symbol());
            }
            Ok(OrderAck {
                order_id: "x".into(),
                order_link_id: req.order_link_id.as_str().into(),
            })
        });
    // Once flat, each close order is read back for its final status.
    m.router.expect_get_order().returning(|_, l| {
        Ok(Some(snapshot(
            l.as_str(),
            Side::Sell,
            dec!(0.01),
            OrderStatus::Filled,
        )))
    });
    let (gw, journal) = m.build_mem();
    let state = exec_gateway::TradeState::new(&plan("T1"));
    let done = gw.close_all(&state, "stop hit").await.unwrap();
    assert_eq!(done.phase, Phase::Closed);
    // Why it closed is the journal's (and the log's), not the router's.
    for close in ["andre_CLOSE1_T1", "andre_CLOSE2_T1"] {
        let row = journal.intent(close).await.unwrap().unwrap();
        assert!(row.intent.reason.contains("stop hit"), "{close}: {row:?}");
    }
    assert!(
        done.orders
            .iter()
            .filter(|(leg, _)| leg.starts_with("CLOSE"))
            .all(|(_, (_, s))| *s == Some(OrderStatus::Filled)),
        "{:?}",
        done.orders
    );
    let again = gw.close_all(&state, "stop hit").await.unwrap();
    assert_eq!(again.phase, Phase::Closed);
    assert_eq!(
        *cancelled.lock().unwrap(),
        ["andre_TP1_T1", "andre_DCA1_T1", "andre_DCA2_T1"]
    );
    let closes = closes.lock().unwrap().clone();
    let summary: Vec<_> = closes
        .iter()
        .map(|r| {
            (
                r.order_link_id.as_str().to_owned(),
                r.qty,
                r.side,
                r.reduce_only,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "andre_CLOSE1_T1".to_owned(),
                dec!(100.000),
                Side::Sell,
                true
            ),
            (
                "andre_CLOSE2_T1".to_owned(),
                dec!(100.000),
                Side::Sell,
                true
            ),
        ]
    );
}

#[tokio::test]
async fn a_second_close_after_a_partial_one_uses_fresh_ids() {
    let journal = Arc::new(MemoryJournal::new());
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.positions
        .expect_get_position()
        .returning(|_| Ok(long(dec!(1), dec!(50000))));
    let closes = recorder();
    m.router
        .expect_place()
        .withf(crate::support::is_close)
        .returning({
            let c = closes.clone();
            move |req| {
                c.lock().unwrap().push(req.clone());
                Ok(OrderAck {
                    order_id: "x".into(),
                    order_link_id: req.order_link_id.as_str().into(),
                })
            }
        });
    m.config.fill_timeout = std::time::Duration::from_millis(20);
    let gw = m.build(journal.clone(), None);
    let state = exec_gateway::TradeState::new(&plan("T1"));
    // The position never goes flat: not confirmed.
    let err = gw.close_all(&state, "exit").await.unwrap_err();
    assert!(matches!(err, GatewayError::NotFlat { .. }), "{err}");
    gw.close_all(&state, "exit").await.unwrap_err();
    let ids: Vec<_> = closes
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.order_link_id.as_str().to_owned())
        .collect();
    assert_eq!(ids, ["andre_CLOSE1_T1", "andre_CLOSE2_T1"]);
    assert_eq!(journal.intents("T1").await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_short_plan_mirrors_sides_and_trigger_directions() {
    let mut m = Mocks::new();
    m.config.dca_mode = DcaMode::Conditional;
    let log = recorder();
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .times(1)
        .returning(acked(&log));
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .times(1)
        .returning(acked(&log));
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let (gw, _) = m.build_mem();
    let mut short = plan("S1");
    short.side = Side::Sell;
    short.dca_levels = vec![exec_gateway::DcaLevel {
        price: dec!(51000),
        margin_usdt: dec!(100),
    }];
    short.tp_levels = vec![exec_gateway::TpLevel {
        price: dec!(49000),
        share: dec!(1),
    }];
    let position = PositionState {
        side: Some(Side::Sell),
        ..long(dec!(0.02), dec!(50000))
    };
    gw.setup_dcas(&short, &position).await.unwrap();
    gw.setup_tps(&short, &position).await.unwrap();
    let sent = log.lock().unwrap().clone();
    assert_eq!(sent[0].side, Side::Sell);
    assert_eq!(sent[0].trigger_direction, Some(TriggerDirection::Rise));
    assert_eq!(sent[1].side, Side::Buy);
    assert!(sent[1].reduce_only);
    assert_eq!(sent[1].qty, dec!(0.020));
}

/// A leg's status is the last the exchange reported, and never goes back:
/// a late "accepted" after "filled" (the stream may reorder) leaves it filled, an order of
/// another trade or without this layer's prefix changes nothing.
#[tokio::test]
async fn a_legs_status_follows_order_events_and_never_goes_back() {
    use exec_events::{OrderEvent, OrderEventKind};
    let mut m = Mocks::new();
    let log = recorder();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(acked(&log));
    m.router.expect_get_order().returning(|_, l| {
        Ok(Some(snapshot(
            l.as_str(),
            Side::Buy,
            dec!(0.02),
            OrderStatus::Filled,
        )))
    });
    let (gw, _) = m.build_mem();
    gw.execute_entry(&plan("T1")).await.unwrap();
    let status = |gw: &exec_gateway::Gateway, leg: &str| {
        gw.trade("T1")
            .and_then(|t| t.orders.get(leg).cloned())
            .and_then(|(_, s)| s)
    };
    assert_eq!(status(&gw, "ENTRY"), Some(OrderStatus::Filled));
    let event = |link: &str, kind| OrderEvent {
        kind,
        symbol: "BTCUSDT".into(),
        side: Side::Sell,
        order_id: "1".into(),
        order_link_id: link.into(),
        qty: dec!(0.01),
        price: Some(dec!(51000)),
        trigger_price: None,
        filled_qty: Decimal::ZERO,
        avg_price: None,
        reduce_only: true,
        reason: None,
        simulated: false,
    };
    gw.observe_order(&event("andre_ENTRY_T1", OrderEventKind::Accepted));
    assert_eq!(status(&gw, "ENTRY"), Some(OrderStatus::Filled));
    gw.observe_order(&event("andre_TP1_T1", OrderEventKind::Accepted));
    assert_eq!(status(&gw, "TP1"), Some(OrderStatus::Open));
    gw.observe_order(&event("andre_TP1_T1", OrderEventKind::PartiallyFilled));
    gw.observe_order(&event("andre_TP1_T1", OrderEventKind::Updated));
    assert_eq!(status(&gw, "TP1"), Some(OrderStatus::PartiallyFilled));
    gw.observe_order(&event("andre_TP1_T1", OrderEventKind::Filled));
    gw.observe_order(&event("andre_TP1_T1", OrderEventKind::Cancelled));
    assert_eq!(status(&gw, "TP1"), Some(OrderStatus::Filled));
    gw.observe_order(&event("andre_TP2_T2", OrderEventKind::Filled));
    gw.observe_order(&event("other_TP2_T1", OrderEventKind::Filled));
    assert_eq!(status(&gw, "TP2"), None);
    assert!(gw.trade("T2").is_none());
}

/// A client tag may carry the prefix (`andre_T7`; its ids are `andre_TP1_T7`): its legs'
/// statuses follow the exchange's reports all the same (they stayed unknown: the id's tag,
/// `T7`, named no trade).
#[tokio::test]
async fn a_prefixed_client_tags_legs_follow_order_events() {
    use exec_events::{OrderEvent, OrderEventKind};
    let mut m = Mocks::new();
    let log = recorder();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(acked(&log));
    m.router.expect_get_order().returning(|_, l| {
        Ok(Some(snapshot(
            l.as_str(),
            Side::Buy,
            dec!(0.02),
            OrderStatus::Filled,
        )))
    });
    let (gw, _) = m.build_mem();
    gw.execute_entry(&plan("andre_T7")).await.unwrap();
    let status = |gw: &exec_gateway::Gateway, leg: &str| {
        gw.trade("andre_T7")
            .and_then(|t| t.orders.get(leg).cloned())
            .and_then(|(_, s)| s)
    };
    assert_eq!(status(&gw, "ENTRY"), Some(OrderStatus::Filled));
    let event = |link: &str, kind| OrderEvent {
        kind,
        symbol: "BTCUSDT".into(),
        side: Side::Sell,
        order_id: "1".into(),
        order_link_id: link.into(),
        qty: dec!(0.01),
        price: Some(dec!(51000)),
        trigger_price: None,
        filled_qty: Decimal::ZERO,
        avg_price: None,
        reduce_only: true,
        reason: None,
        simulated: false,
    };
    gw.observe_order(&event("andre_TP1_T7", OrderEventKind::Accepted));
    assert_eq!(status(&gw, "TP1"), Some(OrderStatus::Open));
    gw.observe_order(&event("andre_TP1_T7", OrderEventKind::Filled));
    assert_eq!(status(&gw, "TP1"), Some(OrderStatus::Filled));
    assert!(gw.trade("T7").is_none());
}

/// A take-profit refused once and placed by a later setup_tps under the same orderLinkId
/// (the policy's rule 2: a refused order was never on the exchange, so it is sent again):
/// its leg reads open, not the refusal, and it is not listed as missing. The refusal's
/// "rejected" is final for an order, not for an orderLinkId sent again.
#[tokio::test]
async fn a_leg_refused_then_placed_again_reads_open() {
    let mut m = Mocks::new();
    let log = recorder();
    let refused_once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ack = acked(&log);
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(move |req| {
            if req.order_link_id.as_str() == "andre_TP1_T1"
                && !refused_once.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                return Err(PortError::Rejected {
                    code: 110094,
                    message: "price out of the band".into(),
                });
            }
            ack(req)
        });
    m.router.expect_get_order().returning(|_, _| Ok(None));
    let l = log.clone();
    m.router
        .expect_sync_open_orders()
        .returning(move |_| Ok(resting(&l)));
    let (gw, _) = m.build_mem();
    let position = long(dec!(0.023), dec!(50000));
    let status = |gw: &exec_gateway::Gateway| {
        gw.trade("T1")
            .and_then(|t| t.orders.get("TP1").cloned())
            .and_then(|(_, s)| s)
    };
    assert!(gw.setup_tps(&plan("T1"), &position).await.is_err());
    assert_eq!(status(&gw), Some(OrderStatus::Rejected));
    gw.setup_tps(&plan("T1"), &position).await.unwrap();
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|r| r.order_link_id.as_str() == "andre_TP1_T1"),
        "TP1 was sent again"
    );
    assert_eq!(status(&gw), Some(OrderStatus::Open));
}

/// R-SAFE-4: `close_all` does not close a trade one of whose sends has no outcome in the
/// journal (a crash right after it was journaled, the request perhaps still in flight): it
/// answers outcome unknown and the trade stays CLOSING, for recovery to settle the intent
/// (once CLOSED, no pass would look at it again and an entry landing late would open a
/// position no trade owns). Once the journal holds the outcome, the close finishes.
#[tokio::test]
async fn close_all_leaves_a_trade_closing_while_a_send_has_no_outcome() {
    use exec_gateway::Outcome;
    let journal = Arc::new(MemoryJournal::new());
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.positions
        .expect_get_position()
        .returning(|_| Ok(PositionState::flat(symbol())));
    m.router.expect_place().never();
    let gw = m.build(journal.clone(), None);
    let p = plan("T1");
    journal.record_plan(&p, 1).await.unwrap();
    journal
        .record_intent(&crate::support::entry_intent("andre_ENTRY_T1"))
        .await
        .unwrap();
    let state = exec_gateway::TradeState::new(&p);
    let err = gw.close_all(&state, "exit").await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert!(err.to_string().contains("andre_ENTRY_T1"), "{err}");
    let phases: Vec<Phase> = journal
        .states("T1")
        .await
        .unwrap()
        .iter()
        .map(|s| s.phase)
        .collect();
    assert_eq!(
        phases,
        [Phase::Closing],
        "not CLOSED while the entry may land"
    );
    // Recovery's lookup settles it: not placed. Now the close finishes.
    journal
        .record_outcome(
            "andre_ENTRY_T1",
            &Outcome::Resolved {
                found: false,
                order_id: None,
            },
            2,
        )
        .await
        .unwrap();
    let done = gw.close_all(&state, "exit").await.unwrap();
    assert_eq!(done.phase, Phase::Closed);
}
