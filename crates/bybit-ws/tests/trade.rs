//! The trade-stream client against a scripted peer on loopback: answers found by their
//! `reqId`, the request frame's header, and every way an answer can fail to come (the socket
//! dies, the deadline passes, the stream is not ready) told apart — an unknown outcome is
//! never a failure, and "not sent" only when nothing was written
//! (docs/v5/websocket/trade/guideline.mdx).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bybit_sign::Credentials;
use bybit_ws::{PrivateAuth, TradeError, TradeOp, TradeStream, WsError, WsEvent};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{fast, until, wait_for, KEY, SECRET};

/// What the peer does with the n-th order request it receives (counted from 0 across
/// connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    /// Answers `retCode` 0 at once.
    Answer,
    /// Keeps it and answers it right after the next request's answer.
    Defer,
    /// Never answers.
    Silent,
    /// Closes the socket without answering (the order may have landed).
    Drop,
    /// Answers 10019 "open a new connection".
    Restart,
}

struct Peer {
    url: String,
    /// Every order request received, in order.
    requests: Arc<Mutex<Vec<Value>>>,
    connections: Arc<AtomicUsize>,
    pings: Arc<AtomicUsize>,
}

fn answer(request: &Value, ret_code: i64) -> String {
    let arg = &request["args"][0];
    json!({
        "reqId": request["reqId"],
        "retCode": ret_code,
        "retMsg": if ret_code == 0 { "OK" } else { "trade service is restarting" },
        "op": request["op"],
        "data": {"orderId": format!("id-{}", request["reqId"].as_str().unwrap_or_default()),
                 "orderLinkId": arg["orderLinkId"]},
        "retExtInfo": {},
        "header": {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9",
                   "X-Bapi-Limit-Reset-Timestamp": "1711001595208", "Traceid": "t",
                   "Timenow": "1711001595209"},
        "connId": "peer"
    })
    .to_string()
}

/// Starts a peer that authenticates `auth_code` (0: accepted) and follows `script`.
async fn peer(auth_code: i64, script: impl Fn(usize) -> Script + Send + Sync + 'static) -> Peer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v5/trade", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let script = Arc::new(script);
    let pings = Arc::new(AtomicUsize::new(0));
    let (seen, count, pinged) = (requests.clone(), connections.clone(), pings.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let (seen, script, pinged) = (seen.clone(), script.clone(), pinged.clone());
            tokio::spawn(async move {
                let Ok(mut socket) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let mut deferred: Option<Value> = None;
                while let Some(Ok(frame)) = socket.next().await {
                    let Message::Text(text) = frame else { continue };
                    let request: Value = serde_json::from_str(text.as_str()).unwrap();
                    let reply = match request["op"].as_str().unwrap_or_default() {
                        "auth" => json!({"retCode": auth_code, "retMsg": if auth_code == 0 { "OK" } else { "Invalid sign" },
                                         "op": "auth", "connId": "peer"})
                        .to_string(),
                        "ping" => {
                            pinged.fetch_add(1, Ordering::SeqCst);
                            json!({"retCode": 0, "retMsg": "OK", "op": "pong",
                                         "data": ["1711002002529"], "connId": "peer"})
                            .to_string()
                        }
                        _ => {
                            let n = {
                                let mut seen = seen.lock().unwrap();
                                seen.push(request.clone());
                                seen.len() - 1
                            };
                            match script(n) {
                                Script::Answer => answer(&request, 0),
                                Script::Restart => answer(&request, 10019),
                                Script::Defer => {
                                    deferred = Some(request);
                                    continue;
                                }
                                Script::Silent => continue,
                                Script::Drop => return,
                            }
                        }
                    };
                    if socket.send(Message::Text(reply.into())).await.is_err() {
                        return;
                    }
                    if let Some(late) = deferred.take() {
                        if socket
                            .send(Message::Text(answer(&late, 0).into()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    Peer {
        url,
        requests,
        connections,
        pings,
    }
}

fn auth() -> PrivateAuth {
    PrivateAuth::new(Credentials::new(KEY, SECRET).unwrap())
}

fn create(link: &str) -> Value {
    json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
           "qty": "0.001", "price": "50000", "orderLinkId": link})
}

const DEADLINE: Duration = Duration::from_secs(5);

async fn ready(peer: &Peer) -> (TradeStream, bybit_ws::EventReceiver) {
    let (stream, mut events) = TradeStream::connect(fast(peer.url.clone()), auth()).unwrap();
    wait_for(&mut events, "authenticated", |e| {
        matches!(e, WsEvent::Authenticated)
    })
    .await;
    assert!(stream.is_ready());
    (stream, events)
}

/// Two requests in flight are answered out of order: each caller gets the reply that echoes
/// its own `reqId`. The frame carries the REST headers as `header` (REFERENCE.md §11).
#[tokio::test]
async fn answers_are_matched_by_req_id_and_the_frame_carries_the_header() {
    let peer = peer(0, |n| {
        if n == 0 {
            Script::Defer
        } else {
            Script::Answer
        }
    })
    .await;
    let (stream, _events) = ready(&peer).await;
    let (first, second) = tokio::join!(
        stream.send(TradeOp::Create, create("link-a"), DEADLINE),
        stream.send(TradeOp::Create, create("link-b"), DEADLINE)
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.data["orderLinkId"], "link-a");
    assert_eq!(second.data["orderLinkId"], "link-b");
    assert_eq!(first.header.unwrap().limit_status, Some(9));
    let requests = peer.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let ids: Vec<&str> = requests
        .iter()
        .map(|r| r["reqId"].as_str().unwrap())
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|id| id.len() <= 36), "{ids:?}");
    let header = &requests[0]["header"];
    assert_eq!(header["X-BAPI-RECV-WINDOW"], "5000");
    let sent: i64 = header["X-BAPI-TIMESTAMP"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    assert!((now - sent).abs() < 5_000, "timestamp {sent} vs now {now}");
    assert_eq!(requests[0]["op"], "order.create");
    assert_eq!(requests[0]["args"][0]["orderLinkId"], "link-a");
    stream.close().await;
}

/// The socket dies with a create in flight: the caller learns the outcome is unknown (the
/// order may have landed), never a failure; until the stream is back a request is "not sent"
/// (nothing written, safe to send another way); then requests go over the stream again.
#[tokio::test]
async fn a_socket_lost_in_flight_is_an_unknown_outcome_then_the_stream_comes_back() {
    let peer = peer(0, |n| if n == 0 { Script::Drop } else { Script::Answer }).await;
    let (stream, mut events) = ready(&peer).await;
    let lost = stream
        .send(TradeOp::Create, create("link-a"), DEADLINE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &lost,
            TradeError::OutcomeUnknown {
                op: "order.create",
                ..
            }
        ),
        "{lost:?}"
    );
    assert!(lost.may_have_landed());
    wait_for(&mut events, "the reconnect's auth", |e| {
        matches!(e, WsEvent::Authenticated)
    })
    .await;
    let answered = stream
        .send(TradeOp::Create, create("link-b"), DEADLINE)
        .await
        .unwrap();
    assert_eq!(answered.ret_code, 0);
    assert_eq!(peer.connections.load(Ordering::SeqCst), 2);
    assert_eq!(stream.health().reconnects, 1);
    stream.close().await;
}

/// A request unanswered by its deadline is an unknown outcome; its late answer (if any) is
/// dropped, and the next request is answered by its own reply.
#[tokio::test]
async fn a_request_past_its_deadline_is_an_unknown_outcome() {
    let peer = peer(0, |n| {
        if n == 0 {
            Script::Silent
        } else {
            Script::Answer
        }
    })
    .await;
    let (stream, _events) = ready(&peer).await;
    let silent = stream
        .send(
            TradeOp::Cancel,
            create("link-a"),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&silent, TradeError::OutcomeUnknown { op: "order.cancel", reason } if reason.contains("deadline")),
        "{silent:?}"
    );
    let next = stream
        .send(TradeOp::Create, create("link-b"), DEADLINE)
        .await
        .unwrap();
    assert_eq!(next.data["orderLinkId"], "link-b");
    assert!(
        stream.is_ready(),
        "a silent request does not end the connection"
    );
    stream.close().await;
}

/// Bybit's 10019 ("the trade service is restarting: open a new connection", docs/v5/error.mdx
/// WS OE) reaches the caller as Bybit's answer, and the stream connects anew.
#[tokio::test]
async fn a_restarting_service_is_answered_and_the_stream_reconnects() {
    let peer = peer(0, |n| {
        if n == 0 {
            Script::Restart
        } else {
            Script::Answer
        }
    })
    .await;
    let (stream, mut events) = ready(&peer).await;
    let restarting = stream
        .send(TradeOp::Create, create("link-a"), DEADLINE)
        .await
        .unwrap();
    assert_eq!(restarting.ret_code, 10019);
    wait_for(&mut events, "a new connection", |e| {
        matches!(e, WsEvent::Connected { reconnects: 1 })
    })
    .await;
    wait_for(&mut events, "its auth", |e| {
        matches!(e, WsEvent::Authenticated)
    })
    .await;
    let answered = stream
        .send(TradeOp::Create, create("link-b"), DEADLINE)
        .await
        .unwrap();
    assert_eq!(answered.ret_code, 0);
    stream.close().await;
}

/// Before the stream is authenticated nothing is written; a refused signature (10004) is
/// final: the stream closes and says why, and later requests are "not sent".
#[tokio::test]
async fn nothing_is_sent_before_auth_and_a_bad_signature_closes_the_stream() {
    let peer = peer(10004, |_| Script::Answer).await;
    let (stream, mut events) = TradeStream::connect(fast(peer.url.clone()), auth()).unwrap();
    let (closed, _) = wait_for(&mut events, "closed", |e| {
        matches!(e, WsEvent::Closed { .. })
    })
    .await;
    assert!(
        matches!(
            &closed,
            WsEvent::Closed {
                error: Some(WsError::Auth {
                    kind: bybit_ws::AuthFailure::BadSignature,
                    ..
                })
            }
        ),
        "{closed:?}"
    );
    assert!(!stream.is_ready());
    let refused = stream
        .send(TradeOp::Create, create("link-a"), DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(refused, TradeError::NotSent { .. }), "{refused:?}");
    assert!(!refused.may_have_landed());
    assert!(peer.requests.lock().unwrap().is_empty());
    let bad = stream
        .send(TradeOp::Create, json!(["not", "an", "object"]), DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(bad, TradeError::InvalidArgument(_)), "{bad:?}");
    // JSON cannot have non-string keys: refused before anything is sent.
    let unwritable: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    let bad = stream
        .send(TradeOp::Create, &unwritable, DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(bad, TradeError::InvalidArgument(_)), "{bad:?}");
}

/// A typed request (as `exec-live` hands over the REST client's wire struct) is written as
/// the one argument, field for field: the same JSON as the REST body.
#[tokio::test]
async fn a_typed_argument_is_sent_as_its_json() {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Create<'a> {
        category: &'a str,
        symbol: &'a str,
        side: &'a str,
        order_type: &'a str,
        qty: rust_decimal::Decimal,
        price: &'a str,
        order_link_id: &'a str,
    }
    let peer = peer(0, |_| Script::Answer).await;
    let (stream, _events) = ready(&peer).await;
    let typed = Create {
        category: "linear",
        symbol: "BTCUSDT",
        side: "Buy",
        order_type: "Limit",
        qty: rust_decimal::Decimal::new(1, 3),
        price: "50000",
        order_link_id: "link-typed",
    };
    let reply = stream
        .send(TradeOp::Create, &typed, DEADLINE)
        .await
        .unwrap();
    assert_eq!(reply.data["orderLinkId"], "link-typed");
    let requests = peer.requests.lock().unwrap().clone();
    assert_eq!(requests[0]["args"], json!([create("link-typed")]));
    stream.close().await;
}

/// Pings are answered in the trade stream's shape (camel case, `op: "pong"`,
/// ws_trade_pong.json): the connection outlives several ping intervals and pong timeouts.
#[tokio::test]
async fn pongs_keep_the_connection() {
    let peer = peer(0, |_| Script::Answer).await;
    let (stream, _events) = ready(&peer).await;
    // fast(): a ping every 300 ms, answered within 700 ms.
    until("five pings", || peer.pings.load(Ordering::SeqCst) >= 5).await;
    stream
        .send(TradeOp::Create, create("link-a"), DEADLINE)
        .await
        .unwrap();
    assert_eq!(peer.connections.load(Ordering::SeqCst), 1);
    assert_eq!(stream.health().reconnects, 0);
    stream.close().await;
}

/// An emulator with BTCUSDT at 50,000 and a trade stream authenticated on it.
async fn on_the_emulator() -> (bybit_emulator::Emulator, TradeStream) {
    let emu = crate::support::start_with(|c| {
        c.engine = c
            .engine
            .clone()
            .with_price("BTCUSDT", rust_decimal_macros::dec!(50000));
    })
    .await;
    let (stream, mut events) = TradeStream::connect(fast(emu.trade_ws_url()), auth()).unwrap();
    wait_for(&mut events, "authenticated", |e| {
        matches!(e, WsEvent::Authenticated)
    })
    .await;
    (emu, stream)
}

/// Every operation and batch form against the emulator's `/v5/trade`: the answers are Bybit's
/// (the REST result as `data`, per-item codes in `retExtInfo` for batches), and the orders are
/// what the exchange then holds.
#[tokio::test]
async fn every_op_and_batch_form_on_the_emulator() {
    let (emu, stream) = on_the_emulator().await;
    let order = |link: &str, price: &str| {
        json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
               "qty": "0.001", "price": price, "timeInForce": "GTC", "orderLinkId": link})
    };
    let ok = |reply: &bybit_types::ws::op::TradeReply| {
        assert_eq!(reply.ret_code, 0, "{reply:?}");
        assert!(reply.req_id.is_some(), "the reqId is echoed: {reply:?}");
        assert!(
            reply.header.as_ref().and_then(|h| h.limit).is_some(),
            "{reply:?}"
        );
    };
    let created = stream
        .send(TradeOp::Create, order("ws-one", "49000"), DEADLINE)
        .await
        .unwrap();
    ok(&created);
    let ack: bybit_types::rest::order::OrderAck = created.decode("order.create").unwrap();
    assert_eq!(ack.order_link_id, "ws-one");
    assert!(!ack.order_id.is_empty());
    let amended = stream
        .send(
            TradeOp::Amend,
            json!({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "ws-one",
                   "price": "48900"}),
            DEADLINE,
        )
        .await
        .unwrap();
    ok(&amended);
    let cancelled = stream
        .send(
            TradeOp::Cancel,
            json!({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "ws-one"}),
            DEADLINE,
        )
        .await
        .unwrap();
    ok(&cancelled);
    // Cancelled once: a second cancel is Bybit's refusal (110001), an answer, not a failure.
    let again = stream
        .send(
            TradeOp::Cancel,
            json!({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "ws-one"}),
            DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!(again.ret_code, 110_001, "{again:?}");

    let batch = |items: Vec<serde_json::Value>| json!({"category": "linear", "request": items});
    let created = stream
        .send(
            TradeOp::CreateBatch,
            batch(vec![order("ws-b1", "49000"), order("ws-b2", "48000")]),
            DEADLINE,
        )
        .await
        .unwrap();
    ok(&created);
    let list = created.data["list"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{created:?}");
    let codes: Vec<i64> = created
        .ret_ext_info
        .as_ref()
        .unwrap()
        .list
        .iter()
        .map(|i| i.code)
        .collect();
    assert_eq!(codes, [0, 0]);
    let amended = stream
        .send(
            TradeOp::AmendBatch,
            batch(vec![
                json!({"symbol": "BTCUSDT", "orderLinkId": "ws-b1", "qty": "0.002"}),
                json!({"symbol": "BTCUSDT", "orderLinkId": "ws-missing", "qty": "0.002"}),
            ]),
            DEADLINE,
        )
        .await
        .unwrap();
    ok(&amended);
    let codes: Vec<i64> = amended
        .ret_ext_info
        .as_ref()
        .unwrap()
        .list
        .iter()
        .map(|i| i.code)
        .collect();
    assert_eq!(codes[0], 0, "{amended:?}");
    assert_ne!(
        codes[1], 0,
        "an unknown order is refused item by item: {amended:?}"
    );
    let cancelled = stream
        .send(
            TradeOp::CancelBatch,
            batch(vec![
                json!({"symbol": "BTCUSDT", "orderLinkId": "ws-b1"}),
                json!({"symbol": "BTCUSDT", "orderLinkId": "ws-b2"}),
            ]),
            DEADLINE,
        )
        .await
        .unwrap();
    ok(&cancelled);
    let open = emu.state().read(|e| {
        e.open_orders(&sim_engine::OrderQuery {
            symbol: Some("BTCUSDT".into()),
            ..sim_engine::OrderQuery::default()
        })
    });
    assert!(open.is_empty(), "everything placed was cancelled: {open:?}");
    stream.close().await;
}

/// An answer longer than the stream asks of the socket per read (a 20-order batch's, several
/// KiB) arrives whole, and the next answer after it too.
#[tokio::test]
async fn an_answer_longer_than_one_read_arrives_whole() {
    let (_emu, stream) = on_the_emulator().await;
    // Bybit's batch limit for linear orders (docs v5/order/batch-place: "up to 20 orders").
    let items: Vec<serde_json::Value> = (0..20)
        .map(|i| {
            json!({"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
                   "price": format!("{}", 40000 + i), "timeInForce": "GTC",
                   "orderLinkId": format!("long-answer-{i:02}")})
        })
        .collect();
    let created = stream
        .send(
            TradeOp::CreateBatch,
            json!({"category": "linear", "request": items}),
            DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!(created.ret_code, 0, "{created:?}");
    let written = serde_json::to_string(&created).unwrap();
    assert!(written.len() > 3 * 1024, "{} bytes", written.len());
    let links: Vec<&str> = created.data["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["orderLinkId"].as_str())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("long-answer-{i:02}")).collect();
    assert_eq!(links, expected);
    let next = stream
        .send(
            TradeOp::Cancel,
            json!({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "long-answer-00"}),
            DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!(next.ret_code, 0, "{next:?}");
    stream.close().await;
}
