//! The public stream against the emulator and its fault injection: a dropped or silent socket
//! is replaced and resubscribed (two hundred topics included), a refusing server is retried
//! with backoff, a refused topic is reported and not retried, a gap in `u` brings a fresh
//! snapshot, and a book kept a minute on a moving market equals REST's.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use bybit_types::rest::market::InstrumentsInfo;
use bybit_types::ws::public::Level;
use bybit_types::RawEnvelope;
use bybit_ws::{BookError, WsError, WsEvent, WsStream};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::{fast, start, start_with, until, wait_for, Control};

fn levels(side: &Value) -> Vec<Level> {
    side.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                Decimal::from_str(l[0].as_str().unwrap()).unwrap(),
                Decimal::from_str(l[1].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// The local book of `symbol` at `depth` as (bids, asks), if ready.
fn local(stream: &WsStream, symbol: &str, depth: u32) -> Option<(Vec<Level>, Vec<Level>)> {
    stream
        .book(symbol, depth, |b| {
            b.is_ready()
                .then(|| (b.bids(usize::MAX).to_vec(), b.asks(usize::MAX).to_vec()))
        })
        .flatten()
}

fn is_subscribed(event: &WsEvent, topic: &str) -> bool {
    matches!(event, WsEvent::Subscribed { topics } if topics.iter().any(|t| t == topic))
}

// docs/v5/ws/connect: reconnect after any disconnect and resubscribe (SPEC R-WS-5).
#[tokio::test]
async fn a_dropped_socket_is_reconnected_and_resubscribed_and_data_flows_again() {
    let emu = start().await;
    let control = Control::new(&emu);
    let (stream, mut events) = WsStream::public(fast(emu.public_ws_url())).unwrap();
    stream.subscribe_orderbook(&["BTCUSDT"], 50).await.unwrap();
    stream.subscribe_tickers(&["BTCUSDT"]).await.unwrap();
    stream.subscribe_trades(&["BTCUSDT"]).await.unwrap();
    wait_for(&mut events, "first snapshot", |e| {
        matches!(e, WsEvent::Book { snapshot: true, .. })
    })
    .await;

    control.control("/ws/drop", json!({})).await;
    wait_for(&mut events, "disconnect", |e| {
        matches!(e, WsEvent::Disconnected { .. })
    })
    .await;
    wait_for(&mut events, "reconnect", |e| {
        matches!(e, WsEvent::Connected { reconnects: 1 })
    })
    .await;
    let mut back = BTreeSet::new();
    wait_for(&mut events, "every topic acknowledged again", |e| {
        if let WsEvent::Subscribed { topics } = e {
            back.extend(topics.iter().cloned());
        }
        back.len() == 3
    })
    .await;
    // Data flows again: a fresh book snapshot and a ticker on the new socket.
    wait_for(&mut events, "a snapshot after the reconnect", |e| {
        matches!(e, WsEvent::Book { snapshot: true, .. })
    })
    .await;
    control
        .control("/price", json!({"symbol": "BTCUSDT", "price": "60100"}))
        .await;
    wait_for(
        &mut events,
        "a ticker after the reconnect",
        |e| matches!(e, WsEvent::Ticker(t) if t.last_price == Some(Decimal::from(60100))),
    )
    .await;
    let health = stream.health();
    assert!(health.connected);
    assert_eq!(health.reconnects, 1);
    assert_eq!(health.subscriptions.len(), 3, "{health:?}");
    assert!(local(&stream, "BTCUSDT", 50).is_some());
    stream.close().await;
}

// docs/v5/ws/connect ("reconnect promptly"): a refusing server is retried with growing delays.
#[tokio::test]
async fn a_refusing_server_is_retried_with_backoff_until_it_accepts() {
    let emu = start().await;
    let control = Control::new(&emu);
    let (stream, mut events) = WsStream::public(fast(emu.public_ws_url())).unwrap();
    stream.subscribe_tickers(&["ETHUSDT"]).await.unwrap();

    let refused_at = Instant::now();
    control.control("/ws/refuse", json!({"seconds": 2})).await;
    wait_for(&mut events, "disconnect", |e| {
        matches!(e, WsEvent::Disconnected { .. })
    })
    .await;
    let (_, before) = wait_for(&mut events, "reconnect", |e| {
        matches!(e, WsEvent::Connected { .. })
    })
    .await;
    let recovered = refused_at.elapsed();
    let failures = before
        .iter()
        .filter(|e| matches!(e, WsEvent::ConnectFailed { .. }))
        .count();
    let delays: Vec<(u32, Duration)> = before
        .iter()
        .filter_map(|e| match e {
            WsEvent::Reconnecting { attempt, delay } => Some((*attempt, *delay)),
            _ => None,
        })
        .collect();
    assert!(failures >= 2, "refused attempts: {failures}");
    assert!(recovered >= Duration::from_millis(1800), "{recovered:?}");
    // Attempts count up and each delay is at least half its exponential value (equal jitter),
    // capped at the configured 800 ms.
    for (i, (attempt, delay)) in delays.iter().enumerate() {
        assert_eq!(*attempt as usize, i + 1);
        let base = Duration::from_millis(50)
            .saturating_mul(1 << i.min(10))
            .min(Duration::from_millis(800));
        assert!(
            *delay >= base / 2 && *delay <= base,
            "attempt {attempt}: {delay:?}"
        );
    }
    wait_for(&mut events, "resubscribed", |e| {
        is_subscribed(e, "tickers.ETHUSDT")
    })
    .await;
    assert!(stream.health().connect_failures >= 2);
    stream.close().await;
}

// docs/v5/websocket/public/orderbook.mdx: a gap in `u` means the book is lost; a fresh snapshot
// (here by resubscribing) restores it.
#[tokio::test]
async fn a_gap_in_u_resubscribes_for_a_fresh_snapshot() {
    let emu = start().await;
    let control = Control::new(&emu);
    let (stream, mut events) = WsStream::public(fast(emu.public_ws_url())).unwrap();
    stream.subscribe_orderbook(&["BTCUSDT"], 50).await.unwrap();
    wait_for(&mut events, "snapshot", |e| {
        matches!(e, WsEvent::Book { snapshot: true, .. })
    })
    .await;

    control
        .control("/book-gap", json!({"symbol": "BTCUSDT"}))
        .await;
    // A still market sends no delta until something changes.
    control
        .control("/price", json!({"symbol": "BTCUSDT", "price": "60500"}))
        .await;
    let (event, _) = wait_for(&mut events, "resync", |e| {
        matches!(e, WsEvent::BookResync { .. })
    })
    .await;
    let WsEvent::BookResync { topic, reason } = event else {
        unreachable!()
    };
    assert_eq!(topic, "orderbook.50.BTCUSDT");
    assert!(matches!(reason, BookError::Gap { .. }), "{reason:?}");
    wait_for(&mut events, "fresh snapshot", |e| {
        matches!(e, WsEvent::Book { snapshot: true, .. })
    })
    .await;
    assert_eq!(stream.health().book_resyncs, 1);
    let rest = control.orderbook("BTCUSDT", 50).await;
    until("the book equals REST", || {
        local(&stream, "BTCUSDT", 50) == Some((levels(&rest["b"]), levels(&rest["a"])))
    })
    .await;
    stream.close().await;
}

// docs/v5/ws/connect: ping every 20 s (shortened here); no pong means a dead socket.
#[tokio::test]
async fn a_silent_socket_is_detected_within_the_timeout_and_replaced() {
    let emu = start().await;
    let control = Control::new(&emu);
    let config = fast(emu.public_ws_url());
    let limit = config.ping_interval + config.pong_timeout;
    let (stream, mut events) = WsStream::public(config).unwrap();
    stream.subscribe_tickers(&["SOLUSDT"]).await.unwrap();

    control
        .control("/ws/mute", json!({"stream": "public"}))
        .await;
    let muted_at = Instant::now();
    let (event, _) = wait_for(&mut events, "dead socket", |e| {
        matches!(e, WsEvent::Disconnected { .. })
    })
    .await;
    let detected = muted_at.elapsed();
    let WsEvent::Disconnected { reason } = event else {
        unreachable!()
    };
    assert!(
        reason.contains("pong") || reason.contains("idle"),
        "{reason}"
    );
    // Detected within one ping interval plus the pong timeout (and scheduling slack).
    assert!(
        detected <= limit + Duration::from_millis(500),
        "{detected:?}"
    );
    control
        .control("/ws/unmute", json!({"stream": "public"}))
        .await;
    wait_for(&mut events, "resubscribed", |e| {
        is_subscribed(e, "tickers.SOLUSDT")
    })
    .await;
    assert!(stream.health().reconnects >= 1);
    stream.close().await;
}

// A refused topic is reported once and dropped; the rest of its batch still subscribes.
#[tokio::test]
async fn a_refused_topic_is_reported_and_not_retried() {
    let emu = start().await;
    let control = Control::new(&emu);
    let (stream, mut events) = WsStream::public(fast(emu.public_ws_url())).unwrap();
    let result = stream
        .subscribe(vec![
            "tickers.NOPEUSDT".to_owned(),
            "tickers.BTCUSDT".to_owned(),
        ])
        .await;
    assert!(
        matches!(&result, Err(WsError::SubscribeRefused { topic, .. }) if topic == "tickers.NOPEUSDT"),
        "{result:?}"
    );
    until("BTCUSDT subscribed", || {
        stream.health().subscriptions.contains("tickers.BTCUSDT")
    })
    .await;
    assert!(stream.health().refused.contains_key("tickers.NOPEUSDT"));
    assert!(matches!(
        stream.subscribe_orderbook(&["BTCUSDT"], 500).await,
        Err(WsError::InvalidArgument(_))
    ));

    control.control("/ws/drop", json!({})).await;
    let (_, seen) = wait_for(&mut events, "resubscribed", |e| {
        is_subscribed(e, "tickers.BTCUSDT") && !matches!(e, WsEvent::Connected { .. })
    })
    .await;
    let refusals = seen
        .iter()
        .filter(|e| matches!(e, WsEvent::SubscribeRefused { .. }))
        .count();
    assert_eq!(refusals, 1, "only the first refusal: {seen:?}");
    stream.close().await;
}

// 50 symbols × 4 topics = 200 topics, sent in batches within the per-request limit
// (REFERENCE.md §5), all restored after a reconnect.
#[tokio::test]
async fn two_hundred_topics_all_come_back_after_a_reconnect() {
    let symbols: Vec<String> = (0..50).map(|i| format!("T{i:02}USDT")).collect();
    let template = sim_engine::defaults::instruments()
        .into_iter()
        .find(|i| i.symbol == "SOLUSDT")
        .unwrap();
    let price = sim_engine::defaults::start_prices()["SOLUSDT"];
    // An instruments-info reply of 50 symbols (docs/v5/market/instrument.mdx), written from the
    // documented fields of one default instrument and read back the way the emulator binary
    // reads its `--instruments` file.
    let list: Vec<Value> = symbols
        .iter()
        .map(|s| {
            let mut info = serde_json::to_value(&template).unwrap();
            info["symbol"] = json!(s);
            info["baseCoin"] = json!(s.trim_end_matches("USDT"));
            info
        })
        .collect();
    let payload = json!({
        "retCode": 0, "retMsg": "OK", "retExtInfo": {}, "time": 1,
        "result": {"category": "linear", "list": list, "nextPageCursor": ""},
    })
    .to_string();
    let info: InstrumentsInfo = RawEnvelope::parse(payload.as_bytes())
        .unwrap()
        .decode("instruments-info result")
        .unwrap();
    assert_eq!(info.list.len(), 50);
    let emu = start_with(|config| {
        config.engine.initial_prices = symbols.iter().map(|s| (s.clone(), price)).collect();
        config.engine.instruments = info.list;
    })
    .await;
    let control = Control::new(&emu);
    let (stream, mut events) = WsStream::public(fast(emu.public_ws_url())).unwrap();
    let names: Vec<&str> = symbols.iter().map(String::as_str).collect();
    stream.subscribe_tickers(&names).await.unwrap();
    stream.subscribe_orderbook(&names, 1).await.unwrap();
    stream.subscribe_orderbook(&names, 50).await.unwrap();
    stream.subscribe_trades(&names).await.unwrap();
    assert_eq!(stream.health().subscriptions.len(), 200);

    control.control("/ws/drop", json!({})).await;
    wait_for(&mut events, "reconnect", |e| {
        matches!(e, WsEvent::Connected { reconnects: 1 })
    })
    .await;
    let mut back = BTreeSet::new();
    wait_for(&mut events, "200 topics acknowledged", |e| {
        if let WsEvent::Subscribed { topics } = e {
            back.extend(topics.iter().cloned());
        }
        back.len() == 200
    })
    .await;
    until("every book ready", || {
        names.iter().all(|s| {
            local(&stream, s, 1).is_some()
                && local(&stream, s, 50).is_some_and(|(b, a)| b.len() <= 50 && a.len() <= 50)
        })
    })
    .await;
    assert_eq!(stream.health().subscriptions.len(), 200);
    assert_eq!(stream.health().bad_frames, 0);
    stream.close().await;
}

/// How long the moving-market test keeps its book: a minute, unless
/// `BYBIT_WS_BOOK_SECS` says otherwise.
fn book_run() -> Duration {
    let secs = std::env::var("BYBIT_WS_BOOK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// The local book's `u` and its best `n` levels a side, once it holds a snapshot.
type Kept = (i64, Vec<Level>, Vec<Level>);

fn kept(stream: &WsStream, symbol: &str, depth: u32, n: usize) -> Option<Kept> {
    stream
        .book(symbol, depth, |b| {
            b.is_ready()
                .then(|| (b.update_id(), b.bids(n).to_vec(), b.asks(n).to_vec()))
        })
        .flatten()
}

/// Deepest REST answer for linear (docs/v5/market/orderbook.mdx: `limit` 1 to 500).
const REST_LIMIT: usize = 500;

/// A REST snapshot's `u` and levels.
async fn rest_book(control: &Control, symbol: &str) -> Kept {
    let rest = control.orderbook(symbol, 500).await;
    let u = rest["u"].as_i64().unwrap();
    (u, levels(&rest["b"]), levels(&rest["a"]))
}

/// Waits (up to a second) for the local book to reach REST's `u`, then compares the two at
/// that `u`; `None` if the book went past it between two looks (the comparison is retried).
async fn compare_at_rest_u(stream: &WsStream, control: &Control) -> Option<()> {
    let (rest_u, bids, asks) = rest_book(control, "BTCUSDT").await;
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        let (u, local_bids, local_asks) = kept(stream, "BTCUSDT", 1000, REST_LIMIT)?;
        if u == rest_u {
            assert_eq!(local_bids, bids, "bids differ at u {u}");
            assert_eq!(local_asks, asks, "asks differ at u {u}");
            return Some(());
        }
        if u > rest_u {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the local book never reached REST's u {rest_u}");
}

// A moving market for a minute: the local book never crosses and never needs a resync; at the
// end it equals REST snapshots (docs/v5/market/orderbook.mdx: REST's `u` corresponds to `u` of
// the deepest WebSocket book, level 1000 for contracts) taken at the same `u`, while the
// market still moves and once it is held.
#[tokio::test]
async fn a_book_kept_for_a_minute_on_a_moving_market_equals_rest() {
    let emu = start_with(|config| config.static_prices = false).await;
    let control = Control::new(&emu);
    let (stream, mut events) = WsStream::public(fast(emu.public_ws_url())).unwrap();
    stream
        .subscribe_orderbook(&["BTCUSDT"], 1000)
        .await
        .unwrap();
    let end = Instant::now() + book_run();
    let mut deltas = 0u64;
    while Instant::now() < end {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("the moving market stopped sending")
            .expect("stream ended");
        match event {
            WsEvent::Book {
                snapshot: false, ..
            } => deltas += 1,
            WsEvent::BookResync { reason, .. } => panic!("resync on a healthy feed: {reason}"),
            WsEvent::Disconnected { reason } => panic!("disconnected: {reason}"),
            _ => {}
        }
        if let Some((_, bids, asks)) = kept(&stream, "BTCUSDT", 1000, usize::MAX) {
            assert!(bids.len() <= 1000 && asks.len() <= 1000);
            if let (Some(b), Some(a)) = (bids.first(), asks.first()) {
                assert!(b.0 < a.0, "crossed: {b:?} {a:?}");
            }
        }
    }
    assert!(deltas > 10, "the market hardly moved: {deltas} deltas");
    // While it still moves: every REST snapshot equals the local book when that book is at
    // the same `u` (the stream pushes at most every 200 ms at depth 1000, so the book usually
    // sits at REST's `u` for a while; when it has already moved past, that try is skipped).
    let mut compared = 0;
    for _ in 0..20 {
        if compare_at_rest_u(&stream, &control).await.is_some() {
            compared += 1;
        }
    }
    assert!(
        compared >= 5,
        "only {compared}/20 REST snapshots met the book at their u"
    );
    // Hold the price: the stream and REST settle on one `u` and one book.
    let held = control.orderbook("BTCUSDT", 1).await;
    let price = held["b"][0][0].as_str().unwrap().to_owned();
    control
        .control(
            "/price-path",
            json!({"symbol": "BTCUSDT", "intervalMs": 86_400_000, "prices": [price]}),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while compare_at_rest_u(&stream, &control).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "local book never met REST at one u"
        );
    }
    assert_eq!(stream.health().book_resyncs, 0);
    stream.close().await;
}
