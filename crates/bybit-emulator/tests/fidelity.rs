//! What a Bybit client sees over the wire, each test naming the doc page it follows.

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

// A default emulator's market moves on its own; `--static-prices` keeps it still.
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

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A private WebSocket, authenticated and subscribed to `topics`.
async fn private_stream(emu: &bybit_emulator::Emulator, topics: &[&str]) -> Ws {
    use futures_util::SinkExt;
    let (mut ws, _) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(emu.private_ws_url()))
            .await
            .unwrap()
            .unwrap();
    let expires = crate::support::now_ms() + 10_000;
    let creds = bybit_sign::Credentials::new(crate::support::KEY, crate::support::SECRET).unwrap();
    let signature = creds.ws_auth(expires).unwrap().signature().to_owned();
    for request in [
        json!({"op": "auth", "args": [crate::support::KEY, expires, signature]}),
        json!({"op": "subscribe", "args": topics}),
    ] {
        let op = request["op"].clone();
        ws.send(tokio_tungstenite::tungstenite::Message::text(
            request.to_string(),
        ))
        .await
        .unwrap();
        let reply = next_frame(&mut ws, |f| f["op"] == op).await;
        assert_eq!(reply["success"], true, "{reply}");
    }
    ws
}

/// The next text frame for which `matches` holds.
async fn next_frame(ws: &mut Ws, mut matches: impl FnMut(&Value) -> bool) -> Value {
    use futures_util::StreamExt;
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                    if matches(&frame) {
                        return frame;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("connection ended: {other:?}"),
            }
        }
    })
    .await
    .expect("timed out waiting for a frame")
}

/// The `order` pushes for `link` until one has `status`, in order.
async fn order_statuses_until(ws: &mut Ws, link: &str, status: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = next_frame(ws, |f| f["topic"] == "order").await;
        for o in frame["data"].as_array().unwrap() {
            if o["orderLinkId"] == link {
                seen.push(o.clone());
            }
        }
        if seen.last().is_some_and(|o| o["orderStatus"] == status) {
            return seen;
        }
    }
}

// v5/websocket/private/order (capture: "" for an unfilled order's avgPrice and an ordinary
// order's triggerPrice, takeProfit, stopLoss, stopOrderType), v5/enum (Untriggered →
// Triggered → Filled), v5/websocket/private/execution and position (one shared seq).
#[tokio::test]
async fn the_private_stream_speaks_like_bybit() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut ws = private_stream(&emu, &["order", "execution", "position"]).await;
    let resting = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
                         "orderType": "Limit", "qty": "0.1", "price": "3000",
                         "orderLinkId": "quiet"});
    assert_eq!(c.post("/v5/order/create", &resting).await.ret_code(), 0);
    let pushed = order_statuses_until(&mut ws, "quiet", "New").await;
    for field in [
        "avgPrice",
        "triggerPrice",
        "takeProfit",
        "stopLoss",
        "stopOrderType",
    ] {
        assert_eq!(pushed[0][field], "", "{field}");
    }

    let conditional = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
                             "orderType": "Market", "qty": "0.1", "triggerPrice": "3600",
                             "triggerDirection": 1, "orderLinkId": "cond"});
    assert_eq!(c.post("/v5/order/create", &conditional).await.ret_code(), 0);
    order_statuses_until(&mut ws, "cond", "Untriggered").await;
    let moved = c
        .control("/price", json!({"symbol": "ETHUSDT", "price": "3600"}))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let pushed = order_statuses_until(&mut ws, "cond", "Filled").await;
    let statuses: Vec<&str> = pushed
        .iter()
        .map(|o| o["orderStatus"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["Triggered", "Filled"]);
    assert!(pushed
        .iter()
        .all(|o| o["createType"] == "CreateByStopOrder"));
    let fill = next_frame(&mut ws, |f| f["topic"] == "execution").await;
    let position = next_frame(&mut ws, |f| {
        f["topic"] == "position" && f["data"][0]["size"] == "0.1"
    })
    .await;
    assert_eq!(fill["data"][0]["seq"], position["data"][0]["seq"]);
}
