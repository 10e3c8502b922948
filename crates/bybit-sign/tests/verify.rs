//! Server-side checks: verification over raw bytes, and the timestamp window (retCode 10002).

use bybit_sign::{check_timestamp, Credentials, TimestampRejection};
use proptest::prelude::*;

fn creds() -> Credentials {
    Credentials::new("test_api_key", "test_secret").unwrap()
}

#[test]
fn verify_accepts_the_pinned_post_vector_and_rejects_any_change() {
    let c = creds();
    let body = br#"{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "test-order-1"}"#;
    let sig = "2df4a0603d69c08d5dea29ba85b46eb7db64ce9e9ebd34a7802a3d69700cb2a1";
    assert!(c.verify_rest("1700000000000", "5000", body, sig));
    assert!(!c.verify_rest("1700000000001", "5000", body, sig));
    assert!(!c.verify_rest("1700000000000", "6000", body, sig));
    let compact = br#"{"category":"linear","symbol":"BTCUSDT","orderLinkId":"test-order-1"}"#;
    assert!(!c.verify_rest("1700000000000", "5000", compact, sig));
    assert!(!c.verify_rest("1700000000000", "5000", body, "not-hex"));
    assert!(!c.verify_rest("1700000000000", "5000", body, ""));
    let other = Credentials::new("test_api_key", "wrong_secret").unwrap();
    assert!(!other.verify_rest("1700000000000", "5000", body, sig));
}

#[test]
fn verify_ws_auth_checks_the_expiry_it_was_signed_for() {
    let c = creds();
    let sig = "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925";
    assert!(c.verify_ws_auth(1_700_000_000_000, sig));
    assert!(!c.verify_ws_auth(1_700_000_000_001, sig));
    assert!(!c.verify_ws_auth(1_700_000_000_000, "zz"));
}

#[test]
fn timestamp_window_matches_bybits_rule_at_both_edges() {
    let server = 1_000_000;
    assert_eq!(check_timestamp(server, server - 5000, 5000), Ok(()));
    assert_eq!(
        check_timestamp(server, server - 5001, 5000),
        Err(TimestampRejection::TooOld)
    );
    assert_eq!(check_timestamp(server, server + 999, 5000), Ok(()));
    assert_eq!(
        check_timestamp(server, server + 1000, 5000),
        Err(TimestampRejection::TooNew)
    );
    // No underflow near zero.
    assert_eq!(check_timestamp(10, 0, 5000), Ok(()));
}

#[test]
fn invalid_credentials_are_refused_with_typed_errors() {
    use bybit_sign::SignError;
    assert!(matches!(
        Credentials::new("", "s"),
        Err(SignError::EmptyApiKey)
    ));
    assert!(matches!(
        Credentials::new("k", ""),
        Err(SignError::EmptySecret)
    ));
    assert!(matches!(
        Credentials::new("key with space", "s"),
        Err(SignError::InvalidApiKey)
    ));
    assert!(matches!(
        Credentials::new("key\n", "s"),
        Err(SignError::InvalidApiKey)
    ));
}

proptest! {
    #[test]
    fn what_is_signed_verifies_and_a_flipped_byte_does_not(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        ts in 0u64..4_000_000_000_000,
        window in 1u64..120_000,
        flip in any::<prop::sample::Index>(),
    ) {
        let c = creds();
        let text = String::from_utf8_lossy(&body).into_owned();
        let post = c.sign_post_raw(ts, window, text).unwrap();
        let h = post.headers();
        prop_assert!(c.verify_rest(h.timestamp(), h.recv_window(), post.body().as_bytes(), h.sign()));
        let mut tampered = post.body().as_bytes().to_vec();
        if !tampered.is_empty() {
            let i = flip.index(tampered.len());
            tampered[i] ^= 0x01;
            prop_assert!(!c.verify_rest(h.timestamp(), h.recv_window(), &tampered, h.sign()));
        }
    }
}
