//! REST over real sockets: Bybit's paths, envelope, signatures, rate limits and bad input.

use serde_json::{json, Value};

use crate::support::{now_ms, start, Client};

fn order(link: &str, qty: &str) -> Value {
    json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": qty, "orderLinkId": link})
}

#[tokio::test]
async fn public_market_data_needs_no_signature() {
    let emu = start().await;
    let c = Client::new(&emu);
    let time = c.public("/v5/market/time", "").await;
    assert_eq!(time.ret_code(), 0);
    let seconds: i64 = time.body["result"]["timeSecond"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((seconds * 1000 - i64::try_from(now_ms()).unwrap()).abs() < 5000);

    let info = c
        .public("/v5/market/instruments-info", "category=linear")
        .await;
    let list = info.body["result"]["list"].as_array().unwrap();
    assert_eq!(list.len(), 7);
    let btc = list.iter().find(|i| i["symbol"] == "BTCUSDT").unwrap();
    assert_eq!(btc["priceFilter"]["tickSize"], "0.10");
    assert_eq!(btc["lotSizeFilter"]["maxMktOrderQty"], "150.000");
    // Pagination: 3 pages of at most 3.
    let page1 = c
        .public("/v5/market/instruments-info", "category=linear&limit=3")
        .await;
    let cursor = page1.body["result"]["nextPageCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(page1.body["result"]["list"].as_array().unwrap().len(), 3);
    let page3 = c
        .public(
            "/v5/market/instruments-info",
            &format!("category=linear&limit=3&cursor={}", 6),
        )
        .await;
    assert_eq!(page3.body["result"]["list"].as_array().unwrap().len(), 1);
    assert_eq!(page3.body["result"]["nextPageCursor"], "");
    assert!(!cursor.is_empty());

    let tickers = c
        .public("/v5/market/tickers", "category=linear&symbol=XRPUSDT")
        .await;
    assert_eq!(tickers.body["result"]["list"][0]["lastPrice"], "2.1000");
    assert_eq!(tickers.body["result"]["list"][0]["bid1Price"], "2.0999");
}

#[tokio::test]
async fn a_signed_order_is_placed_and_found_by_its_link_id() {
    let emu = start().await;
    let c = Client::new(&emu);
    let reply = c.post("/v5/order/create", &order("rest-1", "0.5")).await;
    assert_eq!(reply.ret_code(), 0, "{}", reply.body);
    assert_eq!(reply.body["retMsg"], "OK");
    assert_eq!(reply.body["result"]["orderLinkId"], "rest-1");
    assert!(reply.body["time"].as_i64().unwrap() > 0);
    let order_id = reply.body["result"]["orderId"].as_str().unwrap().to_owned();

    let found = c
        .get("/v5/order/realtime", "category=linear&orderLinkId=rest-1")
        .await;
    let o = &found.body["result"]["list"][0];
    assert_eq!(
        (o["orderId"].as_str(), o["orderStatus"].as_str()),
        (Some(order_id.as_str()), Some("Filled"))
    );
    let position = c
        .get("/v5/position/list", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(position.body["result"]["list"][0]["size"], "0.5");
    let fills = c
        .get("/v5/execution/list", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(fills.body["result"]["list"][0]["orderLinkId"], "rest-1");
    let wallet = c
        .get("/v5/account/wallet-balance", "accountType=UNIFIED")
        .await;
    assert_eq!(wallet.body["result"]["list"][0]["coin"][0]["coin"], "USDT");
    assert_eq!(
        wallet.body["result"]["list"][0]["coin"][0]["availableToWithdraw"],
        ""
    );
    // The engine's truth agrees.
    let state = c.state().await;
    assert_eq!(state["executions"][0]["orderLinkId"], "rest-1");
}

#[tokio::test]
async fn json_with_spaces_is_verified_over_the_raw_bytes() {
    let emu = start().await;
    let c = Client::new(&emu);
    // pybit sends `json.dumps` output: spaces after separators.
    let body = r#"{"category": "linear", "symbol": "XRPUSDT", "side": "Sell", "orderType": "Limit", "qty": "10", "price": "2.5"}"#;
    let reply = c.post_raw("/v5/order/create", body.to_owned()).await;
    assert_eq!(reply.ret_code(), 0, "{}", reply.body);
}

#[tokio::test]
async fn authentication_failures_use_bybits_codes() {
    let emu = start().await;
    let wrong = Client::with_secret(&emu, "not-the-secret");
    let reply = wrong.post("/v5/order/create", &order("x", "0.1")).await;
    assert_eq!(reply.ret_code(), 10004);
    assert!(reply.body["retMsg"]
        .as_str()
        .unwrap()
        .starts_with("error sign! origin_string["));
    let reply = wrong
        .get("/v5/position/list", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(reply.ret_code(), 10004);

    let c = Client::new(&emu);
    let stale = c
        .get_at(
            "/v5/position/list",
            "category=linear&symbol=ETHUSDT",
            now_ms() - 60_000,
        )
        .await;
    assert_eq!(stale.ret_code(), 10002);
    assert!(stale.body["retMsg"]
        .as_str()
        .unwrap()
        .contains("req_timestamp["));
    let future = c
        .get_at(
            "/v5/position/list",
            "category=linear&symbol=ETHUSDT",
            now_ms() + 5_000,
        )
        .await;
    assert_eq!(future.ret_code(), 10002);

    let unknown_key = c
        .http
        .get(format!(
            "{}/v5/position/list?category=linear&symbol=ETHUSDT",
            c.base
        ))
        .header("X-BAPI-API-KEY", "nobody")
        .send()
        .await
        .unwrap();
    let body: Value = unknown_key.json().await.unwrap();
    assert_eq!(body["retCode"], 10003);
    // Nothing was placed by any of these.
    assert_eq!(c.state().await["openOrders"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn engine_rules_come_back_with_their_codes() {
    let emu = start().await;
    let c = Client::new(&emu);
    assert_eq!(
        c.post("/v5/order/create", &order("dup", "0.1"))
            .await
            .ret_code(),
        0
    );
    assert_eq!(
        c.post("/v5/order/create", &order("dup", "0.1"))
            .await
            .ret_code(),
        110072
    );
    let lev = json!({"category": "linear", "symbol": "ETHUSDT", "buyLeverage": "25", "sellLeverage": "25"});
    assert_eq!(
        c.post("/v5/position/set-leverage", &lev).await.ret_code(),
        0
    );
    let again = c.post("/v5/position/set-leverage", &lev).await;
    assert_eq!(
        (again.ret_code(), again.body["retMsg"].as_str()),
        (110043, Some("leverage not modified"))
    );
    let cancel = json!({"category": "linear", "symbol": "ETHUSDT", "orderLinkId": "dup"});
    assert_eq!(c.post("/v5/order/cancel", &cancel).await.ret_code(), 110001);
    let hedge = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": "0.1", "positionIdx": 1});
    assert_eq!(c.post("/v5/order/create", &hedge).await.ret_code(), 10001);
}

#[tokio::test]
async fn batch_create_reports_each_item() {
    let emu = start().await;
    let c = Client::new(&emu);
    let body = json!({"category": "linear", "request": [
        {"symbol": "XRPUSDT", "side": "Buy", "orderType": "Limit", "qty": "10", "price": "2.0", "orderLinkId": "b-1"},
        {"symbol": "XRPUSDT", "side": "Buy", "orderType": "Limit", "qty": "10", "price": "2.00001", "orderLinkId": "b-2"},
        {"symbol": "XRPUSDT", "side": "Sideways", "orderType": "Limit", "qty": "10", "price": "2.0"}
    ]});
    let reply = c.post("/v5/order/create-batch", &body).await;
    assert_eq!(reply.ret_code(), 0);
    let list = reply.body["result"]["list"].as_array().unwrap();
    let ext = reply.body["retExtInfo"]["list"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(
        (
            ext[0]["code"].as_i64(),
            ext[1]["code"].as_i64(),
            ext[2]["code"].as_i64()
        ),
        (Some(0), Some(10001), Some(10001))
    );
    assert_ne!(list[0]["orderId"], "");
    assert_eq!(list[1]["orderId"], "");
    assert_eq!(list[1]["orderLinkId"], "b-2");
}

#[tokio::test]
async fn the_eleventh_create_in_a_second_is_10006_with_limit_headers() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut codes = Vec::new();
    let mut last = None;
    for i in 0..11 {
        let body = json!({"category": "linear", "symbol": "XRPUSDT", "side": "Buy", "orderType": "Limit", "qty": "10", "price": "1.5", "orderLinkId": format!("rl-{i}")});
        let reply = c.post("/v5/order/create", &body).await;
        codes.push(reply.ret_code());
        last = Some(reply);
    }
    let last = last.unwrap();
    // The window is one second; on a slow machine the eleventh may land in a fresh window,
    // so only assert the 10006 when the first ten used up one window.
    if codes[..10].iter().all(|c| *c == 0) && codes[10] == 10006 {
        assert_eq!(last.body["retMsg"], "Too many visits!");
        assert_eq!(last.header("X-Bapi-Limit"), Some("10"));
        assert_eq!(last.header("X-Bapi-Limit-Status"), Some("0"));
        let reset: i64 = last
            .header("X-Bapi-Limit-Reset-Timestamp")
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset > last.body["time"].as_i64().unwrap());
    } else {
        assert!(codes.iter().all(|c| *c == 0 || *c == 10006), "{codes:?}");
    }
    // Pressure makes it certain: a cap of 0 refuses the very next request.
    c.control("/rate-limit", json!({"cap": 0, "seconds": 30}))
        .await;
    let refused = c
        .get("/v5/position/list", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(refused.ret_code(), 10006);
    assert_eq!(refused.header("X-Bapi-Limit"), Some("0"));
}

#[tokio::test]
async fn bad_input_gets_an_envelope_never_a_hang() {
    let emu = start().await;
    let c = Client::new(&emu);
    for (body, why) in [
        ("{not json", "malformed JSON"),
        ("[1,2,3]", "not an object"),
        (
            r#"{"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market"}"#,
            "missing qty",
        ),
        (
            r#"{"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": {"a": 1}}"#,
            "wrong type",
        ),
        (
            r#"{"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": "abc"}"#,
            "not a number",
        ),
        (
            r#"{"category": "linear", "symbol": "NOPEUSDT", "side": "Buy", "orderType": "Market", "qty": "1"}"#,
            "unknown symbol",
        ),
        (
            r#"{"category": "spot", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": "1"}"#,
            "category",
        ),
    ] {
        let reply = c.post_raw("/v5/order/create", body.to_owned()).await;
        assert_eq!(reply.ret_code(), 10001, "{why}: {}", reply.body);
        assert_eq!(reply.body["result"], json!({}), "{why}");
    }
    let huge = format!(
        r#"{{"category": "linear", "pad": "{}"}}"#,
        "x".repeat(2 << 20)
    );
    let reply = c.post_raw("/v5/order/create", huge).await;
    assert_ne!(reply.ret_code(), 0);
    let missing = c.get("/v5/order/realtime", "category=linear").await;
    assert_eq!(missing.ret_code(), 10001);
    let nowhere = c.public("/v5/order/teleport", "").await;
    assert_eq!((nowhere.status.as_u16(), nowhere.ret_code()), (404, 10017));
    let wrong_method = c.public("/v5/order/create", "").await;
    assert_eq!(wrong_method.ret_code(), 10017);
    // The server is still fine.
    assert_eq!(c.public("/v5/market/time", "").await.ret_code(), 0);
}

/// A stream or control path asked with a method it does not take is refused with a body
/// that says why (the fuzzer found axum's bare 405 here): the stream paths answer like the
/// REST paths (HTTP 200, 10017), the control API a 405 with its own `{"ok": false, "error"}`.
#[tokio::test]
async fn a_wrong_method_on_a_stream_or_control_path_says_why() {
    let emu = start().await;
    let http = reqwest::Client::new();
    let stream = http
        .post(emu.public_ws_url().replace("ws://", "http://"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let body: Value = stream.json().await.unwrap();
    assert_eq!(body["retCode"], 10017, "{body}");
    assert!(!body["retMsg"].as_str().unwrap().is_empty(), "{body}");
    let control = http
        .get(format!("{}/emulator/price", emu.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(control.status().as_u16(), 405);
    let body: Value = control.json().await.unwrap();
    assert_eq!(body["ok"], false, "{body}");
    assert!(body["error"].as_str().unwrap().contains("method"), "{body}");
}
