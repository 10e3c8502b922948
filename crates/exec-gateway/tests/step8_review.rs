//! Step 8 (issue 15) review findings on the gateway side: each test failed before its fix.

use std::sync::Arc;

use exec_gateway::{ManualClock, MemoryJournal, Phase, PortError};

use crate::support::{plan, Mocks};

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
        .expect_place_market_entry()
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
