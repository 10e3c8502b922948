//! The secret never appears in `Debug`, errors or signed artefacts (SPEC R-CFG-4).

use bybit_sign::{Credentials, SignError};

const SECRET: &str = "sEcReT-vAlUe-0123456789abcdef";

fn assert_hidden(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} leaks the secret: {text}");
    // Not even a recognisable fragment of it.
    assert!(
        !text.contains("sEcReT"),
        "{what} leaks part of the secret: {text}"
    );
}

#[test]
fn secret_is_absent_from_every_formatting_of_credentials() {
    let c = Credentials::new("my_key", SECRET).unwrap();
    let debug = format!("{c:?}");
    assert_hidden("Debug", &debug);
    assert_hidden("pretty Debug", &format!("{c:#?}"));
    assert!(
        debug.contains("[REDACTED]"),
        "Debug should say it hides something: {debug}"
    );
    assert!(debug.contains("my_key"));
    // A clone is as careful as the original.
    assert_hidden("Debug of a clone", &format!("{:?}", c.clone()));
}

#[test]
fn secret_is_absent_from_signed_requests_and_ws_auth() {
    let c = Credentials::new("my_key", SECRET).unwrap();
    let get = c.sign_get(1, 5000, &[("symbol", "BTCUSDT")]).unwrap();
    assert_hidden("SignedGet", &format!("{get:?}"));
    let post = c.sign_post(1, 5000, &serde_json::json!({"a": 1})).unwrap();
    assert_hidden("SignedPost", &format!("{post:?}"));
    assert_hidden("SignedPost body", post.body());
    for (name, value) in post.headers().iter() {
        assert_hidden(name, value);
    }
    let auth = c.ws_auth(1).unwrap();
    assert_hidden("WsAuth", &format!("{auth:?}"));
    assert_hidden("WsAuth frame", &auth.to_request("1"));
}

#[test]
fn secret_is_absent_from_errors() {
    let c = Credentials::new("my_key", SECRET).unwrap();
    // A map with non-string keys cannot become JSON: a body error.
    let mut bad = std::collections::BTreeMap::new();
    bad.insert(vec![1u8], 1);
    let err = c.sign_post(1, 5000, &bad).unwrap_err();
    assert!(matches!(err, SignError::Body(_)));
    assert_hidden("error Display", &err.to_string());
    assert_hidden("error Debug", &format!("{err:?}"));
    for err in [
        Credentials::new("", SECRET).unwrap_err(),
        Credentials::new("bad key", SECRET).unwrap_err(),
    ] {
        assert_hidden("constructor error", &format!("{err} {err:?}"));
    }
}
