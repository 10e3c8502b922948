//! R-SAFE-3: a take-profit refused after the entry filled is loud (one
//! `execution.error` naming kind, tag, leg and retCode; one error-log line), listed on the
//! trade, which is marked unprotected; `open_trade` answers what happened; with the close
//! policy the position ends flat.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use exec_events::{ErrorKind, ErrorLog, Event};
use exec_gateway::{
    GatewayError, MemoryJournal, OrderAck, OrderStatus, PortError, PositionState, Side,
    TpFailurePolicy,
};
use rust_decimal_macros::dec;

use crate::support::{drain, long, plan, snapshot, Mocks};

const TP2: &str = "andre_TP2_S1";

/// Mocks of an exchange where the entry fills 0.02 at 50 000 and TP2 is refused with 30209
/// (below the price band); a close flattens the position.
fn exchange(policy: TpFailurePolicy) -> Mocks {
    let mut m = Mocks::new();
    m.config.on_tp_failure = policy;
    let entered = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicBool::new(false));
    let e = entered.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(move |o| {
            e.store(true, Ordering::SeqCst);
            Ok(OrderAck {
                order_id: "id-entry".into(),
                order_link_id: o.order_link_id.as_str().into(),
            })
        });
    m.router.expect_get_order().returning(|_, link| {
        Ok(link
            .as_str()
            .starts_with("andre_ENTRY")
            .then(|| snapshot(link.as_str(), Side::Buy, dec!(0.02), OrderStatus::Filled)))
    });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(|o| {
            if o.order_link_id.as_str() == TP2 {
                return Err(PortError::Rejected {
                    code: 30209,
                    message: "below the min sell price".into(),
                });
            }
            Ok(OrderAck {
                order_id: format!("id-{}", o.order_link_id.as_str()),
                order_link_id: o.order_link_id.as_str().into(),
            })
        });
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .returning(|o| {
            Ok(OrderAck {
                order_id: format!("id-{}", o.order_link_id.as_str()),
                order_link_id: o.order_link_id.as_str().into(),
            })
        });
    let c = closed.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_close)
        .returning(move |o| {
            c.store(true, Ordering::SeqCst);
            Ok(OrderAck {
                order_id: "id-close".into(),
                order_link_id: o.order_link_id.as_str().into(),
            })
        });
    m.positions.expect_get_position().returning(move |s| {
        Ok(
            if entered.load(Ordering::SeqCst) && !closed.load(Ordering::SeqCst) {
                long(dec!(0.02), dec!(50000))
            } else {
                PositionState::flat(s.clone())
            },
        )
    });
    m
}

#[tokio::test]
async fn a_tp_refused_after_the_entry_is_reported_listed_and_flags_the_trade() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("errors.log");
    let log = Arc::new(ErrorLog::open(&log_path).unwrap());
    let gw =
        exchange(TpFailurePolicy::KeepFlagged).build(Arc::new(MemoryJournal::new()), Some(log));
    let mut sub = gw.bus().subscribe();
    let opened = gw.open_trade(&plan("S1")).await.unwrap();

    // The answer says what happened: entry filled at X for Q, TP2 failed and why.
    assert_eq!(opened.entry.filled_qty, dec!(0.02));
    assert_eq!(opened.entry.entry_price, dec!(50000));
    assert!(opened.state.unprotected, "{opened:?}");
    assert_eq!(
        opened.state.problems.len(),
        1,
        "{:?}",
        opened.state.problems
    );
    let problem = &opened.state.problems[0];
    assert_eq!(problem.leg, "TP2");
    assert_eq!(problem.order_link_id, TP2);
    assert_eq!(problem.ret_code, Some(30209));
    assert_eq!(problem.kind, "rejected");
    // The other legs are placed.
    for leg in ["TP1", "TP3", "DCA1", "DCA2"] {
        assert!(opened.state.orders.contains_key(leg), "{leg}: {opened:?}");
    }
    assert_eq!(gw.trade("S1").unwrap(), opened.state);

    // One execution.error with kind, tag, leg and retCode; one error-log line.
    let errors: Vec<_> = drain(&mut sub)
        .into_iter()
        .filter_map(|e| match e {
            Event::ExecutionError(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].kind, ErrorKind::Rejected);
    assert_eq!(errors[0].trade_tag.as_deref(), Some("S1"));
    assert_eq!(errors[0].leg.as_deref(), Some("TP2"));
    assert_eq!(errors[0].ret_code, Some(30209));
    let lines = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
    assert!(lines.contains("TP2") && lines.contains("30209"), "{lines}");
}

#[tokio::test]
async fn with_the_close_policy_a_trade_whose_tps_fail_is_closed() {
    let gw = exchange(TpFailurePolicy::Close).build(Arc::new(MemoryJournal::new()), None);
    let opened = gw.open_trade(&plan("S1")).await.unwrap();
    assert_eq!(
        opened.state.phase,
        exec_gateway::Phase::Closed,
        "{opened:?}"
    );
    assert!(!opened.state.unprotected);
    assert!(opened.state.orders.contains_key("CLOSE1"), "{opened:?}");
    // CLOSED only once the position read flat (close_all waits for it).
    // A closed trade's tag is never reused (R-SAFE-2).
    let again = gw.open_trade(&plan("S1")).await.unwrap_err();
    assert!(again.is_conflict(), "{again}");
    assert!(matches!(again, GatewayError::Conflict { .. }));
}

/// R-SAFE-1: a DCA far below the market is valued at the current price, not its own: at
/// price 1, 100 USDT × 10 buys 1 000 BTC, worth 50 M USDT now (the failure it guards
/// against: "a DCA at price 1 became a 500 BTC limit buy"). The price band is opened wide so
/// the notional rule is the one that must refuse it.
#[tokio::test]
async fn a_dca_far_below_the_market_is_valued_at_the_current_price() {
    let mut m = Mocks::new();
    m.config.default_price_band = dec!(1);
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .never();
    let (gw, _) = m.build_mem();
    let mut bad = plan("S2");
    bad.dca_levels[1].price = dec!(1);
    let err = gw.check_plan(&bad).await.unwrap_err();
    assert!(
        matches!(&err, GatewayError::PlanRefused { field, .. } if field == "dca_levels[1].margin_usdt"),
        "{err}"
    );
    assert!(
        err.to_string().contains("above the configured maximum"),
        "{err}"
    );
    gw.check_plan(&plan("S2")).await.unwrap();
}

/// R-SAFE-1: the plan is checked against the exchange's own
/// order price limit (the price service's `price_limit`, Bybit's price-limit endpoint), so a
/// leg the exchange would refuse, or move on an account set to adjust, is refused before the
/// entry is sent, naming the leg. The limits here are narrower than Bybit's would be around
/// 50 000 so that each side is reached; the market entry is never sent.
#[tokio::test]
async fn a_leg_beyond_the_exchanges_price_limit_refuses_the_plan_before_the_entry() {
    use exec_gateway::{MockPriceService, PriceLimit};
    for (limit, field) in [
        (
            PriceLimit {
                buy_max: dec!(50500),
                sell_min: dec!(51500),
            },
            "tp_levels[0].price",
        ),
        (
            PriceLimit {
                buy_max: dec!(48500),
                sell_min: dec!(49500),
            },
            "dca_levels[0].price",
        ),
    ] {
        let mut m = Mocks::new();
        let mut prices = MockPriceService::new();
        prices.expect_last_price().returning(|_| Ok(dec!(50000)));
        prices
            .expect_price_limit()
            .returning(move |_| Ok(Some(limit)));
        m.prices = prices;
        m.router
            .expect_place()
            .withf(crate::support::is_entry)
            .never();
        let (gw, _) = m.build_mem();
        let err = gw.execute_entry(&plan("PL1")).await.unwrap_err();
        match &err {
            GatewayError::PlanRefused {
                field: got, rule, ..
            } => {
                assert_eq!(got, field, "{err}");
                assert!(rule.contains("price limit"), "{err}");
            }
            other => panic!("{other}"),
        }
    }
}
