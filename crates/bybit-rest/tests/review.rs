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
