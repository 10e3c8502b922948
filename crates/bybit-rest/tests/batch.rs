//! Batches with a result per item (docs/v5/order/batch-place.mdx, batch-amend.mdx,
//! batch-cancel.mdx: the envelope's retCode can be 0 while items fail; `retExtInfo.list` holds
//! each item's `{code, msg}` by index).

use bybit_rest::{AmendOrder, CancelOrder, NewOrder, OrderTarget};
use bybit_types::{OrderId, Symbol, WireSide};
use rust_decimal_macros::dec;

use crate::support::{btc, client, emulator, link, orders_with_link, price, qty, resting_buy};

#[tokio::test]
async fn a_batch_with_one_bad_item_returns_its_error_and_the_others_acks() {
    let emu = emulator().await;
    let client = client(&emu);
    let bad = NewOrder::limit(
        Symbol::new("NOPEUSDT").unwrap(),
        WireSide::Buy,
        qty(dec!(1)),
        price(dec!(1)),
    )
    .order_link_id(link("b-bad"));
    let items = client
        .create_batch(vec![
            resting_buy(Some("b-1")),
            bad,
            resting_buy(Some("b-3")),
        ])
        .await
        .unwrap();
    assert_eq!(items.len(), 3);
    let first = items[0].as_ref().unwrap();
    assert_eq!(first.order_link_id, "b-1");
    assert!(!first.order_id.is_empty());
    let err = items[1].as_ref().unwrap_err();
    assert!(err.ret_code().is_some_and(|c| c != 0), "{err}");
    assert!(err.is_definitive_reject());
    assert_eq!(err.context().order_link_id.as_deref(), Some("b-bad"));
    assert_eq!(err.context().symbol.as_deref(), Some("NOPEUSDT"));
    assert_eq!(items[2].as_ref().unwrap().order_link_id, "b-3");
    assert_eq!(orders_with_link(&emu, "b-1").await.len(), 1);
    assert!(orders_with_link(&emu, "b-bad").await.is_empty());
}

#[tokio::test]
async fn an_empty_or_oversized_batch_is_refused_before_sending() {
    let emu = emulator().await;
    let client = client(&emu);
    let err = client.create_batch(Vec::new()).await.unwrap_err();
    assert!(err.is_definitive_reject(), "{err}");
    let many = (0..21)
        .map(|i| resting_buy(Some(&format!("m-{i}"))))
        .collect();
    assert!(client.create_batch(many).await.is_err());
}

// A batch whose reply is lost is re-sent (every order has an orderLinkId); each item then
// answers 110072 and resolves to the order the first attempt made.
#[tokio::test]
async fn a_batch_whose_reply_is_lost_resolves_each_item_to_its_single_order() {
    let emu = emulator().await;
    let client = client(&emu);
    crate::support::control(&emu, "/lose-response", serde_json::json!({"count": 1})).await;
    let items = client
        .create_batch(vec![resting_buy(Some("lb-1")), resting_buy(Some("lb-2"))])
        .await
        .unwrap();
    for (item, id) in items.iter().zip(["lb-1", "lb-2"]) {
        let ack = item.as_ref().unwrap();
        let orders = orders_with_link(&emu, id).await;
        assert_eq!(orders.len(), 1, "{id}: {orders:?}");
        assert_eq!(orders[0]["orderId"], ack.order_id.as_str());
    }
}

/// The one order in the emulator's truth with this orderLinkId.
async fn the_order(emu: &bybit_emulator::Emulator, link: &str) -> serde_json::Value {
    let mut orders = orders_with_link(emu, link).await;
    assert_eq!(orders.len(), 1, "{link}: {orders:?}");
    orders.remove(0)
}

// docs/v5/order/batch-amend.mdx against the emulator: the unknown order's item carries its
// own 110001 and its orderLinkId; the others are amended.
#[tokio::test]
async fn a_batch_amend_with_one_bad_item_returns_its_error_and_amends_the_others() {
    let emu = emulator().await;
    let client = client(&emu);
    let placed = client
        .create_batch(vec![resting_buy(Some("am-1")), resting_buy(Some("am-2"))])
        .await
        .unwrap();
    let first_id = placed[0].as_ref().unwrap().order_id.clone();
    let items = client
        .amend_batch(vec![
            AmendOrder::new(
                btc(),
                OrderTarget::Id(OrderId::new(first_id.clone()).unwrap()),
            )
            .price(price(dec!(89000))),
            AmendOrder::new(btc(), OrderTarget::LinkId(link("am-missing")))
                .price(price(dec!(89000))),
            AmendOrder::new(btc(), OrderTarget::LinkId(link("am-2"))).qty(qty(dec!(0.002))),
        ])
        .await
        .unwrap();
    assert_eq!(items.len(), 3);
    let ack = items[0].as_ref().unwrap();
    assert_eq!(
        (ack.order_id.as_str(), ack.order_link_id.as_str()),
        (first_id.as_str(), "am-1")
    );
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(err.ret_code(), Some(110001), "{err}");
    assert!(err.is_definitive_reject());
    assert_eq!(err.context().order_link_id.as_deref(), Some("am-missing"));
    assert_eq!(items[2].as_ref().unwrap().order_link_id, "am-2");
    assert_eq!(the_order(&emu, "am-1").await["price"], "89000");
    assert_eq!(the_order(&emu, "am-2").await["qty"], "0.002");
}

// docs/v5/order/batch-cancel.mdx against the emulator: one unknown item fails alone.
#[tokio::test]
async fn a_batch_cancel_with_one_bad_item_returns_its_error_and_cancels_the_others() {
    let emu = emulator().await;
    let client = client(&emu);
    client
        .create_batch(vec![resting_buy(Some("cb-1")), resting_buy(Some("cb-2"))])
        .await
        .unwrap();
    let items = client
        .cancel_batch(vec![
            CancelOrder::new(btc(), OrderTarget::LinkId(link("cb-1"))),
            CancelOrder::new(btc(), OrderTarget::LinkId(link("cb-missing"))),
            CancelOrder::new(btc(), OrderTarget::LinkId(link("cb-2"))),
        ])
        .await
        .unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap().order_link_id, "cb-1");
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(err.ret_code(), Some(110001), "{err}");
    assert_eq!(err.context().order_link_id.as_deref(), Some("cb-missing"));
    assert_eq!(items[2].as_ref().unwrap().order_link_id, "cb-2");
    for link in ["cb-1", "cb-2"] {
        assert_eq!(the_order(&emu, link).await["orderStatus"], "Cancelled");
    }
}
