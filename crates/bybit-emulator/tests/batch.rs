//! Batch amend and batch cancel (docs v5/order/batch-amend, v5/order/batch-cancel): up to 20
//! linear items, each charged one rate-limit unit and answered by index — `result.list` with
//! each item's ids, `retExtInfo.list` with each item's own `{code, msg}` — while the envelope
//! says 0.

use serde_json::{json, Value};

use crate::support::{start, Client};

/// Places resting XRPUSDT buys with these orderLinkIds; returns their orderIds.
async fn resting(c: &Client, links: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for link in links {
        let body = json!({"category": "linear", "symbol": "XRPUSDT", "side": "Buy", "orderType": "Limit", "qty": "10", "price": "1.5", "orderLinkId": link});
        let reply = c.post("/v5/order/create", &body).await;
        assert_eq!(reply.ret_code(), 0, "{:?}", reply.body);
        ids.push(reply.body["result"]["orderId"].as_str().unwrap().to_owned());
    }
    ids
}

/// Each item's `retExtInfo` code, by index.
fn codes(reply: &Value) -> Vec<i64> {
    reply["retExtInfo"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_i64().unwrap())
        .collect()
}

/// The open order with this orderLinkId, if any.
async fn open_order(c: &Client, link: &str) -> Option<Value> {
    let reply = c
        .get(
            "/v5/order/realtime",
            &format!("category=linear&symbol=XRPUSDT&orderLinkId={link}"),
        )
        .await;
    reply.body["result"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["orderStatus"] == "New")
        .cloned()
}

#[tokio::test]
async fn batch_amend_answers_each_item_and_applies_the_good_ones() {
    let emu = start().await;
    let c = Client::new(&emu);
    let ids = resting(&c, &["ba-1", "ba-2"]).await;
    let body = json!({"category": "linear", "request": [
        {"symbol": "XRPUSDT", "orderId": ids[0], "price": "1.4"},
        {"symbol": "XRPUSDT", "orderLinkId": "ba-missing", "price": "1.4"},
        {"symbol": "XRPUSDT", "orderLinkId": "ba-2", "qty": "20"},
        {"symbol": "XRPUSDT", "price": "1.4"}
    ]});
    let reply = c.post("/v5/order/amend-batch", &body).await;
    assert_eq!(reply.ret_code(), 0, "{:?}", reply.body);
    assert_eq!(codes(&reply.body), [0, 110001, 0, 10001]);
    let list = reply.body["result"]["list"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(
        list[0],
        json!({"category": "linear", "symbol": "XRPUSDT", "orderId": ids[0], "orderLinkId": "ba-1"})
    );
    // A refused item echoes what it asked for.
    assert_eq!(
        list[1],
        json!({"category": "linear", "symbol": "XRPUSDT", "orderId": "", "orderLinkId": "ba-missing"})
    );
    assert_eq!(list[2]["orderId"], ids[1].as_str());
    assert_eq!(
        reply.body["retExtInfo"]["list"][0],
        json!({"code": 0, "msg": "OK"})
    );
    assert_eq!(open_order(&c, "ba-1").await.unwrap()["price"], "1.4");
    assert_eq!(open_order(&c, "ba-2").await.unwrap()["qty"], "20");
}

#[tokio::test]
async fn batch_cancel_answers_each_item_and_cancels_the_good_ones() {
    let emu = start().await;
    let c = Client::new(&emu);
    let ids = resting(&c, &["bc-1", "bc-2", "bc-3"]).await;
    let body = json!({"category": "linear", "request": [
        {"symbol": "XRPUSDT", "orderLinkId": "bc-1"},
        {"symbol": "XRPUSDT", "orderId": "no-such-order"},
        {"symbol": "XRPUSDT", "orderId": ids[2]}
    ]});
    let reply = c.post("/v5/order/cancel-batch", &body).await;
    assert_eq!(reply.ret_code(), 0, "{:?}", reply.body);
    assert_eq!(codes(&reply.body), [0, 110001, 0]);
    let list = reply.body["result"]["list"].as_array().unwrap();
    assert_eq!(
        list[0],
        json!({"category": "linear", "symbol": "XRPUSDT", "orderId": ids[0], "orderLinkId": "bc-1"})
    );
    assert_eq!(
        list[1],
        json!({"category": "linear", "symbol": "XRPUSDT", "orderId": "no-such-order", "orderLinkId": ""})
    );
    assert_eq!(list[2]["orderLinkId"], "bc-3");
    assert!(open_order(&c, "bc-1").await.is_none());
    assert!(open_order(&c, "bc-2").await.is_some());
    assert!(open_order(&c, "bc-3").await.is_none());
    // Cancelling again: the order is gone, so the item (not the envelope) says 110001.
    let again = c
        .post(
            "/v5/order/cancel-batch",
            &json!({"category": "linear", "request": [{"symbol": "XRPUSDT", "orderLinkId": "bc-1"}]}),
        )
        .await;
    assert_eq!((again.ret_code(), codes(&again.body)), (0, vec![110001]));
}

#[tokio::test]
async fn batches_hold_one_to_twenty_items_and_each_costs_one_unit() {
    let emu = start().await;
    let c = Client::new(&emu);
    for path in ["/v5/order/amend-batch", "/v5/order/cancel-batch"] {
        let over: Vec<_> = (0..21)
            .map(|i| json!({"symbol": "XRPUSDT", "orderLinkId": format!("o{i}")}))
            .collect();
        let reply = c
            .post(path, &json!({"category": "linear", "request": over}))
            .await;
        assert_eq!(reply.ret_code(), 10001, "{path}");
        let empty = c
            .post(path, &json!({"category": "linear", "request": []}))
            .await;
        assert_eq!(empty.ret_code(), 10001, "{path}");
    }
    resting(&c, &["rl-1", "rl-2", "rl-3", "rl-4"]).await;
    // Three units left in the window: the first three items go through, the tail is 10006.
    c.control("/rate-limit", json!({"cap": 3, "seconds": 30}))
        .await;
    let items: Vec<_> = ["rl-1", "rl-2", "rl-3", "rl-4"]
        .iter()
        .map(|l| json!({"symbol": "XRPUSDT", "orderLinkId": l}))
        .collect();
    let reply = c
        .post(
            "/v5/order/cancel-batch",
            &json!({"category": "linear", "request": items}),
        )
        .await;
    assert_eq!(reply.ret_code(), 0, "{:?}", reply.body);
    assert_eq!(codes(&reply.body), [0, 0, 0, 10006]);
    assert_eq!(reply.header("X-Bapi-Limit-Status"), Some("0"));
    assert!(open_order(&c, "rl-4").await.is_some());
}

// docs v5/order/batch-cancel lists inverse too; the emulator trades linear only, and writes
// for other categories stay refused.
#[tokio::test]
async fn batches_for_other_categories_are_refused() {
    let emu = start().await;
    let c = Client::new(&emu);
    for path in ["/v5/order/amend-batch", "/v5/order/cancel-batch"] {
        let inverse = c
            .post(
                path,
                &json!({"category": "inverse", "request": [{"symbol": "BTCUSD", "orderId": "x"}]}),
            )
            .await;
        assert_eq!(inverse.ret_code(), 10001, "{path}: {:?}", inverse.body);
    }
}
