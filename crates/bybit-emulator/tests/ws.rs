//! The public and private WebSocket streams, through a real WebSocket client: heartbeat, auth,
//! subscribe replies, topic pushes and dropped or refused connections.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bybit_emulator::Emulator;
use bybit_sign::Credentials;
use bybit_types::rest::market::Ticker;
use bybit_types::ws::WsMessage;
use bybit_types::WireSide;
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use sim_engine::NewOrder;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::{now_ms, start, Client, KEY, SECRET};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any one expected frame may take.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) async fn ws_connect(url: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect timed out")
        .unwrap();
    ws
}

pub(crate) async fn send(ws: &mut Ws, request: Value) {
    ws.send(Message::text(request.to_string())).await.unwrap();
}

/// The next text frame, as JSON; every frame must also parse as the shared wire types.
pub(crate) async fn recv_json(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                WsMessage::parse(text.as_str())
                    .unwrap_or_else(|e| panic!("frame does not fit the wire types: {e}: {text}"));
                return serde_json::from_str(text.as_str()).unwrap();
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("connection ended while waiting for a frame: {other:?}"),
        }
    }
}

/// Frames are read until one satisfies `predicate`, which is returned; those before it are
/// returned too, so a test can check what it skipped.
pub(crate) async fn recv_json_until(
    ws: &mut Ws,
    mut predicate: impl FnMut(&Value) -> bool,
    timeout: Duration,
) -> (Value, Vec<Value>) {
    let mut skipped = Vec::new();
    tokio::time::timeout(timeout, async {
        loop {
            let frame = recv_json(ws).await;
            if predicate(&frame) {
                return (frame, skipped);
            }
            skipped.push(frame);
        }
    })
    .await
    .expect("timed out waiting for a frame")
}

pub(crate) fn is_topic(topic: &'static str) -> impl FnMut(&Value) -> bool {
    move |v| v["topic"] == topic
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn key_set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

fn dec_of(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

/// Sends a request and returns the reply to its op.
pub(crate) async fn request(ws: &mut Ws, body: Value) -> Value {
    let op = body["op"].as_str().unwrap().to_owned();
    send(ws, body).await;
    let expected = if op == "ping" { "ping|pong" } else { &op };
    recv_json_until(
        ws,
        |v| v.get("topic").is_none() && expected.split('|').any(|o| v["op"] == o),
        WAIT,
    )
    .await
    .0
}

fn auth_args(key: &str, secret: &str, expires: u64) -> Value {
    let creds = Credentials::new(key, secret).unwrap();
    let auth = creds.ws_auth(expires).unwrap();
    json!([key, expires, auth.signature()])
}

pub(crate) async fn private_authed(emu: &Emulator) -> Ws {
    let mut ws = ws_connect(&emu.private_ws_url()).await;
    let args = auth_args(KEY, SECRET, now_ms() + 10_000);
    let reply = request(
        &mut ws,
        json!({"req_id": "auth-1", "op": "auth", "args": args}),
    )
    .await;
    assert_eq!(reply["success"], true, "{reply}");
    ws
}

pub(crate) async fn subscribe(ws: &mut Ws, topics: &[&str]) -> Value {
    request(
        ws,
        json!({"req_id": "sub-1", "op": "subscribe", "args": topics}),
    )
    .await
}

/// Whether the server ended the connection (a close frame, an error or the end of the
/// stream) before `WAIT`.
pub(crate) async fn connection_ends(ws: &mut Ws) -> bool {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return true,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .unwrap_or(false)
}

#[tokio::test]
async fn public_ping_gets_the_linear_pong() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.public_ws_url()).await;

    let pong = request(&mut ws, json!({"op": "ping", "req_id": "x"})).await;
    assert_eq!(
        keys(&pong),
        key_set(&["success", "ret_msg", "conn_id", "req_id", "op"])
    );
    assert_eq!(pong["success"], true);
    assert_eq!(pong["ret_msg"], "pong");
    assert_eq!(pong["req_id"], "x");
    assert_eq!(pong["op"], "ping");
    assert!(!pong["conn_id"].as_str().unwrap().is_empty());

    // Without a req_id the linear stream still sends the field, empty.
    let pong = request(&mut ws, json!({"op": "ping"})).await;
    assert_eq!(pong["req_id"], "");
    let WsMessage::Op(reply) = WsMessage::parse(&pong.to_string()).unwrap() else {
        panic!("a pong is an op reply");
    };
    assert!(reply.is_pong() && reply.is_success());
}

#[tokio::test]
async fn private_ping_gets_the_private_pong_before_auth() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.private_ws_url()).await;

    let before = now_ms();
    let pong = request(&mut ws, json!({"op": "ping", "req_id": "x"})).await;
    assert_eq!(keys(&pong), key_set(&["req_id", "op", "args", "conn_id"]));
    assert_eq!(pong["req_id"], "x");
    assert_eq!(pong["op"], "pong");
    let args = pong["args"].as_array().unwrap();
    assert_eq!(args.len(), 1);
    let ms: u64 = args[0].as_str().unwrap().parse().unwrap();
    assert!(ms >= before && ms <= now_ms(), "{ms}");
    let WsMessage::Op(reply) = WsMessage::parse(&pong.to_string()).unwrap() else {
        panic!("a pong is an op reply");
    };
    assert!(reply.is_pong() && reply.is_success());
    assert_eq!(reply.pong_time(), Some(i64::try_from(ms).unwrap()));
}

#[tokio::test]
async fn public_subscribe_acks_and_refuses_bad_topics() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.public_ws_url()).await;

    let ack = subscribe(&mut ws, &["publicTrade.BTCUSDT"]).await;
    assert_eq!(
        keys(&ack),
        key_set(&["success", "ret_msg", "conn_id", "req_id", "op"])
    );
    assert_eq!(ack["success"], true);
    assert_eq!(ack["ret_msg"], "");
    assert_eq!(ack["req_id"], "sub-1");
    assert_eq!(ack["op"], "subscribe");

    // Subscribing again is refused by name (`subscriptions.rs`).
    assert_eq!(
        subscribe(&mut ws, &["publicTrade.BTCUSDT"]).await["ret_msg"],
        "error:already subscribed,topic:publicTrade.BTCUSDT"
    );

    let refused = subscribe(&mut ws, &["orderbook.1.NOPE"]).await;
    assert_eq!(refused["success"], false);
    assert_eq!(refused["op"], "subscribe");
    assert_eq!(refused["ret_msg"], "Invalid symbol :[orderbook.1.NOPE]");

    for topic in [
        "orderbook.500.BTCUSDT",
        "orderbook.7.BTCUSDT",
        "kline.1.BTCUSDT",
        "tickers",
        "order",
    ] {
        let refused = subscribe(&mut ws, &[topic]).await;
        assert_eq!(refused["success"], false, "{topic}");
        assert!(
            refused["ret_msg"].as_str().unwrap().contains(topic),
            "{refused}"
        );
    }

    // One bad topic refuses the whole request.
    let refused = subscribe(&mut ws, &["tickers.BTCUSDT", "tickers.NOPE"]).await;
    assert_eq!(refused["success"], false);
    assert_eq!(refused["ret_msg"], "Invalid symbol :[tickers.NOPE]");

    let unsubscribed = request(
        &mut ws,
        json!({"req_id": "u", "op": "unsubscribe", "args": ["publicTrade.BTCUSDT"]}),
    )
    .await;
    assert_eq!(unsubscribed["success"], true);
    assert_eq!(unsubscribed["req_id"], "u");
}

#[tokio::test]
async fn malformed_frames_get_failure_replies() {
    let emu = start().await;
    for url in [emu.public_ws_url(), emu.private_ws_url()] {
        let mut ws = ws_connect(&url).await;

        ws.send(Message::text("not json")).await.unwrap();
        let reply = recv_json(&mut ws).await;
        assert_eq!(reply["success"], false, "{reply}");
        assert!(reply["conn_id"].is_string());
        assert!(!reply["ret_msg"].as_str().unwrap().is_empty());

        ws.send(Message::text("[1,2]")).await.unwrap();
        assert_eq!(recv_json(&mut ws).await["success"], false);

        ws.send(Message::binary(vec![0xff, 0xfe])).await.unwrap();
        assert_eq!(recv_json(&mut ws).await["success"], false);

        let reply = request(&mut ws, json!({"req_id": "q", "op": "launch"})).await;
        assert_eq!(reply["success"], false);
        assert_eq!(reply["op"], "launch");
        assert_eq!(reply["req_id"], "q");

        let reply = request(
            &mut ws,
            json!({"op": "subscribe", "args": "tickers.BTCUSDT"}),
        )
        .await;
        assert_eq!(reply["success"], false);

        let reply = request(&mut ws, json!({"op": "subscribe", "args": [42]})).await;
        assert_eq!(reply["success"], false);

        // The connection is still served.
        let pong = request(&mut ws, json!({"op": "ping"})).await;
        assert!(pong["op"] == "ping" || pong["op"] == "pong", "{pong}");
    }
}

#[tokio::test]
async fn private_auth_succeeds_and_fails_in_bybits_shapes() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.private_ws_url()).await;
    let expires = now_ms() + 10_000;

    // Subscribing before auth is refused.
    let refused = subscribe(&mut ws, &["order"]).await;
    assert_eq!(refused["success"], false);
    assert_eq!(refused["op"], "subscribe");

    let check_failure = |reply: &Value, ret_msg: Option<&str>| {
        assert_eq!(
            keys(reply),
            key_set(&["success", "ret_msg", "op", "conn_id"]),
            "{reply}"
        );
        assert_eq!(reply["success"], false);
        assert_eq!(reply["op"], "auth");
        if let Some(ret_msg) = ret_msg {
            assert_eq!(reply["ret_msg"], ret_msg);
        }
    };

    let bad_signature = auth_args(KEY, "wrong-secret", expires);
    let reply = request(&mut ws, json!({"op": "auth", "args": bad_signature})).await;
    check_failure(&reply, None);

    let expired = auth_args(KEY, SECRET, now_ms() - 1_000);
    let reply = request(&mut ws, json!({"op": "auth", "args": expired})).await;
    check_failure(&reply, Some("Params Error"));

    let wrong_key = auth_args("other-key", SECRET, expires);
    let reply = request(&mut ws, json!({"op": "auth", "args": wrong_key})).await;
    check_failure(&reply, None);

    for malformed in [json!([]), json!([KEY, "soon", "ab"]), json!([KEY, expires])] {
        let reply = request(&mut ws, json!({"op": "auth", "args": malformed})).await;
        check_failure(&reply, Some("Params Error"));
    }

    // Still unauthenticated after the failures.
    assert_eq!(subscribe(&mut ws, &["order"]).await["success"], false);

    // The expiry may come as text, as some SDKs send it.
    let good = auth_args(KEY, SECRET, expires);
    let args = json!([good[0], expires.to_string(), good[2]]);
    let reply = request(&mut ws, json!({"req_id": "a", "op": "auth", "args": args})).await;
    assert_eq!(
        keys(&reply),
        key_set(&["success", "ret_msg", "op", "conn_id", "req_id"])
    );
    assert_eq!(reply["success"], true);
    assert_eq!(reply["ret_msg"], "");
    assert_eq!(reply["req_id"], "a");
    let WsMessage::Op(parsed) = WsMessage::parse(&reply.to_string()).unwrap() else {
        panic!("an auth reply is an op reply");
    };
    assert!(parsed.is_auth() && parsed.is_success());

    // docs/v5/websocket/wss-authentication.mdx, private tab: no `req_id` in the reply.
    let ack = subscribe(&mut ws, &["order"]).await;
    assert_eq!(
        keys(&ack),
        key_set(&["success", "ret_msg", "op", "conn_id"])
    );
    assert_eq!(ack["success"], true);
    let ack = request(&mut ws, json!({"op": "subscribe", "args": ["wallet"]})).await;
    assert_eq!(
        keys(&ack),
        key_set(&["success", "ret_msg", "op", "conn_id"])
    );
}

const ORDER_FIELDS: &[&str] = &[
    "symbol",
    "orderId",
    "side",
    "orderType",
    "cancelType",
    "price",
    "qty",
    "orderIv",
    "timeInForce",
    "orderStatus",
    "orderLinkId",
    "lastPriceOnCreated",
    "reduceOnly",
    "leavesQty",
    "leavesValue",
    "cumExecQty",
    "cumExecValue",
    "avgPrice",
    "blockTradeId",
    "positionIdx",
    "cumExecFee",
    "closedPnl",
    "createdTime",
    "updatedTime",
    "rejectReason",
    "stopOrderType",
    "tpslMode",
    "triggerPrice",
    "takeProfit",
    "stopLoss",
    "tpTriggerBy",
    "slTriggerBy",
    "tpLimitPrice",
    "slLimitPrice",
    "triggerDirection",
    "triggerBy",
    "closeOnTrigger",
    "category",
    "placeType",
    "smpType",
    "smpGroup",
    "smpOrderId",
    "feeCurrency",
    "cumFeeDetail",
    "rpiTakerAccess",
    "rpiMatchedQty",
];

const EXECUTION_FIELDS: &[&str] = &[
    "category",
    "symbol",
    "closedSize",
    "execFee",
    "execId",
    "execPrice",
    "execQty",
    "execType",
    "execValue",
    "feeRate",
    "tradeIv",
    "markIv",
    "blockTradeId",
    "markPrice",
    "indexPrice",
    "underlyingPrice",
    "leavesQty",
    "orderId",
    "orderLinkId",
    "orderPrice",
    "orderQty",
    "orderType",
    "stopOrderType",
    "side",
    "execTime",
    "isLeverage",
    "isMaker",
    "seq",
    "marketUnit",
    "execPnl",
    "createType",
    "extraFees",
    "feeCurrency",
];

const FAST_EXECUTION_FIELDS: &[&str] = &[
    "category",
    "symbol",
    "execId",
    "execPrice",
    "execQty",
    "orderId",
    "isMaker",
    "orderLinkId",
    "side",
    "execTime",
    "seq",
];

const POSITION_FIELDS: &[&str] = &[
    "positionIdx",
    "tradeMode",
    "riskId",
    "riskLimitValue",
    "symbol",
    "side",
    "size",
    "entryPrice",
    "leverage",
    "breakEvenPrice",
    "positionValue",
    "positionBalance",
    "markPrice",
    "positionIM",
    "positionIMByMp",
    "positionMM",
    "positionMMByMp",
    "takeProfit",
    "stopLoss",
    "trailingStop",
    "unrealisedPnl",
    "curRealisedPnl",
    "cumRealisedPnl",
    "sessionAvgPrice",
    "createdTime",
    "updatedTime",
    "tpslMode",
    "liqPrice",
    "bustPrice",
    "category",
    "positionStatus",
    "adlRankIndicator",
    "autoAddMargin",
    "leverageSysUpdatedTime",
    "mmrSysUpdatedTime",
    "seq",
    "isReduceOnly",
];

const WALLET_FIELDS: &[&str] = &[
    "accountIMRate",
    "accountIMRateByMp",
    "accountMMRate",
    "accountMMRateByMp",
    "totalEquity",
    "totalWalletBalance",
    "totalMarginBalance",
    "totalAvailableBalance",
    "totalPerpUPL",
    "totalInitialMargin",
    "totalInitialMarginByMp",
    "totalMaintenanceMargin",
    "totalMaintenanceMarginByMp",
    "coin",
    "accountLTV",
    "accountType",
];

const WALLET_COIN_FIELDS: &[&str] = &[
    "coin",
    "equity",
    "usdValue",
    "walletBalance",
    "availableToWithdraw",
    "availableToBorrow",
    "borrowAmount",
    "accruedInterest",
    "totalOrderIM",
    "totalPositionIM",
    "totalPositionMM",
    "unrealisedPnl",
    "cumRealisedPnl",
    "bonus",
    "collateralSwitch",
    "marginCollateral",
    "locked",
    "spotHedgingQty",
    "spotBorrow",
];

/// Every field Bybit's push has is present (extra fields from the REST record are allowed).
fn assert_has_fields(record: &Value, fields: &[&str]) {
    let present = keys(record);
    let missing: Vec<&&str> = fields.iter().filter(|f| !present.contains(**f)).collect();
    assert!(missing.is_empty(), "missing {missing:?} in {record}");
}

fn assert_private_envelope(message: &Value, with_id: bool) {
    let expected: &[&str] = if with_id {
        &["id", "topic", "creationTime", "data"]
    } else {
        &["topic", "creationTime", "data"]
    };
    assert_eq!(keys(message), key_set(expected), "{message}");
    assert!(message["creationTime"].is_i64());
    assert!(!message["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn private_topics_follow_a_market_order() {
    let emu = start().await;
    let mut ws = private_authed(&emu).await;
    let ack = subscribe(
        &mut ws,
        &["order", "execution", "execution.fast", "position", "wallet"],
    )
    .await;
    assert_eq!(ack["success"], true, "{ack}");

    let ack = emu.state().execute(|e, now| {
        e.create_order(now, &NewOrder::market("BTCUSDT", WireSide::Buy, dec!(0.01)))
    });
    let order_id = ack.unwrap().order_id;

    let (order, _) = recv_json_until(&mut ws, is_topic("order"), WAIT).await;
    assert_private_envelope(&order, true);
    let record = &order["data"][0];
    assert_has_fields(record, ORDER_FIELDS);
    assert_eq!(record["orderId"], order_id.as_str());
    assert_eq!(record["orderStatus"], "Filled");
    assert_eq!(dec_of(&record["cumExecQty"]), dec!(0.01));
    assert_eq!(record["category"], "linear");
    assert!(matches!(
        WsMessage::parse(&order.to_string()).unwrap(),
        WsMessage::Order(_)
    ));

    let (execution, _) = recv_json_until(&mut ws, is_topic("execution"), WAIT).await;
    assert_private_envelope(&execution, true);
    let fill = &execution["data"][0];
    assert_has_fields(fill, EXECUTION_FIELDS);
    assert_eq!(fill["orderId"], order_id.as_str());
    assert_eq!(dec_of(&fill["execQty"]), dec!(0.01));
    assert_eq!(fill["execType"], "Trade");
    assert!(fill["extraFees"].is_array());
    let WsMessage::Execution(parsed) = WsMessage::parse(&execution.to_string()).unwrap() else {
        panic!("not an execution message");
    };
    assert_eq!(parsed.data[0].exec_qty, dec!(0.01));

    let (fast, _) = recv_json_until(&mut ws, is_topic("execution.fast"), WAIT).await;
    assert_private_envelope(&fast, false);
    let fast_fill = &fast["data"][0];
    assert_eq!(keys(fast_fill), key_set(FAST_EXECUTION_FIELDS));
    assert_eq!(fast_fill["execId"], fill["execId"]);
    assert_eq!(fast_fill["isMaker"], false);
    assert!(matches!(
        WsMessage::parse(&fast.to_string()).unwrap(),
        WsMessage::FastExecution(_)
    ));

    let (position, _) = recv_json_until(&mut ws, is_topic("position"), WAIT).await;
    assert_private_envelope(&position, true);
    let record = &position["data"][0];
    assert_has_fields(record, POSITION_FIELDS);
    assert!(
        record.get("avgPrice").is_none(),
        "the stream says entryPrice"
    );
    assert_eq!(record["symbol"], "BTCUSDT");
    assert_eq!(record["side"], "Buy");
    assert_eq!(dec_of(&record["size"]), dec!(0.01));
    assert_eq!(dec_of(&record["entryPrice"]), dec_of(&fill["execPrice"]));
    let WsMessage::Position(parsed) = WsMessage::parse(&position.to_string()).unwrap() else {
        panic!("not a position message");
    };
    assert_eq!(parsed.data[0].size, dec!(0.01));

    let (wallet, _) = recv_json_until(&mut ws, is_topic("wallet"), WAIT).await;
    assert_private_envelope(&wallet, true);
    let account = &wallet["data"][0];
    assert_has_fields(account, WALLET_FIELDS);
    assert_eq!(account["accountType"], "UNIFIED");
    let coin = &account["coin"][0];
    assert_has_fields(coin, WALLET_COIN_FIELDS);
    assert_eq!(coin["coin"], "USDT");
    let engine_wallet = emu.state().read(|e| e.wallet());
    assert_eq!(
        dec_of(&account["totalWalletBalance"]),
        engine_wallet.total_wallet_balance.unwrap()
    );
    assert!(matches!(
        WsMessage::parse(&wallet.to_string()).unwrap(),
        WsMessage::Wallet(_)
    ));

    // Message ids are unique.
    let ids: BTreeSet<&str> = [&order, &execution, &position, &wallet]
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
}

#[tokio::test]
async fn categorised_private_topics_carry_their_own_name() {
    let emu = start().await;
    let mut ws = private_authed(&emu).await;

    // The all-in-one and categorised forms do not mix in one request.
    let refused = subscribe(&mut ws, &["order", "position.linear"]).await;
    assert_eq!(refused["success"], false);
    let refused = subscribe(&mut ws, &["order.futures"]).await;
    assert_eq!(refused["success"], false);

    let ack = subscribe(
        &mut ws,
        &[
            "order.linear",
            "execution.fast.linear",
            "position.linear",
            "order.spot",
        ],
    )
    .await;
    assert_eq!(ack["success"], true, "{ack}");

    emu.state()
        .execute(|e, now| {
            e.create_order(
                now,
                &NewOrder::market("BTCUSDT", WireSide::Sell, dec!(0.01)).link_id("cat-1"),
            )
        })
        .unwrap();

    let (order, skipped) = recv_json_until(&mut ws, is_topic("order.linear"), WAIT).await;
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(order["data"][0]["orderLinkId"], "cat-1");
    assert!(matches!(
        WsMessage::parse(&order.to_string()).unwrap(),
        WsMessage::Order(_)
    ));
    let (fast, skipped) = recv_json_until(&mut ws, is_topic("execution.fast.linear"), WAIT).await;
    assert!(skipped.is_empty(), "{skipped:?}");
    // A taker fill keeps its orderLinkId on the fast stream.
    assert_eq!(fast["data"][0]["orderLinkId"], "cat-1");
    let (position, skipped) = recv_json_until(&mut ws, is_topic("position.linear"), WAIT).await;
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(position["data"][0]["side"], "Sell");

    // The spot topic stays silent (the emulator trades linear only): the next frame after
    // the position push is the pong.
    let pong = request(&mut ws, json!({"op": "ping", "req_id": "after"})).await;
    assert_eq!(pong["req_id"], "after");
}

/// A local book kept from the stream, as a client would.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct LocalBook {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
    update_id: Option<i64>,
    seq: Option<i64>,
}

impl LocalBook {
    pub(crate) fn apply(&mut self, message: &Value) {
        let WsMessage::Orderbook(parsed) = WsMessage::parse(&message.to_string()).unwrap() else {
            panic!("not an orderbook message: {message}");
        };
        let data = &parsed.data;
        if let Some(previous) = self.update_id {
            assert_eq!(data.update_id, previous + 1, "u must be contiguous");
        }
        if let (Some(previous), Some(seq)) = (self.seq, data.seq) {
            assert!(seq >= previous, "seq went backwards");
        }
        self.update_id = Some(data.update_id);
        self.seq = data.seq;
        if parsed.is_snapshot() {
            let bid_prices: Vec<Decimal> = data.bids.iter().map(|l| l.0).collect();
            let ask_prices: Vec<Decimal> = data.asks.iter().map(|l| l.0).collect();
            assert!(bid_prices.windows(2).all(|w| w[0] > w[1]), "bids descend");
            assert!(ask_prices.windows(2).all(|w| w[0] < w[1]), "asks ascend");
            self.bids = data.bids.iter().copied().collect();
            self.asks = data.asks.iter().copied().collect();
        } else {
            for (side, levels) in [(&mut self.bids, &data.bids), (&mut self.asks, &data.asks)] {
                for &(price, size) in levels {
                    if size.is_zero() {
                        assert!(
                            side.remove(&price).is_some(),
                            "deleted an absent level {price}"
                        );
                    } else {
                        side.insert(price, size);
                    }
                }
            }
        }
        if let (Some((best_bid, _)), Some((best_ask, _))) =
            (self.bids.last_key_value(), self.asks.first_key_value())
        {
            assert!(
                best_bid < best_ask,
                "crossed book: {best_bid} >= {best_ask}"
            );
        }
    }

    /// `u` of the last message applied.
    pub(crate) fn update_id(&self) -> Option<i64> {
        self.update_id
    }

    /// The best `n` bids, highest first.
    pub(crate) fn bids_best_first(&self, n: usize) -> Vec<(Decimal, Decimal)> {
        self.bids
            .iter()
            .rev()
            .take(n)
            .map(|(p, s)| (*p, *s))
            .collect()
    }

    /// The best `n` asks, lowest first.
    pub(crate) fn asks_best_first(&self, n: usize) -> Vec<(Decimal, Decimal)> {
        self.asks.iter().take(n).map(|(p, s)| (*p, *s)).collect()
    }

    fn assert_matches_engine(&self, emu: &Emulator, depth: usize) {
        let book = emu.state().read(|e| e.book("BTCUSDT", depth)).unwrap();
        let bids: BTreeMap<Decimal, Decimal> = book.bids.iter().map(|l| (l.price, l.qty)).collect();
        let asks: BTreeMap<Decimal, Decimal> = book.asks.iter().map(|l| (l.price, l.qty)).collect();
        assert_eq!(self.bids, bids);
        assert_eq!(self.asks, asks);
    }
}

/// One message for each of the depths 1, 50 and 200 of BTCUSDT, in whatever order they come;
/// a second message for a depth before the others have come fails the test.
async fn recv_books(ws: &mut Ws) -> BTreeMap<usize, Value> {
    let mut messages = BTreeMap::new();
    while messages.len() < 3 {
        let (message, _) = recv_json_until(
            ws,
            |v| {
                v["topic"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("orderbook."))
            },
            WAIT,
        )
        .await;
        let topic = message["topic"].as_str().unwrap();
        let depth: usize = topic.split('.').nth(1).unwrap().parse().unwrap();
        assert!(
            messages.insert(depth, message).is_none(),
            "two messages for depth {depth}"
        );
    }
    assert_eq!(messages.keys().copied().collect::<Vec<_>>(), [1, 50, 200]);
    messages
}

#[tokio::test]
async fn orderbook_snapshot_then_deltas_rebuild_the_engine_book() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    let ack = subscribe(
        &mut ws,
        &[
            "orderbook.50.BTCUSDT",
            "orderbook.1.BTCUSDT",
            "orderbook.200.BTCUSDT",
        ],
    )
    .await;
    assert_eq!(ack["success"], true, "{ack}");

    let mut books: BTreeMap<usize, LocalBook> = BTreeMap::new();
    for (depth, snapshot) in recv_books(&mut ws).await {
        assert_eq!(snapshot["type"], "snapshot");
        assert_eq!(
            keys(&snapshot),
            key_set(&["topic", "type", "ts", "data", "cts"])
        );
        assert_eq!(
            keys(&snapshot["data"]),
            key_set(&["s", "b", "a", "u", "seq"])
        );
        let book = books.entry(depth).or_default();
        book.apply(&snapshot);
        book.assert_matches_engine(&emu, depth);
    }

    let last = emu.state().read(|e| e.price("BTCUSDT")).unwrap();
    // Small moves (most levels survive), a move past the whole 50-level window, and back.
    let moves = [
        last + dec!(0.3),
        last + dec!(0.1),
        last - dec!(2),
        last + dec!(25),
        last - dec!(700),
        last,
    ];
    for price in moves {
        emu.state()
            .execute(|e, now| e.set_price(now, "BTCUSDT", price))
            .unwrap();
        for (depth, message) in recv_books(&mut ws).await {
            let expected = if depth == 1 { "snapshot" } else { "delta" };
            assert_eq!(message["type"], expected, "{message}");
            let book = books.get_mut(&depth).unwrap();
            book.apply(&message);
            book.assert_matches_engine(&emu, depth);
        }
    }
}

#[tokio::test]
async fn orderbook_delta_sends_only_changed_levels() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    subscribe(&mut ws, &["orderbook.50.BTCUSDT"]).await;
    let (snapshot, _) = recv_json_until(&mut ws, is_topic("orderbook.50.BTCUSDT"), WAIT).await;
    let levels = snapshot["data"]["b"].as_array().unwrap().len();
    assert_eq!(levels, 50);

    // One tick up: one new level enters each side's window and one leaves, and the level
    // sizes are notional-based, so a handful of levels change, far fewer than 100.
    let last = emu.state().read(|e| e.price("BTCUSDT")).unwrap();
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", last + dec!(0.1)))
        .unwrap();
    let (delta, _) = recv_json_until(&mut ws, is_topic("orderbook.50.BTCUSDT"), WAIT).await;
    assert_eq!(delta["type"], "delta");
    let bids = delta["data"]["b"].as_array().unwrap();
    let asks = delta["data"]["a"].as_array().unwrap();
    assert!(bids.len() + asks.len() < 100, "{delta}");
    assert!(
        bids.iter().chain(asks).any(|l| l[1] == "0"),
        "a level leaving the window is sent with size 0: {delta}"
    );
    assert_eq!(
        delta["data"]["u"].as_i64().unwrap(),
        snapshot["data"]["u"].as_i64().unwrap() + 1
    );
    assert!(delta["data"]["seq"].as_i64().unwrap() > snapshot["data"]["seq"].as_i64().unwrap());
}

#[tokio::test]
async fn tickers_snapshot_then_delta_with_only_changed_fields() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    subscribe(&mut ws, &["tickers.BTCUSDT"]).await;

    let (snapshot, _) = recv_json_until(&mut ws, is_topic("tickers.BTCUSDT"), WAIT).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(
        keys(&snapshot),
        key_set(&["topic", "type", "data", "cs", "ts"])
    );
    for field in [
        "symbol",
        "lastPrice",
        "markPrice",
        "bid1Price",
        "ask1Price",
        "fundingRate",
    ] {
        assert!(
            snapshot["data"].get(field).is_some(),
            "snapshot lacks {field}"
        );
    }
    let WsMessage::Ticker(parsed) = WsMessage::parse(&snapshot.to_string()).unwrap() else {
        panic!("not a ticker message");
    };
    let mut ticker: Ticker = parsed.data;

    let last = ticker.last_price.unwrap();
    let price = last + dec!(12.3);
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", price))
        .unwrap();
    let (delta, _) = recv_json_until(&mut ws, is_topic("tickers.BTCUSDT"), WAIT).await;
    assert_eq!(delta["type"], "delta");
    let data = &delta["data"];
    assert_eq!(data["symbol"], "BTCUSDT");
    assert_eq!(dec_of(&data["lastPrice"]), price);
    assert!(data.get("bid1Price").is_some());
    // Unchanged fields are left out.
    for unchanged in [
        "fundingRate",
        "prevPrice24h",
        "fundingIntervalHour",
        "lowPrice24h",
    ] {
        assert!(
            data.get(unchanged).is_none(),
            "{unchanged} did not change: {delta}"
        );
    }
    assert!(delta["cs"].as_i64().unwrap() > snapshot["cs"].as_i64().unwrap());

    let WsMessage::Ticker(parsed) = WsMessage::parse(&delta.to_string()).unwrap() else {
        panic!("not a ticker message");
    };
    ticker.merge(&parsed.data);
    let engine = emu.state().read(|e| e.ticker("BTCUSDT")).unwrap();
    assert_eq!(ticker, engine);
}

#[tokio::test]
async fn public_trades_follow_a_price_move() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    subscribe(&mut ws, &["publicTrade.BTCUSDT", "tickers.BTCUSDT"]).await;
    recv_json_until(&mut ws, is_topic("tickers.BTCUSDT"), WAIT).await;

    let last = emu.state().read(|e| e.price("BTCUSDT")).unwrap();
    let price = last - dec!(50);
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", price))
        .unwrap();
    let (trades, _) = recv_json_until(&mut ws, is_topic("publicTrade.BTCUSDT"), WAIT).await;
    assert_eq!(keys(&trades), key_set(&["topic", "type", "ts", "data"]));
    assert_eq!(trades["type"], "snapshot");
    let trade = &trades["data"][0];
    assert_eq!(
        keys(trade),
        key_set(&["T", "s", "S", "v", "p", "L", "i", "BT", "seq"])
    );
    assert_eq!(trade["s"], "BTCUSDT");
    assert_eq!(dec_of(&trade["p"]), price);
    assert_eq!(trade["S"], "Sell");
    assert_eq!(trade["L"], "MinusTick");
    assert_eq!(trade["BT"], false);
    assert!(trade["T"].is_i64() && trade["seq"].is_i64());

    // After unsubscribing, the next move brings a ticker delta and no trade before it.
    let reply = request(
        &mut ws,
        json!({"op": "unsubscribe", "args": ["publicTrade.BTCUSDT"]}),
    )
    .await;
    assert_eq!(reply["success"], true);
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", last))
        .unwrap();
    let (_, skipped) = recv_json_until(&mut ws, is_topic("tickers.BTCUSDT"), WAIT).await;
    assert!(
        skipped.iter().all(|v| v["topic"] != "publicTrade.BTCUSDT"),
        "{skipped:?}"
    );
}

#[tokio::test]
async fn dropping_connections_ends_every_socket() {
    let emu = start().await;
    let mut public = ws_connect(&emu.public_ws_url()).await;
    let mut private = private_authed(&emu).await;
    // Both sessions are live before the drop.
    request(&mut public, json!({"op": "ping"})).await;
    request(&mut private, json!({"op": "ping"})).await;

    let reply = Client::new(&emu).control("/ws/drop", json!({})).await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    assert!(connection_ends(&mut public).await);
    assert!(connection_ends(&mut private).await);

    // New connections are accepted right away.
    let mut again = ws_connect(&emu.public_ws_url()).await;
    request(&mut again, json!({"op": "ping"})).await;
}

#[tokio::test]
async fn refused_upgrades_get_503_until_the_fault_ends() {
    let emu = start().await;
    let client = Client::new(&emu);
    let reply = client.control("/ws/refuse", json!({"seconds": 5})).await;
    assert!(reply.status.is_success(), "{:?}", reply.body);

    for url in [emu.public_ws_url(), emu.private_ws_url()] {
        let result = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url.as_str()))
            .await
            .expect("connect timed out");
        match result {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
            other => panic!("expected HTTP 503, got {other:?}"),
        }
    }

    let reply = client.control("/reset", json!({})).await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    request(&mut ws, json!({"op": "ping"})).await;
}

#[tokio::test]
async fn a_session_that_falls_behind_is_closed() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    request(&mut ws, json!({"op": "ping"})).await;

    // The test runtime has one thread, so the session cannot run while this loop does: every
    // price print (a trade and a market event) piles up until the broadcast buffer overflows.
    let last = emu.state().read(|e| e.price("BTCUSDT")).unwrap();
    for i in 0..40_000u32 {
        let price = if i % 2 == 0 { last + dec!(0.1) } else { last };
        emu.state()
            .execute(|e, now| e.set_price(now, "BTCUSDT", price))
            .unwrap();
    }

    let close = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("the lagging session was not closed");
    let frame = close.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 1013);
}

#[tokio::test]
async fn a_book_snapshot_carries_the_exchanges_running_update_id_and_sequence() {
    let emu = start().await;
    for price in ["95000.5", "95001.0", "95001.5"] {
        emu.state()
            .execute(|e, now| e.set_price(now, "BTCUSDT", price.parse().unwrap()))
            .unwrap();
    }
    let (engine_u, engine_seq) = emu.state().read(|e| e.sequence("BTCUSDT")).unwrap();
    assert!(engine_u > 1, "three prints moved the book");
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    subscribe(&mut ws, &["orderbook.50.BTCUSDT"]).await;
    let (snapshot, _) = recv_json_until(&mut ws, is_topic("orderbook.50.BTCUSDT"), WAIT).await;
    assert_eq!(snapshot["type"], "snapshot");
    // Not 1: on Bybit a u of 1 means the service restarted.
    assert_eq!(snapshot["data"]["u"].as_u64(), Some(engine_u));
    assert_eq!(snapshot["data"]["seq"].as_u64(), Some(engine_seq));
}

#[tokio::test]
async fn oversized_subscriptions_are_refused_and_duplicates_collapse() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    let many: Vec<&str> = std::iter::repeat_n("orderbook.1000.BTCUSDT", 2_000).collect();
    let reply = subscribe(&mut ws, &many).await;
    assert_eq!(reply["success"], false, "{reply}");
    // The same topic twice in one request gives one snapshot.
    let reply = subscribe(&mut ws, &["orderbook.50.BTCUSDT", "orderbook.50.BTCUSDT"]).await;
    assert_eq!(reply["success"], true);
    let (first, _) = recv_json_until(&mut ws, is_topic("orderbook.50.BTCUSDT"), WAIT).await;
    assert_eq!(first["type"], "snapshot");
    send(&mut ws, json!({"op": "ping", "req_id": "after"})).await;
    let (next, _) = recv_json_until(
        &mut ws,
        |v| v.get("topic").is_some() || v["req_id"] == "after",
        WAIT,
    )
    .await;
    assert_eq!(next["req_id"], "after", "a second snapshot arrived: {next}");
}

/// What a private-stream client knows after a session: the latest record per order, every
/// fill, the latest position per symbol.
#[derive(Default)]
struct ClientView {
    orders: BTreeMap<String, Value>,
    fills: BTreeSet<String>,
    positions: BTreeMap<String, Value>,
}

impl ClientView {
    fn absorb(&mut self, frame: &Value) {
        let Some(data) = frame["data"].as_array() else {
            return;
        };
        for record in data {
            match frame["topic"].as_str() {
                Some("order") => {
                    self.orders.insert(
                        record["orderId"].as_str().unwrap().to_owned(),
                        record.clone(),
                    );
                }
                Some("execution") => {
                    self.fills
                        .insert(record["execId"].as_str().unwrap().to_owned());
                }
                Some("position") => {
                    self.positions.insert(
                        record["symbol"].as_str().unwrap().to_owned(),
                        record.clone(),
                    );
                }
                _ => {}
            }
        }
    }

    /// Whether this view equals the exchange's truth (`/emulator/state`).
    fn agrees_with(&self, truth: &Value) -> Result<(), String> {
        let all = truth["openOrders"]
            .as_array()
            .unwrap()
            .iter()
            .chain(truth["closedOrders"].as_array().unwrap());
        for order in all {
            let id = order["orderId"].as_str().unwrap();
            let seen = self
                .orders
                .get(id)
                .ok_or(format!("order {id} never pushed"))?;
            for field in ["orderStatus", "cumExecQty", "leavesQty", "qty", "price"] {
                if seen[field] != order[field] {
                    return Err(format!(
                        "order {id} {field}: pushed {} vs truth {}",
                        seen[field], order[field]
                    ));
                }
            }
        }
        let truth_fills: BTreeSet<String> = truth["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["execId"].as_str().unwrap().to_owned())
            .collect();
        if truth_fills != self.fills {
            return Err(format!(
                "fills differ: {} pushed vs {} true",
                self.fills.len(),
                truth_fills.len()
            ));
        }
        for position in truth["positions"].as_array().unwrap() {
            let symbol = position["symbol"].as_str().unwrap();
            let seen = self
                .positions
                .get(symbol)
                .ok_or(format!("position {symbol} never pushed"))?;
            if seen["size"] != position["size"] || seen["side"] != position["side"] {
                return Err(format!(
                    "position {symbol}: pushed {} {} vs truth {} {}",
                    seen["side"], seen["size"], position["side"], position["size"]
                ));
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_private_stream_client_ends_up_with_the_exchanges_truth() {
    let emu = start().await;
    let c = Client::new(&emu);
    let mut ws = private_authed(&emu).await;
    let ack = subscribe(&mut ws, &["order", "execution", "position"]).await;
    assert_eq!(ack["success"], true);
    // A busy session over REST: entries, resting orders, a partial fill, cancels, price
    // moves through resting orders and a conditional that triggers, while a random walk runs.
    c.control(
        "/random-walk",
        json!({"symbol": "SOLUSDT", "intervalMs": 5, "maxStepTicks": 3}),
    )
    .await;
    c.control(
        "/book",
        json!({"symbol": "XRPUSDT", "levels": 50, "levelNotional": "21"}),
    )
    .await;
    let orders = [
        json!({"symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": "0.3"}),
        json!({"symbol": "XRPUSDT", "side": "Buy", "orderType": "Limit", "qty": "40", "price": "2.0"}),
        json!({"symbol": "XRPUSDT", "side": "Buy", "orderType": "Market", "qty": "25"}),
        json!({"symbol": "ETHUSDT", "side": "Sell", "orderType": "Limit", "qty": "0.1", "price": "3550.00", "reduceOnly": true}),
        json!({"symbol": "SOLUSDT", "side": "Buy", "orderType": "Limit", "qty": "1", "price": "150.000"}),
        json!({"symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": "0.2", "triggerPrice": "3540.00", "triggerDirection": 1}),
        json!({"symbol": "SOLUSDT", "side": "Sell", "orderType": "Market", "qty": "2"}),
    ];
    for (i, mut order) in orders.into_iter().enumerate() {
        order["category"] = json!("linear");
        order["orderLinkId"] = json!(format!("truth-{i}"));
        assert_eq!(
            c.post("/v5/order/create", &order).await.ret_code(),
            0,
            "{order}"
        );
    }
    c.control("/price", json!({"symbol": "XRPUSDT", "price": "2.0"}))
        .await;
    c.control("/price", json!({"symbol": "ETHUSDT", "price": "3560.00"}))
        .await;
    c.post(
        "/v5/order/cancel",
        &json!({"category": "linear", "symbol": "SOLUSDT", "orderLinkId": "truth-4"}),
    )
    .await;
    c.control("/price", json!({"symbol": "XRPUSDT", "price": "1.95"}))
        .await;

    let mut view = ClientView::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let truth = c.state().await;
        match view.agrees_with(&truth) {
            Ok(()) => break,
            Err(why) => assert!(
                tokio::time::Instant::now() < deadline,
                "the stream never caught up: {why}"
            ),
        }
        // Drain what has arrived, waiting briefly for more.
        while let Ok(frame) =
            tokio::time::timeout(Duration::from_millis(50), recv_json(&mut ws)).await
        {
            view.absorb(&frame);
        }
    }
    assert!(
        view.fills.len() >= 5,
        "the session should have traded: {} fills",
        view.fills.len()
    );
}
