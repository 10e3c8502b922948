//! Review findings: each test failed before its fix.

use bybit_rest::{DecodeStage, RestClient, RestError};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::config;

/// A hostile or broken server can send a body of any size; the client must stop reading at
/// its bound instead of holding it all in memory, and say what arrived.
#[tokio::test]
async fn a_body_larger_than_the_bound_is_a_decode_error_not_an_allocation() {
    let server = MockServer::start().await;
    let mut huge = String::from(r#"{"retCode":0,"retMsg":"OK","result":{"pad":""#);
    huge.push_str(&"x".repeat(4_000_000));
    huge.push_str(r#""},"retExtInfo":{},"time":1}"#);
    Mock::given(method("GET"))
        .and(path("/v5/account/info"))
        .respond_with(ResponseTemplate::new(200).set_body_string(huge))
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.retry.delays.clear();
    config.max_body_bytes = 64 * 1024;
    let err = RestClient::new(config)
        .unwrap()
        .account_info()
        .await
        .unwrap_err();
    match &err {
        RestError::Decode {
            stage,
            status,
            len,
            first_bytes,
            reason,
            ..
        } => {
            assert_eq!((*stage, *status), (DecodeStage::Envelope, 200));
            // Reading stops at the first chunk past the bound (hyper reads at most a few hundred kB).
            assert!(*len < 1_000_000, "read {len} bytes");
            assert!(first_bytes.starts_with(r#"{"retCode":0"#), "{first_bytes}");
            assert!(reason.contains("65536"), "{reason}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

fn exchange(code: i64) -> RestError {
    RestError::Exchange {
        ctx: bybit_rest::ErrorContext {
            endpoint: "POST /v5/order/create",
            symbol: None,
            order_link_id: None,
            write: true,
        },
        code,
        message: String::new(),
    }
}

/// docs/v5/error.mdx (REFERENCE.md §12): 110079 "order is processing, retry later" does not
/// say the order was refused, so it is not a definitive reject: look it up, retry with the
/// same orderLinkId (the gateway's own classification already says so). 10007 "user
/// authentication failed" is an auth failure like 10003/10004.
#[test]
fn order_processing_is_an_unknown_outcome_and_10007_is_auth_fatal() {
    let processing = exchange(110079);
    assert!(!processing.is_definitive_reject());
    assert!(processing.is_outcome_unknown());
    assert!(processing.is_retryable());
    assert!(exchange(10007).is_auth_fatal());
}

/// docs/v5/order/batch-place.mdx: a re-sent batch whose items answer 110072 resolves each to
/// the order that exists, but only when it is the same order, as `create_order` does: an
/// orderLinkId that already belonged to a different order is the caller's mistake, not our
/// earlier attempt, and must stay an error rather than ack someone else's order.
#[tokio::test]
async fn a_resent_batch_does_not_adopt_a_different_order_that_holds_the_link_id() {
    use crate::support::{btc, client, control, emulator, link, orders_with_link, price, qty};
    use rust_decimal_macros::dec;
    let emu = emulator().await;
    let client = client(&emu);
    client
        .create_order(crate::support::resting_buy(Some("rb-1")))
        .await
        .unwrap();
    let different = bybit_rest::NewOrder::limit(
        btc(),
        bybit_types::WireSide::Sell,
        qty(dec!(0.002)),
        price(dec!(150000)),
    )
    .order_link_id(link("rb-1"));
    control(&emu, "/lose-response", serde_json::json!({"count": 1})).await;
    let items = client
        .create_batch(vec![different, crate::support::resting_buy(Some("rb-2"))])
        .await
        .unwrap();
    let first = items[0].as_ref().map(|a| a.order_id.clone());
    assert!(
        matches!(&items[0], Err(e) if e.is_duplicate_order_link_id()),
        "{first:?}"
    );
    assert!(items[1].is_ok(), "{:?}", items[1]);
    assert_eq!(orders_with_link(&emu, "rb-2").await.len(), 1);
}

/// REFERENCE.md §9: a real capture shows the duplicate-orderLinkId text under retCode 20094;
/// match on the message as well as the code. Read as a plain reject, it would tell a caller
/// that an order which exists does not.
#[test]
fn the_duplicate_text_under_another_code_is_still_a_duplicate() {
    let err = RestError::Exchange {
        ctx: bybit_rest::ErrorContext {
            endpoint: "POST /v5/order/create",
            symbol: None,
            order_link_id: Some("a-1".into()),
            write: true,
        },
        code: 20094,
        message: "OrderLinkedID is duplicate".to_owned(),
    };
    assert!(err.is_duplicate_order_link_id());
    assert!(!err.is_definitive_reject());
}
