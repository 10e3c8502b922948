//! Rounding onto the tick and step: SPEC R-META-1's example, directions, ties, scale.

use bybit_meta::{is_multiple_of, round_to_increment, MetaError, RoundingMode};
use bybit_types::WireSide;
use rust_decimal::Decimal;

use crate::support::{d, sym, Spec};

use RoundingMode::{Down, Nearest, Up};

/// The funnel for prices: `input` rounded onto `tick` with `mode` must print as `expected`
/// (text, so the scale is checked too).
fn check_price(tick: &'static str, input: &str, mode: RoundingMode, expected: &str) {
    let rules = Spec {
        tick,
        min_price: tick,
        ..Spec::rad()
    }
    .rules();
    let rounded = rules.round_price(d(input), mode).unwrap();
    assert_eq!(
        rounded.to_string(),
        expected,
        "{input} on tick {tick}, {mode:?}"
    );
}

/// The funnel for quantities: `input` floored onto `step` must print as `expected`.
fn check_qty(step: &'static str, input: &str, expected: &str) {
    let rules = Spec {
        step,
        min_qty: step,
        ..Spec::rad()
    }
    .rules();
    let rounded = rules.round_qty(d(input)).unwrap();
    assert_eq!(rounded.to_string(), expected, "{input} on step {step}");
}

#[test]
fn spec_r_meta_1_radusdt_example() {
    let rules = Spec::rad().rules();
    assert_eq!(
        rules.round_price(d("0.43657321"), Nearest).unwrap(),
        d("0.43657")
    );
    assert_eq!(
        rules.round_price(d("0.43657321"), Down).unwrap(),
        d("0.43657")
    );
    assert_eq!(rules.round_qty(d("123.987")).unwrap().to_string(), "123.98");
}

#[test]
fn directions() {
    check_price("0.00001", "0.43657321", Up, "0.43658");
    check_price("0.00001", "0.43657821", Nearest, "0.43658");
    check_price("0.00001", "0.43657821", Down, "0.43657");
    check_price("0.01", "-1.234", Down, "-1.24");
    check_price("0.01", "-1.234", Up, "-1.23");
    check_price("0.01", "-1.236", Nearest, "-1.24");
}

#[test]
fn values_on_the_grid_are_unchanged_in_every_mode() {
    for mode in [Nearest, Down, Up] {
        check_price("0.01", "1.23", mode, "1.23");
        check_price("0.5", "100.5", mode, "100.5");
        check_price("0.00001", "0.43657", mode, "0.43657");
    }
}

#[test]
fn ties_go_away_from_zero() {
    // 0.445 separates half-away (0.45) from half-even (0.44).
    check_price("0.01", "0.435", Nearest, "0.44");
    check_price("0.01", "0.445", Nearest, "0.45");
    check_price("0.01", "-0.445", Nearest, "-0.45");
    check_price("0.5", "100.25", Nearest, "100.5");
    check_price("0.5", "100.24", Nearest, "100.0");
    check_price("0.25", "0.125", Nearest, "0.25");
}

#[test]
fn results_carry_the_tick_and_step_scale() {
    // SOLUSDT: tick 0.010 (priceScale 3) prints three places, even for a whole number.
    check_price("0.010", "100.1234", Down, "100.120");
    check_price("0.010", "100", Down, "100.000");
    check_price("0.010", "100.12", Nearest, "100.120");
    // BTCUSDT: tick 0.10.
    check_price("0.10", "100000.15", Nearest, "100000.20");
    check_price("0.10", "100000.15", Down, "100000.10");
    // A tick of 1 drops the places the input had.
    check_price("1", "5.000", Nearest, "5");
    check_qty("0.001", "0.5", "0.500");
    check_qty("0.01", "7", "7.00");
    check_qty("100", "12345", "12300");
    check_qty("100", "12399.99", "12300");
}

#[test]
fn qty_floors_toward_zero() {
    check_qty("0.01", "123.989", "123.98");
    check_qty("0.01", "0.009", "0.00");
    check_qty("1", "0.999999", "0");
    // A negative quantity is meaningless but must not grow, nor print as "-0.00".
    check_qty("0.01", "-1.239", "-1.23");
    check_qty("0.01", "-0.001", "0.00");
}

#[test]
fn round_qty_with_a_mode() {
    let rules = Spec::rad().rules();
    assert_eq!(
        rules.round_qty_with(d("1.231"), Up).unwrap().to_string(),
        "1.24"
    );
    assert_eq!(
        rules
            .round_qty_with(d("1.235"), Nearest)
            .unwrap()
            .to_string(),
        "1.24"
    );
}

#[test]
fn free_function_refuses_a_non_positive_increment() {
    assert_eq!(round_to_increment(d("1"), Decimal::ZERO, Down), None);
    assert_eq!(round_to_increment(d("1"), d("-0.01"), Down), None);
    assert!(!is_multiple_of(d("1"), Decimal::ZERO));
    assert!(is_multiple_of(d("1.20"), d("0.1")));
    assert!(!is_multiple_of(d("1.25"), d("0.1")));
    assert!(is_multiple_of(Decimal::ZERO, d("0.1")));
}

#[test]
fn huge_values_give_an_error_not_a_panic() {
    let rules = Spec::rad().rules();
    for mode in [Nearest, Down, Up] {
        match rules.round_price(Decimal::MAX, mode) {
            Ok(rounded) => assert!(rules.is_on_tick(rounded)),
            Err(err) => assert_eq!(
                err,
                MetaError::Overflow {
                    symbol: sym("RADUSDT"),
                    operation: "round_price"
                }
            ),
        }
    }
    // The largest decimal is odd, so rounding it up onto a step of 2 leaves the range.
    let even = Spec {
        step: "2",
        min_qty: "2",
        ..Spec::rad()
    }
    .rules();
    assert_eq!(
        even.round_qty(Decimal::MAX).unwrap(),
        Decimal::MAX - Decimal::ONE
    );
    assert_eq!(
        even.round_qty_with(Decimal::MAX, Up),
        Err(MetaError::Overflow {
            symbol: sym("RADUSDT"),
            operation: "round_qty"
        })
    );
}

#[test]
fn passive_and_aggressive_modes_by_side() {
    assert_eq!(RoundingMode::passive(WireSide::Buy), Down);
    assert_eq!(RoundingMode::passive(WireSide::Sell), Up);
    assert_eq!(RoundingMode::aggressive(WireSide::Buy), Up);
    assert_eq!(RoundingMode::aggressive(WireSide::Sell), Down);
}
