//! Operation replies in both shapes, and the classification of incoming frames.

use bybit_types::rest::order::{BatchResult, OrderAck};
use bybit_types::ws::op::{OpReply, OpRequest};
use bybit_types::ws::WsMessage;
use bybit_types::Error;

use crate::round_trip;

/// Parses a reply and checks op, success and pong in one place.
fn check_reply(text: &str, op: &str, success: bool, pong: bool) -> OpReply {
    let reply = OpReply::parse(text).unwrap();
    assert_eq!(reply.op(), op, "{text}");
    assert_eq!(reply.is_success(), success, "{text}");
    assert_eq!(reply.is_pong(), pong, "{text}");
    round_trip(&reply);
    reply
}

#[test]
fn auth_replies_in_both_shapes() {
    let snake = check_reply(
        r#"{"success":true,"ret_msg":"","op":"auth","conn_id":"cejreaspqfh3sjdnldmg-p"}"#,
        "auth",
        true,
        false,
    );
    assert!(snake.is_auth());
    assert_eq!(snake.conn_id(), Some("cejreaspqfh3sjdnldmg-p"));
    assert_eq!(snake.ret_code(), None);

    let failed = check_reply(
        r#"{"success": false, "ret_msg": "Params Error", "op": "auth", "conn_id": "x"}"#,
        "auth",
        false,
        false,
    );
    assert_eq!(failed.message(), "Params Error");

    let camel = check_reply(
        r#"{"retCode":0,"retMsg":"OK","op":"auth","connId":"cnt5leec0hvan15eukcg-2t"}"#,
        "auth",
        true,
        false,
    );
    assert!(matches!(camel, OpReply::Trade(_)));
    assert_eq!(camel.conn_id(), Some("cnt5leec0hvan15eukcg-2t"));

    let camel_failed = check_reply(
        r#"{"retCode":10004,"retMsg":"invalid signature","op":"auth","connId":"c"}"#,
        "auth",
        false,
        false,
    );
    assert_eq!(camel_failed.ret_code(), Some(10004));

    // An auth reply that lost its flag is not taken for a success.
    check_reply(r#"{"op":"auth","conn_id":"c"}"#, "auth", false, false);
}

#[test]
fn pongs_in_every_shape() {
    let public = check_reply(
        r#"{"success":true,"ret_msg":"pong","conn_id":"465772b1","req_id":"","op":"ping"}"#,
        "ping",
        true,
        true,
    );
    assert_eq!(public.req_id(), None, "an empty req_id is no id");
    assert_eq!(public.pong_time(), None);

    let private = check_reply(
        r#"{"req_id":"test","op":"pong","args":["1675418560633"],"conn_id":"cfcb4ocsvfriu23r3er0-1b"}"#,
        "pong",
        true,
        true,
    );
    assert_eq!(private.req_id(), Some("test"));
    assert_eq!(private.pong_time(), Some(1_675_418_560_633));

    let trade = check_reply(
        r#"{"retCode":0,"retMsg":"OK","op":"pong","data":["1711002002529"],"connId":"c"}"#,
        "pong",
        true,
        true,
    );
    assert_eq!(trade.pong_time(), Some(1_711_002_002_529));

    let option = check_reply(
        r#"{"args":["1672916271846"],"op":"pong"}"#,
        "pong",
        true,
        true,
    );
    assert_eq!(option.pong_time(), Some(1_672_916_271_846));
}

#[test]
fn subscribe_replies() {
    check_reply(
        r#"{"success":true,"ret_msg":"","conn_id":"3cd84cb1","req_id":"","op":"subscribe"}"#,
        "subscribe",
        true,
        false,
    );
    let refused = check_reply(
        r#"{"success":false,"ret_msg":"Invalid symbol :[orderbook.1.NOPE]","conn_id":"c","op":"subscribe"}"#,
        "subscribe",
        false,
        false,
    );
    assert!(refused.message().starts_with("Invalid symbol"));
    // Option/spread replies have no op at all.
    let option = check_reply(
        r#"{"success":true,"conn_id":"c","data":{"failTopics":[],"successTopics":["orderbook.100.BTC-6JAN23-18000-C"]},"type":"COMMAND_RESP"}"#,
        "",
        true,
        false,
    );
    assert!(matches!(
        WsMessage::parse(&round_trip(&option)).unwrap(),
        WsMessage::Op(_)
    ));
}

#[test]
fn trade_stream_order_replies_decode_their_data() {
    let reply = check_reply(
        r#"{"reqId":"test-005","retCode":0,"retMsg":"OK","op":"order.create",
            "data":{"orderId":"a4c1718e","orderLinkId":""},"retExtInfo":{},
            "header":{"X-Bapi-Limit":"10","X-Bapi-Limit-Status":"9","X-Bapi-Limit-Reset-Timestamp":"1711001595208","Traceid":"38b7","Timenow":"1711001595209"},
            "connId":"c"}"#,
        "order.create",
        true,
        false,
    );
    let OpReply::Trade(trade) = &reply else {
        panic!("camel-case reply read as snake case")
    };
    assert_eq!(reply.req_id(), Some("test-005"));
    let header = trade.header.as_ref().unwrap();
    assert_eq!((header.limit, header.limit_status), (Some(10), Some(9)));
    assert_eq!(header.time_now, Some(1_711_001_595_209));
    let ack: OrderAck = trade.decode("order.create").unwrap();
    assert_eq!(ack.order_id, "a4c1718e");

    // An error reply has no usable data: decoding it as the success type is a typed error.
    let refused = check_reply(
        r#"{"reqId":"r","retCode":10001,"retMsg":"params error","op":"order.create","data":{},"connId":"c"}"#,
        "order.create",
        false,
        false,
    );
    let OpReply::Trade(refused) = refused else {
        panic!("camel-case reply read as snake case")
    };
    assert!(matches!(
        refused.decode::<OrderAck>("order.create"),
        Err(Error::Decode { .. })
    ));

    let Some(text) = testkit::fixture("ws_trade_order_create_batch_reply.json") else {
        return;
    };
    let OpReply::Trade(batch) = OpReply::parse(&text).unwrap() else {
        panic!("camel-case reply read as snake case")
    };
    // Top-level success, every item refused: only retExtInfo tells.
    assert_eq!(batch.ret_code, 0);
    let result: BatchResult = batch.decode("order.create-batch").unwrap();
    let ext = batch.ret_ext_info.unwrap_or_default();
    let codes: Vec<_> = result
        .with_results(&ext)
        .map(|(item, r)| (item.order_id.clone(), r.map(|r| r.code)))
        .collect();
    assert_eq!(codes, vec![(String::new(), Some(10001)); 3]);
}

#[test]
fn frames_are_classified_by_topic_and_op() {
    let kind = |text: &str| match WsMessage::parse(text).unwrap() {
        WsMessage::Op(_) => "op",
        WsMessage::Ticker(_) => "ticker",
        WsMessage::Orderbook(_) => "orderbook",
        WsMessage::Trade(_) => "trade",
        WsMessage::Order(_) => "order",
        WsMessage::Execution(_) => "execution",
        WsMessage::FastExecution(_) => "fast",
        WsMessage::Position(_) => "position",
        WsMessage::Wallet(_) => "wallet",
        WsMessage::Other(_) => "other",
        _ => "a kind this test does not know",
    };
    let private = |topic: &str| format!(r#"{{"topic":"{topic}","creationTime":1,"data":[]}}"#);
    assert_eq!(kind(&private("order")), "order");
    assert_eq!(kind(&private("order.linear")), "order");
    assert_eq!(kind(&private("execution")), "execution");
    assert_eq!(kind(&private("execution.linear")), "execution");
    assert_eq!(kind(&private("execution.fast")), "fast");
    assert_eq!(kind(&private("execution.fast.linear")), "fast");
    assert_eq!(kind(&private("position.linear")), "position");
    assert_eq!(kind(&private("wallet")), "wallet");
    assert_eq!(kind(&private("dcp.future")), "other");
    assert_eq!(kind(&private("orders")), "other", "a prefix is not a topic");
    assert_eq!(
        kind(
            r#"{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1,"seq":2}}"#
        ),
        "orderbook"
    );
    assert_eq!(kind(r#"{"op":"pong","args":["1"]}"#), "op");
    assert_eq!(kind(r#"{"retCode":0,"retMsg":"OK","op":"auth"}"#), "op");
    assert_eq!(kind(r#"{"hello":"world"}"#), "other");
    assert_eq!(
        kind("[]"),
        "other",
        "valid JSON that is not a message is kept, not refused"
    );

    let other = WsMessage::parse(&private("dcp.future")).unwrap();
    assert_eq!(other.topic(), Some("dcp.future"));

    // Malformed text, or a known topic whose payload does not fit, is a decode error.
    for bad in [
        "",
        "{",
        r#"{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["x","1"]],"a":[],"u":1}}"#,
        r#"{"topic":"order","data":[{"orderId":"1"}]}"#,
    ] {
        assert!(
            matches!(WsMessage::parse(bad), Err(Error::Decode { .. })),
            "{bad:?} should not decode"
        );
    }
    assert!(matches!(OpReply::parse("{"), Err(Error::Decode { .. })));
}

#[test]
fn requests_have_bybits_shape() {
    assert_eq!(
        serde_json::to_string(&OpRequest::ping(None)).unwrap(),
        r#"{"op":"ping"}"#
    );
    assert_eq!(
        round_trip(&OpRequest::auth("key", 1_662_350_400_000, "sig")),
        r#"{"op":"auth","args":["key",1662350400000,"sig"]}"#
    );
    assert_eq!(
        round_trip(&OpRequest::subscribe(
            Some("s1".to_owned()),
            ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"]
        )),
        r#"{"req_id":"s1","op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT"]}"#
    );
}
