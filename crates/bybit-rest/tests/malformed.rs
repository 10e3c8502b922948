//! Replies the emulator never sends, from a plain HTTP server (`wiremock`): pages that are not
//! Bybit's JSON, HTTP 403/429 (docs/v5/error.mdx "HTTP codes"; docs/v5/rate-limit/rate-limit.mdx),
//! a cursor followed across pages (docs/v5/market/instrument.mdx) and the batch endpoints the
//! emulator lacks (docs/v5/order/batch-amend.mdx, batch-cancel.mdx).

use std::time::Duration;

use bybit_rest::{AmendOrder, CancelOrder, DecodeStage, OrderTarget, RestClient, RestError};
use bybit_types::Category;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{btc, config, link, price, resting_buy};

fn fast_retries(server: &MockServer) -> RestClient {
    let mut config = config(&server.uri());
    config.retry.delays = vec![Duration::from_millis(1); 3];
    RestClient::new(config).unwrap()
}

async fn serve(server: &MockServer, http_method: &str, route: &str, reply: ResponseTemplate) {
    Mock::given(method(http_method))
        .and(path(route))
        .respond_with(reply)
        .mount(server)
        .await;
}

fn ok(result: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1
    }))
}

#[tokio::test]
async fn an_html_502_is_a_decode_error_that_shows_the_page_and_is_retried() {
    let server = MockServer::start().await;
    let page = "<html><head><title>502 Bad Gateway</title></head><body>cloudfront</body></html>";
    serve(
        &server,
        "GET",
        "/v5/account/info",
        ResponseTemplate::new(502).set_body_string(page),
    )
    .await;
    let err = fast_retries(&server).account_info().await.unwrap_err();
    match &err {
        RestError::Decode {
            stage,
            status,
            first_bytes,
            ..
        } => {
            assert_eq!((*stage, *status), (DecodeStage::Envelope, 502));
            assert!(
                first_bytes.starts_with("<html><head><title>502"),
                "{first_bytes}"
            );
        }
        other => panic!("expected a decode error, got {other}"),
    }
    assert!(err.to_string().contains("HTTP 502"), "{err}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        4,
        "1 + 3 retries"
    );
}

#[tokio::test]
async fn truncated_json_to_a_create_is_an_unknown_outcome_sent_once() {
    let server = MockServer::start().await;
    let cut = r#"{"retCode":0,"retMsg":"OK","result":{"orderId":"1321003749386327552","#;
    serve(
        &server,
        "POST",
        "/v5/order/create",
        ResponseTemplate::new(200).set_body_string(cut),
    )
    .await;
    let err = fast_retries(&server)
        .create_order(resting_buy(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RestError::Decode { status: 200, first_bytes, .. } if first_bytes == cut),
        "{err}"
    );
    assert!(err.is_outcome_unknown() && !err.is_definitive_reject());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_empty_body_is_a_decode_error_of_zero_bytes() {
    let server = MockServer::start().await;
    serve(
        &server,
        "GET",
        "/v5/market/time",
        ResponseTemplate::new(200),
    )
    .await;
    let err = fast_retries(&server).server_time().await.unwrap_err();
    assert!(
        matches!(&err, RestError::Decode { len: 0, status: 200, first_bytes, .. } if first_bytes.is_empty()),
        "{err}"
    );
}

#[tokio::test]
async fn http_403_stops_every_request_locally_until_the_ban_ends() {
    let server = MockServer::start().await;
    serve(
        &server,
        "GET",
        "/v5/account/info",
        ResponseTemplate::new(403).set_body_string("access too frequent"),
    )
    .await;
    let client = fast_retries(&server);
    let err = client.account_info().await.unwrap_err();
    assert!(
        matches!(err, RestError::IpBanned { sent: true, .. }),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert_eq!(err.rate_limit_reset(), Some(Duration::from_secs(600)));
    assert!(
        err.to_string()
            .contains("IP banned by Bybit (HTTP 403) until "),
        "{err}"
    );
    // Nothing more is sent: the client knows the IP is banned, and says so.
    let err = client.server_time().await.unwrap_err();
    assert!(
        matches!(err, RestError::IpBanned { sent: false, .. }),
        "{err}"
    );
    assert!(err.is_definitive_reject(), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

// REFERENCE.md §1 (docs/v5/guide.mdx): IPs in the US or mainland China get HTTP 403 too, from
// Bybit's CDN, whose page says the country is blocked. That is no 10-minute ban: the message
// says what the reply said, not "until HH:MM:SS" as if waiting would lift it.
#[tokio::test]
async fn http_403_for_a_blocked_country_says_so_not_a_ban_that_ends() {
    let server = MockServer::start().await;
    serve(
        &server,
        "GET",
        "/v5/account/info",
        ResponseTemplate::new(403).set_body_string(
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n<HTML><HEAD>\
             <TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY>\n\
             <H1>403 ERROR</H1>\nThe Amazon CloudFront distribution is configured to block \
             access from your country.\n</BODY></HTML>",
        ),
    )
    .await;
    let client = fast_retries(&server);
    for err in [
        client.account_info().await.unwrap_err(),
        client.server_time().await.unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(
            text.contains("HTTP 403")
                && text.contains("country")
                && !text.contains("Bybit bans an IP for at least"),
            "{text}"
        );
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn http_429_backs_off_until_the_reset_header_then_succeeds() {
    let server = MockServer::start().await;
    let reset = bybit_sign_now_ms() + 300;
    Mock::given(method("GET"))
        .and(path("/v5/account/info"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-Bapi-Limit-Reset-Timestamp", reset.to_string().as_str()),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    serve(
        &server,
        "GET",
        "/v5/account/info",
        ok(json!({"marginMode": "REGULAR_MARGIN"})),
    )
    .await;
    let started = std::time::Instant::now();
    fast_retries(&server).account_info().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "waited for the reset"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

fn bybit_sign_now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test]
async fn instruments_follow_the_cursor_through_every_page_unchanged() {
    let Some(text) = testkit::fixture("rest_instruments_info_linear.json") else {
        return;
    };
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let server = MockServer::start().await;
    let mut first = fixture.clone();
    first["result"]["nextPageCursor"] = json!("first%3D1");
    let mut second = fixture.clone();
    second["result"]["list"][0]["symbol"] = json!("ETHUSDT");
    second["result"]["nextPageCursor"] = json!("");
    Mock::given(method("GET"))
        .and(path("/v5/market/instruments-info"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v5/market/instruments-info"))
        .and(query_param("cursor", "first=1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(second))
        .mount(&server)
        .await;
    let all = fast_retries(&server)
        .instruments(Category::Linear)
        .await
        .unwrap();
    let symbols: Vec<_> = all.iter().map(|i| i.symbol.as_str()).collect();
    assert_eq!(symbols, ["BTCUSDT", "ETHUSDT"]);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests[1].url.query(),
        Some("category=linear&limit=1000&cursor=first%3D1")
    );
}

#[tokio::test]
async fn batch_amend_and_cancel_report_each_item() {
    let server = MockServer::start().await;
    let batch = |ext: Value| {
        ResponseTemplate::new(200).set_body_json(json!({
            "retCode": 0, "retMsg": "OK",
            "result": {"list": [
                {"category": "linear", "symbol": "BTCUSDT", "orderId": "1", "orderLinkId": "a"},
                {"category": "linear", "symbol": "BTCUSDT", "orderId": "", "orderLinkId": "b"}
            ]},
            "retExtInfo": {"list": ext}, "time": 1
        }))
    };
    serve(&server, "POST", "/v5/order/amend-batch", batch(json!([{"code": 0, "msg": "OK"}, {"code": 110001, "msg": "order not exists or too late to replace"}]))).await;
    serve(
        &server,
        "POST",
        "/v5/order/cancel-batch",
        batch(json!([{"code": 0, "msg": "OK"}])),
    )
    .await;
    let client = fast_retries(&server);
    let amends = vec![
        AmendOrder::new(btc(), OrderTarget::LinkId(link("a"))).price(price(dec!(1))),
        AmendOrder::new(btc(), OrderTarget::LinkId(link("b"))).price(price(dec!(1))),
    ];
    let items = client.amend_batch(amends).await.unwrap();
    assert_eq!(items[0].as_ref().unwrap().order_id, "1");
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(err.ret_code(), Some(110001));
    assert_eq!(err.context().order_link_id.as_deref(), Some("b"));
    // A missing retExtInfo entry is not success: that item's outcome is unknown.
    let cancels = vec![
        CancelOrder::new(btc(), OrderTarget::LinkId(link("a"))),
        CancelOrder::new(btc(), OrderTarget::LinkId(link("b"))),
    ];
    let items = client.cancel_batch(cancels).await.unwrap();
    assert!(items[0].is_ok());
    assert!(items[1].as_ref().unwrap_err().is_outcome_unknown());
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[1].body).unwrap();
    assert_eq!(sent["category"], "linear");
    assert_eq!(sent["request"][1]["orderLinkId"], "b");
}
