//! Building rules from instruments-info: defaults, every refusal of bad exchange data,
//! leverage checks, and the error predicates.

use bybit_meta::{InstrumentRules, MetaError};
use bybit_types::rest::market::{LeverageFilter, LotSizeFilter, PriceFilter};
use bybit_types::{InstrumentStatus, Symbol};
use rust_decimal::Decimal;

use crate::support::{d, sym, Spec};

/// The funnel for refusals: `spec` must be refused with exactly `expected`.
fn check_refused(spec: Spec, expected: MetaError) {
    let err = spec.try_rules().unwrap_err();
    assert_eq!(err, expected);
    assert!(err.is_invalid_instrument(), "{err:?}");
    assert!(!err.is_invalid_order() && !err.is_symbol_unavailable());
}

fn non_positive(field: &'static str, value: &str) -> MetaError {
    MetaError::NonPositiveFilter {
        symbol: sym("RADUSDT"),
        field,
        value: d(value),
    }
}

fn inverted(low_field: &'static str, low: &str, high_field: &'static str, high: &str) -> MetaError {
    MetaError::InvertedFilter {
        symbol: sym("RADUSDT"),
        low_field,
        low: d(low),
        high_field,
        high: d(high),
    }
}

#[test]
fn reads_every_field() {
    let rules = Spec::rad().rules();
    assert_eq!(rules.symbol().as_str(), "RADUSDT");
    assert_eq!(rules.status(), &InstrumentStatus::Trading);
    assert!(rules.is_trading());
    assert_eq!(rules.tick_size(), d("0.00001"));
    assert_eq!(rules.min_price(), d("0.00001"));
    assert_eq!(rules.max_price(), d("199.99998"));
    assert_eq!(rules.price_scale(), Some(5));
    assert_eq!(rules.qty_step(), d("0.01"));
    assert_eq!(rules.min_order_qty(), d("0.01"));
    assert_eq!(rules.max_order_qty(), d("100000"));
    assert_eq!(rules.max_mkt_order_qty(), d("20000"));
    assert_eq!(rules.min_notional(), d("5"));
    assert_eq!(rules.min_leverage(), d("1"));
    assert_eq!(rules.max_leverage(), d("25"));
    assert_eq!(rules.leverage_step(), d("0.01"));
}

#[test]
fn missing_optional_fields_get_their_documented_defaults() {
    let rules = Spec {
        max_mkt_qty: None,
        min_notional: None,
        price_scale: None,
        ..Spec::rad()
    }
    .rules();
    assert_eq!(rules.max_mkt_order_qty(), rules.max_order_qty());
    assert_eq!(rules.min_notional(), Decimal::ZERO);
    assert_eq!(rules.price_scale(), None);
}

#[test]
fn from_parts_matches_try_from() {
    let spec = Spec::rad();
    let info = spec.info();
    let from_parts = InstrumentRules::from_parts(
        Symbol::new("RADUSDT").unwrap(),
        InstrumentStatus::Trading,
        &PriceFilter {
            min_price: d("0.00001"),
            max_price: d("199.99998"),
            tick_size: d("0.00001"),
        },
        &LotSizeFilter {
            max_order_qty: d("100000.00"),
            min_order_qty: d("0.01"),
            qty_step: d("0.01"),
            post_only_max_order_qty: None,
            max_mkt_order_qty: Some(d("20000.00")),
            min_notional_value: Some(d("5")),
        },
        &LeverageFilter {
            min_leverage: d("1"),
            max_leverage: d("25.00"),
            leverage_step: d("0.01"),
        },
        Some(5),
    )
    .unwrap();
    assert_eq!(InstrumentRules::try_from(&info).unwrap(), from_parts);
}

#[test]
fn an_unknown_status_is_kept_and_is_not_trading() {
    let rules = Spec {
        status: "Suspended",
        ..Spec::rad()
    }
    .rules();
    assert_eq!(
        rules.status(),
        &InstrumentStatus::Unknown("Suspended".into())
    );
    assert!(!rules.is_trading());
}

#[test]
fn refuses_an_invalid_symbol() {
    check_refused(
        Spec {
            symbol: "radusdt",
            ..Spec::rad()
        },
        MetaError::InvalidSymbol {
            value: "radusdt".into(),
            reason: "only upper-case letters, digits and '-' are allowed",
        },
    );
    check_refused(
        Spec {
            symbol: "",
            ..Spec::rad()
        },
        MetaError::InvalidSymbol {
            value: String::new(),
            reason: "must not be empty",
        },
    );
}

#[test]
fn refuses_non_positive_filters() {
    let cases: [(Spec, MetaError); 10] = [
        (
            Spec {
                tick: "0",
                ..Spec::rad()
            },
            non_positive("tickSize", "0"),
        ),
        (
            Spec {
                tick: "-0.01",
                ..Spec::rad()
            },
            non_positive("tickSize", "-0.01"),
        ),
        (
            Spec {
                min_price: "0",
                ..Spec::rad()
            },
            non_positive("minPrice", "0"),
        ),
        (
            Spec {
                step: "0",
                ..Spec::rad()
            },
            non_positive("qtyStep", "0"),
        ),
        (
            Spec {
                step: "-1",
                ..Spec::rad()
            },
            non_positive("qtyStep", "-1"),
        ),
        (
            Spec {
                min_qty: "0",
                ..Spec::rad()
            },
            non_positive("minOrderQty", "0"),
        ),
        (
            Spec {
                min_notional: Some("-5"),
                ..Spec::rad()
            },
            non_positive("minNotionalValue", "-5"),
        ),
        (
            Spec {
                min_leverage: "0",
                ..Spec::rad()
            },
            non_positive("minLeverage", "0"),
        ),
        (
            Spec {
                leverage_step: "0",
                ..Spec::rad()
            },
            non_positive("leverageStep", "0"),
        ),
        (
            Spec {
                tick: "0.00000",
                ..Spec::rad()
            },
            non_positive("tickSize", "0"),
        ),
    ];
    for (spec, expected) in cases {
        check_refused(spec, expected);
    }
}

#[test]
fn a_zero_min_notional_is_allowed() {
    let rules = Spec {
        min_notional: Some("0"),
        ..Spec::rad()
    }
    .rules();
    assert_eq!(rules.min_notional(), Decimal::ZERO);
}

#[test]
fn refuses_inverted_bounds() {
    check_refused(
        Spec {
            min_price: "300",
            ..Spec::rad()
        },
        inverted("minPrice", "300", "maxPrice", "199.99998"),
    );
    check_refused(
        Spec {
            min_qty: "200000",
            ..Spec::rad()
        },
        inverted("minOrderQty", "200000", "maxOrderQty", "100000.00"),
    );
    check_refused(
        Spec {
            min_qty: "30000",
            ..Spec::rad()
        },
        inverted("minOrderQty", "30000", "maxMktOrderQty", "20000.00"),
    );
    check_refused(
        Spec {
            min_leverage: "50",
            ..Spec::rad()
        },
        inverted("minLeverage", "50", "maxLeverage", "25.00"),
    );
}

#[test]
fn refuses_a_price_scale_a_decimal_cannot_hold() {
    for (text, value) in [("-1", -1), ("29", 29)] {
        check_refused(
            Spec {
                price_scale: Some(text),
                ..Spec::rad()
            },
            MetaError::InvalidPriceScale {
                symbol: sym("RADUSDT"),
                value,
            },
        );
    }
    let edge = Spec {
        price_scale: Some("28"),
        ..Spec::rad()
    };
    assert_eq!(edge.rules().price_scale(), Some(28));
}

#[test]
fn leverage_checks() {
    let rules = Spec::rad().rules();
    assert_eq!(rules.check_leverage(d("25")), Ok(()));
    assert_eq!(rules.check_leverage(d("1")), Ok(()));
    assert_eq!(rules.check_leverage(d("12.34")), Ok(()));
    for leverage in ["0.99", "25.01", "-1"] {
        assert_eq!(
            rules.check_leverage(d(leverage)),
            Err(MetaError::LeverageOutOfRange {
                symbol: sym("RADUSDT"),
                leverage: d(leverage),
                min: d("1"),
                max: d("25"),
            })
        );
    }
    let err = rules.check_leverage(d("10.005")).unwrap_err();
    assert_eq!(
        err,
        MetaError::LeverageNotOnStep {
            symbol: sym("RADUSDT"),
            leverage: d("10.005"),
            step: d("0.01"),
        }
    );
    assert!(err.is_invalid_order());
}

#[test]
fn errors_print_symbol_value_and_limit() {
    let err = MetaError::BelowMinQty {
        symbol: sym("BTCUSDT"),
        qty: d("0.000"),
        min: d("0.001"),
    };
    assert_eq!(
        err.to_string(),
        "BTCUSDT: qty 0.000 is below minOrderQty 0.001"
    );
    assert_eq!(
        non_positive("tickSize", "0").to_string(),
        "RADUSDT: tickSize must be positive, got 0"
    );
    assert_eq!(
        MetaError::NotTrading {
            symbol: sym("BIOUSDT"),
            status: InstrumentStatus::PreLaunch
        }
        .to_string(),
        "BIOUSDT is not trading (status PreLaunch)"
    );
}

#[test]
fn predicates_group_the_variants() {
    let unknown = MetaError::UnknownSymbol {
        symbol: sym("NOPEUSDT"),
    };
    assert!(unknown.is_symbol_unavailable());
    assert!(!unknown.is_invalid_order() && !unknown.is_invalid_instrument());
    assert_eq!(unknown.symbol(), Some(&sym("NOPEUSDT")));

    let too_big = MetaError::AboveMaxMarketQty {
        symbol: sym("BTCUSDT"),
        qty: d("200"),
        max: d("150"),
    };
    assert!(too_big.is_invalid_order() && too_big.is_splittable());
    let limit_too_big = MetaError::AboveMaxQty {
        symbol: sym("BTCUSDT"),
        qty: d("2000"),
        max: d("1500"),
    };
    assert!(limit_too_big.is_invalid_order() && !limit_too_big.is_splittable());

    let bad_symbol = MetaError::InvalidSymbol {
        value: "x".into(),
        reason: "r",
    };
    assert_eq!(bad_symbol.symbol(), None);
}
