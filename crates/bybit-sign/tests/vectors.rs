//! Every signature vector of REFERENCE.md §2 "Signature test vectors", pinned.

use bybit_sign::Credentials;

fn creds(key: &str) -> Credentials {
    Credentials::new(key, "test_secret").unwrap()
}

/// The funnel: the signature of `message` under `test_secret` must be `expected`.
fn check(message: &str, expected: &str) {
    assert_eq!(
        creds("unused").sign_message(message.as_bytes()).unwrap(),
        expected,
        "signature of {message:?}"
    );
}

#[test]
fn table_vectors_sign_their_pre_sign_strings() {
    check(
        "1700000000000test_api_key5000category=linear&symbol=BTCUSDT",
        "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7",
    );
    check(
        r#"1700000000000test_api_key5000{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "test-order-1"}"#,
        "2df4a0603d69c08d5dea29ba85b46eb7db64ce9e9ebd34a7802a3d69700cb2a1",
    );
    check(
        "GET/realtime1700000000000",
        "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925",
    );
    check(
        "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C",
        "2c42d015234a3fc985e5294b2665235b3f51cf59dfbbde6be0097d0bc33256bf",
    );
    check(
        r#"1658385579423XXXXXXXXXX5000{"category": "option"}"#,
        "7fdd84061f25faa9566fa013c0dd25adcb78a0ab90cbb992c0f12427d82f7221",
    );
    check(
        "1700000000000test_api_key5000",
        "cfffd774219bfa1d400476f699f830daaedcd3c41faa1dbdda95a8f4dd8170cc",
    );
}

#[test]
fn get_with_params_builds_the_signed_query_and_headers() {
    let get = creds("test_api_key")
        .sign_get(
            1_700_000_000_000,
            5000,
            &[("category", "linear"), ("symbol", "BTCUSDT")],
        )
        .unwrap();
    assert_eq!(get.query(), "category=linear&symbol=BTCUSDT");
    let h = get.headers();
    assert_eq!(h.api_key(), "test_api_key");
    assert_eq!(h.timestamp(), "1700000000000");
    assert_eq!(h.recv_window(), "5000");
    assert_eq!(
        h.sign(),
        "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7"
    );
    let names: Vec<_> = h.iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "X-BAPI-API-KEY",
            "X-BAPI-TIMESTAMP",
            "X-BAPI-SIGN",
            "X-BAPI-RECV-WINDOW"
        ]
    );
}

#[test]
fn get_without_params_signs_timestamp_key_and_window_only() {
    let get = creds("test_api_key")
        .sign_get(1_700_000_000_000, 5000, &[])
        .unwrap();
    assert_eq!(get.query(), "");
    assert_eq!(
        get.headers().sign(),
        "cfffd774219bfa1d400476f699f830daaedcd3c41faa1dbdda95a8f4dd8170cc"
    );
}

#[test]
fn docs_get_vector_via_prebuilt_query() {
    let get = creds("XXXXXXXXXX")
        .sign_get_query(
            1_658_384_314_791,
            5000,
            "category=option&symbol=BTC-29JUL22-25000-C".to_owned(),
        )
        .unwrap();
    assert_eq!(
        get.headers().sign(),
        "2c42d015234a3fc985e5294b2665235b3f51cf59dfbbde6be0097d0bc33256bf"
    );
}

#[test]
fn raw_post_body_with_spaces_is_signed_byte_for_byte() {
    // pybit sends JSON with spaces after separators; the signature must cover those bytes.
    let body = r#"{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "test-order-1"}"#;
    let post = creds("test_api_key")
        .sign_post_raw(1_700_000_000_000, 5000, body.to_owned())
        .unwrap();
    assert_eq!(post.body(), body);
    assert_eq!(
        post.headers().sign(),
        "2df4a0603d69c08d5dea29ba85b46eb7db64ce9e9ebd34a7802a3d69700cb2a1"
    );
}

#[test]
fn serialized_post_body_is_the_text_that_was_signed() {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        category: &'a str,
        symbol: &'a str,
        order_link_id: &'a str,
    }
    let c = creds("test_api_key");
    let post = c
        .sign_post(
            1_700_000_000_000,
            5000,
            &Body {
                category: "linear",
                symbol: "BTCUSDT",
                order_link_id: "test-order-1",
            },
        )
        .unwrap();
    assert_eq!(
        post.body(),
        r#"{"category":"linear","symbol":"BTCUSDT","orderLinkId":"test-order-1"}"#
    );
    let pre_sign = format!("1700000000000test_api_key5000{}", post.body());
    assert_eq!(
        post.headers().sign(),
        c.sign_message(pre_sign.as_bytes()).unwrap()
    );
    // The compact body is different text from the spaced vector, so a different signature.
    assert_ne!(
        post.headers().sign(),
        "2df4a0603d69c08d5dea29ba85b46eb7db64ce9e9ebd34a7802a3d69700cb2a1"
    );
}

#[test]
fn ws_auth_signs_get_realtime_with_expiry_and_frames_the_request() {
    let auth = creds("test_api_key").ws_auth(1_700_000_000_000).unwrap();
    assert_eq!(auth.api_key(), "test_api_key");
    assert_eq!(auth.expires_ms(), 1_700_000_000_000);
    assert_eq!(
        auth.signature(),
        "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"
    );
    let frame: serde_json::Value = serde_json::from_str(&auth.to_request("10001")).unwrap();
    assert_eq!(
        frame,
        serde_json::json!({
            "req_id": "10001",
            "op": "auth",
            "args": [
                "test_api_key",
                1_700_000_000_000_u64,
                "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"
            ]
        })
    );
}

// The HMAC is keyed once per `Credentials` and cloned per signature: signing must never
// change that state, for the original or a clone.
#[test]
fn repeated_signatures_and_clones_sign_alike() {
    let original = creds("test_api_key");
    for c in [original.clone(), original] {
        for _ in 0..3 {
            let get = c
                .sign_get(
                    1_700_000_000_000,
                    5000,
                    &[("category", "linear"), ("symbol", "BTCUSDT")],
                )
                .unwrap();
            assert_eq!(
                get.headers().sign(),
                "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7"
            );
        }
    }
}
