//! The emulator's transport: rate-limit windows, idle and
//! stalled WebSockets, bursts, push cadence, the new fault controls, connection timeouts,
//! shutdown and control-API range checks.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use sim_engine::NewOrder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{now_ms, start, start_with, Client};
use crate::ws::{
    connection_ends, is_topic, private_authed, recv_json, recv_json_until, request, send,
    subscribe, ws_connect, LocalBook, Ws, WAIT,
};

/// Polls `condition` every 20 ms until it holds or `within` passes.
async fn eventually(within: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// WebSocket sessions the emulator is running, from `GET /emulator/state`.
async fn ws_connections(client: &Client) -> u64 {
    client.state().await["faults"]["wsConnections"]
        .as_u64()
        .unwrap()
}

/// The next close frame's code; any other frame is skipped.
async fn close_code(ws: &mut Ws) -> u16 {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("no close frame")
}

/// Whether nothing at all (not even a pong) arrives for `quiet`.
async fn silent_for(ws: &mut Ws, quiet: Duration) -> bool {
    tokio::time::timeout(quiet, ws.next()).await.is_err()
}

/// Sends pings with a large `req_id` (which the pong echoes) without reading anything, until
/// a send stalls: the emulator has then stopped reading, which it only does while it is stuck
/// writing to this client (or until a send fails: it has cut the client).
async fn stall(ws: &mut Ws) {
    let req_id = "x".repeat(64 * 1024);
    for _ in 0..4_000 {
        let ping = json!({"op": "ping", "req_id": req_id}).to_string();
        let sent = tokio::time::timeout(Duration::from_millis(500), ws.send(Message::text(ping)));
        // A send that hangs: the emulator stopped reading. A send that fails: it already gave
        // up on this client (a short write deadline).
        if !matches!(sent.await, Ok(Ok(()))) {
            return;
        }
    }
    panic!("the emulator kept reading: its writes never stalled");
}

// ---------------------------------------------------------------- point 8: rate limits

// docs v5/rate-limit: /v5/account/fee-rate is 5/s per UID; the sixth request in the window
// is 10006 "Too many visits!" with HTTP 200 and the X-Bapi-Limit* headers.
#[tokio::test]
async fn fee_rate_is_rate_limited_at_five_per_second_with_headers() {
    let emu = start().await;
    let client = Client::new(&emu);
    let query = "category=linear&symbol=BTCUSDT";
    let mut replies = Vec::new();
    for _ in 0..6 {
        replies.push(client.get("/v5/account/fee-rate", query).await);
    }
    // The six requests may straddle a window edge on a slow machine; the first five in the
    // same rolling second are granted, so at least one of the six is refused unless they
    // spread over more than a second.
    let first = &replies[0];
    assert_eq!(first.ret_code(), 0, "{:?}", first.body);
    assert_eq!(first.header("X-Bapi-Limit"), Some("5"));
    assert_eq!(first.header("X-Bapi-Limit-Status"), Some("4"));
    let refused: Vec<_> = replies.iter().filter(|r| r.ret_code() == 10006).collect();
    let last = &replies[5];
    if refused.is_empty() {
        // Only possible if the calls took more than a second.
        let spent = last.body["time"].as_i64().unwrap() - first.body["time"].as_i64().unwrap();
        assert!(spent >= 1000, "six fee-rate calls in {spent} ms all passed");
        return;
    }
    let refusal = refused[0];
    assert_eq!(refusal.status, 200);
    assert_eq!(refusal.body["retMsg"], "Too many visits!");
    assert_eq!(refusal.header("X-Bapi-Limit-Status"), Some("0"));
    let reset: i64 = refusal
        .header("X-Bapi-Limit-Reset-Timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > refusal.body["time"].as_i64().unwrap());
}

// ---------------------------------------------------------------- point 9: idle sockets

// docs v5/ws/connect: without ping-pong or data, a connection is cut after 10 minutes.
#[test]
fn the_default_idle_time_is_bybits_ten_minutes() {
    assert_eq!(
        bybit_emulator::TransportConfig::default().ws_idle,
        Duration::from_secs(600)
    );
}

// docs v5/ws/connect: "if there is no ping-pong and no stream data sent from server end, the
// connection will be cut off" (10 minutes by default; shortened here).
#[tokio::test]
async fn an_idle_websocket_is_cut_and_a_pinging_one_is_not() {
    let emu = start_with(|c| c.transport.ws_idle = Duration::from_millis(300)).await;
    let mut idle = ws_connect(&emu.public_ws_url()).await;
    let mut alive = ws_connect(&emu.public_ws_url()).await;
    let started = Instant::now();
    // The pinging connection outlives several idle periods.
    while started.elapsed() < Duration::from_millis(1200) {
        let pong = request(&mut alive, json!({"op": "ping"})).await;
        assert_eq!(pong["ret_msg"], "pong");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(close_code(&mut idle).await, 1000);
    let pong = request(&mut alive, json!({"op": "ping"})).await;
    assert_eq!(pong["ret_msg"], "pong");
}

// docs v5/ws/connect: the private URL's `max_active_time` (30s..600s, or minutes) sets the
// connection's alive time in place of the default.
#[tokio::test]
async fn a_private_max_active_time_replaces_the_idle_default() {
    let emu = start_with(|c| c.transport.ws_idle = Duration::from_millis(300)).await;
    let mut plain = private_authed(&emu).await;
    let url = format!("{}?max_active_time=1m", emu.private_ws_url());
    let mut long = ws_connect(&url).await;
    assert_eq!(close_code(&mut plain).await, 1000);
    // Well past the default idle time, the one-minute connection still answers.
    let pong = request(&mut long, json!({"op": "ping", "req_id": "still"})).await;
    assert_eq!(pong["op"], "pong");

    let bad = format!("{}?max_active_time=soon", emu.private_ws_url());
    match tokio_tungstenite::connect_async(bad.as_str()).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected HTTP 400, got {other:?}"),
    }
}

// ---------------------------------------------------------------- point 11: cadence

/// Every message of `topic` received for `span`, in order.
async fn collect(ws: &mut Ws, span: Duration) -> BTreeMap<String, Vec<Value>> {
    let mut topics: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let deadline = Instant::now() + span;
    while let Ok(frame) = tokio::time::timeout_at(deadline, recv_json(ws)).await {
        if let Some(topic) = frame["topic"].as_str() {
            topics.entry(topic.to_owned()).or_default().push(frame);
        }
    }
    topics
}

/// The smallest gap between consecutive messages' `ts`.
fn min_gap(messages: &[Value]) -> i64 {
    messages
        .windows(2)
        .map(|w| w[1]["ts"].as_i64().unwrap() - w[0]["ts"].as_i64().unwrap())
        .min()
        .unwrap()
}

// docs v5/websocket/public/orderbook (linear push frequency: level 1 10 ms, level 50 20 ms,
// level 200 100 ms, level 1000 200 ms) and docs v5/websocket/public/ticker (100 ms): a book
// that changes every couple of milliseconds is pushed at those cadences, and the deltas
// still rebuild a consistent book.
#[tokio::test]
async fn a_fast_market_is_pushed_at_bybits_cadence() {
    let emu = start_with(|c| c.tick_ms = 1).await;
    let client = Client::new(&emu);
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    let topics = [
        "orderbook.1.BTCUSDT",
        "orderbook.50.BTCUSDT",
        "orderbook.200.BTCUSDT",
        "orderbook.1000.BTCUSDT",
        "tickers.BTCUSDT",
    ];
    let ack = subscribe(&mut ws, &topics).await;
    assert_eq!(ack["success"], true, "{ack}");
    let walk = json!({"symbol": "BTCUSDT", "intervalMs": 2, "maxStepTicks": 3});
    assert!(client
        .control("/random-walk", walk)
        .await
        .status
        .is_success());

    let seen = collect(&mut ws, Duration::from_secs(3)).await;
    for (topic, interval_ms, at_least) in [
        ("orderbook.1.BTCUSDT", 10, 20),
        ("orderbook.50.BTCUSDT", 20, 15),
        ("orderbook.200.BTCUSDT", 100, 8),
        ("orderbook.1000.BTCUSDT", 200, 5),
        ("tickers.BTCUSDT", 100, 8),
    ] {
        let messages = &seen[topic];
        assert!(
            messages.len() >= at_least,
            "{topic}: only {} messages in 3 s of a moving market",
            messages.len()
        );
        // `ts` is whole milliseconds, so a gap may read one short of the interval.
        let gap = min_gap(messages);
        assert!(
            gap >= interval_ms - 1,
            "{topic}: two messages {gap} ms apart"
        );
        if topic.starts_with("orderbook.") {
            let mut book = LocalBook::default();
            for message in messages {
                book.apply(message);
            }
        }
    }
}

// docs v5/websocket/public/orderbook: "for level 1 ... if there is no change in 3 seconds,
// the snapshot is re-pushed" with the same `u`.
#[tokio::test]
async fn an_unchanged_level_one_book_is_resent_every_three_seconds() {
    let emu = start().await;
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    subscribe(&mut ws, &["orderbook.1.BTCUSDT"]).await;
    let (first, _) = recv_json_until(&mut ws, is_topic("orderbook.1.BTCUSDT"), WAIT).await;
    let (again, _) = recv_json_until(&mut ws, is_topic("orderbook.1.BTCUSDT"), WAIT).await;
    assert_eq!(again["type"], "snapshot");
    assert_eq!(again["data"], first["data"], "same book, same u");
    let gap = again["ts"].as_i64().unwrap() - first["ts"].as_i64().unwrap();
    assert!(gap >= 2_999, "re-sent after {gap} ms");
}

// ---------------------------------------------------------------- point 13: new faults

// docs v5/rate-limit, HTTP IP limit: "403, access too frequent" until the ban is lifted.
#[tokio::test]
async fn an_ip_ban_answers_403_access_too_frequent_until_lifted() {
    let emu = start().await;
    let client = Client::new(&emu);
    let reply = client.control("/ip-ban", json!({"seconds": 60})).await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let banned = client.public("/v5/market/time", "").await;
    assert_eq!(banned.status, 403);
    assert_eq!(banned.body, "access too frequent");
    let private = client
        .get("/v5/position/list", "category=linear&symbol=BTCUSDT")
        .await;
    assert_eq!(private.status, 403);
    // The control API is not Bybit's and stays reachable.
    assert_eq!(client.state().await["faults"]["ipBanned"], true);
    client.control("/reset", json!({})).await;
    assert_eq!(client.public("/v5/market/time", "").await.ret_code(), 0);
}

// docs v5/websocket/public/orderbook: `u` rises by one per message; a skipped `u` is the
// gap a client must detect (and resubscribe on).
#[tokio::test]
async fn a_book_gap_fault_makes_the_next_delta_skip_an_update_id() {
    let emu = start().await;
    let client = Client::new(&emu);
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    subscribe(&mut ws, &["orderbook.50.BTCUSDT"]).await;
    let (snapshot, _) = recv_json_until(&mut ws, is_topic("orderbook.50.BTCUSDT"), WAIT).await;
    let u0 = snapshot["data"]["u"].as_i64().unwrap();

    let reply = client
        .control("/book-gap", json!({"symbol": "BTCUSDT"}))
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let unknown = client
        .control("/book-gap", json!({"symbol": "NOPEUSDT"}))
        .await;
    assert_eq!(unknown.status, 400);

    let last = emu.state().read(|e| e.price("BTCUSDT")).unwrap();
    let mut ids = Vec::new();
    for price in [last + dec!(0.5), last] {
        emu.state()
            .execute(|e, now| e.set_price(now, "BTCUSDT", price))
            .unwrap();
        let (delta, _) = recv_json_until(&mut ws, is_topic("orderbook.50.BTCUSDT"), WAIT).await;
        assert_eq!(delta["type"], "delta");
        ids.push(delta["data"]["u"].as_i64().unwrap());
    }
    assert_eq!(
        ids,
        [u0 + 2, u0 + 3],
        "one u skipped, then contiguous again"
    );
}

// A mute WebSocket: open, but nothing comes back (no pong of either kind) until released;
// only the stream named is muted.
#[tokio::test]
async fn a_muted_websocket_stays_open_and_silent_until_released() {
    let emu = start().await;
    let client = Client::new(&emu);
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    request(&mut ws, json!({"op": "ping"})).await;

    let mut private = private_authed(&emu).await;

    let reply = client
        .control("/ws/mute", json!({"stream": "public"}))
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let muted = client.state().await["faults"]["wsMuted"].clone();
    assert_eq!(muted, json!({"public": true, "private": false}));
    let bad = client.control("/ws/mute", json!({"stream": "spot"})).await;
    assert_eq!(bad.status, 400);
    // The private stream was not named: it still answers.
    let pong = request(&mut private, json!({"op": "ping", "req_id": "p"})).await;
    assert_eq!(pong["op"], "pong");
    send(&mut ws, json!({"op": "ping", "req_id": "muted"})).await;
    ws.send(Message::Ping(b"hb".to_vec().into())).await.unwrap();
    assert!(silent_for(&mut ws, Duration::from_millis(600)).await);

    let reply = client
        .control("/ws/unmute", json!({"stream": "public"}))
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    // The pings sent while muted are answered now.
    let (pong, _) = recv_json_until(&mut ws, |v| v["req_id"] == "muted", WAIT).await;
    assert_eq!(pong["ret_msg"], "pong");
}

// Connected but silent (`"pongs": true`, the emulator's faults.rs): the private stream keeps
// answering pings, of both kinds, but pushes no data until released; then the waiting order
// update arrives.
#[tokio::test]
async fn a_data_muted_websocket_answers_pings_but_sends_no_data() {
    let emu = start().await;
    let client = Client::new(&emu);
    let mut private = private_authed(&emu).await;
    subscribe(&mut private, &["order"]).await;

    let reply = client
        .control("/ws/mute", json!({"stream": "private", "pongs": true}))
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let state = client.state().await["faults"].clone();
    assert_eq!(
        state["wsDataMuted"],
        json!({"public": false, "private": true})
    );
    assert_eq!(state["wsMuted"], json!({"public": false, "private": false}));
    let bad = client
        .control("/ws/mute", json!({"stream": "private", "pongs": "yes"}))
        .await;
    assert_eq!(bad.status, 400);

    let last = emu.state().read(|e| e.price("BTCUSDT")).unwrap();
    let order = NewOrder::limit(
        "BTCUSDT",
        bybit_types::WireSide::Buy,
        dec!(0.001),
        last - dec!(1000),
    );
    emu.state()
        .execute(|e, now| e.create_order(now, &order))
        .unwrap();
    // Pings are answered, and only pings: the order update waits.
    let pong = request(&mut private, json!({"op": "ping", "req_id": "q"})).await;
    assert_eq!(pong["op"], "pong");
    private
        .send(Message::Ping(b"hb".to_vec().into()))
        .await
        .unwrap();
    let frame = tokio::time::timeout(WAIT, private.next()).await.unwrap();
    assert!(
        matches!(&frame, Some(Ok(Message::Pong(p))) if p.as_ref() == b"hb"),
        "{frame:?}"
    );
    assert!(silent_for(&mut private, Duration::from_millis(600)).await);

    let reply = client
        .control("/ws/unmute", json!({"stream": "private"}))
        .await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let (push, _) = recv_json_until(&mut private, is_topic("order"), WAIT).await;
    assert_eq!(push["data"][0]["orderStatus"], "New");
}

// ---------------------------------------------------------------- point 14: bursts

// One engine step with far more events than the old fan-out held (65,536): a prompt public
// client and a private client both stay connected, and the private one gets its own updates.
#[tokio::test]
async fn a_burst_of_market_events_drops_nobody() {
    let emu = start().await;
    let mut public = ws_connect(&emu.public_ws_url()).await;
    subscribe(&mut public, &["publicTrade.BTCUSDT"]).await;
    let mut private = private_authed(&emu).await;
    subscribe(&mut private, &["order"]).await;

    let last = emu.state().read(|e| e.price("BTCUSDT")).unwrap();
    emu.state().execute(|e, now| {
        for i in 0..40_000u32 {
            let price = if i % 2 == 0 { last + dec!(0.1) } else { last };
            e.set_price(now, "BTCUSDT", price).unwrap();
        }
    });
    let order = NewOrder::limit(
        "BTCUSDT",
        bybit_types::WireSide::Buy,
        dec!(0.001),
        last - dec!(1000),
    );
    emu.state()
        .execute(|e, now| e.create_order(now, &order))
        .unwrap();

    let (push, _) = recv_json_until(&mut private, is_topic("order"), WAIT).await;
    assert_eq!(push["data"][0]["orderStatus"], "New");
    let mut trades = 0;
    while trades < 40_000 {
        let (message, _) =
            recv_json_until(&mut public, is_topic("publicTrade.BTCUSDT"), WAIT).await;
        let n = message["data"].as_array().unwrap().len();
        assert!(n <= 1024, "{n} trades in one message");
        trades += n;
    }
    assert_eq!(trades, 40_000);
    assert_eq!(
        request(&mut public, json!({"op": "ping"})).await["ret_msg"],
        "pong"
    );
}

// ---------------------------------------------------------------- point 15: stalled writers

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_after_the_write_deadline() {
    let emu = start_with(|c| c.transport.ws_write = Duration::from_millis(300)).await;
    let client = Client::new(&emu);
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    stall(&mut ws).await;
    assert!(
        eventually(WAIT, async || ws_connections(&client).await == 0).await,
        "the stalled session is still running"
    );
}

#[tokio::test]
async fn drop_refuse_and_shutdown_end_a_stalled_session_at_once() {
    let emu = start_with(|c| c.transport.ws_write = Duration::from_secs(120)).await;
    let client = Client::new(&emu);
    for control in ["/ws/drop", "/ws/refuse"] {
        let mut ws = ws_connect(&emu.public_ws_url()).await;
        stall(&mut ws).await;
        assert_eq!(ws_connections(&client).await, 1);
        assert!(client
            .control(control, json!({"seconds": 1}))
            .await
            .status
            .is_success());
        assert!(
            eventually(Duration::from_secs(2), async || ws_connections(&client)
                .await
                == 0)
            .await,
            "{control} left a stalled session running"
        );
        client.control("/reset", json!({})).await;
        drop(ws);
    }
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    stall(&mut ws).await;
    let state = emu.state().clone();
    tokio::time::timeout(Duration::from_secs(5), emu.stop())
        .await
        .expect("stop waited on a stalled WebSocket");
    assert!(
        eventually(Duration::from_secs(2), async || state.websocket_sessions()
            == 0)
        .await,
        "shutdown left a stalled session running"
    );
}

// ---------------------------------------------------------------- point 16: timeouts, stop

/// Whether the server closes `stream` (end of stream or reset) within `WAIT`; whatever it
/// sends first (an HTTP 408, say) is returned.
async fn closed_by_server(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(WAIT, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    closed
        .is_ok()
        .then(|| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn idle_and_half_sent_http_connections_are_closed() {
    let emu = start_with(|c| {
        c.transport.http_header = Duration::from_millis(300);
        c.transport.http_body = Duration::from_millis(300);
    })
    .await;
    let addr = emu.addr();

    // Connected, never a byte sent.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_by_server(&mut idle).await.is_some(),
        "idle socket kept"
    );

    // Half the headers.
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /v5/market/time HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut half).await.is_some(),
        "half-sent headers kept"
    );

    // Headers, then a tenth of the body promised.
    let mut body = TcpStream::connect(addr).await.unwrap();
    body.write_all(
        b"POST /v5/order/create HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"categ",
    )
    .await
    .unwrap();
    let answer = closed_by_server(&mut body)
        .await
        .expect("half-sent body kept");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A keep-alive connection that goes quiet after a request.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /v5/market/time HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_by_server(&mut kept)
        .await
        .expect("idle keep-alive kept");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn stop_finishes_quickly_whatever_the_clients_do() {
    let emu = start().await;
    let client = Client::new(&emu);
    // A request held by the emulator for 30 s, a half-sent request, an idle socket and an
    // open WebSocket.
    client
        .control("/hold", json!({"count": 1, "ms": 30_000}))
        .await;
    let http = client.http.clone();
    let held = tokio::spawn(
        http.get(format!("{}/v5/market/time", emu.http_url()))
            .send(),
    );
    let mut half = TcpStream::connect(emu.addr()).await.unwrap();
    half.write_all(b"GET /v5/market/time HTTP/1.1\r\n")
        .await
        .unwrap();
    let _idle = TcpStream::connect(emu.addr()).await.unwrap();
    let mut ws = ws_connect(&emu.public_ws_url()).await;
    request(&mut ws, json!({"op": "ping"})).await;
    assert!(
        eventually(WAIT, async || client.state().await["faults"]["hold"] == 0).await,
        "the held request never arrived"
    );

    tokio::time::timeout(Duration::from_secs(5), emu.stop())
        .await
        .expect("stop took more than 5 s");
    assert!(connection_ends(&mut ws).await);
    assert!(closed_by_server(&mut half).await.is_some());
    let _ = held.await;
}

// SIGINT and SIGTERM on the binary: hardening.rs pins them.

// ---------------------------------------------------------------- point 17: control input

#[tokio::test]
async fn control_values_out_of_range_are_refused() {
    let emu = start().await;
    let client = Client::new(&emu);
    let refused = [
        ("/clock", json!({"skewMs": i64::MIN})),
        ("/clock", json!({"skewMs": i64::MAX})),
        (
            "/replay",
            json!({"symbol": "BTCUSDT", "trades": [[0, "95000", "0"]]}),
        ),
        (
            "/replay",
            json!({"symbol": "BTCUSDT", "trades": [[0, "95000", "-1"]]}),
        ),
        (
            "/replay",
            json!({"symbol": "BTCUSDT", "trades": [[0, "-95000", "1"]]}),
        ),
        (
            "/replay",
            json!({"symbol": "BTCUSDT", "trades": [[5, "1", "1"], [4, "1", "1"]]}),
        ),
        ("/replay", json!({"symbol": "BTCUSDT", "trades": []})),
        (
            "/random-walk",
            json!({"symbol": "BTCUSDT", "intervalMs": -5}),
        ),
        (
            "/random-walk",
            json!({"symbol": "BTCUSDT", "maxStepTicks": 0}),
        ),
        ("/price-path", json!({"symbol": "BTCUSDT", "prices": ["0"]})),
        (
            "/price-path",
            json!({"symbol": "BTCUSDT", "intervalMs": 0, "prices": ["1"]}),
        ),
        ("/price", json!({"symbol": "BTCUSDT", "price": "-1"})),
        ("/balance", json!({"usdt": "-1"})),
        ("/balance", json!({"usdt": "1000000000000000000000000000"})),
        (
            "/price",
            json!({"symbol": "BTCUSDT", "price": "70000000000000000000000000000"}),
        ),
        (
            "/replay",
            json!({"symbol": "BTCUSDT", "trades": [[0, "95000", "1000000000000000000000"]]}),
        ),
        (
            "/book",
            json!({"symbol": "BTCUSDT", "levels": 1_000_000_000, "levelNotional": "1"}),
        ),
        ("/ws/refuse", json!({"seconds": -1})),
        ("/ip-ban", json!({"seconds": 1_000_000})),
        ("/hold", json!({"count": 1, "ms": -1})),
        ("/fail", json!({"retCode": 0})),
        ("/rate-limit", json!({"cap": -1})),
    ];
    for (path, body) in refused {
        let reply = client.control(path, body.clone()).await;
        assert_eq!(reply.status, 400, "{path} {body}: {:?}", reply.body);
        assert_eq!(reply.body["ok"], false);
    }
    // Nothing took: the clock is the wall clock and the market still answers.
    let time = client.public("/v5/market/time", "").await;
    let server_ms = time.body["time"].as_i64().unwrap();
    let wall = i64::try_from(now_ms()).unwrap();
    assert!(
        (server_ms - wall).abs() < 60_000,
        "clock poisoned: {server_ms}"
    );
    assert_eq!(client.state().await["faults"]["wsRefused"], false);
}
