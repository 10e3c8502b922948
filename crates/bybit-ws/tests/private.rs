//! The private stream: auth, typed events, re-auth after a drop, auth failures by kind
//! (docs/v5/websocket/wss-authentication.mdx, docs/v5/websocket/private/*.mdx).

use std::sync::Arc;

use bybit_sign::Credentials;
use bybit_types::OrderStatus;
use bybit_ws::{AuthFailure, PrivateAuth, PrivateTopic, WsError, WsEvent, WsStream};
use serde_json::json;

use crate::support::{fast, start, until, wait_for, Control, KEY, SECRET};

const TOPICS: [PrivateTopic; 4] = [
    PrivateTopic::Order,
    PrivateTopic::Execution,
    PrivateTopic::Position,
    PrivateTopic::Wallet,
];

/// Waits for one event of each private kind after an order.
async fn expect_order_events(events: &mut bybit_ws::EventReceiver) {
    let mut order = false;
    let mut execution = false;
    let mut position = false;
    let mut wallet = false;
    wait_for(
        events,
        "order, execution, position and wallet events",
        |e| {
            match e {
                WsEvent::Order(m) => {
                    order |= m
                        .data
                        .iter()
                        .any(|o| o.symbol == "BTCUSDT" && o.order_status == OrderStatus::Filled);
                }
                WsEvent::Execution(m) => execution |= m.data.iter().any(|x| x.symbol == "BTCUSDT"),
                WsEvent::Position(m) => position |= m.data.iter().any(|p| p.symbol == "BTCUSDT"),
                WsEvent::Wallet(m) => wallet |= !m.data.is_empty(),
                _ => {}
            }
            order && execution && position && wallet
        },
    )
    .await;
}

#[tokio::test]
async fn private_topics_arrive_typed_and_survive_a_drop_with_reauth() {
    let emu = start().await;
    let control = Control::new(&emu);
    let auth = PrivateAuth::new(Credentials::new(KEY, SECRET).unwrap());
    let (stream, mut events) = WsStream::private(fast(emu.private_ws_url()), auth).unwrap();
    stream.subscribe_private(&TOPICS).await.unwrap();
    assert!(stream.health().authenticated);
    control.market_order("BTCUSDT", "Buy", "0.01").await;
    expect_order_events(&mut events).await;
    let first = stream.last_message_unix_ms().unwrap();

    control.control("/ws/drop", json!({})).await;
    wait_for(&mut events, "disconnect", |e| {
        matches!(e, WsEvent::Disconnected { .. })
    })
    .await;
    wait_for(&mut events, "re-auth", |e| {
        matches!(e, WsEvent::Authenticated)
    })
    .await;
    wait_for(
        &mut events,
        "resubscribed",
        |e| matches!(e, WsEvent::Subscribed { topics } if topics.len() == 4),
    )
    .await;
    control.market_order("BTCUSDT", "Sell", "0.01").await;
    expect_order_events(&mut events).await;
    let health = stream.health();
    assert!(health.authenticated && health.connected);
    assert_eq!(health.reconnects, 1);
    assert!(stream.last_message_unix_ms().unwrap() >= first);
    stream.close().await;
}

/// A private stream that answers pings but pushes nothing (the emulator's `ws/mute` with
/// `"pongs": true`): frames keep arriving (`since_last_message` stays short) while
/// `since_last_data` grows; a push after the release resets it. Ping/pong: docs/v5/websocket/wss-authentication.mdx.
#[tokio::test]
async fn pongs_keep_the_message_clock_but_not_the_data_clock() {
    let emu = start().await;
    let control = Control::new(&emu);
    let auth = PrivateAuth::new(Credentials::new(KEY, SECRET).unwrap());
    let (stream, mut events) = WsStream::private(fast(emu.private_ws_url()), auth).unwrap();
    stream.subscribe_private(&TOPICS).await.unwrap();
    assert!(
        stream.health().since_last_data.is_some(),
        "the ack starts it"
    );

    control
        .control("/ws/mute", json!({"stream": "private", "pongs": true}))
        .await;
    let quiet = std::time::Duration::from_millis(1500);
    until("no data for 1.5 s", || {
        stream.health().since_last_data.is_some_and(|d| d > quiet)
    })
    .await;
    let health = stream.health();
    assert!(health.connected && health.authenticated);
    assert!(
        health.since_last_message.unwrap() < quiet,
        "pongs still arrive: {health:?}"
    );

    control
        .control("/ws/unmute", json!({"stream": "private"}))
        .await;
    control.market_order("BTCUSDT", "Buy", "0.01").await;
    expect_order_events(&mut events).await;
    assert!(stream.health().since_last_data.unwrap() < quiet);
    stream.close().await;
}

async fn auth_failure(credentials: Credentials, offset_ms: i64) -> (WsError, Vec<WsEvent>) {
    let emu = start().await;
    let mut auth = PrivateAuth::new(credentials);
    auth.clock_offset = Some(Arc::new(move || offset_ms));
    let (stream, mut events) = WsStream::private(fast(emu.private_ws_url()), auth).unwrap();
    let (event, _) = wait_for(&mut events, "auth failure", |e| {
        matches!(e, WsEvent::AuthFailed(_))
    })
    .await;
    let WsEvent::AuthFailed(error) = event else {
        unreachable!()
    };
    let (next, _) = wait_for(&mut events, "what follows", |e| {
        matches!(e, WsEvent::Closed { .. } | WsEvent::Reconnecting { .. })
    })
    .await;
    drop(stream);
    (error, vec![next])
}

#[tokio::test]
async fn auth_failures_say_which_and_only_an_expiry_is_retried() {
    let (error, next) = auth_failure(Credentials::new(KEY, "wrong-secret").unwrap(), 0).await;
    assert!(
        matches!(
            &error,
            WsError::Auth {
                kind: AuthFailure::BadSignature,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        matches!(&next[0], WsEvent::Closed { error: Some(_) }),
        "{next:?}"
    );
    assert!(!format!("{error} {error:?}").contains("wrong-secret"));

    let (error, next) = auth_failure(Credentials::new("other-key", SECRET).unwrap(), 0).await;
    assert!(
        matches!(
            &error,
            WsError::Auth {
                kind: AuthFailure::BadKey,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(matches!(&next[0], WsEvent::Closed { .. }));

    // A clock a minute behind makes `expires` already past: "Params Error", retried.
    let (error, next) = auth_failure(Credentials::new(KEY, SECRET).unwrap(), -60_000).await;
    assert!(
        matches!(
            &error,
            WsError::Auth {
                kind: AuthFailure::Expired,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(matches!(&next[0], WsEvent::Reconnecting { .. }), "{next:?}");
}
