//! R-SAFE-2 on paper: a trade owns its quantity. One open trade per
//! symbol, a finished tag never reused, and TPs and close_all sized from the trade's own
//! fills, leaving a quantity the trade does not own untouched.

use std::sync::Arc;

use exec_gateway::{MemoryJournal, OrderRequest, OrderRouter, PositionService, Side, Symbol};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::{paper, plan};

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

/// A market buy placed outside the layer (no trade's orderLinkId).
fn foreign(qty: Decimal) -> OrderRequest {
    OrderRequest {
        symbol: btc(),
        side: Side::Buy,
        qty,
        price: None,
        trigger_price: None,
        trigger_direction: None,
        reduce_only: false,
        time_in_force: exec_gateway::TimeInForce::Ioc,
        order_link_id: bybit_types::OrderLinkId::new("manual-1").unwrap(),
    }
}

#[tokio::test]
async fn one_trade_per_symbol_and_a_finished_tag_is_never_reused_on_paper() {
    let p = paper(dec!(100000), Arc::new(MemoryJournal::new()), None).await;
    p.gateway.execute_entry(&plan("P1")).await.unwrap();
    let err = p.gateway.execute_entry(&plan("P2")).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("P1"), "{err}");
    let state = p.gateway.trade("P1").unwrap();
    p.gateway.close_all(&state, "test").await.unwrap();
    let err = p.gateway.execute_entry(&plan("P1")).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("finished"), "{err}");
    // The symbol is free again for a new tag.
    p.gateway.execute_entry(&plan("P3")).await.unwrap();
}

#[tokio::test]
async fn tps_and_close_all_size_from_the_trades_own_quantity() {
    let p = paper(dec!(100000), Arc::new(MemoryJournal::new()), None).await;
    let plan = plan("P1");
    let entry = p.gateway.execute_entry(&plan).await.unwrap();
    assert_eq!(entry.filled_qty, dec!(0.020));
    // Filled with no take-profit yet: unprotected until setup_tps places them (R-SAFE-3).
    assert!(p.gateway.trade("P1").unwrap().unprotected);
    // 0.010 more arrives on the symbol from outside the layer.
    p.router.place(&foreign(dec!(0.010))).await.unwrap();
    let position = p.router.get_position(&btc()).await.unwrap();
    assert_eq!(position.size, dec!(0.030));

    p.gateway.setup_tps(&plan, &position).await.unwrap();
    let tps: Decimal = p
        .gateway
        .active_tp_orders(&plan)
        .await
        .unwrap()
        .iter()
        .map(|o| o.qty)
        .sum();
    assert_eq!(
        tps,
        dec!(0.020),
        "TPs cover the trade's 0.020, not the symbol's 0.030"
    );

    let state = p.gateway.trade("P1").unwrap();
    p.gateway.close_all(&state, "test").await.unwrap();
    let left = p.router.get_position(&btc()).await.unwrap();
    assert_eq!(
        left.size,
        dec!(0.010),
        "the foreign 0.010 is left as it was"
    );
    assert_eq!(left.side, Some(Side::Buy));
}

/// An aborted (ERROR) trade is finished too: its tag is a conflict, not a second try.
#[tokio::test]
async fn an_aborted_trades_tag_is_a_conflict() {
    let p = paper(dec!(10), Arc::new(MemoryJournal::new()), None).await;
    let err = p.gateway.execute_entry(&plan("A1")).await.unwrap_err();
    assert!(err.aborts_trade(), "{err}");
    let again = p.gateway.execute_entry(&plan("A1")).await.unwrap_err();
    assert!(again.is_conflict(), "{again}");
    assert!(again.to_string().contains("ERROR"), "{again}");
}
