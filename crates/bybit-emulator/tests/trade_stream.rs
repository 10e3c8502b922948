//! The order-entry stream `/v5/trade` through a real WebSocket client, against Bybit's page
//! (docs/v5/websocket/trade/guideline.mdx) and its examples in the shared fixtures: auth and
//! ping in the page's camel-case shapes, the order ops and their batch forms answering with
//! the REST `result` as `data`, the page's error codes, the rate limit shared with REST, and
//! the stream's faults.

use std::collections::BTreeSet;
use std::time::Duration;

use bybit_sign::Credentials;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{now_ms, start, Client, KEY, SECRET};
use crate::ws::{
    private_authed, recv_json, recv_json_until, send, subscribe, ws_connect, Ws, WAIT,
};

/// A fixture, parsed; `None` (the caller skips its shape check) where testkit skips.
fn fixture(name: &str) -> Option<Value> {
    testkit::fixture(name).map(|text| serde_json::from_str(&text).unwrap())
}

/// Asserts that `actual` has `expected`'s shape: the same keys at every level (arrays by
/// their first items) and the same JSON kind of every leaf (Bybit writes the header's numbers
/// and `createAt` as strings).
fn assert_same_shape(actual: &Value, expected: &Value, at: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let a_keys: BTreeSet<&String> = a.keys().collect();
            let e_keys: BTreeSet<&String> = e.keys().collect();
            assert_eq!(a_keys, e_keys, "keys at {at}: {actual}");
            for (key, value) in e {
                assert_same_shape(&a[key], value, &format!("{at}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            if let (Some(a), Some(e)) = (a.first(), e.first()) {
                assert_same_shape(a, e, &format!("{at}[0]"));
            }
        }
        (a, e) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(e),
            "kind at {at}: {a} vs {e}"
        ),
    }
}

/// `reply` without its `reqId`, for comparing with a page example that sent none.
fn without_req_id(reply: &Value) -> Value {
    let mut reply = reply.clone();
    reply.as_object_mut().unwrap().remove("reqId");
    reply
}

/// The page's request `header`, stamped now.
fn header() -> Value {
    json!({"X-BAPI-TIMESTAMP": now_ms().to_string(), "X-BAPI-RECV-WINDOW": "5000"})
}

fn auth_request(expires: u64, secret: &str) -> Value {
    let signature = Credentials::new(KEY, secret)
        .unwrap()
        .ws_auth(expires)
        .unwrap()
        .signature()
        .to_owned();
    json!({"op": "auth", "args": [KEY, expires, signature]})
}

/// The next reply whose `op` is `op`.
async fn reply_to_op(ws: &mut Ws, op: &str) -> Value {
    recv_json_until(ws, |v| v["op"] == op, WAIT).await.0
}

/// The reply to the request `req_id`.
async fn reply_to(ws: &mut Ws, req_id: &str) -> Value {
    recv_json_until(ws, |v| v["reqId"] == req_id, WAIT).await.0
}

async fn trade_authed(url: &str) -> Ws {
    let mut ws = ws_connect(url).await;
    send(&mut ws, auth_request(now_ms() + 10_000, SECRET)).await;
    let reply = reply_to_op(&mut ws, "auth").await;
    assert_eq!(reply["retCode"], 0, "{reply}");
    ws
}

/// Sends an order op with one argument and returns its reply.
async fn order_op(ws: &mut Ws, req_id: &str, op: &str, arg: Value) -> Value {
    send(
        ws,
        json!({"reqId": req_id, "header": header(), "op": op, "args": [arg]}),
    )
    .await;
    reply_to(ws, req_id).await
}

/// A resting XRPUSDT buy (below the market) with this orderLinkId.
fn resting(link: &str) -> Value {
    json!({"category": "linear", "symbol": "XRPUSDT", "side": "Buy", "orderType": "Limit",
           "qty": "10", "price": "1.5", "orderLinkId": link})
}

/// A market XRPUSDT buy with this orderLinkId.
fn market(link: &str) -> Value {
    json!({"category": "linear", "symbol": "XRPUSDT", "side": "Buy", "orderType": "Market",
           "qty": "10", "orderLinkId": link})
}

/// The order with this orderLinkId as `/v5/order/realtime` shows it, if it does.
async fn realtime(c: &Client, link: &str) -> Option<Value> {
    let reply = c
        .get(
            "/v5/order/realtime",
            &format!("category=linear&symbol=XRPUSDT&orderLinkId={link}"),
        )
        .await;
    assert_eq!(reply.ret_code(), 0, "{:?}", reply.body);
    reply.body["result"]["list"]
        .as_array()
        .unwrap()
        .first()
        .cloned()
}

/// Reads until the server ends the connection; fails if it sends a reply to `req_id` first.
async fn ends_without_reply_to(ws: &mut Ws, req_id: &str) {
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                    assert_ne!(frame["reqId"], req_id, "the lost reply was sent: {frame}");
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection stayed open");
}

// The page, "Authentication": retCode 0, 20001 repeat auth, 10004 invalid sign, 10001 param
// error; the reply is `{retCode, retMsg, op, connId}` with `reqId` only when one was sent.
#[tokio::test]
async fn auth_succeeds_once_and_fails_in_the_pages_codes() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.trade_ws_url()).await;

    send(&mut ws, auth_request(now_ms() + 10_000, "wrong-secret")).await;
    let bad_sign = reply_to_op(&mut ws, "auth").await;
    assert_eq!(bad_sign["retCode"], 10004, "{bad_sign}");

    send(&mut ws, auth_request(now_ms() - 1_000, SECRET)).await;
    let expired = reply_to_op(&mut ws, "auth").await;
    assert_eq!(expired["retCode"], 10001, "{expired}");

    send(&mut ws, json!({"op": "auth", "args": [KEY]})).await;
    let short = reply_to_op(&mut ws, "auth").await;
    assert_eq!(short["retCode"], 10001, "{short}");

    // Orders before auth are refused and not executed.
    let early = order_op(&mut ws, "early", "order.create", resting("early")).await;
    assert_ne!(early["retCode"], 0, "{early}");

    send(&mut ws, auth_request(now_ms() + 10_000, SECRET)).await;
    let ok = reply_to_op(&mut ws, "auth").await;
    assert_eq!(ok["retCode"], 0, "{ok}");
    assert_eq!(ok["retMsg"], "OK");
    assert!(ok.get("reqId").is_none(), "no reqId was sent: {ok}");
    if let Some(example) = fixture("ws_trade_auth_reply.json") {
        assert_same_shape(&ok, &example, "auth");
    }

    let mut again = auth_request(now_ms() + 10_000, SECRET);
    again["reqId"] = json!("auth-2");
    send(&mut ws, again).await;
    let repeat = reply_to(&mut ws, "auth-2").await;
    assert_eq!(repeat["retCode"], 20001, "{repeat}");
    assert_eq!(repeat["op"], "auth");

    assert!(realtime(&Client::new(&emu), "early").await.is_none());
}

// The page, "Ping": `{retCode, retMsg, op: "pong", data: [server time], connId}`, before auth.
#[tokio::test]
async fn ping_gets_the_trade_streams_pong() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.trade_ws_url()).await;
    send(&mut ws, json!({"op": "ping"})).await;
    let pong = reply_to_op(&mut ws, "pong").await;
    assert_eq!(pong["retCode"], 0, "{pong}");
    let server_ms: i64 = pong["data"][0].as_str().unwrap().parse().unwrap();
    let now = i64::try_from(now_ms()).unwrap();
    assert!((server_ms - now).abs() < 5_000, "{pong}");
    if let Some(example) = fixture("ws_trade_pong.json") {
        assert_same_shape(&pong, &example, "pong");
    }
}

// The page, "Create/Amend/Cancel Order": `reqId` echoed, `data` the REST `result`, `header`
// with the limit headers of the op's REST endpoint (10 per second for a linear create).
#[tokio::test]
async fn create_amend_and_cancel_answer_with_the_rest_result_in_the_pages_shape() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut ws = trade_authed(&emu.trade_ws_url()).await;

    let created = order_op(&mut ws, "test-005", "order.create", resting("oe-1")).await;
    assert_eq!(created["retCode"], 0, "{created}");
    assert_eq!(created["retMsg"], "OK");
    assert_eq!(created["op"], "order.create");
    assert_eq!(created["reqId"], "test-005");
    assert_eq!(created["data"]["orderLinkId"], "oe-1");
    let order_id = created["data"]["orderId"].as_str().unwrap().to_owned();
    assert!(!order_id.is_empty());
    assert_eq!(created["header"]["X-Bapi-Limit"], "10");
    assert_eq!(created["header"]["X-Bapi-Limit-Status"], "9");
    let time_now: i64 = created["header"]["Timenow"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(time_now > 0);
    if let Some(example) = fixture("ws_trade_order_create_reply.json") {
        assert_same_shape(&created, &example, "create");
    }
    let listed = realtime(&c, "oe-1").await.expect("the order is open");
    assert_eq!(listed["orderId"], order_id.as_str());
    assert_eq!(listed["price"], "1.5");

    let amend =
        json!({"category": "linear", "symbol": "XRPUSDT", "orderId": order_id, "price": "1.4"});
    let amended = order_op(&mut ws, "amend-1", "order.amend", amend).await;
    assert_eq!(amended["retCode"], 0, "{amended}");
    assert_eq!(amended["data"]["orderId"], order_id.as_str());
    assert_eq!(amended["data"]["orderLinkId"], "oe-1");
    assert_eq!(realtime(&c, "oe-1").await.unwrap()["price"], "1.4");

    let cancel = json!({"category": "linear", "symbol": "XRPUSDT", "orderLinkId": "oe-1"});
    let cancelled = order_op(&mut ws, "cancel-1", "order.cancel", cancel.clone()).await;
    assert_eq!(cancelled["retCode"], 0, "{cancelled}");
    assert_eq!(cancelled["data"]["orderId"], order_id.as_str());
    assert_eq!(
        realtime(&c, "oe-1").await.unwrap()["orderStatus"],
        "Cancelled"
    );

    // A business refusal is REST's code and message, with `data` `{}` as REST's `result`.
    let again = order_op(&mut ws, "cancel-2", "order.cancel", cancel).await;
    let rest = c
        .post(
            "/v5/order/cancel",
            &json!({"category": "linear", "symbol": "XRPUSDT", "orderLinkId": "oe-1"}),
        )
        .await;
    assert_eq!(again["retCode"], rest.body["retCode"], "{again}");
    assert_eq!(again["retMsg"], rest.body["retMsg"]);
    assert_eq!(again["data"], json!({}));
    assert_ne!(again["retCode"], 0);

    // Parameter checks are REST's too.
    let mut no_qty = resting("oe-2");
    no_qty.as_object_mut().unwrap().remove("qty");
    let refused = order_op(&mut ws, "no-qty", "order.create", no_qty.clone()).await;
    let rest = c.post("/v5/order/create", &no_qty).await;
    assert_eq!(refused["retCode"], rest.body["retCode"], "{refused}");
    assert_eq!(refused["retMsg"], rest.body["retMsg"]);
}

// The page, "Batch Create/Amend/Cancel Order": `data.list` and `retExtInfo.list` by index, as
// REST's batch endpoints answer, the envelope 0 while items fail.
#[tokio::test]
async fn batch_ops_answer_item_by_item_in_the_pages_shape() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut ws = trade_authed(&emu.trade_ws_url()).await;

    let mut hedge_item = resting("b-bad");
    hedge_item["positionIdx"] = json!(1);
    let items: Vec<Value> = [resting("b-1"), resting("b-2"), hedge_item]
        .into_iter()
        .map(|mut item| {
            item.as_object_mut().unwrap().remove("category");
            item
        })
        .collect();
    let batch = json!({"category": "linear", "request": items});
    let created = order_op(&mut ws, "cb-1", "order.create-batch", batch).await;
    assert_eq!(created["retCode"], 0, "{created}");
    let codes: Vec<i64> = created["retExtInfo"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [0, 0, 10001]);
    // The page's example fails its items on `positionIdx` too, in these words.
    assert_eq!(
        created["retExtInfo"]["list"][2]["msg"],
        "position idx not match position mode"
    );
    assert_eq!(created["data"]["list"][2]["orderLinkId"], "b-bad");
    assert_eq!(created["header"]["X-Bapi-Limit"], "10");
    assert_eq!(created["header"]["X-Bapi-Limit-Status"], "7");
    if let Some(example) = fixture("ws_trade_order_create_batch_reply.json") {
        assert_same_shape(&without_req_id(&created), &example, "create-batch");
    }
    assert!(realtime(&c, "b-1").await.is_some());
    assert!(realtime(&c, "b-bad").await.is_none());

    let amends = json!({"category": "linear", "request": [
        {"symbol": "XRPUSDT", "orderLinkId": "b-1", "price": "1.4"},
        {"symbol": "XRPUSDT", "orderLinkId": "b-missing", "price": "1.4"},
    ]});
    let amended = order_op(&mut ws, "ab-1", "order.amend-batch", amends).await;
    assert_eq!(amended["retCode"], 0, "{amended}");
    assert_eq!(amended["retExtInfo"]["list"][0]["code"], 0);
    assert_ne!(amended["retExtInfo"]["list"][1]["code"], 0);
    assert_eq!(amended["data"]["list"][0]["orderLinkId"], "b-1");
    assert_eq!(realtime(&c, "b-1").await.unwrap()["price"], "1.4");

    let cancels = json!({"category": "linear", "request": [
        {"symbol": "XRPUSDT", "orderLinkId": "b-1"},
        {"symbol": "XRPUSDT", "orderLinkId": "b-2"},
    ]});
    let cancelled = order_op(&mut ws, "xb-1", "order.cancel-batch", cancels).await;
    assert_eq!(cancelled["retCode"], 0, "{cancelled}");
    assert_eq!(cancelled["retExtInfo"]["list"][1]["code"], 0);
    for link in ["b-1", "b-2"] {
        assert_eq!(
            realtime(&c, link).await.unwrap()["orderStatus"],
            "Cancelled"
        );
    }

    // More than twenty orders is refused whole, as on REST.
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"symbol": "XRPUSDT", "orderLinkId": format!("m-{i}")}))
        .collect();
    let too_many = order_op(
        &mut ws,
        "xb-2",
        "order.cancel-batch",
        json!({"category": "linear", "request": many}),
    )
    .await;
    assert_eq!(too_many["retCode"], 10001, "{too_many}");
}

// The page's info box: "Please use websocket order stream to confirm the order status". An
// order placed over the stream reaches the private stream and REST as one placed over REST.
#[tokio::test]
async fn an_order_from_the_stream_is_pushed_and_listed_like_one_from_rest() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut private = private_authed(&emu).await;
    subscribe(&mut private, &["order", "execution"]).await;
    let mut ws = trade_authed(&emu.trade_ws_url()).await;

    let rest = c.post("/v5/order/create", &market("via-rest")).await;
    assert_eq!(rest.ret_code(), 0, "{:?}", rest.body);
    let stream = order_op(&mut ws, "m-1", "order.create", market("via-ws")).await;
    assert_eq!(stream["retCode"], 0, "{stream}");

    let mut orders = Vec::new();
    let mut executions = Vec::new();
    let mut seen = |frame: &Value| {
        for record in frame["data"].as_array().into_iter().flatten() {
            let target = if frame["topic"] == "order" && record["orderStatus"] == "Filled" {
                &mut orders
            } else if frame["topic"] == "execution" {
                &mut executions
            } else {
                continue;
            };
            target.push(record.clone());
        }
        orders.len() == 2 && executions.len() >= 2
    };
    recv_json_until(&mut private, |f| seen(f), WAIT).await;
    let link_of = |r: &Value| r["orderLinkId"].as_str().unwrap().to_owned();
    let by_link = |records: &[Value], link: &str| {
        records
            .iter()
            .find(|r| link_of(r) == link)
            .cloned()
            .unwrap_or_else(|| panic!("no push for {link}"))
    };
    let (rest_order, ws_order) = (by_link(&orders, "via-rest"), by_link(&orders, "via-ws"));
    assert_same_shape(&ws_order, &rest_order, "order push");
    assert_eq!(ws_order["orderId"], stream["data"]["orderId"]);
    let (rest_fill, ws_fill) = (
        by_link(&executions, "via-rest"),
        by_link(&executions, "via-ws"),
    );
    assert_same_shape(&ws_fill, &rest_fill, "execution push");
    assert_eq!(ws_fill["execQty"], "10");

    let resting_reply = order_op(&mut ws, "r-1", "order.create", resting("ws-rest")).await;
    let listed = realtime(&c, "ws-rest").await.expect("listed");
    assert_eq!(listed["orderId"], resting_reply["data"]["orderId"]);
    assert_eq!(listed["orderStatus"], "New");

    // The emulator's request counts see the stream's creates beside REST's, per orderLinkId.
    let requests = c.state().await["requests"].clone();
    assert_eq!(requests["byPath"]["/v5/trade#order.create"], 2);
    assert_eq!(requests["createsByOrderLinkId"]["via-ws"], 1);
    assert_eq!(requests["createsByOrderLinkId"]["via-rest"], 1);
}

// The page: reqId "can't be duplicated, otherwise you will get 20006", and "If not passed,
// this field will not be returned in response".
#[tokio::test]
async fn a_reused_req_id_is_refused_and_a_missing_one_is_not_echoed() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut ws = trade_authed(&emu.trade_ws_url()).await;

    let first = order_op(&mut ws, "same", "order.create", resting("d-1")).await;
    assert_eq!(first["retCode"], 0, "{first}");
    let second = order_op(&mut ws, "same", "order.create", resting("d-2")).await;
    assert_eq!(second["retCode"], 20006, "{second}");
    assert_eq!(second["op"], "order.create");
    assert!(realtime(&c, "d-2").await.is_none(), "a duplicate ran");

    send(
        &mut ws,
        json!({"header": header(), "op": "order.create", "args": [resting("d-3")]}),
    )
    .await;
    let anonymous = reply_to_op(&mut ws, "order.create").await;
    assert_eq!(anonymous["retCode"], 0, "{anonymous}");
    assert!(anonymous.get("reqId").is_none(), "{anonymous}");
    assert!(realtime(&c, "d-3").await.is_some());

    let long = "x".repeat(37);
    let too_long = order_op(&mut ws, &long, "order.create", resting("d-4")).await;
    assert_eq!(too_long["retCode"], 10001, "{too_long}");
}

// docs v5/error, "WS OE General code": 10404 "op type is not found; category is not
// correct/supported"; the page: "args ... support one item only for now".
#[tokio::test]
async fn unknown_ops_and_categories_get_10404() {
    let emu = start().await;
    let mut ws = trade_authed(&emu.trade_ws_url()).await;

    for op in ["order.query", "subscribe"] {
        let reply = order_op(&mut ws, &format!("op-{op}"), op, resting("u-1")).await;
        assert_eq!(reply["retCode"], 10404, "{reply}");
        assert_eq!(reply["op"], op);
    }
    for category in ["spread", "inverse"] {
        let mut arg = resting("u-2");
        arg["category"] = json!(category);
        let reply = order_op(&mut ws, &format!("cat-{category}"), "order.create", arg).await;
        assert_eq!(reply["retCode"], 10404, "{reply}");
    }
    send(
        &mut ws,
        json!({"reqId": "two", "header": header(), "op": "order.create",
               "args": [resting("u-3"), resting("u-4")]}),
    )
    .await;
    let two = reply_to(&mut ws, "two").await;
    assert_eq!(two["retCode"], 10001, "{two}");
}

// The page: "Request will be rejected when not satisfy this rule: Bybit_server_time -
// X-BAPI-RECV-WINDOW <= X-BAPI-TIMESTAMP < Bybit_server_time + 1000" (REST's 10002).
#[tokio::test]
async fn an_expired_or_missing_timestamp_is_refused_unexecuted() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut ws = trade_authed(&emu.trade_ws_url()).await;

    let old = (now_ms() - 10_000).to_string();
    send(
        &mut ws,
        json!({"reqId": "old", "header": {"X-BAPI-TIMESTAMP": old, "X-BAPI-RECV-WINDOW": "5000"},
               "op": "order.create", "args": [resting("t-1")]}),
    )
    .await;
    let expired = reply_to(&mut ws, "old").await;
    assert_eq!(expired["retCode"], 10002, "{expired}");

    let ahead = (now_ms() + 5_000).to_string();
    send(
        &mut ws,
        json!({"reqId": "ahead", "header": {"X-BAPI-TIMESTAMP": ahead},
               "op": "order.create", "args": [resting("t-2")]}),
    )
    .await;
    assert_eq!(reply_to(&mut ws, "ahead").await["retCode"], 10002);

    send(
        &mut ws,
        json!({"reqId": "none", "op": "order.create", "args": [resting("t-3")]}),
    )
    .await;
    assert_eq!(reply_to(&mut ws, "none").await["retCode"], 10002);

    // A wide recv window lets the old timestamp through.
    let old = (now_ms() - 10_000).to_string();
    send(
        &mut ws,
        json!({"reqId": "wide", "header": {"X-BAPI-TIMESTAMP": old, "X-BAPI-RECV-WINDOW": "20000"},
               "op": "order.create", "args": [resting("t-4")]}),
    )
    .await;
    assert_eq!(reply_to(&mut ws, "wide").await["retCode"], 0);

    for link in ["t-1", "t-2", "t-3"] {
        assert!(realtime(&c, link).await.is_none(), "{link} ran");
    }
}

// The page's batch info box: "The account rate limit is shared between websocket and http
// batch orders"; the same windows serve single orders. Pressure (a cap of 1 for a minute)
// makes one request fill a window, so the test does not race the one-second roll.
#[tokio::test]
async fn the_rate_limit_windows_are_shared_with_rest() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut ws = trade_authed(&emu.trade_ws_url()).await;
    let pressure = c
        .control("/rate-limit", json!({"cap": 1, "seconds": 60}))
        .await;
    assert!(pressure.status.is_success(), "{:?}", pressure.body);

    // The stream spends the create window; REST is refused.
    let first = order_op(&mut ws, "rl-1", "order.create", resting("rl-1")).await;
    assert_eq!(first["retCode"], 0, "{first}");
    assert_eq!(first["header"]["X-Bapi-Limit"], "1");
    assert_eq!(first["header"]["X-Bapi-Limit-Status"], "0");
    let rest = c.post("/v5/order/create", &resting("rl-2")).await;
    assert_eq!(rest.ret_code(), 10006, "{:?}", rest.body);

    // REST spends the cancel window; the stream is refused, with REST's code and headers.
    let cancel = json!({"category": "linear", "symbol": "XRPUSDT", "orderLinkId": "rl-1"});
    let rest = c.post("/v5/order/cancel", &cancel).await;
    assert_eq!(rest.ret_code(), 0, "{:?}", rest.body);
    let refused = order_op(&mut ws, "rl-3", "order.cancel", cancel).await;
    assert_eq!(refused["retCode"], 10006, "{refused}");
    assert_eq!(refused["header"]["X-Bapi-Limit-Status"], "0");
    let reset: i64 = refused["header"]["X-Bapi-Limit-Reset-Timestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let time_now: i64 = refused["header"]["Timenow"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > time_now, "the window frees later: {refused}");

    // Batches: REST's batch spends the window, the stream's batch is refused.
    let batch = json!({"category": "linear", "request": [
        {"symbol": "XRPUSDT", "side": "Buy", "orderType": "Limit", "qty": "10", "price": "1.5", "orderLinkId": "rl-b1"}
    ]});
    let rest = c.post("/v5/order/create-batch", &batch).await;
    assert_eq!(rest.ret_code(), 0, "{:?}", rest.body);
    let refused = order_op(&mut ws, "rl-4", "order.create-batch", batch).await;
    assert_eq!(refused["retCode"], 10006, "{refused}");
}

// docs v5/error, WS OE: 10429 "System level frequency protection", 10403 the IP limit,
// 10019 "ws trade service is restarting ... You can build new connection". None of them runs
// the order.
#[tokio::test]
async fn protection_ip_limit_and_restart_refuse_orders_unexecuted() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut ws = trade_authed(&emu.trade_ws_url()).await;

    let fault = c.control("/ws/trade-fail", json!({})).await;
    assert!(fault.status.is_success(), "{:?}", fault.body);
    // A request refused by its own checks does not use the fault up.
    send(
        &mut ws,
        json!({"reqId": "p-0", "op": "order.create", "args": [resting("p-0")]}),
    )
    .await;
    assert_eq!(reply_to(&mut ws, "p-0").await["retCode"], 10002);
    assert_eq!(c.state().await["faults"]["tradeFail"], 1);
    let protected = order_op(&mut ws, "p-1", "order.create", resting("p-1")).await;
    assert_eq!(protected["retCode"], 10429, "{protected}");
    let bad = c.control("/ws/trade-fail", json!({"retCode": 0})).await;
    assert_eq!(bad.status, 400);
    c.control("/ws/trade-fail", json!({"count": 1, "retCode": 10016}))
        .await;
    let internal = order_op(&mut ws, "p-2", "order.create", resting("p-2")).await;
    assert_eq!(internal["retCode"], 10016, "{internal}");
    let after = order_op(&mut ws, "p-3", "order.create", resting("p-3")).await;
    assert_eq!(after["retCode"], 0, "the faults were used up: {after}");

    c.control("/ip-ban", json!({"seconds": 60})).await;
    let banned = order_op(&mut ws, "p-4", "order.create", resting("p-4")).await;
    assert_eq!(banned["retCode"], 10403, "{banned}");
    c.control("/reset", json!({})).await;

    let restart = c.control("/ws/trade-restart", json!({})).await;
    assert!(restart.status.is_success(), "{:?}", restart.body);
    let old = order_op(&mut ws, "p-5", "order.create", resting("p-5")).await;
    assert_eq!(old["retCode"], 10019, "{old}");
    let still = order_op(&mut ws, "p-6", "order.create", resting("p-6")).await;
    assert_eq!(
        still["retCode"], 10019,
        "the old connection stays on the restarting service"
    );
    let mut fresh = trade_authed(&emu.trade_ws_url()).await;
    let served = order_op(&mut fresh, "p-7", "order.create", resting("p-7")).await;
    assert_eq!(served["retCode"], 0, "{served}");

    for link in ["p-1", "p-2", "p-4", "p-5", "p-6"] {
        assert!(realtime(&c, link).await.is_none(), "{link} ran");
    }
    assert!(realtime(&c, "p-3").await.is_some());
}

// A held reply: the order lands at once (the private stream and REST show it) while its ack
// comes later; later requests are answered meanwhile, so the ack comes after their replies.
#[tokio::test]
async fn a_held_reply_comes_late_after_the_order_landed() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut private = private_authed(&emu).await;
    subscribe(&mut private, &["order"]).await;
    let mut ws = trade_authed(&emu.trade_ws_url()).await;
    let fault = c
        .control("/ws/trade-hold", json!({"count": 1, "ms": 1500}))
        .await;
    assert!(fault.status.is_success(), "{:?}", fault.body);

    send(
        &mut ws,
        json!({"reqId": "held", "header": header(), "op": "order.create", "args": [resting("h-1")]}),
    )
    .await;
    let (push, _) = recv_json_until(&mut private, |f| f["topic"] == "order", WAIT).await;
    assert_eq!(push["data"][0]["orderLinkId"], "h-1");
    assert!(realtime(&c, "h-1").await.is_some());
    send(&mut ws, json!({"reqId": "after", "op": "ping"})).await;
    let first = recv_json(&mut ws).await;
    assert_eq!(first["op"], "pong", "the held ack came first: {first}");
    let held = reply_to(&mut ws, "held").await;
    assert_eq!(held["retCode"], 0, "{held}");
    assert_eq!(held["data"]["orderLinkId"], "h-1");
    // Only one reply was held.
    let next = order_op(&mut ws, "next", "order.create", resting("h-2")).await;
    assert_eq!(next["retCode"], 0);
}

// A lost reply: the order lands, then the connection fails without answering; only the
// private stream (or a lookup) tells the client.
#[tokio::test]
async fn a_lost_reply_drops_the_connection_after_the_order_landed() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut private = private_authed(&emu).await;
    subscribe(&mut private, &["order"]).await;
    let mut ws = trade_authed(&emu.trade_ws_url()).await;
    let fault = c.control("/ws/trade-lose", json!({})).await;
    assert!(fault.status.is_success(), "{:?}", fault.body);
    assert_eq!(c.state().await["faults"]["tradeLose"], 1);

    send(
        &mut ws,
        json!({"reqId": "lost", "header": header(), "op": "order.create", "args": [resting("l-1")]}),
    )
    .await;
    ends_without_reply_to(&mut ws, "lost").await;
    let (push, _) = recv_json_until(&mut private, |f| f["topic"] == "order", WAIT).await;
    assert_eq!(push["data"][0]["orderLinkId"], "l-1");
    assert!(realtime(&c, "l-1").await.is_some());

    let mut again = trade_authed(&emu.trade_ws_url()).await;
    let next = order_op(&mut again, "next", "order.create", resting("l-2")).await;
    assert_eq!(next["retCode"], 0, "the fault was used up: {next}");
}

// The WebSocket faults of every stream apply to this one: drop, refuse, mute.
#[tokio::test]
async fn drop_refuse_and_mute_apply_to_the_trade_stream() {
    let emu = start().await;
    let c = Client::new(&emu);

    let mut ws = trade_authed(&emu.trade_ws_url()).await;
    c.control("/ws/drop", json!({})).await;
    ends_without_reply_to(&mut ws, "-").await;

    let mut ws = trade_authed(&emu.trade_ws_url()).await;
    let mute = c.control("/ws/mute", json!({"stream": "trade"})).await;
    assert!(mute.status.is_success(), "{:?}", mute.body);
    assert_eq!(c.state().await["faults"]["wsTradeMuted"], true);
    let bad = c
        .control("/ws/mute", json!({"stream": "trade", "pongs": true}))
        .await;
    assert_eq!(bad.status, 400);
    send(&mut ws, json!({"reqId": "muted", "op": "ping"})).await;
    let silent = tokio::time::timeout(Duration::from_millis(600), ws.next())
        .await
        .is_err();
    assert!(silent, "a muted trade stream answered");
    c.control("/ws/unmute", json!({"stream": "trade"})).await;
    let pong = reply_to(&mut ws, "muted").await;
    assert_eq!(pong["op"], "pong");

    c.control("/ws/refuse", json!({"seconds": 60})).await;
    ends_without_reply_to(&mut ws, "-").await;
    let refused =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(emu.trade_ws_url())).await;
    assert!(matches!(refused, Ok(Err(_))), "a refused upgrade succeeded");
}

// The emulator reads client frames in 4 KiB chunks (ws/mod.rs READ_CHUNK); a larger frame
// must still arrive whole, be answered, and leave the connection working.
#[tokio::test]
async fn a_frame_larger_than_one_read_is_answered_whole() {
    let emu = start().await;
    let mut ws = trade_authed(&emu.trade_ws_url()).await;
    let items: Vec<Value> = (0..100)
        .map(|i| {
            let mut item = resting(&format!("a-long-order-link-id-for-frame-{i:05}"));
            item.as_object_mut().unwrap().remove("category");
            item
        })
        .collect();
    let arg = json!({"category": "linear", "request": items});
    let frame =
        json!({"reqId": "big-1", "header": header(), "op": "order.create-batch", "args": [arg]});
    assert!(
        frame.to_string().len() > 3 * 4096,
        "the frame spans several reads"
    );
    send(&mut ws, frame).await;
    let reply = reply_to(&mut ws, "big-1").await;
    assert_eq!(reply["op"], "order.create-batch", "{reply}");
    let created = order_op(&mut ws, "small-1", "order.create", resting("after-big")).await;
    assert_eq!(created["retCode"], 0, "{created}");
}
