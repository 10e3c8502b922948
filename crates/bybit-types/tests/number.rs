//! The strict decimal grammar (`parse_decimal`) and where it applies: the newtypes' `FromStr`
//! and, with an exponent form added, exchange payloads. Bybit documents prices and quantities
//! as plain decimal strings (docs/v5/order/create-order.mdx: `qty`, `price` are `string`).

use std::str::FromStr;

use bybit_types::{
    parse_decimal, parse_exchange_decimal, DecimalError, Error, Price, Qty, MAX_FRACTION_DIGITS,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Deserialize;

/// The funnel: `text` parses to `expected` (value and written scale) or fails with that error.
fn check(text: &str, expected: Result<Decimal, DecimalError>) {
    let got = parse_decimal(text);
    assert_eq!(got, expected, "{text:?}");
    if let (Ok(got), Ok(want)) = (got, expected) {
        assert_eq!(got.scale(), want.scale(), "{text:?} kept its scale");
    }
}

/// Texts `rust_decimal`'s `FromStr` reads (or rounds) and the strict grammar refuses.
const LENIENT_ONLY: [&str; 14] = [
    "1_000", "1_0", "1e3", "1E3", "+0.001", ".5", "5.", " 1", "1 ", "1.2.3", "0x10", "--1", "1-",
    "٣",
];

#[test]
fn plain_decimals_are_read_exactly() {
    check("0", Ok(dec!(0)));
    check("-0", Ok(dec!(0)));
    check("007", Ok(dec!(7)));
    check("1.50", Ok(dec!(1.50)));
    check("-12.345", Ok(dec!(-12.345)));
    check(
        "0.0000000000000000000000000001",
        Ok(dec!(0.0000000000000000000000000001)),
    );
    check("79228162514264337593543950335", Ok(Decimal::MAX));
    check("-79228162514264337593543950335", Ok(Decimal::MIN));
}

#[test]
fn everything_else_is_refused_with_a_reason() {
    check("", Err(DecimalError::Empty));
    for text in LENIENT_ONLY {
        check(text, Err(DecimalError::Syntax));
        assert!(parse_exchange_decimal(text).is_err() || text.contains(['e', 'E']));
    }
    // One fractional digit too many: rust_decimal would round it away.
    check(
        &format!("0.{}1", "0".repeat(MAX_FRACTION_DIGITS)),
        Err(DecimalError::TooPrecise),
    );
    assert!(Decimal::from_str(&format!("0.{}1", "0".repeat(MAX_FRACTION_DIGITS))).is_ok());
    check(
        "79228162514264337593543950336",
        Err(DecimalError::OutOfRange),
    );
    check(&"9".repeat(60), Err(DecimalError::OutOfRange));
    // rust_decimal reads every one of these, which is the bug this grammar closes.
    for text in ["1_000", "+0.001", ".5", "5."] {
        assert!(Decimal::from_str(text).is_ok(), "{text}");
    }
}

#[test]
fn price_and_qty_from_text_use_the_strict_grammar() {
    for text in LENIENT_ONLY.iter().copied().chain([""]) {
        assert!(
            matches!(
                Qty::from_str(text),
                Err(Error::InvalidDecimal { field: "qty", .. })
            ),
            "{text:?}"
        );
        assert!(
            matches!(
                Price::from_str(text),
                Err(Error::InvalidDecimal { field: "price", .. })
            ),
            "{text:?}"
        );
    }
    for text in ["0", "-0", "-1"] {
        assert!(
            matches!(Qty::from_str(text), Err(Error::NotPositive { .. })),
            "{text:?}"
        );
    }
    assert_eq!(Qty::from_str("0.001").unwrap().get(), dec!(0.001));
    let err = Qty::from_str("1_0").unwrap_err().to_string();
    assert!(
        err.contains("1_0") && err.contains("plain decimal"),
        "{err}"
    );
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(with = "bybit_types::serde_helpers::decimal")]
    value: Decimal,
}

fn from_exchange(text: &str) -> Result<Decimal, serde_json::Error> {
    serde_json::from_str::<Payload>(&format!(r#"{{"value":"{text}"}}"#)).map(|p| p.value)
}

#[test]
fn exchange_payloads_take_the_grammar_plus_an_exponent() {
    assert_eq!(from_exchange("0.10").unwrap(), dec!(0.10));
    assert_eq!(from_exchange("1E-8").unwrap(), dec!(0.00000001));
    assert_eq!(from_exchange("-2.5e3").unwrap(), dec!(-2500));
    assert_eq!(from_exchange("1e+2").unwrap(), dec!(100));
    for text in [
        "1_0", "+1", ".5", "5.", " 1", "1e", "e5", "1e3.5", "1e-40", "1e99",
    ] {
        assert!(from_exchange(text).is_err(), "{text:?}");
    }
    assert_eq!(
        parse_exchange_decimal("1e-40"),
        Err(DecimalError::TooPrecise)
    );
    assert_eq!(
        parse_exchange_decimal("1e99"),
        Err(DecimalError::OutOfRange)
    );
}

/// The reference grammar, written differently from the parser: `-?D(.D)?` with `D = [0-9]+`.
fn in_grammar(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let parts: Vec<&str> = unsigned.split('.').collect();
    parts.len() <= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether grammatical `text` fits a Decimal as written: ≤ 28 fractional digits and the
/// digits, point removed, at most 2^96 − 1.
fn fits(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let fraction = unsigned.split_once('.').map_or(0, |(_, f)| f.len());
    let digits: String = unsigned.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0');
    fraction <= MAX_FRACTION_DIGITS
        && (significant.len() < 29
            || (significant.len() == 29 && significant.parse::<u128>().unwrap() < (1u128 << 96)))
}

/// Any decimal rust_decimal can hold: a 96-bit mantissa, a sign and a scale of 0 to 28.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    (any::<(u32, u32, u32)>(), any::<bool>(), 0u32..=28).prop_map(
        |((lo, mid, hi), negative, scale)| Decimal::from_parts(lo, mid, hi, negative, scale),
    )
}

proptest! {
    #[test]
    fn grammatical_text_is_accepted_exactly_when_a_decimal_holds_it(
        text in r"-?[0-9]{1,32}(\.[0-9]{1,32})?"
    ) {
        let got = parse_decimal(&text);
        prop_assert_eq!(got.is_ok(), fits(&text), "{:?}: {:?}", text, got);
        if let Ok(value) = got {
            // The same value rust_decimal reads from a plain text it holds exactly.
            prop_assert_eq!(value, Decimal::from_str_exact(&text).unwrap());
        }
    }

    #[test]
    fn any_text_is_accepted_only_if_it_is_in_the_grammar(
        text in r"[-+0-9._eEx ]{0,12}"
    ) {
        let got = parse_decimal(&text);
        // Twelve characters always fit, so grammar alone decides.
        prop_assert_eq!(got.is_ok(), in_grammar(&text), "{:?}: {:?}", text, got);
    }

    #[test]
    fn every_decimal_round_trips_through_its_text(value in any_decimal()) {
        let text = value.to_string();
        let back = parse_decimal(&text).unwrap();
        prop_assert_eq!(back, value);
        prop_assert_eq!(back.to_string(), text);
    }
}

// A request body is what a caller wrote: the strict grammar, no exponent, no JSON float
// (docs v5/order/create-order, v5/position/trading-stop: decimals are strings).
#[test]
fn request_bodies_read_their_decimals_strictly() {
    use bybit_types::rest::order::CreateOrderRequest;
    use bybit_types::rest::position::TradingStopRequest;

    let order = |qty: &str, price: &str| {
        format!(
            r#"{{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":{qty},"price":{price}}}"#
        )
    };
    let ok: CreateOrderRequest =
        serde_json::from_str(&order(r#""0.010""#, r#""27000.5""#)).unwrap();
    assert_eq!((ok.qty, ok.price), (dec!(0.010), Some(dec!(27000.5))));
    let integer: CreateOrderRequest = serde_json::from_str(&order("2", r#""""#)).unwrap();
    assert_eq!((integer.qty, integer.price), (dec!(2), None));
    for (qty, price) in [
        (r#""1_0""#, r#""1""#),
        (r#""1e3""#, r#""1""#),
        (r#""+1""#, r#""1""#),
        (r#"" 1""#, r#""1""#),
        ("0.5", r#""1""#),
        (r#""1""#, r#""2.7e4""#),
        (r#""1""#, r#""27000.""#),
    ] {
        assert!(
            serde_json::from_str::<CreateOrderRequest>(&order(qty, price)).is_err(),
            "qty {qty} price {price}"
        );
    }
    let stop = r#"{"category":"linear","symbol":"BTCUSDT","takeProfit":"3_0000","positionIdx":0}"#;
    assert!(serde_json::from_str::<TradingStopRequest>(stop).is_err());
    // What the client writes reads back unchanged.
    crate::round_trip(&ok);
}
