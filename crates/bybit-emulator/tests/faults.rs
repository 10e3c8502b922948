//! Every fault-injection control, each with a test that shows its effect.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{now_ms, start, Client};

fn order(link: &str) -> String {
    json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": "0.1", "orderLinkId": link}).to_string()
}

fn open_or_filled(state: &Value, link: &str) -> bool {
    let has = |list: &Value| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|o| o["orderLinkId"] == link))
    };
    has(&state["openOrders"]) || has(&state["closedOrders"])
}

#[tokio::test]
async fn fail_http_answers_5xx_without_executing_then_recovers() {
    let emu = start().await;
    let c = Client::new(&emu);
    assert!(c
        .control("/fail", json!({"count": 2, "status": 502}))
        .await
        .status
        .is_success());
    for i in 0..2 {
        let r = c
            .post_raw("/v5/order/create", order(&format!("f{i}")))
            .await;
        assert_eq!(r.status.as_u16(), 502);
    }
    assert!(!open_or_filled(&c.state().await, "f0"));
    assert_eq!(
        c.post_raw("/v5/order/create", order("f2")).await.ret_code(),
        0
    );
}

#[tokio::test]
async fn fail_with_10016_answers_the_retcode_without_executing() {
    let emu = start().await;
    let c = Client::new(&emu);
    c.control("/fail", json!({"count": 1, "retCode": 10016}))
        .await;
    let r = c.post_raw("/v5/order/create", order("s1")).await;
    assert_eq!(r.ret_code(), 10016);
    assert!(!open_or_filled(&c.state().await, "s1"));
}

#[tokio::test]
async fn hold_times_the_client_out_and_executes_nothing() {
    let emu = start().await;
    let c = Client::new(&emu);
    c.control("/hold", json!({"count": 1, "ms": 5000})).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let quick = Client {
        http: impatient,
        base: c.base.clone(),
        creds: c.creds.clone(),
    };
    let err = quick
        .send_raw("/v5/order/create", order("h1"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(!open_or_filled(&c.state().await, "h1"));
}

#[tokio::test]
async fn lose_response_executes_the_order_but_the_client_sees_a_broken_reply() {
    let emu = start().await;
    let c = Client::new(&emu);
    c.control("/lose-response", json!({"count": 1})).await;
    let outcome = match c.send_raw("/v5/order/create", order("l1")).await {
        Err(e) => Err(e),
        Ok(response) => response.text().await.map(|_| ()),
    };
    assert!(outcome.is_err(), "the reply should have been lost");
    // The exchange did place it: exactly the ambiguity an idempotent client must resolve.
    assert!(open_or_filled(&c.state().await, "l1"));
    assert_eq!(
        c.post_raw("/v5/order/create", order("l1")).await.ret_code(),
        110072
    );
}

#[tokio::test]
async fn clock_skew_makes_fresh_timestamps_stale() {
    let emu = start().await;
    let c = Client::new(&emu);
    c.control("/clock", json!({"skewMs": 30_000})).await;
    assert_eq!(
        c.get("/v5/position/list", "category=linear&symbol=ETHUSDT")
            .await
            .ret_code(),
        10002
    );
    let server: i64 = c.public("/v5/market/time", "").await.body["time"]
        .as_i64()
        .unwrap();
    assert!(server - i64::try_from(now_ms()).unwrap() > 25_000);
    c.control("/clock", json!({"skewMs": 0})).await;
    assert_eq!(
        c.get("/v5/position/list", "category=linear&symbol=ETHUSDT")
            .await
            .ret_code(),
        0
    );
}

#[tokio::test]
async fn balance_price_book_and_paths_drive_the_engine() {
    let emu = start().await;
    let c = Client::new(&emu);
    c.control("/balance", json!({"usdt": "5"})).await;
    assert_eq!(
        c.post_raw("/v5/order/create", order("poor"))
            .await
            .ret_code(),
        110007
    );
    c.control("/balance", json!({"usdt": "100000"})).await;
    let wallet = c
        .get("/v5/account/wallet-balance", "accountType=UNIFIED")
        .await;
    assert_eq!(
        wallet.body["result"]["list"][0]["totalWalletBalance"],
        "100000"
    );

    assert!(c
        .control("/price", json!({"symbol": "ETHUSDT", "price": "3333.33"}))
        .await
        .status
        .is_success());
    let t = c
        .public("/v5/market/tickers", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(t.body["result"]["list"][0]["lastPrice"], "3333.33");
    let bad = c
        .control("/price", json!({"symbol": "NOPE", "price": "1"}))
        .await;
    assert_eq!(bad.status.as_u16(), 400);

    c.control(
        "/book",
        json!({"symbol": "ETHUSDT", "levels": 2, "levelNotional": "3500"}),
    )
    .await;
    let r = c.post_raw("/v5/order/create", json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": "5", "orderLinkId": "thin"}).to_string()).await;
    assert_eq!(r.ret_code(), 0);
    let o = c
        .get("/v5/order/realtime", "category=linear&orderLinkId=thin")
        .await;
    // Two levels of floor(3500 / 3333.34) = 1.04 and floor(3500 / 3333.35) = 1.04.
    assert_eq!(o.body["result"]["list"][0]["cumExecQty"], "2.08");
    assert_eq!(o.body["result"]["list"][0]["orderStatus"], "Cancelled");

    // A path prints on the emulator's ticker; wait on the price, with a deadline.
    c.control(
        "/price-path",
        json!({"symbol": "XRPUSDT", "intervalMs": 50, "prices": ["2.2", "2.3"]}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let t = c
            .public("/v5/market/tickers", "category=linear&symbol=XRPUSDT")
            .await;
        if t.body["result"]["list"][0]["lastPrice"] == "2.3000" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the path never reached 2.3"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reset_clears_faults_and_the_control_api_refuses_bad_input() {
    let emu = start().await;
    let c = Client::new(&emu);
    c.control("/fail", json!({"count": 5})).await;
    c.control("/reset", json!({})).await;
    assert_eq!(
        c.post_raw("/v5/order/create", order("after-reset"))
            .await
            .ret_code(),
        0
    );
    let state = c.state().await;
    assert_eq!(state["faults"]["fail"], 0);
    assert!(state["wallet"]["totalEquity"].is_string());
    assert_eq!(
        c.control("/fail", json!({"status": 404}))
            .await
            .status
            .as_u16(),
        400
    );
    let raw = c
        .http
        .post(format!("{}/emulator/hold", c.base))
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
}

/// Polls the ticker until `done` holds for its last price, or fails after 5 s.
async fn wait_for_price(c: &Client, symbol: &str, done: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let t = c
            .public(
                "/v5/market/tickers",
                &format!("category=linear&symbol={symbol}"),
            )
            .await;
        let last = t.body["result"]["list"][0]["lastPrice"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if done(&last) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{symbol} stuck at {last}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn replay_prints_recorded_trades_and_random_walk_moves_the_price() {
    let emu = start().await;
    let c = Client::new(&emu);
    let r = c.control("/replay", json!({"symbol": "DOGEUSDT", "trades": [[1000, "0.18100", "500"], [1100, "0.18200", "800"]]})).await;
    assert!(r.status.is_success(), "{}", r.body);
    wait_for_price(&c, "DOGEUSDT", |p| p == "0.18200").await;
    let bad = c
        .control(
            "/replay",
            json!({"symbol": "DOGEUSDT", "trades": [[1, "x", "1"]]}),
        )
        .await;
    assert_eq!(bad.status.as_u16(), 400);

    let r = c
        .control(
            "/random-walk",
            json!({"symbol": "SOLUSDT", "intervalMs": 10, "maxStepTicks": 5}),
        )
        .await;
    assert!(r.status.is_success());
    wait_for_price(&c, "SOLUSDT", |p| !p.is_empty() && p != "180.000").await;
}

/// `POST /emulator/instrument`: BTCUSDT's lot size changes mid-run (docs/v5/market/instrument.mdx
/// lotSizeFilter). instruments-info shows it, a resting order placed before stays, a new
/// order off the new step is refused with 10001 (docs/v5/error.mdx: params error) and one on
/// it is accepted; bad input is a 400 and changes nothing.
#[tokio::test]
async fn instrument_changes_the_rules_mid_run() {
    let emu = start().await;
    let c = Client::new(&emu);
    let limit = |link: &str, qty: &str| {
        json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
               "qty": qty, "price": "40000", "orderLinkId": link})
        .to_string()
    };
    assert_eq!(
        c.post_raw("/v5/order/create", limit("before", "0.015"))
            .await
            .ret_code(),
        0
    );
    let r = c
        .control(
            "/instrument",
            json!({"symbol": "BTCUSDT", "qtyStep": "0.01", "minOrderQty": "0.01", "tickSize": "0.5"}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let info = c
        .public(
            "/v5/market/instruments-info",
            "category=linear&symbol=BTCUSDT",
        )
        .await;
    let i = &info.body["result"]["list"][0];
    assert_eq!(i["lotSizeFilter"]["qtyStep"], "0.01");
    assert_eq!(i["lotSizeFilter"]["minOrderQty"], "0.01");
    assert_eq!(i["priceFilter"]["tickSize"], "0.5");
    let refused = c
        .post_raw("/v5/order/create", limit("off-step", "0.015"))
        .await;
    assert_eq!(refused.ret_code(), 10001, "{:?}", refused.body);
    assert_eq!(
        c.post_raw("/v5/order/create", limit("on-step", "0.02"))
            .await
            .ret_code(),
        0
    );
    let open = c
        .get("/v5/order/realtime", "category=linear&orderLinkId=before")
        .await;
    assert_eq!(open.body["result"]["list"][0]["orderStatus"], "New");

    for bad in [
        json!({"symbol": "BTCUSDT"}),
        json!({"symbol": "BTCUSDT", "qtyStep": "0"}),
        json!({"symbol": "BTCUSDT", "qtyStep": "-0.01"}),
        json!({"symbol": "BTCUSDT", "tickSize": "abc"}),
        json!({"symbol": "NOPE", "qtyStep": "0.01"}),
        json!({"qtyStep": "0.01"}),
        // minOrderQty above maxOrderQty: not valid rules.
        json!({"symbol": "BTCUSDT", "minOrderQty": "5000"}),
    ] {
        let r = c.control("/instrument", bad.clone()).await;
        assert_eq!(r.status.as_u16(), 400, "{bad}: {:?}", r.body);
    }
    let info = c
        .public(
            "/v5/market/instruments-info",
            "category=linear&symbol=BTCUSDT",
        )
        .await;
    assert_eq!(
        info.body["result"]["list"][0]["lotSizeFilter"]["qtyStep"],
        "0.01"
    );
}

/// `requests` in `/emulator/state` counts every REST request on arrival, also the ones a fault
/// answers without executing, and order creates per orderLinkId (single and batch): what a
/// client test uses to prove it sent nothing, or never more than its policy allows
/// (`Emulator::truth` in-process, the same answer).
#[tokio::test]
async fn state_counts_requests_on_arrival_also_when_faulted() {
    let emu = start().await;
    let c = Client::new(&emu);
    let before = c.state().await["requests"].clone();
    assert_eq!(before["total"], 0, "{before}");
    c.control("/fail", json!({"count": 1, "status": 502})).await;
    assert_eq!(
        c.post_raw("/v5/order/create", order("n1"))
            .await
            .status
            .as_u16(),
        502
    );
    assert_eq!(
        c.post_raw("/v5/order/create", order("n1")).await.ret_code(),
        0
    );
    let batch = json!({"category": "linear", "request": [
        {"symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.1", "price": "1000", "orderLinkId": "n2"},
        {"symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.1", "price": "1000", "orderLinkId": "n1"},
    ]});
    c.post_raw("/v5/order/create-batch", batch.to_string())
        .await;
    let counts = c.state().await["requests"].clone();
    assert_eq!(counts["total"], 3, "{counts}");
    assert_eq!(counts["byPath"]["/v5/order/create"], 2, "{counts}");
    assert_eq!(counts["byPath"]["/v5/order/create-batch"], 1, "{counts}");
    assert_eq!(counts["createsByOrderLinkId"]["n1"], 3, "{counts}");
    assert_eq!(counts["createsByOrderLinkId"]["n2"], 1, "{counts}");
    // Other crates' tests read the same answer in-process.
    assert_eq!(emu.truth(), c.state().await);
}

/// `create-unknown` hits order creates only: the next one is executed and its reply lost, the
/// `count` after it answer 503 unexecuted; a create sent again after the order exists is
/// refused 110072 and counted under `duplicates` (what the randomized fault test bounds).
#[tokio::test]
async fn create_unknown_executes_one_create_then_fails_the_next_and_duplicates_are_counted() {
    let emu = start().await;
    let c = Client::new(&emu);
    c.control("/create-unknown", json!({"count": 2})).await;
    // Not a create: untouched.
    assert_eq!(c.public("/v5/market/time", "").await.ret_code(), 0);
    let lost = match c.send_raw("/v5/order/create", order("u1")).await {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(lost, "the first create's reply is lost");
    for _ in 0..2 {
        let r = c.post_raw("/v5/order/create", order("u1")).await;
        assert_eq!(r.status.as_u16(), 503);
    }
    assert!(
        open_or_filled(&c.state().await, "u1"),
        "the first one landed"
    );
    assert_eq!(
        c.post_raw("/v5/order/create", order("u1")).await.ret_code(),
        110072
    );
    let counts = c.state().await["requests"].clone();
    assert_eq!(counts["createsByOrderLinkId"]["u1"], 4, "{counts}");
    assert_eq!(counts["duplicates"], 1, "{counts}");
    assert_eq!(counts["duplicatesByOrderLinkId"]["u1"], 1, "{counts}");
}
