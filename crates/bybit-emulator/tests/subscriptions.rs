//! Subscription replies as Bybit sends them
//! (docs/v5/websocket/wss-authentication.mdx, "Understanding the Subscription Response").

use serde_json::json;

use crate::support::start;
use crate::ws::{private_authed, request, subscribe, ws_connect};

/// A topic already subscribed on the connection is refused by name; the request's other
/// topics are subscribed. The private reply carries no `req_id` (the private tab's example).
#[tokio::test]
async fn private_already_subscribed_is_refused_by_name_and_replies_carry_no_req_id() {
    let emu = start().await;
    let mut ws = private_authed(&emu).await;
    let first = subscribe(&mut ws, &["order"]).await;
    assert_eq!(first["success"], true, "{first}");
    assert!(
        first.get("req_id").is_none(),
        "private reply without req_id: {first}"
    );
    assert_eq!(first["op"], "subscribe");

    let again = subscribe(&mut ws, &["order", "wallet"]).await;
    assert_eq!(again["success"], false, "{again}");
    assert_eq!(again["ret_msg"], "error:already subscribed,topic:order");
    // `wallet` went through: subscribing it alone is now refused too.
    let wallet = subscribe(&mut ws, &["wallet"]).await;
    assert_eq!(wallet["ret_msg"], "error:already subscribed,topic:wallet");
    // After an unsubscribe the topic can be subscribed again.
    let off = request(
        &mut ws,
        json!({"req_id": "u", "op": "unsubscribe", "args": ["order"]}),
    )
    .await;
    assert_eq!(off["success"], true, "{off}");
    assert_eq!(subscribe(&mut ws, &["order"]).await["success"], true);
}

/// The public linear stream: the same refusal, with the request's `req_id` echoed.
#[tokio::test]
async fn public_already_subscribed_is_refused_by_name() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    let first = subscribe(&mut ws, &["tickers.BTCUSDT"]).await;
    assert_eq!(first["success"], true, "{first}");
    let again = subscribe(&mut ws, &["tickers.BTCUSDT", "publicTrade.BTCUSDT"]).await;
    assert_eq!(again["success"], false, "{again}");
    assert_eq!(
        again["ret_msg"],
        "error:already subscribed,topic:tickers.BTCUSDT"
    );
    assert_eq!(again["req_id"], "sub-1");
    let trade = subscribe(&mut ws, &["publicTrade.BTCUSDT"]).await;
    assert_eq!(
        trade["ret_msg"], "error:already subscribed,topic:publicTrade.BTCUSDT",
        "the request's new topic was subscribed"
    );
}

/// Bybit promises no order between the private topics of one fill
/// (v5/websocket/private/order, execution, position, wallet); `/emulator/ws/shuffle` sends
/// them in reverse, and `/emulator/ws/double-filled` adds the documented cancel-during-fill
/// duplicate (v5/websocket/private/order, tip: a second `Filled` with `cancelType`
/// `CancelByUser`, `rejectReason` `EC_OrigClOrdIDDoesNotExist`).
#[tokio::test]
async fn pushes_can_come_shuffled_and_a_fill_can_be_reported_filled_twice() {
    let emu = start().await;
    let c = crate::support::Client::new(&emu);
    let mut ws = private_authed(&emu).await;
    let ack = subscribe(&mut ws, &["order", "execution", "position", "wallet"]).await;
    assert_eq!(ack["success"], true, "{ack}");
    for (path, body) in [
        ("/ws/shuffle", json!({})),
        ("/ws/double-filled", json!({"count": 1})),
    ] {
        assert!(c.control(path, body).await.status.is_success());
    }
    let order = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
                       "orderType": "Market", "qty": "0.1", "orderLinkId": "shuffled"});
    assert_eq!(c.post("/v5/order/create", &order).await.ret_code(), 0);
    let mut topics = Vec::new();
    let mut filled = Vec::new();
    while filled.len() < 2 {
        let (frame, _) =
            crate::ws::recv_json_until(&mut ws, |v| v.get("topic").is_some(), crate::ws::WAIT)
                .await;
        let topic = frame["topic"].as_str().unwrap().to_owned();
        if topic == "order" {
            for o in frame["data"].as_array().unwrap() {
                if o["orderStatus"] == "Filled" {
                    filled.push(o.clone());
                }
            }
        }
        topics.push(topic);
    }
    let at = |t: &str| topics.iter().position(|x| x == t).unwrap();
    assert!(
        at("execution") < at("order"),
        "execution before order: {topics:?}"
    );
    assert!(
        at("position") < at("execution"),
        "position before execution: {topics:?}"
    );
    assert_eq!(filled[0]["orderLinkId"], "shuffled");
    assert_eq!(filled[1]["orderLinkId"], "shuffled");
    assert_eq!(filled[1]["cancelType"], "CancelByUser");
    assert_eq!(filled[1]["rejectReason"], "EC_OrigClOrdIDDoesNotExist");
    assert_eq!(filled[0]["cumExecQty"], filled[1]["cumExecQty"]);
}
