//! Every error class the client reports, provoked through the emulator's controls
//! (crates/bybit-emulator/src/faults.rs) and its real rules (docs/v5/error.mdx).

use std::time::{Duration, Instant};

use bybit_rest::{RateLimitSignal, RestClient, RestError};
use bybit_sign::Credentials;
use bybit_types::WireSide;
use rust_decimal_macros::dec;
use serde_json::json;

use crate::support::{
    btc, client, client_with, control, emulator, orders_with_link, qty, resting_buy, KEY,
};

fn open_orders(state: &serde_json::Value) -> usize {
    state["openOrders"].as_array().map_or(0, Vec::len)
}

// docs/v5/error.mdx: 10003 API key invalid, 10004 signature error.
#[tokio::test]
async fn a_wrong_key_or_secret_is_auth_fatal_and_not_retried() {
    let emu = emulator().await;
    let wrong_secret = client_with(&emu, |c| {
        c.credentials = Some(Credentials::new(KEY, "not-the-secret").unwrap());
    });
    let err = wrong_secret.account_info().await.unwrap_err();
    assert_eq!(err.ret_code(), Some(10004), "{err}");
    assert!(err.is_auth_fatal() && !err.is_retryable());
    let wrong_key = client_with(&emu, |c| {
        c.credentials = Some(Credentials::new("unknown-key", "s").unwrap());
    });
    // Bybit answers an unknown key with retCode 10003 (HTTP 200 or 401 with its JSON body).
    let err = wrong_key
        .create_order(resting_buy(Some("auth-1")))
        .await
        .unwrap_err();
    assert_eq!(err.ret_code(), Some(10003), "{err}");
    assert!(err.is_auth_fatal() && err.is_definitive_reject() && !err.is_outcome_unknown());
    assert_eq!(err.context().order_link_id.as_deref(), Some("auth-1"));
    assert_eq!(err.context().symbol.as_deref(), Some("BTCUSDT"));
}

// docs/v5/error.mdx: 110007 available balance insufficient.
#[tokio::test]
async fn an_order_the_wallet_cannot_cover_is_insufficient_balance_and_definitive() {
    let emu = emulator().await;
    let client = client(&emu);
    let huge = bybit_rest::NewOrder::market(btc(), WireSide::Buy, qty(dec!(100)))
        .order_link_id(crate::support::link("big-1"));
    let err = client.create_order(huge).await.unwrap_err();
    assert!(err.is_insufficient_balance(), "{err}");
    assert!(err.is_definitive_reject() && !err.is_retryable() && !err.is_outcome_unknown());
    assert!(orders_with_link(&emu, "big-1")
        .await
        .iter()
        .all(|o| o["orderStatus"] != "New"));
}

// docs/v5/error.mdx: 10016 server error; the emulator does not execute the failed request.
#[tokio::test]
async fn a_server_error_is_retried_for_reads_and_unknown_for_an_unlinked_create() {
    let emu = emulator().await;
    let client = client(&emu);
    control(&emu, "/fail", json!({"count": 2, "retCode": 10016})).await;
    client.account_info().await.expect("third attempt succeeds");

    control(&emu, "/fail", json!({"count": 1, "retCode": 10016})).await;
    let err = client.create_order(resting_buy(None)).await.unwrap_err();
    assert_eq!(err.ret_code(), Some(10016));
    assert!(err.is_outcome_unknown() && err.is_retryable() && !err.is_definitive_reject());
    // Sent once: the next request is not failed, and nothing was created.
    assert_eq!(emu.truth()["faults"]["fail"], 0);
    assert_eq!(open_orders(&emu.truth()), 0);
}

// SPEC R-REST-2: three retries, then the error surfaces.
#[tokio::test]
async fn a_5xx_is_retried_three_times_then_surfaces_as_a_decode_error_with_the_status() {
    let emu = emulator().await;
    let client = client(&emu);
    control(&emu, "/fail", json!({"count": 10, "status": 503})).await;
    let err = client.account_info().await.unwrap_err();
    // One attempt and three retries consumed four of the ten injected failures.
    assert_eq!(emu.truth()["faults"]["fail"], 6);
    match &err {
        RestError::Decode {
            status,
            first_bytes,
            ..
        } => {
            assert_eq!(*status, 503);
            assert!(first_bytes.contains("injected failure"), "{first_bytes}");
        }
        other => panic!("expected a decode error, got {other}"),
    }
    assert!(
        err.is_retryable() && !err.is_outcome_unknown(),
        "a read has no outcome"
    );
}

// faults.rs `hold`: the emulator holds the request past the client's timeout.
#[tokio::test]
async fn a_timeout_is_an_unknown_outcome_for_a_write() {
    let emu = emulator().await;
    let client = client_with(&emu, |c| c.timeout = Duration::from_millis(1000));
    control(&emu, "/hold", json!({"count": 1, "ms": 10_000})).await;
    let err = client.create_order(resting_buy(None)).await.unwrap_err();
    assert!(matches!(err, RestError::Timeout { .. }), "{err}");
    assert!(err.is_outcome_unknown() && err.is_retryable());
    // A read under the same fault is retried and succeeds.
    control(&emu, "/hold", json!({"count": 1, "ms": 10_000})).await;
    client.account_info().await.unwrap();
}

// faults.rs `lose-response`: executed, then the connection drops.
#[tokio::test]
async fn a_lost_reply_to_an_unlinked_create_is_an_unknown_outcome() {
    let emu = emulator().await;
    let client = client(&emu);
    control(&emu, "/lose-response", json!({"count": 1})).await;
    let err = client.create_order(resting_buy(None)).await.unwrap_err();
    assert!(
        matches!(err, RestError::Network { sent: true, .. }),
        "{err}"
    );
    assert!(err.is_outcome_unknown() && !err.is_definitive_reject());
    assert_eq!(open_orders(&emu.truth()), 1, "it did execute");
}

// docs/v5/rate-limit/rate-limit.mdx: 10006 until the window resets.
#[tokio::test]
async fn a_10006_waits_for_the_reset_and_then_succeeds() {
    let emu = emulator().await;
    let client = client(&emu);
    control(&emu, "/rate-limit", json!({"cap": 0, "seconds": 1})).await;
    let started = Instant::now();
    client
        .account_info()
        .await
        .expect("succeeds after the reset");
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_allowed_wait_is_reported_with_its_reset() {
    let emu = emulator().await;
    let client = client_with(&emu, |c| {
        c.retry.rate_limit_retries = 0;
        c.retry.delays.clear();
    });
    control(&emu, "/rate-limit", json!({"cap": 0, "seconds": 30})).await;
    let err = client.account_info().await.unwrap_err();
    assert!(err.is_rate_limited(), "{err}");
    assert_eq!(err.ret_code(), Some(10006));
    let reset = err.rate_limit_reset().unwrap();
    // The window's reset (or the pressure's end, depending on how the emulator reports it).
    assert!(
        reset > Duration::ZERO && reset <= Duration::from_secs(30),
        "{reset:?}"
    );
    assert!(matches!(
        err,
        RestError::RateLimited {
            signal: RateLimitSignal::RetCode10006,
            ..
        }
    ));
}

// A 10002 resync needs /v5/market/time; a client that cannot reach the server at all fails
// before sending: a definitive reject.
#[tokio::test]
async fn a_refused_connection_is_a_definitive_network_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = RestClient::new(crate::support::config(&url)).unwrap();
    let err = client.create_order(resting_buy(None)).await.unwrap_err();
    assert!(
        matches!(err, RestError::Network { sent: false, .. }),
        "{err}"
    );
    assert!(err.is_definitive_reject() && !err.is_outcome_unknown());
}
