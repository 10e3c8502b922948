//! exec-wire's mapping on Bybit's own payloads (the shared fixtures, read in place): orders
//! (docs/v5/order/order-list.mdx), executions (docs/v5/websocket/private/execution.mdx, with
//! docs/v5/enum.mdx execType), positions (docs/v5/websocket/private/position.mdx).

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod ret_codes;

use bybit_types::envelope::RawEnvelope;
use bybit_types::rest::order::OrderList;
use bybit_types::ws::private::{ExecutionMessage, OrderMessage, PositionMessage};
use bybit_types::{ExecType, OrderStatus as WireStatus};
use exec_events::{ExecKind, OrderEventKind, Side};
use exec_gateway::OrderStatus;
use rust_decimal_macros::dec;

fn history() -> Option<OrderList> {
    let text = testkit::fixture("rest_order_history.json")?;
    Some(
        RawEnvelope::parse(text.as_bytes())
            .unwrap()
            .decode("order history")
            .unwrap(),
    )
}

fn ws<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    testkit::fixture(name).map(|text| serde_json::from_str(&text).unwrap())
}

#[test]
fn a_cancelled_post_only_order_maps_to_a_snapshot_and_a_cancel_event_with_its_reason() {
    let Some(history) = history() else { return };
    let o = &history.list[0];
    let snap = exec_wire::snapshot(o);
    assert_eq!(snap.status, OrderStatus::Cancelled);
    assert_eq!((snap.qty, snap.price), (dec!(0.003), Some(dec!(26864.40))));
    // "triggerPrice": "0.00" is no trigger; "avgPrice": "0" no average.
    assert_eq!((snap.trigger_price, snap.avg_price), (None, None));
    assert_eq!(snap.side, Side::Buy);
    let event = exec_wire::order_event(o, true);
    assert_eq!(event.kind, OrderEventKind::Cancelled);
    assert_eq!(
        event.reason.as_deref(),
        Some("EC_PostOnlyWillTakeLiquidity")
    );
}

#[test]
fn statuses_follow_the_enum_page() {
    for (wire, ours) in [
        (WireStatus::New, OrderStatus::Open),
        (WireStatus::Triggered, OrderStatus::Open),
        (WireStatus::Untriggered, OrderStatus::Untriggered),
        (WireStatus::PartiallyFilled, OrderStatus::PartiallyFilled),
        (WireStatus::Filled, OrderStatus::Filled),
        (WireStatus::Deactivated, OrderStatus::Cancelled),
        (WireStatus::PartiallyFilledCanceled, OrderStatus::Cancelled),
        (WireStatus::Rejected, OrderStatus::Rejected),
    ] {
        assert_eq!(exec_wire::status(&wire), ours, "{wire:?}");
    }
}

#[test]
fn only_trades_are_trades() {
    let Some(message) = ws::<ExecutionMessage>("ws_private_execution.json") else {
        return;
    };
    let e = &message.data[0];
    let fill = exec_wire::fill(e);
    assert_eq!(fill.exec_kind, ExecKind::Trade);
    assert_eq!((fill.price, fill.qty), (dec!(95900.1), dec!(0.5)));
    assert_eq!(fill.fee, dec!(26.3725275));
    // The exchange's realised P&L of the execution is kept.
    assert_eq!(fill.pnl, Some(dec!(0.05)));
    assert_eq!(fill.side, Side::Sell);
    for (exec_type, kind) in [
        (ExecType::Funding, ExecKind::Funding),
        (ExecType::AdlTrade, ExecKind::Liquidation),
        (ExecType::BustTrade, ExecKind::Liquidation),
        (ExecType::Delivery, ExecKind::Other("Delivery".into())),
        (ExecType::Settle, ExecKind::Other("Settle".into())),
    ] {
        let mut other = e.clone();
        other.exec_type = Some(exec_type);
        assert_eq!(exec_wire::fill(&other).exec_kind, kind);
    }
}

#[test]
fn a_flat_position_has_no_side_and_no_entry() {
    let Some(message) = ws::<PositionMessage>("ws_private_position.json") else {
        return;
    };
    let p = exec_wire::position(&message.data[0]).unwrap();
    assert!(p.is_flat());
    assert_eq!((p.side, p.entry_price), (None, None));
    assert_eq!(p.leverage, Some(dec!(10)));
}

/// A market order's `price` is the protection price Bybit capped it at (here 72.5 beside an
/// average fill of 75): the event carries no limit price, only what filled
/// (docs/v5/order/create-order.mdx: a market order ignores `price`).
#[test]
fn a_market_order_has_no_limit_price_only_its_average_fill() {
    let Some(message) = ws::<OrderMessage>("ws_private_order.json") else {
        return;
    };
    let o = &message.data[0];
    assert_eq!(o.price, Some(dec!(72.5)), "the fixture's protection price");
    let event = exec_wire::order_event(o, false);
    assert_eq!(event.kind, OrderEventKind::Filled);
    assert_eq!((event.price, event.avg_price), (None, Some(dec!(75))));
    assert_eq!(exec_wire::snapshot(o).price, None);
}

/// The stream names the average entry `entryPrice` (REST: `avgPrice`); the event carries it
/// (docs/v5/websocket/private/position.mdx).
#[test]
fn a_pushed_position_event_carries_its_entry_price() {
    let Some(message) = ws::<PositionMessage>("ws_private_position_linear_nt.json") else {
        return;
    };
    let event = exec_wire::position_event(&message.data[0]);
    assert_eq!(event.entry_price, Some(dec!(3641.075)));
    assert_eq!(event.size, dec!(0.01));
}

fn rest<T: serde::de::DeserializeOwned>(name: &'static str) -> Option<T> {
    let text = testkit::fixture(name)?;
    Some(
        RawEnvelope::parse(text.as_bytes())
            .unwrap()
            .decode(name)
            .unwrap(),
    )
}

/// The status page's mark and liquidation price and the wallet's equity come from Bybit's
/// own fields (docs/v5/position; docs/v5/account/wallet-balance); `liqPrice` `""` is unknown.
#[test]
fn a_position_keeps_its_mark_price_and_the_wallet_its_equity() {
    let Some(list) = rest::<bybit_types::rest::position::PositionList>("rest_position_list.json")
    else {
        return;
    };
    let p = exec_wire::position(&list.list[0]).unwrap();
    assert_eq!(p.mark_price, Some(dec!(28224.50)));
    assert_eq!(p.liq_price, None, "liqPrice \"\" is unknown, not 0");
    let Some(wallet) =
        rest::<bybit_types::rest::account::WalletBalance>("rest_wallet_balance.json")
    else {
        return;
    };
    let b = exec_wire::balance(&wallet.list[0]);
    assert_eq!(b.equity, Some(dec!(3.31216591)));
}
