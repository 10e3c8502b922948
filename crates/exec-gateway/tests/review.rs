//! Review findings: each test failed before its fix.

use exec_gateway::{
    cancel_matching, GatewayError, LegFilter, LinkIds, MockOrderRouter, OrderAck, OrderStatus,
    PortError, Side,
};
use rust_decimal_macros::dec;

use crate::support::{plan, snapshot, symbol, Mocks};

/// Client tags `andre_T1` and `T1` give the same orderLinkIds (the prefix is stripped from the
/// tag). A second trade must not adopt the first trade's entry as its own: it is refused and
/// nothing is sent for it.
#[tokio::test]
async fn a_trade_whose_ids_collide_with_another_trades_is_refused() {
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(|req| {
            Ok(OrderAck {
                order_id: "id-1".into(),
                order_link_id: req.order_link_id.as_str().to_owned(),
            })
        });
    m.router.expect_get_order().returning(|_, l| {
        Ok(Some(snapshot(
            l.as_str(),
            Side::Buy,
            dec!(0.02),
            OrderStatus::Filled,
        )))
    });
    let journal = std::sync::Arc::new(exec_gateway::MemoryJournal::new());
    let gw = m.build(journal.clone(), None);
    gw.execute_entry(&plan("andre_T1")).await.unwrap();
    let second = gw.execute_entry(&plan("T1")).await;
    assert!(
        matches!(second, Err(GatewayError::InvalidPlan { .. })),
        "{second:?}"
    );

    // After a restart the in-memory trades are gone; the journal still knows whose id it is.
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .never();
    m.router.expect_get_order().returning(|_, l| {
        Ok(Some(snapshot(
            l.as_str(),
            Side::Buy,
            dec!(0.02),
            OrderStatus::Filled,
        )))
    });
    let gw = m.build(journal, None);
    let after_restart = gw.execute_entry(&plan("T1")).await;
    // Refused before anything is sent: andre_T1 is open on the symbol (R-SAFE-2), and its
    // ids are T1's.
    assert!(
        matches!(
            after_restart,
            Err(GatewayError::LinkId { .. } | GatewayError::Conflict { .. })
        ),
        "{after_restart:?}"
    );
}

/// A cancel that loses the race with a fill is answered 110001 (REFERENCE.md §14, docs
/// v5/error "order not exists or too late to cancel"). The order filled: it must not be
/// reported (and journaled) as cancelled.
#[tokio::test]
async fn a_cancel_that_lost_the_race_with_a_fill_is_not_reported_cancelled() {
    let ids = LinkIds::new("andre_").unwrap();
    let scope = ids.scope("T1", LegFilter::Dca);
    let mut router = MockOrderRouter::new();
    router.expect_sync_open_orders().returning(|_| {
        Ok(vec![
            snapshot("andre_DCA1_T1", Side::Buy, dec!(0.02), OrderStatus::Open),
            snapshot("andre_DCA2_T1", Side::Buy, dec!(0.02), OrderStatus::Open),
        ])
    });
    router.expect_cancel_order().returning(|_, l| {
        if l.as_str() == "andre_DCA1_T1" {
            Err(PortError::Rejected {
                code: 110001,
                message: "order not exists or too late to cancel".into(),
            })
        } else {
            Ok(())
        }
    });
    router.expect_get_order().returning(|_, l| {
        let status = if l.as_str() == "andre_DCA1_T1" {
            OrderStatus::Filled
        } else {
            OrderStatus::Cancelled
        };
        Ok(Some(snapshot(l.as_str(), Side::Buy, dec!(0.02), status)))
    });
    let cancelled = cancel_matching(&router, &symbol(), &scope).await.unwrap();
    assert_eq!(cancelled, ["andre_DCA2_T1"]);
}

/// A caller's absurd DCA margin (Decimal's maximum) must be a typed error, not an overflow
/// panic in `margin × leverage`.
#[tokio::test]
async fn an_absurd_dca_margin_is_an_error_not_a_panic() {
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .never();
    let (gw, _) = m.build_mem();
    let mut absurd = plan("T1");
    absurd.dca_levels[0].margin_usdt = rust_decimal::Decimal::MAX;
    let outcome = tokio::spawn(async move {
        let position = crate::support::long(dec!(0.02), dec!(50000));
        matches!(
            gw.setup_dcas(&absurd, &position).await,
            Err(GatewayError::InvalidPlan { .. })
        )
    })
    .await;
    assert!(
        matches!(outcome, Ok(true)),
        "{:?}",
        outcome.map_err(|e| e.to_string())
    );
}

/// A re-send after an unknown outcome can be refused *because* the first send landed in the
/// meantime (its margin is now used: 110007), while the lookup in between did not see it yet.
/// A refusal of a re-send is only final once a lookup confirms the order is not there;
/// otherwise the trade is aborted while its entry fills on the exchange.
#[tokio::test]
async fn a_resend_refused_because_the_first_send_landed_resolves_to_that_order() {
    let mut m = Mocks::new();
    let sends = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s = sends.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(move |_| {
            if s.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Err(PortError::UnknownOutcome {
                    reason: "timeout".into(),
                })
            } else {
                Err(PortError::InsufficientBalance {
                    code: 110007,
                    message: "ab not enough for new order".into(),
                })
            }
        });
    let lookups = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let l = lookups.clone();
    m.router.expect_get_order().returning(move |_, link| {
        // The first lookup comes too early to see the first send.
        if l.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Ok(None)
        } else {
            Ok(Some(snapshot(
                link.as_str(),
                Side::Buy,
                dec!(0.02),
                OrderStatus::Filled,
            )))
        }
    });
    let (gw, _) = m.build_mem();
    let entry = gw.execute_entry(&plan("T1")).await;
    assert!(entry.is_ok(), "{entry:?}");
    assert_eq!(sends.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(
        gw.trade("T1").unwrap().phase,
        exec_gateway::Phase::InPosition
    );
}

/// A small position cannot be split three ways on the qty step: 0.002 BTC at shares 0.5 / 0.3
/// / 0.2 floors to 0.001, 0.000 and (the rest) 0.001. The empty middle leg must not stop the
/// others after the first was already placed: the position is still fully covered by TP1 and
/// TP3 (docs/v5/order/create-order.mdx: qty must be a positive multiple of qtyStep).
#[tokio::test]
async fn a_tp_leg_that_rounds_to_nothing_is_skipped_not_fatal() {
    let mut m = Mocks::new();
    let placed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let p = placed.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(move |req| {
            p.lock()
                .unwrap()
                .push((req.order_link_id.as_str().to_owned(), req.qty));
            Ok(OrderAck {
                order_id: "id".into(),
                order_link_id: req.order_link_id.as_str().to_owned(),
            })
        });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let (gw, _) = m.build_mem();
    let result = gw
        .setup_tps(&plan("T1"), &crate::support::long(dec!(0.002), dec!(50000)))
        .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        *placed.lock().unwrap(),
        [
            ("andre_TP1_T1".to_owned(), dec!(0.001)),
            ("andre_TP3_T1".to_owned(), dec!(0.001))
        ]
    );
}

/// A plan whose second DCA is refused (above the maximum notional) must be refused before
/// anything is sent, not after DCA1 is already resting on the exchange.
#[tokio::test]
async fn a_dca_plan_refused_on_its_second_level_sends_nothing() {
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .never();
    let (gw, journal) = m.build_mem();
    let mut too_big = plan("T1");
    too_big.dca_levels[1].margin_usdt = dec!(1000); // × 10 = 10 000 USDT > 5 000
    let result = gw
        .setup_dcas(&too_big, &crate::support::long(dec!(0.02), dec!(50000)))
        .await;
    assert!(
        matches!(result, Err(GatewayError::MaxNotional { .. })),
        "{result:?}"
    );
    assert!(exec_gateway::Journal::intents(journal.as_ref(), "T1")
        .await
        .unwrap()
        .is_empty());
}

/// The journal says the exchange acknowledged the entry. A later call (after a restart) whose
/// lookup by orderLinkId finds nothing — /v5/order/realtime forgets closed orders after a
/// server restart and /v5/order/history covers 7 days by default (REFERENCE.md §10) — must
/// not send it again: the order existed, and a second one would open a second position.
#[tokio::test]
async fn an_acknowledged_intent_is_never_resent_when_the_lookup_comes_back_empty() {
    let journal = std::sync::Arc::new(exec_gateway::MemoryJournal::new());
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(|req| {
            Ok(OrderAck {
                order_id: "id-1".into(),
                order_link_id: req.order_link_id.as_str().to_owned(),
            })
        });
    m.router.expect_get_order().returning(|_, l| {
        Ok(Some(snapshot(
            l.as_str(),
            Side::Buy,
            dec!(0.02),
            OrderStatus::Filled,
        )))
    });
    m.build(journal.clone(), None)
        .execute_entry(&plan("T1"))
        .await
        .unwrap();

    // Days later, a new process: the exchange's lookup no longer returns the order.
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .never();
    m.router.expect_get_order().returning(|_, _| Ok(None));
    let result = m.build(journal, None).execute_entry(&plan("T1")).await;
    assert!(result.is_err(), "{result:?}");
}
