//! Unknown outcomes resolved safely: a re-sent create never becomes a second order, and a
//! re-sent cancel of an order that is gone is not an error (SPEC R-REST-2, STYLE.md
//! order-outcome policy; docs/v5/order/create-order.mdx orderLinkId, docs/v5/error.mdx 110072
//! and 110001).

use bybit_rest::{AmendOrder, CancelOrder, CancelOutcome, OrderTarget};
use rust_decimal_macros::dec;
use serde_json::json;

use crate::support::{btc, client, control, emulator, link, orders_with_link, price, resting_buy};

#[tokio::test]
async fn a_create_whose_reply_is_lost_resolves_to_the_single_existing_order() {
    let emu = emulator().await;
    let client = client(&emu);
    control(&emu, "/lose-response", json!({"count": 1})).await;
    let ack = client
        .create_order(resting_buy(Some("lost-1")))
        .await
        .expect("resolved, not an error");
    let orders = orders_with_link(&emu, "lost-1").await;
    assert_eq!(orders.len(), 1, "exactly one order: {orders:?}");
    assert_eq!(orders[0]["orderId"], ack.order_id.as_str());
    assert_eq!(ack.order_link_id, "lost-1");
}

#[tokio::test]
async fn a_create_whose_reply_is_lost_twice_still_makes_one_order() {
    let emu = emulator().await;
    let client = client(&emu);
    control(&emu, "/lose-response", json!({"count": 2})).await;
    let ack = client
        .create_order(resting_buy(Some("lost-2")))
        .await
        .unwrap();
    let orders = orders_with_link(&emu, "lost-2").await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["orderId"], ack.order_id.as_str());
}

#[tokio::test]
async fn a_double_click_create_returns_the_existing_order_and_places_one() {
    // SPEC R-ORD-5 / R-TEST-2: "the exchange's duplicate orderLinkId reply counts as success
    // and returns the existing order".
    let emu = emulator().await;
    let client = client(&emu);
    let first = client
        .create_order(resting_buy(Some("dup-1")))
        .await
        .unwrap();
    let second = client
        .create_order(resting_buy(Some("dup-1")))
        .await
        .expect("the duplicate answer resolves to the existing order");
    assert_eq!(second.order_id, first.order_id);
    assert_eq!(orders_with_link(&emu, "dup-1").await.len(), 1);
}

#[tokio::test]
async fn a_link_id_reused_for_a_different_order_stays_a_duplicate_error() {
    let emu = emulator().await;
    let client = client(&emu);
    client
        .create_order(resting_buy(Some("dup-2")))
        .await
        .unwrap();
    let other = bybit_rest::NewOrder::limit(
        crate::support::btc(),
        bybit_types::WireSide::Sell,
        crate::support::qty(dec!(0.002)),
        price(dec!(150000)),
    )
    .order_link_id(link("dup-2"));
    let err = client.create_order(other).await.unwrap_err();
    assert_eq!(err.ret_code(), Some(110072));
    assert!(err.is_duplicate_order_link_id());
    assert!(!err.is_definitive_reject(), "an order with that id exists");
    assert_eq!(orders_with_link(&emu, "dup-2").await.len(), 1);
}

#[tokio::test]
async fn a_cancel_whose_reply_is_lost_reports_the_order_already_gone() {
    let emu = emulator().await;
    let client = client(&emu);
    client
        .create_order(resting_buy(Some("cxl-1")))
        .await
        .unwrap();
    control(&emu, "/lose-response", json!({"count": 1})).await;
    let outcome = client
        .cancel_order(CancelOrder::new(btc(), OrderTarget::LinkId(link("cxl-1"))))
        .await
        .unwrap();
    assert_eq!(outcome, CancelOutcome::AlreadyGone);
    let orders = orders_with_link(&emu, "cxl-1").await;
    assert_eq!(orders[0]["orderStatus"], "Cancelled");
}

#[tokio::test]
async fn cancelling_an_unknown_order_on_the_first_send_is_a_definitive_110001() {
    let emu = emulator().await;
    let client = client(&emu);
    let err = client
        .cancel_order(CancelOrder::new(btc(), OrderTarget::LinkId(link("never"))))
        .await
        .unwrap_err();
    assert_eq!(err.ret_code(), Some(110001));
    assert!(err.is_definitive_reject());
}

// docs/v5/order/amend-order.mdx: an amend that changes nothing is refused (10001), which is
// what a re-sent amend meets when its first attempt got through.
#[tokio::test]
async fn an_amend_whose_reply_is_lost_is_confirmed_by_lookup() {
    let emu = emulator().await;
    let client = client(&emu);
    let ack = client
        .create_order(resting_buy(Some("amd-1")))
        .await
        .unwrap();
    control(&emu, "/lose-response", json!({"count": 1})).await;
    let amended = client
        .amend_order(
            AmendOrder::new(btc(), OrderTarget::LinkId(link("amd-1"))).price(price(dec!(88000))),
        )
        .await
        .expect("the lost amend is found applied");
    assert_eq!(amended.order_id, ack.order_id);
    let orders = orders_with_link(&emu, "amd-1").await;
    assert_eq!(orders[0]["price"], "88000");
}
