//! The outcome policy's order of calls, pinned with mockall's `Sequence` on every route that
//! sends an order — entry, TP, DCA, close (R-GW-1, R-GW-2, R-GW-3, R-GW-5, R-SAFE-4): after
//! an unknown outcome the order is looked up by orderLinkId strictly before it is sent again,
//! with the same orderLinkId. The breakeven stop (R-GW-4) is no order, so setting it twice
//! cannot duplicate anything ("not modified", 34040, counts as done); its route is pinned too:
//! after an unknown outcome the position is read strictly before the stop is set again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use exec_gateway::{
    OrderAck, OrderRequest, OrderStatus, PortError, PositionState, Side, TradeState,
};
use mockall::Sequence;
use rust_decimal_macros::dec;

use crate::support::{long, plan, snapshot, symbol, Mocks};

fn unknown() -> PortError {
    PortError::UnknownOutcome {
        reason: "timeout".into(),
    }
}

fn ack(o: &OrderRequest) -> Result<OrderAck, PortError> {
    Ok(OrderAck {
        order_id: format!("id-{}", o.order_link_id.as_str()),
        order_link_id: o.order_link_id.as_str().into(),
    })
}

/// Lookup of `link` answering "not there".
fn not_found(
    link: &'static str,
) -> impl Fn(&bybit_types::Symbol, &bybit_types::OrderLinkId) -> bool {
    move |_, l| l.as_str() == link
}

#[tokio::test]
async fn entry_lookup_strictly_before_the_resend() {
    let mut m = Mocks::new();
    let mut seq = Sequence::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(unknown()));
    m.router
        .expect_get_order()
        .withf(not_found("andre_ENTRY_Q1"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(None));
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .withf(|o| o.order_link_id.as_str() == "andre_ENTRY_Q1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(ack);
    m.router
        .expect_get_order()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, l| {
            Ok(Some(snapshot(
                l.as_str(),
                Side::Buy,
                dec!(0.02),
                OrderStatus::Filled,
            )))
        });
    let (gw, _) = m.build_mem();
    gw.execute_entry(&plan("Q1")).await.unwrap();
}

#[tokio::test]
async fn tp_lookup_strictly_before_the_resend() {
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let mut seq = Sequence::new();
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(unknown()));
    m.router
        .expect_get_order()
        .withf(not_found("andre_TP1_Q1"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(None));
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .withf(|o| o.order_link_id.as_str() == "andre_TP1_Q1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(ack);
    let (gw, _) = m.build_mem();
    let mut one = plan("Q1");
    one.tp_levels.truncate(1);
    one.tp_levels[0].share = dec!(1);
    gw.setup_tps(&one, &long(dec!(0.02), dec!(50000)))
        .await
        .unwrap();
}

#[tokio::test]
async fn dca_lookup_strictly_before_the_resend() {
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let mut seq = Sequence::new();
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(unknown()));
    m.router
        .expect_get_order()
        .withf(not_found("andre_DCA1_Q1"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(None));
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .withf(|o| o.order_link_id.as_str() == "andre_DCA1_Q1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(ack);
    let (gw, _) = m.build_mem();
    let mut one = plan("Q1");
    one.dca_levels.truncate(1);
    gw.setup_dcas(&one, &long(dec!(0.02), dec!(50000)))
        .await
        .unwrap();
}

#[tokio::test]
async fn close_lookup_strictly_before_the_resend() {
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let flat = Arc::new(AtomicBool::new(false));
    let f = flat.clone();
    m.positions.expect_get_position().returning(move |s| {
        Ok(if f.load(Ordering::SeqCst) {
            PositionState::flat(s.clone())
        } else {
            long(dec!(0.02), dec!(50000))
        })
    });
    let mut seq = Sequence::new();
    m.router
        .expect_place()
        .withf(crate::support::is_close)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(unknown()));
    m.router
        .expect_get_order()
        .withf(not_found("andre_CLOSE1_Q1"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(None));
    m.router
        .expect_place()
        .withf(|o| crate::support::is_close(o) && o.order_link_id.as_str() == "andre_CLOSE1_Q1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |o| {
            flat.store(true, Ordering::SeqCst);
            ack(o)
        });
    // Once flat, the close order is read back for its final status.
    m.router
        .expect_get_order()
        .withf(|_, l| l.as_str() == "andre_CLOSE1_Q1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, l| {
            Ok(Some(snapshot(
                l.as_str(),
                Side::Sell,
                dec!(0.02),
                OrderStatus::Filled,
            )))
        });
    let (gw, _) = m.build_mem();
    let mut state = TradeState::new(&plan("Q1"));
    state.symbol = symbol();
    gw.close_all(&state, "test").await.unwrap();
}

#[tokio::test]
async fn stop_position_read_strictly_before_the_stop_is_set_again() {
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let mut seq = Sequence::new();
    m.positions
        .expect_get_position()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(long(dec!(0.02), dec!(50000))));
    m.router
        .expect_set_stop_loss()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Err(unknown()));
    m.positions
        .expect_get_position()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(long(dec!(0.02), dec!(50000))));
    m.router
        .expect_set_stop_loss()
        .withf(|_, p| *p == dec!(50000))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    let (gw, _) = m.build_mem();
    let state = TradeState::new(&plan("Q1"));
    let first = gw.move_to_breakeven(&state).await;
    assert!(
        first.is_err(),
        "an unknown outcome is not a success: {first:?}"
    );
    gw.move_to_breakeven(&state).await.unwrap();
}
