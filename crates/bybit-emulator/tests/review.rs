//! Regressions from the review of the emulator: batch budgets, baseCoin scope, a skewed
//! clock undone, oversized subscriptions, hostile control inputs.

use serde_json::json;

use crate::support::{start, Client};

fn limit(symbol: &str, price: &str, qty: &str, link: &str) -> serde_json::Value {
    json!({"symbol": symbol, "side": "Buy", "orderType": "Limit", "qty": qty, "price": price, "orderLinkId": link})
}

#[tokio::test]
async fn a_batch_over_twenty_is_10001_and_over_budget_fails_only_its_tail() {
    let emu = start().await;
    let c = Client::new(&emu);
    let items: Vec<_> = (0..21)
        .map(|i| limit("XRPUSDT", "1.5", "10", &format!("t{i}")))
        .collect();
    let reply = c
        .post(
            "/v5/order/create-batch",
            &json!({"category": "linear", "request": items}),
        )
        .await;
    assert_eq!(reply.ret_code(), 10001);

    c.control("/rate-limit", json!({"cap": 3, "seconds": 30}))
        .await;
    let items: Vec<_> = (0..5)
        .map(|i| limit("XRPUSDT", "1.5", "10", &format!("p{i}")))
        .collect();
    let reply = c
        .post(
            "/v5/order/create-batch",
            &json!({"category": "linear", "request": items}),
        )
        .await;
    assert_eq!(reply.ret_code(), 0);
    let codes: Vec<i64> = reply.body["retExtInfo"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [0, 0, 0, 10006, 10006]);
    assert_eq!(reply.body["result"]["list"][4]["orderLinkId"], "p4");
    assert_eq!(reply.body["result"]["list"][4]["symbol"], "XRPUSDT");
}

#[tokio::test]
async fn base_coin_scopes_queries_and_cancel_all_to_its_symbols() {
    let emu = start().await;
    let c = Client::new(&emu);
    for (symbol, price, qty, link) in [
        ("BTCUSDT", "90000.0", "0.001", "btc"),
        ("ETHUSDT", "3000.00", "0.1", "eth"),
    ] {
        let body = json!({"category": "linear", "symbol": symbol, "side": "Buy", "orderType": "Limit", "qty": qty, "price": price, "orderLinkId": link});
        assert_eq!(c.post("/v5/order/create", &body).await.ret_code(), 0);
    }
    let open = c
        .get("/v5/order/realtime", "category=linear&baseCoin=BTC")
        .await;
    let links: Vec<_> = open.body["result"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderLinkId"].clone())
        .collect();
    assert_eq!(links, [json!("btc")]);
    let cancelled = c
        .post(
            "/v5/order/cancel-all",
            &json!({"category": "linear", "baseCoin": "BTC"}),
        )
        .await;
    assert_eq!(
        cancelled.body["result"]["list"].as_array().unwrap().len(),
        1
    );
    let left = c
        .get("/v5/order/realtime", "category=linear&settleCoin=USDT")
        .await;
    assert_eq!(left.body["result"]["list"][0]["orderLinkId"], "eth");
}

#[tokio::test]
async fn undoing_a_clock_skew_does_not_leave_endpoints_rate_limited() {
    let emu = start().await;
    let c = Client::new(&emu);
    c.control("/clock", json!({"skewMs": 120_000})).await;
    // Signed with the server's (skewed) time so they pass the timestamp check; 50 spend the
    // whole one-second window of position/list.
    let server = u64::try_from(
        c.public("/v5/market/time", "").await.body["time"]
            .as_i64()
            .unwrap(),
    )
    .unwrap();
    for _ in 0..50 {
        c.get_at(
            "/v5/position/list",
            "category=linear&symbol=ETHUSDT",
            server,
        )
        .await;
    }
    c.control("/reset", json!({})).await;
    let reply = c
        .get("/v5/position/list", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(reply.ret_code(), 0, "{}", reply.body);
    assert_eq!(
        c.control("/clock", json!({"skewMs": i64::MAX}))
            .await
            .status
            .as_u16(),
        400
    );
}

#[tokio::test]
async fn hostile_control_inputs_are_refused_and_the_server_keeps_serving() {
    let emu = start().await;
    let c = Client::new(&emu);
    assert_eq!(
        c.control(
            "/book",
            json!({"symbol": "BTCUSDT", "levels": 4294967295u64, "levelNotional": "1000"})
        )
        .await
        .status
        .as_u16(),
        400
    );
    assert_eq!(
        c.control("/balance", json!({"usdt": "79228162514264337593543950335"}))
            .await
            .status
            .as_u16(),
        400
    );
    let huge = json!({"category": "linear", "symbol": "BTCUSDT", "side": "Sell", "orderType": "Limit", "qty": "79228162514264337593543950", "price": "100000", "reduceOnly": true, "triggerPrice": "90000", "triggerDirection": 2});
    assert_eq!(c.post("/v5/order/create", &huge).await.ret_code(), 10001);
    assert_eq!(
        c.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT")
            .await
            .ret_code(),
        0
    );
    assert_eq!(c.public("/v5/market/time", "").await.ret_code(), 0);
}
