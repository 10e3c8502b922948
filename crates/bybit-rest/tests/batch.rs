//! Batch create with a result per item (docs/v5/order/batch-place.mdx: the envelope's retCode
//! can be 0 while items fail; `retExtInfo.list` holds each item's `{code, msg}` by index).

use bybit_rest::NewOrder;
use bybit_types::{Side, Symbol};
use rust_decimal_macros::dec;

use crate::support::{client, emulator, link, orders_with_link, price, qty, resting_buy};

#[tokio::test]
async fn a_batch_with_one_bad_item_returns_its_error_and_the_others_acks() {
    let emu = emulator().await;
    let client = client(&emu);
    let bad = NewOrder::limit(
        Symbol::new("NOPEUSDT").unwrap(),
        Side::Buy,
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
