//! The crate's one integration-test binary. Modules by area; the helpers below are the funnel
//! every check goes through, so a change of approach touches one place.

// The whole crate is test code: a panic is a failed assertion (as clippy.toml says for
// `#[test]` functions, which alone it covers; the helpers here need the same).
#![allow(clippy::unwrap_used)]

use std::fmt::Debug;

use bybit_types::RawEnvelope;
use serde::de::DeserializeOwned;
use serde::Serialize;

mod fixtures;
mod number;
mod price_limit;
mod primitives;
mod values;
mod wire_props;
mod ws;

/// Writes `value`, reads it back and checks nothing changed. Returns the written JSON so the
/// caller can also look at the shape.
pub(crate) fn round_trip<T>(value: &T) -> String
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let text = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("written value does not parse again: {e}\n{text}"));
    assert_eq!(
        &back, value,
        "round trip changed the value; written: {text}"
    );
    text
}

/// Parses inline JSON into `T`, panicking with the serde message on failure.
pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("cannot parse: {e}\n{text}"))
}

/// The success `result` of a REST fixture, or `None` when the fixture folder is absent
/// outside CI (testkit has already said SKIPPED).
pub(crate) fn rest_result<T: DeserializeOwned>(name: &str) -> Option<T> {
    let text = testkit::fixture(name)?;
    let envelope = RawEnvelope::parse(text.as_bytes()).unwrap();
    assert!(envelope.is_success(), "{name} is not a success reply");
    Some(envelope.decode("fixture result").unwrap())
}

/// A WebSocket fixture parsed as `T`, or `None` where [`rest_result`] is `None`.
pub(crate) fn ws_fixture<T: DeserializeOwned>(name: &str) -> Option<T> {
    testkit::fixture(name).map(|text| parse(&text))
}
