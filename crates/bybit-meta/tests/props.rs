//! Property tests: rounding lands on the grid, moves the right way by less than one increment
//! and is idempotent; splits add up and stay in bounds; no input panics.

use bybit_meta::{
    is_multiple_of, round_to_increment, InstrumentRules, MetaError, OrderDraft, RoundingMode,
    MAX_MARKET_CHUNKS,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::support::{d, Spec};

/// Ticks and steps Bybit uses, plus a few that are not powers of ten.
const INCREMENTS: &[&str] = &[
    "0.10",
    "0.01",
    "0.010",
    "0.0001",
    "0.00001",
    "0.0000001",
    "0.001",
    "0.1",
    "1",
    "100",
    "0.5",
    "0.25",
    "5",
];

fn increment() -> impl Strategy<Value = Decimal> {
    proptest::sample::select(INCREMENTS).prop_map(d)
}

/// A positive decimal with up to 10 places, up to about 1e8.
fn positive() -> impl Strategy<Value = Decimal> {
    (1i64..10_000_000_000_000_000, 0u32..=10)
        .prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
}

/// Any decimal with any bits, including the extremes of the range.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<bool>(),
        0u32..=28,
    )
        .prop_map(|(lo, mid, hi, negative, scale)| {
            Decimal::from_parts(lo, mid, hi, negative, scale)
        })
}

fn mode() -> impl Strategy<Value = RoundingMode> {
    prop_oneof![
        Just(RoundingMode::Nearest),
        Just(RoundingMode::Down),
        Just(RoundingMode::Up)
    ]
}

/// Trading rules with the given tick and step, wide bounds, and no minimum value.
fn rules_with(tick: Decimal, step: Decimal) -> InstrumentRules {
    let mut info = Spec {
        min_notional: None,
        ..Spec::rad()
    }
    .info();
    info.price_filter.tick_size = tick;
    info.price_filter.min_price = tick;
    info.price_filter.max_price = d("1000000000");
    info.lot_size_filter.qty_step = step;
    info.lot_size_filter.min_order_qty = step;
    info.lot_size_filter.max_order_qty = d("1000000000");
    info.lot_size_filter.max_mkt_order_qty = Some(d("1000000000"));
    InstrumentRules::try_from(&info).unwrap()
}

proptest! {
    #[test]
    fn rounded_qty_is_on_the_step_and_never_above_the_input(step in increment(), qty in positive()) {
        let rules = rules_with(d("0.01"), step);
        let rounded = rules.round_qty(qty).unwrap();
        prop_assert!(is_multiple_of(rounded, step));
        prop_assert!(rounded <= qty);
        prop_assert!(qty - rounded < step);
        prop_assert!(rounded >= Decimal::ZERO);
        prop_assert_eq!(rounded.scale(), step.scale());
    }

    #[test]
    fn rounded_price_is_on_the_tick_within_one_tick(tick in increment(), price in positive(), mode in mode()) {
        let rules = rules_with(tick, d("0.01"));
        let rounded = rules.round_price(price, mode).unwrap();
        prop_assert!(rules.is_on_tick(rounded));
        prop_assert!((rounded - price).abs() < tick);
        prop_assert_eq!(rounded.scale(), tick.scale());
        match mode {
            RoundingMode::Down => prop_assert!(rounded <= price),
            RoundingMode::Up => prop_assert!(rounded >= price),
            RoundingMode::Nearest => {
                let half = tick / Decimal::TWO;
                prop_assert!((rounded - price).abs() <= half);
                // A tie goes away from zero, i.e. up for a positive price.
                if (rounded - price).abs() == half {
                    prop_assert!(rounded > price);
                }
            }
        }
    }

    #[test]
    fn rounding_is_idempotent(inc in increment(), value in positive(), mode in mode()) {
        let rules = rules_with(inc, inc);
        let once = rules.round_price(value, mode).unwrap();
        let twice = rules.round_price(once, mode).unwrap();
        prop_assert_eq!(once.to_string(), twice.to_string());
        let once = rules.round_qty(value).unwrap();
        let twice = rules.round_qty(once).unwrap();
        prop_assert_eq!(once.to_string(), twice.to_string());
        // A value already on the grid is left alone by every mode.
        for other in [RoundingMode::Nearest, RoundingMode::Down, RoundingMode::Up] {
            prop_assert_eq!(rules.round_price(once, other).unwrap(), once);
        }
    }

    #[test]
    fn negative_values_round_the_right_way(inc in increment(), value in positive(), mode in mode()) {
        let negative = -value;
        let rounded = round_to_increment(negative, inc, mode).unwrap();
        prop_assert!(is_multiple_of(rounded, inc));
        prop_assert!((rounded - negative).abs() < inc);
        match mode {
            RoundingMode::Down => prop_assert!(rounded <= negative),
            RoundingMode::Up => prop_assert!(rounded >= negative),
            // Nearest is symmetric about zero.
            RoundingMode::Nearest => prop_assert_eq!(
                rounded,
                -round_to_increment(value, inc, RoundingMode::Nearest).unwrap()
            ),
        }
    }

    #[test]
    fn split_chunks_sum_to_the_rounded_input_and_stay_in_bounds(
        step in increment(),
        min_steps in 1i64..20,
        max_steps in 1i64..2000,
        qty_steps in 0i64..200_000,
        dust in 0i64..1000,
    ) {
        let max_steps = max_steps.max(min_steps);
        let min = step * Decimal::from(min_steps);
        let max_mkt = step * Decimal::from(max_steps);
        let mut info = Spec::rad().info();
        info.lot_size_filter.qty_step = step;
        info.lot_size_filter.min_order_qty = min;
        info.lot_size_filter.max_order_qty = max_mkt * Decimal::TEN;
        info.lot_size_filter.max_mkt_order_qty = Some(max_mkt);
        let rules = InstrumentRules::try_from(&info).unwrap();
        // A quantity a little off the step, so flooring is exercised too.
        let qty = step * Decimal::from(qty_steps) + step * Decimal::new(dust, 3);
        let rounded = rules.round_qty(qty).unwrap();

        match rules.split_market_qty(qty) {
            Ok(chunks) => {
                let sum: Decimal = chunks.iter().map(|c| c.get()).sum();
                prop_assert_eq!(sum, rounded);
                let low = chunks.iter().map(|c| c.get()).min().unwrap();
                let high = chunks.iter().map(|c| c.get()).max().unwrap();
                prop_assert!(high - low <= step);
                prop_assert!(chunks.len() <= MAX_MARKET_CHUNKS);
                for chunk in &chunks {
                    prop_assert!(chunk.get() <= max_mkt);
                    prop_assert!(chunk.get() >= min);
                    prop_assert!(is_multiple_of(chunk.get(), step));
                    prop_assert_eq!(chunk.get().scale(), step.scale());
                }
                // The fewest chunks that fit.
                let fewest = (rounded / max_mkt).ceil();
                prop_assert_eq!(Decimal::from(chunks.len()), fewest);
            }
            Err(MetaError::NotPositive { .. }) => prop_assert!(qty <= Decimal::ZERO),
            Err(MetaError::BelowMinQty { qty: reported, .. }) => {
                // Either the total is below min, or no split into `fewest` chunks can give
                // every chunk at least min.
                let fewest = (rounded / max_mkt).ceil();
                prop_assert!(rounded < min || fewest * min > rounded, "{} {}", reported, rounded);
            }
            Err(MetaError::TooManyChunks { chunks, .. }) => {
                prop_assert!(chunks > Decimal::from(MAX_MARKET_CHUNKS));
            }
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn qty_for_notional_is_the_largest_qty_within_the_amount(
        step in increment(),
        notional in positive(),
        price in positive(),
    ) {
        let rules = rules_with(d("0.01"), step);
        let qty = rules.qty_for_notional(notional, price).unwrap();
        prop_assert!(is_multiple_of(qty, step));
        prop_assert!(qty >= Decimal::ZERO);
        prop_assert!(qty * price <= notional);
        prop_assert!((qty + step) * price > notional);
    }

    #[test]
    fn no_input_panics(
        value in any_decimal(),
        inc in any_decimal(),
        qty in any_decimal(),
        price in any_decimal(),
        mode in mode(),
    ) {
        if let Some(rounded) = round_to_increment(value, inc, mode) {
            prop_assert!(inc > Decimal::ZERO);
            prop_assert!(is_multiple_of(rounded, inc));
        }
        let rules = Spec::btc().rules();
        let _ = rules.round_price(value, mode);
        let _ = rules.round_qty(value);
        let _ = rules.validate_order(&OrderDraft::limit(qty, price));
        let _ = rules.validate_order(&OrderDraft::market(qty, price));
        let _ = rules.prepare_order(&OrderDraft::limit(qty, price), mode);
        let _ = rules.prepare_order(&OrderDraft::market(qty, price), mode);
        let _ = rules.split_market_qty(qty);
        let _ = rules.prepare_market_split(qty, price);
        let _ = rules.qty_for_notional(qty, price);
        let _ = rules.check_leverage(value);
        if let Ok(order) = rules.prepare_order(&OrderDraft::limit(qty, price), mode) {
            prop_assert!(rules.is_on_step(order.qty().get()));
            prop_assert!(rules.is_on_tick(order.price().unwrap().get()));
        }
    }
}
