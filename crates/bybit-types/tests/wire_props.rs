//! Properties of the wire helpers: decimals survive text, `""` is none.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A field of each helper, the way payload structs use them.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Wire {
    #[serde(with = "bybit_types::serde_helpers::decimal")]
    required: Decimal,
    #[serde(default, with = "bybit_types::serde_helpers::opt_decimal")]
    optional: Option<Decimal>,
    #[serde(default, with = "bybit_types::serde_helpers::decimal_map")]
    map: BTreeMap<String, Decimal>,
}

/// Any decimal rust_decimal can hold: a 96-bit mantissa, a sign and a scale of 0 to 28.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    (any::<(u32, u32, u32)>(), any::<bool>(), 0u32..=28).prop_map(
        |((lo, mid, hi), negative, scale)| Decimal::from_parts(lo, mid, hi, negative, scale),
    )
}

proptest! {
    #[test]
    fn decimal_text_parses_back_to_the_same_value_and_scale(value in any_decimal()) {
        let text = value.to_string();
        let json = format!(r#"{{"required":"{text}","optional":"{text}","map":{{"USDT":"{text}"}}}}"#);
        let wire: Wire = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(wire.required, value);
        // Equal and written the same: the scale ("0.10" vs "0.1") survives too.
        prop_assert_eq!(wire.required.to_string(), text.clone());
        prop_assert_eq!(wire.optional, Some(value));
        prop_assert_eq!(wire.map.get("USDT"), Some(&value));
        // And what is written is what was read.
        prop_assert_eq!(serde_json::to_string(&wire).unwrap(), json);
    }

    #[test]
    fn decimal_also_reads_from_a_json_integer(value in any::<i64>()) {
        let wire: Wire = serde_json::from_str(&format!(r#"{{"required":{value}}}"#)).unwrap();
        prop_assert_eq!(wire.required, Decimal::from(value));
    }
}

#[test]
fn empty_null_and_missing_are_none_for_optional_decimals() {
    for json in [
        r#"{"required":"1","optional":""}"#,
        r#"{"required":"1","optional":null}"#,
        r#"{"required":"1"}"#,
    ] {
        let wire: Wire = serde_json::from_str(json).unwrap();
        assert_eq!(wire.optional, None, "{json}");
    }
    // None goes out as Bybit's "".
    let wire: Wire = serde_json::from_str(r#"{"required":"1"}"#).unwrap();
    assert_eq!(
        serde_json::to_string(&wire).unwrap(),
        r#"{"required":"1","optional":"","map":{}}"#
    );
}

#[test]
fn empty_and_garbage_are_errors_for_required_decimals() {
    for json in [
        r#"{"required":""}"#,
        r#"{"required":null}"#,
        r#"{"required":"1.2.3"}"#,
        r#"{"required":true}"#,
        r#"{}"#,
    ] {
        assert!(serde_json::from_str::<Wire>(json).is_err(), "{json}");
    }
}

#[test]
fn fee_maps_drop_empty_entries_and_accept_null() {
    let wire: Wire =
        serde_json::from_str(r#"{"required":"1","map":{"USDT":"0.5","MNT":"","BTC":2}}"#).unwrap();
    assert_eq!(wire.map.len(), 2);
    assert_eq!(wire.map["BTC"], Decimal::from(2));
    let wire: Wire = serde_json::from_str(r#"{"required":"1","map":null}"#).unwrap();
    assert!(wire.map.is_empty());
}
