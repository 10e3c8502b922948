//! Issue 6: what a Bybit client sees over the wire, each test naming the doc page it follows.

use serde_json::{json, Value};

use crate::support::{start, Client};

fn links(reply: &Value) -> Vec<String> {
    reply["result"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderLinkId"].as_str().unwrap().to_owned())
        .collect()
}

// v5/order/open-order: openOnly 0 (default) = open orders only; 1 = recent closed orders only;
// by orderId / orderLinkId the order whatever its state (openOnly ignored); orderFilter
// `OpenOrder` (older docs, cancel-all) is accepted.
#[tokio::test]
async fn open_only_splits_open_from_recent_closed_orders() {
    let emu = start().await;
    let c = Client::new(&emu);
    let place = |link: &str, price: &str| {
        json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit",
               "qty": "0.1", "price": price, "orderLinkId": link})
    };
    for (link, price) in [("rest-a", "3000"), ("rest-b", "3001")] {
        let reply = c.post("/v5/order/create", &place(link, price)).await;
        assert_eq!(reply.ret_code(), 0, "{}", reply.body);
    }
    let filled = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
                        "orderType": "Market", "qty": "0.1", "orderLinkId": "gone-fill"});
    assert_eq!(c.post("/v5/order/create", &filled).await.ret_code(), 0);
    let cancel = json!({"category": "linear", "symbol": "ETHUSDT", "orderLinkId": "rest-b"});
    assert_eq!(c.post("/v5/order/cancel", &cancel).await.ret_code(), 0);

    let open = c
        .get("/v5/order/realtime", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(links(&open.body), ["rest-a"]);
    let open0 = c
        .get(
            "/v5/order/realtime",
            "category=linear&symbol=ETHUSDT&openOnly=0",
        )
        .await;
    assert_eq!(links(&open0.body), ["rest-a"]);
    let closed = c
        .get(
            "/v5/order/realtime",
            "category=linear&symbol=ETHUSDT&openOnly=1",
        )
        .await;
    // Newest first by createdTime.
    assert_eq!(links(&closed.body), ["gone-fill", "rest-b"]);
    // By link id: any state, openOnly ignored.
    for open_only in ["0", "1"] {
        let one = c
            .get(
                "/v5/order/realtime",
                &format!("category=linear&orderLinkId=rest-b&openOnly={open_only}"),
            )
            .await;
        assert_eq!(one.body["result"]["list"][0]["orderStatus"], "Cancelled");
        let one = c
            .get(
                "/v5/order/realtime",
                &format!("category=linear&orderLinkId=rest-a&openOnly={open_only}"),
            )
            .await;
        assert_eq!(one.body["result"]["list"][0]["orderStatus"], "New");
    }
    let filtered = c
        .get(
            "/v5/order/realtime",
            "category=linear&settleCoin=USDT&orderFilter=OpenOrder",
        )
        .await;
    assert_eq!(links(&filtered.body), ["rest-a"]);
    let all = json!({"category": "linear", "settleCoin": "USDT", "orderFilter": "OpenOrder"});
    let reply = c.post("/v5/order/cancel-all", &all).await;
    assert_eq!(reply.ret_code(), 0, "{}", reply.body);
    assert_eq!(links(&reply.body), ["rest-a"]);
    let bad = c
        .get(
            "/v5/order/realtime",
            "category=linear&symbol=ETHUSDT&openOnly=7",
        )
        .await;
    assert_eq!(bad.ret_code(), 10001);
}

async fn ticker(url: &str, symbol: &str) -> Value {
    let body: Value = reqwest::get(format!(
        "{url}/v5/market/tickers?category=linear&symbol={symbol}"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    body["result"]["list"][0].clone()
}

// Issue 6.11: a default emulator's market moves on its own; `--static-prices` keeps it still.
#[tokio::test]
async fn the_default_market_moves_and_static_prices_keep_it_still() {
    let (_living, living) = crate::binary::spawn(&[]);
    let (_still, still) = crate::binary::spawn(&["--static-prices"]);
    let living_start = ticker(&living, "BTCUSDT").await["lastPrice"].clone();
    let still_start = ticker(&still, "BTCUSDT").await["lastPrice"].clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if ticker(&living, "BTCUSDT").await["lastPrice"] != living_start {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the default market never moved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // By the time the living market has moved, the still one has not.
    assert_eq!(ticker(&still, "BTCUSDT").await["lastPrice"], still_start);
}

// v5/market/tickers (bid1Price, bid1Size): the account's resting order is in the book.
#[tokio::test]
async fn a_resting_order_shows_in_bid1() {
    let emu = start().await;
    let c = Client::new(&emu);
    let before = ticker(&emu.http_url(), "ETHUSDT").await;
    let bid: rust_decimal::Decimal = before["bid1Price"].as_str().unwrap().parse().unwrap();
    let size: rust_decimal::Decimal = before["bid1Size"].as_str().unwrap().parse().unwrap();
    let place = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
                       "orderType": "Limit", "qty": "0.5", "price": bid.to_string()});
    assert_eq!(c.post("/v5/order/create", &place).await.ret_code(), 0);
    let after = ticker(&emu.http_url(), "ETHUSDT").await;
    assert_eq!(after["bid1Price"], before["bid1Price"]);
    let grown: rust_decimal::Decimal = after["bid1Size"].as_str().unwrap().parse().unwrap();
    assert_eq!(grown, size + rust_decimal_macros::dec!(0.5));
}

// v5/position/trading-stop, v5/order/open-order, v5/enum: the position's TP is an Untriggered
// TakeProfit order over REST, Deactivated (CancelByTpSlTsClear) once the position closes.
#[tokio::test]
async fn a_positions_take_profit_is_an_order_over_rest() {
    let emu = start().await;
    let c = Client::new(&emu);
    let market = |side: &str| {
        json!({"category": "linear", "symbol": "ETHUSDT", "side": side, "orderType": "Market",
               "qty": "0.5"})
    };
    assert_eq!(
        c.post("/v5/order/create", &market("Buy")).await.ret_code(),
        0
    );
    let last: rust_decimal::Decimal = ticker(&emu.http_url(), "ETHUSDT").await["lastPrice"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let tp = (last * rust_decimal_macros::dec!(1.05)).round_dp(2);
    let set = json!({"category": "linear", "symbol": "ETHUSDT", "positionIdx": 0,
                     "takeProfit": tp.to_string(), "tpslMode": "Full"});
    let reply = c.post("/v5/position/trading-stop", &set).await;
    assert_eq!(reply.ret_code(), 0, "{}", reply.body);
    let open = c
        .get("/v5/order/realtime", "category=linear&symbol=ETHUSDT")
        .await;
    let order = &open.body["result"]["list"][0];
    assert_eq!(order["orderStatus"], "Untriggered");
    assert_eq!(order["stopOrderType"], "TakeProfit");
    assert_eq!(order["createType"], "CreateByTakeProfit");
    assert_eq!(order["triggerPrice"], tp.to_string());
    let id = order["orderId"].as_str().unwrap().to_owned();
    assert_eq!(
        c.post("/v5/order/create", &market("Sell")).await.ret_code(),
        0
    );
    let after = c
        .get(
            "/v5/order/realtime",
            &format!("category=linear&symbol=ETHUSDT&orderId={id}"),
        )
        .await;
    let order = &after.body["result"]["list"][0];
    assert_eq!(order["orderStatus"], "Deactivated");
    assert_eq!(order["cancelType"], "CancelByTpSlTsClear");
}
