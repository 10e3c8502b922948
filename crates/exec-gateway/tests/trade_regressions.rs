//! Regressions in trade handling (recovery, reconcile, ownership, closing) found by review:
//! each test failed before its fix.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bybit_meta::InstrumentRules;
use bybit_types::rest::market::LotSizeFilter;
use exec_gateway::{
    GatewayError, Journal, ManualClock, MemoryJournal, MockPriceService, MockSymbolMetaService,
    OrderAck, OrderRequest, OrderStatus, Phase, PortError, PositionState, Side, TpFailurePolicy,
};
use rust_decimal_macros::dec;

use crate::support::{long, plan, snapshot, Mocks};

fn ack(o: &OrderRequest) -> Result<OrderAck, PortError> {
    Ok(OrderAck {
        order_id: format!("id-{}", o.order_link_id.as_str()),
        order_link_id: o.order_link_id.as_str().into(),
    })
}

fn unknown() -> PortError {
    PortError::UnknownOutcome {
        reason: "timeout".into(),
    }
}

/// R-SAFE-4, R-SAFE-2: an entry whose outcome is unknown can still land until
/// `landing_window` has passed (a held request). A reconcile pass inside that window must not
/// journal the trade CLOSED because the exchange is flat: the market entry landing a moment
/// later would open a position no trade owns, with no take-profit, that every later pass
/// skips (the trade is CLOSED). Past the window the intent is settled as not placed and the
/// trade closed.
#[tokio::test]
async fn reconcile_keeps_an_entering_trade_whose_entry_can_still_land() {
    let mut m = Mocks::new();
    m.config.retry_backoff = vec![];
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(|_| Err(unknown()));
    m.router.expect_get_order().returning(|_, _| Ok(None));
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router.expect_recent_orders().returning(|| Ok(vec![]));
    m.positions
        .expect_get_all_positions()
        .returning(|| Ok(vec![]));
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let gw = m.build_with_clock(Arc::new(MemoryJournal::new()), None, clock.clone());
    let err = gw.execute_entry(&plan("R1")).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");

    let report = gw.reconcile().await.unwrap();
    assert_eq!(report.unresolved(), 1, "{report:?}");
    assert_eq!(gw.trade("R1").unwrap().phase, Phase::Entering, "{report:?}");

    clock.advance(31_000);
    let report = gw.reconcile().await.unwrap();
    assert_eq!(report.unresolved(), 0, "{report:?}");
    assert_eq!(gw.trade("R1").unwrap().phase, Phase::Closed, "{report:?}");
}

/// R-SAFE-2, R-GW-5: a trade whose entry filled nothing (IOC cancelled on a thin book) owns
/// nothing. `close_all` on it (how an aborted trade is cleaned up) must not close the
/// position another trade, or the operator, holds on the symbol; it closed all of it.
#[tokio::test]
async fn close_all_of_a_trade_that_filled_nothing_leaves_the_symbols_position_alone() {
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(|o| {
            Ok(OrderAck {
                order_id: "id-entry".into(),
                order_link_id: o.order_link_id.as_str().into(),
            })
        });
    m.router.expect_get_order().returning(|_, l| {
        Ok(Some(snapshot(
            l.as_str(),
            Side::Buy,
            dec!(0.02),
            OrderStatus::Cancelled,
        )))
    });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router
        .expect_place()
        .withf(crate::support::is_close)
        .never();
    // Flat when the entry is checked; then another trade's 0.05 is open on the symbol.
    m.positions
        .expect_get_position()
        .times(1)
        .returning(|s| Ok(PositionState::flat(s.clone())));
    m.positions
        .expect_get_position()
        .returning(|_| Ok(long(dec!(0.05), dec!(50000))));
    let (gw, _) = m.build_mem();
    let err = gw.execute_entry(&plan("A1")).await.unwrap_err();
    assert!(matches!(err, GatewayError::EntryUnfilled { .. }), "{err}");
    let state = gw.trade("A1").unwrap();
    assert!(state.filled_qty.is_zero(), "{state:?}");
    gw.close_all(&state, "cleanup").await.unwrap();
}

/// R-SAFE-3: `TpFailurePolicy::Close` closes a trade whose take-profits cannot be placed (a
/// leg refused or unresolved), not one whose open orders could not be read for a moment. A
/// protected trade met by a `setup_tps` pass (the reconciler's) during a 5xx burst was
/// journaled CLOSING and closed at market.
#[tokio::test]
async fn the_close_policy_does_not_close_a_trade_on_a_failed_read() {
    let mut m = Mocks::new();
    m.config.on_tp_failure = TpFailurePolicy::Close;
    m.config.retry_backoff = vec![];
    let down = Arc::new(AtomicBool::new(false));
    let entered = Arc::new(AtomicBool::new(false));
    let e = entered.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(move |o| {
            e.store(true, Ordering::SeqCst);
            ack(o)
        });
    m.router.expect_get_order().returning(|_, l| {
        Ok(l.as_str()
            .starts_with("andre_ENTRY")
            .then(|| snapshot(l.as_str(), Side::Buy, dec!(0.02), OrderStatus::Filled)))
    });
    let d = down.clone();
    m.router.expect_sync_open_orders().returning(move |_| {
        if d.load(Ordering::SeqCst) {
            Err(unknown())
        } else {
            Ok(vec![])
        }
    });
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(ack);
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .returning(ack);
    m.router
        .expect_place()
        .withf(crate::support::is_close)
        .never();
    m.positions.expect_get_position().returning(move |s| {
        Ok(if entered.load(Ordering::SeqCst) {
            long(dec!(0.02), dec!(50000))
        } else {
            PositionState::flat(s.clone())
        })
    });
    let (gw, journal) = m.build_mem();
    let opened = gw.open_trade(&plan("C1")).await.unwrap();
    assert!(!opened.state.unprotected, "{opened:?}");
    assert!(opened.state.problems.is_empty(), "{opened:?}");

    down.store(true, Ordering::SeqCst);
    let err = gw
        .setup_tps(&plan("C1"), &long(dec!(0.02), dec!(50000)))
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert_eq!(gw.trade("C1").unwrap().phase, Phase::InPosition);
    let phases: Vec<Phase> = journal
        .states("C1")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.phase)
        .collect();
    assert_eq!(phases, [Phase::Entering, Phase::InPosition]);
}

/// R-SAFE-1: a plan whose take-profit leg is below the instrument's minimum order quantity
/// is refused before the entry. `check_plan` only checked the leg against the maximum, so the
/// entry was sent and then `setup_tps` refused every TP leg before sending any (one leg
/// failing its rules leaves them all unplaced): a foreseeable refusal after the entry, with
/// the position unprotected. Here the minimum is 0.005 and TP3's share of 0.02 is 0.004.
#[tokio::test]
async fn a_tp_leg_below_the_minimum_quantity_refuses_the_plan() {
    let mut m = Mocks::new();
    let mut meta = MockSymbolMetaService::new();
    meta.expect_get_symbol_meta()
        .returning(|_| Ok(Arc::new(rules_with_min_qty(dec!(0.005)))));
    m.meta = meta;
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .never();
    let (gw, _) = m.build_mem();
    let err = gw.check_plan(&plan("M1")).await.unwrap_err();
    assert!(
        matches!(&err, GatewayError::PlanRefused { field, .. } if field == "tp_levels[2].share"),
        "{err}"
    );
    let err = gw.execute_entry(&plan("M1")).await.unwrap_err();
    assert!(err.is_plan_refused(), "{err}");

    // The same plan with shares the instrument can place passes.
    let mut fine = plan("M2");
    fine.tp_levels[1].share = dec!(0.25);
    fine.tp_levels[2].share = dec!(0.25);
    gw.check_plan(&fine).await.unwrap();
}

fn rules_with_min_qty(min: rust_decimal::Decimal) -> InstrumentRules {
    crate::support::rules_from(
        &crate::support::price_filter(),
        &LotSizeFilter {
            min_order_qty: min,
            ..crate::support::lot_size()
        },
    )
}

/// R-SAFE-1, R-GW-1, R-SAFE-3: the whole-plan check judges a plan before its entry is first
/// sent. Repeating `execute_entry` after an unknown outcome (the way to resolve it) re-ran it
/// against the price of the moment: with TP1 now on the loss side the repeat answered
/// PlanRefused ("nothing sent") while the first send had landed and filled. The repeat must
/// look the entry up and answer its fill.
#[tokio::test]
async fn repeating_an_entry_after_an_unknown_outcome_answers_its_fill_after_the_price_moved() {
    let mut m = Mocks::new();
    m.config.retry_backoff = vec![];
    let landed = Arc::new(AtomicBool::new(false));
    let mut prices = MockPriceService::new();
    prices.expect_price_limit().returning(|_| Ok(None));
    let l = landed.clone();
    // TP1 is at 51 000: once the price is 51 500 it is on the loss side of a long.
    prices.expect_last_price().returning(move |_| {
        Ok(if l.load(Ordering::SeqCst) {
            dec!(51500)
        } else {
            dec!(50000)
        })
    });
    m.prices = prices;
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(3)
        .returning(|_| Err(unknown()));
    let l = landed.clone();
    m.router.expect_get_order().returning(move |_, link| {
        Ok(l.load(Ordering::SeqCst)
            .then(|| snapshot(link.as_str(), Side::Buy, dec!(0.02), OrderStatus::Filled)))
    });
    let (gw, _) = m.build_mem();
    let err = gw.execute_entry(&plan("E1")).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");

    landed.store(true, Ordering::SeqCst);
    let done = gw.execute_entry(&plan("E1")).await.unwrap();
    assert_eq!(done.filled_qty, dec!(0.02));
    assert_eq!(gw.trade("E1").unwrap().phase, Phase::InPosition);
}

/// The entry of the partial-fill tests: an IOC market order cancelled after filling 0.01 of
/// its 0.02 (a thin book).
fn partly_filled_entry(link: &str) -> exec_gateway::OrderSnapshot {
    exec_gateway::OrderSnapshot {
        filled_qty: dec!(0.01),
        avg_price: Some(dec!(50000)),
        ..snapshot(link, Side::Buy, dec!(0.02), OrderStatus::Cancelled)
    }
}

/// R-GW-6, R-SAFE-3, R-SAFE-4: after a restart, a trade whose IOC entry filled part of its
/// quantity and was cancelled is an entry that filled: recover() gives it its take-profits.
/// It took only a `Filled` entry as filled, so such a trade was rebuilt with nothing filled:
/// no TP was placed, and it was not even flagged unprotected.
#[tokio::test]
async fn recover_protects_a_trade_whose_entry_filled_in_part() {
    let journal = Arc::new(MemoryJournal::new());
    // Before the restart: the entry fills 0.01 of 0.02 and the process dies.
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(ack);
    m.router
        .expect_get_order()
        .returning(|_, l| Ok(Some(partly_filled_entry(l.as_str()))));
    let gw = m.build(journal.clone(), None);
    assert_eq!(
        gw.execute_entry(&plan("P1")).await.unwrap().filled_qty,
        dec!(0.01)
    );
    drop(gw);

    let mut m = Mocks::new();
    m.router.expect_get_order().returning(|_, l| {
        Ok(l.as_str()
            .starts_with("andre_ENTRY")
            .then(|| partly_filled_entry(l.as_str())))
    });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router.expect_recent_orders().returning(|| Ok(vec![]));
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .times(3)
        .returning(ack);
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .returning(ack);
    m.positions
        .expect_get_all_positions()
        .returning(|| Ok(vec![long(dec!(0.01), dec!(50000))]));
    m.positions
        .expect_get_position()
        .returning(|_| Ok(long(dec!(0.01), dec!(50000))));
    let gw = m.build(journal, None);
    let found = gw.recover().await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let state = &found[0].state;
    assert_eq!(state.filled_qty, dec!(0.01), "{found:?}");
    assert!(!state.unprotected, "{found:?}");
    for leg in ["TP1", "TP2", "TP3"] {
        assert!(state.orders.contains_key(leg), "{leg}: {found:?}");
    }
}

/// R-SAFE-2, R-SAFE-3, R-GW-2: a take-profit that filled (its fill journaled) and has aged
/// out of the exchange's lookups (closed orders leave /order/realtime on a restart and history after 7 days; a
/// trade can outlive that) is done, not missing. setup_tps (every reconcile pass runs it)
/// took it as missing: it shrank the open TPs to make room for it, then refused to re-send
/// it (the journal shows the exchange had it), leaving part of the position without a TP and
/// the trade flagged unprotected with a false problem.
#[tokio::test]
async fn a_filled_tp_aged_out_of_lookups_is_done_not_missing() {
    let mut m = Mocks::new();
    let entered = Arc::new(AtomicBool::new(false));
    let tp1_filled = Arc::new(AtomicBool::new(false));
    let e = entered.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(move |o| {
            e.store(true, Ordering::SeqCst);
            ack(o)
        });
    m.router.expect_get_order().returning(|_, l| {
        Ok(l.as_str()
            .starts_with("andre_ENTRY")
            .then(|| snapshot(l.as_str(), Side::Buy, dec!(0.02), OrderStatus::Filled)))
    });
    let f = tp1_filled.clone();
    m.router.expect_sync_open_orders().returning(move |_| {
        Ok(if f.load(Ordering::SeqCst) {
            vec![
                snapshot("andre_TP2_G1", Side::Sell, dec!(0.006), OrderStatus::Open),
                snapshot("andre_TP3_G1", Side::Sell, dec!(0.004), OrderStatus::Open),
            ]
        } else {
            vec![]
        })
    });
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .times(3)
        .returning(ack);
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .returning(ack);
    m.router.expect_amend_order_qty().never();
    let f = tp1_filled.clone();
    m.positions.expect_get_position().returning(move |s| {
        Ok(if f.load(Ordering::SeqCst) {
            long(dec!(0.01), dec!(50000))
        } else if entered.load(Ordering::SeqCst) {
            long(dec!(0.02), dec!(50000))
        } else {
            PositionState::flat(s.clone())
        })
    });
    let (gw, journal) = m.build_mem();
    let opened = gw.open_trade(&plan("G1")).await.unwrap();
    assert!(opened.state.problems.is_empty(), "{opened:?}");

    // TP1 (0.010) filled long ago (its fill is journaled): the exchange no longer finds it
    // by orderLinkId.
    journal
        .record_fill(&exec_events::Fill {
            exec_id: "e-tp1".into(),
            symbol: "BTCUSDT".into(),
            side: Side::Sell,
            order_id: "id-andre_TP1_G1".into(),
            order_link_id: "andre_TP1_G1".into(),
            price: dec!(51000),
            qty: dec!(0.01),
            fee: dec!(0.01),
            fee_currency: "USDT".into(),
            is_maker: true,
            pnl: None,
            exec_kind: exec_events::ExecKind::Trade,
            time_ms: 1,
            simulated: false,
        })
        .await
        .unwrap();
    tp1_filled.store(true, Ordering::SeqCst);
    let state = gw
        .setup_tps(&plan("G1"), &long(dec!(0.01), dec!(50000)))
        .await
        .unwrap();
    assert!(state.problems.is_empty(), "{state:?}");
    assert!(!state.unprotected, "{state:?}");
}

/// R-GW-3, R-SAFE-3: DCAs that filled are finished legs. setup_dcas (every reconcile pass
/// of an IN_POSITION trade runs it) re-checked each one that is no longer open against the
/// position's average entry, which the fills have moved: with a large DCA2 filled, DCA1
/// (49 000) is above the new average (about 41 786), so the pass refused the plan ("not
/// worse than the entry"), listed a false problem on DCA1 and published it.
#[tokio::test]
async fn filled_dcas_are_not_judged_again_against_the_moved_average() {
    let mut m = Mocks::new();
    m.config.max_notional_usdt = dec!(100000);
    let entered = Arc::new(AtomicBool::new(false));
    let dcas_filled = Arc::new(AtomicBool::new(false));
    let e = entered.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(move |o| {
            e.store(true, Ordering::SeqCst);
            ack(o)
        });
    let f = dcas_filled.clone();
    m.router.expect_get_order().returning(move |_, l| {
        let link = l.as_str();
        Ok(if link.starts_with("andre_ENTRY") {
            Some(snapshot(link, Side::Buy, dec!(0.02), OrderStatus::Filled))
        } else if link.starts_with("andre_DCA") && f.load(Ordering::SeqCst) {
            Some(snapshot(link, Side::Buy, dec!(0.05), OrderStatus::Filled))
        } else {
            None
        })
    });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(ack);
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .times(2)
        .returning(ack);
    m.positions.expect_get_position().returning(move |s| {
        Ok(if entered.load(Ordering::SeqCst) {
            long(dec!(0.02), dec!(50000))
        } else {
            PositionState::flat(s.clone())
        })
    });
    let (gw, _) = m.build_mem();
    let mut p = plan("D1");
    p.dca_levels[0].margin_usdt = dec!(10);
    p.dca_levels[1].price = dec!(40000);
    p.dca_levels[1].margin_usdt = dec!(400);
    let opened = gw.open_trade(&p).await.unwrap();
    assert!(opened.state.problems.is_empty(), "{opened:?}");

    // Both DCAs filled: 0.020 @ 50 000 + 0.002 @ 49 000 + 0.100 @ 40 000.
    dcas_filled.store(true, Ordering::SeqCst);
    let state = gw
        .setup_dcas(&p, &long(dec!(0.122), dec!(41786.8)))
        .await
        .unwrap();
    assert!(state.problems.is_empty(), "{state:?}");
}

/// R-SAFE-2, R-SAFE-4: "ENTERING with an open position" is an entry that filled before the
/// process could journal it, only if the entry did fill. A trade whose IOC entry was
/// cancelled with nothing filled, on a symbol where the operator then opened a position of
/// his own, was journaled IN_POSITION by the next pass: the position was adopted silently
/// (and the symbol held by a trade that owns nothing). It is reported and the trade closed.
#[tokio::test(start_paused = true)]
async fn recover_does_not_adopt_a_position_an_unfilled_entry_did_not_open() {
    let mut m = Mocks::new();
    let manual = Arc::new(AtomicBool::new(false));
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(ack);
    // Not seen while execute_entry waits (so the trade stays ENTERING, its outcome unknown);
    // seen Cancelled with nothing filled by the later pass.
    let seen = manual.clone();
    m.router.expect_get_order().returning(move |_, l| {
        Ok(seen
            .load(Ordering::SeqCst)
            .then(|| snapshot(l.as_str(), Side::Buy, dec!(0.02), OrderStatus::Cancelled)))
    });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router.expect_recent_orders().returning(|| Ok(vec![]));
    m.router.expect_place().withf(crate::support::is_tp).never();
    let on = manual.clone();
    m.positions.expect_get_all_positions().returning(move || {
        Ok(if on.load(Ordering::SeqCst) {
            vec![long(dec!(0.05), dec!(50000))]
        } else {
            vec![]
        })
    });
    let on = manual.clone();
    m.positions.expect_get_position().returning(move |s| {
        Ok(if on.load(Ordering::SeqCst) {
            long(dec!(0.05), dec!(50000))
        } else {
            PositionState::flat(s.clone())
        })
    });
    let (gw, journal) = m.build_mem();
    let err = gw.execute_entry(&plan("K1")).await.unwrap_err();
    assert!(matches!(err, GatewayError::NotFilled { .. }), "{err}");
    assert_eq!(gw.trade("K1").unwrap().phase, Phase::Entering);

    manual.store(true, Ordering::SeqCst);
    let report = gw.reconcile().await.unwrap();
    let phases: Vec<Phase> = journal
        .states("K1")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.phase)
        .collect();
    assert!(
        !phases.contains(&Phase::InPosition),
        "{phases:?} {report:?}"
    );
    assert_ne!(gw.trade("K1").unwrap().phase, Phase::InPosition);
    assert!(
        report.trades[0]
            .disagreements
            .iter()
            .any(|d| d.contains("0.05")),
        "{report:?}"
    );
}

/// R-SAFE-4, R-SAFE-2: a finished trade takes no new order. A reconcile pass reads the
/// position, then waits for the trade's lock to run setup_tps and setup_dcas; if the caller's
/// close_all holds the lock meanwhile, the pass went on with its stale position and placed
/// the DCAs the closed trade never had: resting orders that open a position no trade owns.
/// Here the pass's calls are made in that order after the close.
#[tokio::test]
async fn a_closed_trade_gets_no_dca_or_stop_from_a_stale_pass() {
    let mut m = Mocks::new();
    let entered = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicBool::new(false));
    let e = entered.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(move |o| {
            e.store(true, Ordering::SeqCst);
            ack(o)
        });
    m.router.expect_get_order().returning(|_, l| {
        Ok(l.as_str()
            .starts_with("andre_ENTRY")
            .then(|| snapshot(l.as_str(), Side::Buy, dec!(0.02), OrderStatus::Filled)))
    });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let c = closed.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_close)
        .returning(move |o| {
            c.store(true, Ordering::SeqCst);
            ack(o)
        });
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .never();
    m.router.expect_place().withf(crate::support::is_tp).never();
    m.router.expect_set_stop_loss().never();
    m.positions.expect_get_position().returning(move |s| {
        Ok(
            if entered.load(Ordering::SeqCst) && !closed.load(Ordering::SeqCst) {
                long(dec!(0.02), dec!(50000))
            } else {
                PositionState::flat(s.clone())
            },
        )
    });
    let (gw, _) = m.build_mem();
    gw.execute_entry(&plan("Z1")).await.unwrap();
    let stale = long(dec!(0.02), dec!(50000));
    let state = gw.trade("Z1").unwrap();
    gw.close_all(&state, "by the caller").await.unwrap();
    assert_eq!(gw.trade("Z1").unwrap().phase, Phase::Closed);

    assert!(gw.setup_tps(&plan("Z1"), &stale).await.is_err());
    assert!(gw.setup_dcas(&plan("Z1"), &stale).await.is_err());
    assert!(gw.move_to_breakeven(&state).await.is_err());
    assert_eq!(gw.trade("Z1").unwrap().phase, Phase::Closed);
}

/// R-ERR-3, R-SAFE-2: a market entry that finished with nothing filled (IOC cancelled on a
/// thin book) is a definitive answer, not an unknown one: the trade is aborted at once (ERROR,
/// one `execution.error` of kind Rejected), it owns nothing, and the symbol is free for the
/// next trade. Before, it answered "outcome unknown" and held the symbol ENTERING until a
/// reconcile pass.
#[tokio::test]
async fn an_entry_that_filled_nothing_aborts_the_trade_and_frees_the_symbol() {
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(ack);
    m.router.expect_get_order().returning(|_, l| {
        let status = if l.as_str().ends_with("_U1") {
            OrderStatus::Cancelled
        } else {
            OrderStatus::Filled
        };
        Ok(Some(snapshot(l.as_str(), Side::Buy, dec!(0.02), status)))
    });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.positions
        .expect_get_position()
        .returning(|s| Ok(PositionState::flat(s.clone())));
    let (gw, _) = m.build_mem();
    let mut events = gw.bus().subscribe();
    let err = gw.execute_entry(&plan("U1")).await.unwrap_err();
    assert!(matches!(err, GatewayError::EntryUnfilled { .. }), "{err}");
    assert!(
        !err.is_outcome_unknown() && err.is_definitive_reject(),
        "{err}"
    );
    assert_eq!(gw.trade("U1").unwrap().phase, Phase::Error);
    let errors: Vec<_> = crate::support::drain(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            exec_events::Event::ExecutionError(x) => Some(x),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].kind,
        exec_events::ErrorKind::Rejected,
        "{errors:?}"
    );
    // The symbol is free: the next trade on it is not a conflict.
    let next = gw.execute_entry(&plan("U2")).await;
    assert!(next.is_ok(), "{next:?}");
}

/// R-SAFE-2: a trade that adopted a position and whose entry's outcome was unknown still owns
/// the adopted quantity when the entry is called again (the journaled adoption is read back):
/// before, the repeat counted the entry's own fill only, so its TPs and close_all left the
/// adopted part unprotected and open.
#[tokio::test]
async fn a_repeated_entry_keeps_what_the_first_call_adopted() {
    let mut m = Mocks::new();
    m.config.retry_backoff = vec![];
    m.config.max_send_attempts = 1;
    let landed = Arc::new(AtomicBool::new(false));
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(|_| Err(unknown()));
    let l = landed.clone();
    m.router.expect_get_order().returning(move |_, link| {
        Ok(l.load(Ordering::SeqCst)
            .then(|| snapshot(link.as_str(), Side::Buy, dec!(0.02), OrderStatus::Filled)))
    });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.positions
        .expect_get_position()
        .returning(|_| Ok(long(dec!(0.05), dec!(50000))));
    let (gw, journal) = m.build_mem();
    let mut p = plan("AD1");
    p.adopt_position = true;
    let err = gw.execute_entry(&p).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    let adopted: Vec<_> = journal
        .writes("AD1")
        .await
        .unwrap()
        .into_iter()
        .filter(|w| w.kind == exec_gateway::WriteKind::Adopt)
        .collect();
    assert_eq!(adopted.len(), 1, "{adopted:?}");
    // The entry did land: the repeat finds it and owns entry + adopted.
    landed.store(true, Ordering::SeqCst);
    let done = gw.execute_entry(&p).await.unwrap();
    assert_eq!(done.filled_qty, dec!(0.07), "{done:?}");
    assert_eq!(gw.trade("AD1").unwrap().filled_qty, dec!(0.07));
}

/// R-SAFE-3: a take-profit problem of the trade as a whole (the position could not be read
/// after the entry filled, so no TP leg was tried) ends when setup_tps places every leg: it
/// stayed listed for ever, the trade unprotected and never settled.
#[tokio::test]
async fn a_trade_level_tp_problem_ends_when_every_tp_stands() {
    let mut m = Mocks::new();
    m.config.retry_backoff = vec![];
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(ack);
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(ack);
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .returning(ack);
    m.router.expect_get_order().returning(|_, l| {
        Ok(l.as_str()
            .contains("ENTRY")
            .then(|| snapshot(l.as_str(), Side::Buy, dec!(0.02), OrderStatus::Filled)))
    });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = reads.clone();
    m.positions
        .expect_get_position()
        .returning(move |s| match r.fetch_add(1, Ordering::SeqCst) {
            0 => Ok(PositionState::flat(s.clone())),
            1 => Err(unknown()),
            _ => Ok(long(dec!(0.02), dec!(50000))),
        });
    let (gw, _) = m.build_mem();
    let p = plan("TL1");
    let opened = gw.open_trade(&p).await.unwrap();
    assert!(
        opened.state.problems.iter().any(|x| x.leg == "TP") && opened.state.unprotected,
        "{opened:?}"
    );
    let state = gw
        .setup_tps(&p, &long(dec!(0.02), dec!(50000)))
        .await
        .unwrap();
    assert!(state.problems.iter().all(|x| x.leg != "TP"), "{state:?}");
    assert!(!state.unprotected, "{state:?}");
}

/// R-SAFE-2, R-GW-5: a take-profit that filled long ago (aged out of the exchange's lookups,
/// its fill journaled) still counts against what the trade owns. `owned_qty` took an order no
/// lookup finds as filled 0, so with 0.005 of someone else's beside the trade's 0.010 left,
/// `close_all` closed all 0.015 (the cap at the position hid the error until then).
#[tokio::test]
async fn a_tp_fill_only_the_journal_remembers_is_not_owned_again_by_close_all() {
    let mut m = Mocks::new();
    let entered = Arc::new(AtomicBool::new(false));
    let tp1_filled = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let e = entered.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(move |o| {
            e.store(true, Ordering::SeqCst);
            ack(o)
        });
    m.router.expect_get_order().returning(|_, l| {
        Ok(l.as_str()
            .starts_with("andre_ENTRY")
            .then(|| snapshot(l.as_str(), Side::Buy, dec!(0.02), OrderStatus::Filled)))
    });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(ack);
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .returning(ack);
    let c = closed.clone();
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_close)
        .returning(move |o| {
            c.lock().unwrap().push(o.qty);
            d.store(true, Ordering::SeqCst);
            ack(o)
        });
    let f = tp1_filled.clone();
    m.positions.expect_get_position().returning(move |s| {
        Ok(if done.load(Ordering::SeqCst) {
            long(dec!(0.005), dec!(50000))
        } else if f.load(Ordering::SeqCst) {
            // The trade's 0.010 left after TP1, and 0.005 that is not the trade's.
            long(dec!(0.015), dec!(50000))
        } else if entered.load(Ordering::SeqCst) {
            long(dec!(0.02), dec!(50000))
        } else {
            PositionState::flat(s.clone())
        })
    });
    let (gw, journal) = m.build_mem();
    gw.open_trade(&plan("H1")).await.unwrap();
    journal
        .record_fill(&exec_events::Fill {
            exec_id: "e-tp1".into(),
            symbol: "BTCUSDT".into(),
            side: Side::Sell,
            order_id: "id-andre_TP1_H1".into(),
            order_link_id: "andre_TP1_H1".into(),
            price: dec!(51000),
            qty: dec!(0.01),
            fee: dec!(0.01),
            fee_currency: "USDT".into(),
            is_maker: true,
            pnl: None,
            exec_kind: exec_events::ExecKind::Trade,
            time_ms: 1,
            simulated: false,
        })
        .await
        .unwrap();
    tp1_filled.store(true, Ordering::SeqCst);
    let state = gw.trade("H1").unwrap();
    gw.close_all(&state, "test").await.unwrap();
    assert_eq!(*closed.lock().unwrap(), [dec!(0.01)]);
}

/// No line floods: a trade the exchange's order history knows by our
/// orderLinkId prefix but the journal has no plan for (a journal started afresh, another
/// process on the account) is reported once, not at ERROR with an `execution.error` on
/// every reconcile pass (every few seconds, for as long as Bybit keeps the order history).
#[tokio::test]
async fn a_trade_without_a_plan_in_the_journal_is_reported_once_not_every_pass() {
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router.expect_recent_orders().returning(|| {
        Ok(vec![snapshot(
            "andre_ENTRY_GONE1",
            Side::Buy,
            dec!(0.02),
            OrderStatus::Filled,
        )])
    });
    m.positions
        .expect_get_all_positions()
        .returning(|| Ok(vec![]));
    let (gw, _journal) = m.build_mem();
    let mut sub = gw.bus().subscribe();
    for _ in 0..3 {
        gw.reconcile().await.unwrap();
    }
    let reported: Vec<_> = crate::support::drain(&mut sub)
        .into_iter()
        .filter_map(|e| match e {
            exec_events::Event::ExecutionError(x) => Some(x.message),
            _ => None,
        })
        .collect();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert!(
        reported[0].contains("no plan in the journal"),
        "{reported:?}"
    );
}
