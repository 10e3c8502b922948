//! Order validation: the strict `validate_order` and the rounding `prepare_order`, with every
//! error variant and its exact values.

use bybit_meta::{InstrumentRules, MetaError, OrderDraft, OrderKind, RoundingMode};
use bybit_types::{InstrumentStatus, OrderType};
use rust_decimal::Decimal;

use crate::support::{d, sym, Spec};

use RoundingMode::{Down, Nearest, Up};

/// How the funnel runs the draft: strictly, or rounding first with a price mode.
#[derive(Debug, Clone, Copy)]
enum Via {
    Strict,
    Prepare(RoundingMode),
}

/// What the funnel expects: the sent quantity and price as text, or an exact error.
type Expected = Result<(&'static str, Option<&'static str>), MetaError>;

/// The funnel: run `draft` through `rules` and compare with `expected`.
fn check(rules: &InstrumentRules, via: Via, draft: OrderDraft, expected: Expected) {
    let got = match via {
        Via::Strict => rules.validate_order(&draft),
        Via::Prepare(mode) => rules.prepare_order(&draft, mode),
    };
    match (got, expected) {
        (Ok(order), Ok((qty, price))) => {
            assert_eq!(order.qty().to_string(), qty, "{draft:?} via {via:?}");
            assert_eq!(
                order.price().map(|p| p.to_string()).as_deref(),
                price,
                "{draft:?} via {via:?}"
            );
            assert_eq!(order.kind(), draft.kind());
            assert_eq!(order.symbol(), rules.symbol());
        }
        (Err(err), Err(expected)) => {
            assert_eq!(err, expected, "{draft:?} via {via:?}");
            assert_eq!(err.symbol(), Some(rules.symbol()));
        }
        (got, expected) => panic!("{draft:?} via {via:?}: got {got:?}, expected {expected:?}"),
    }
}

fn rad() -> InstrumentRules {
    Spec::rad().rules()
}

fn both() -> [Via; 2] {
    [Via::Strict, Via::Prepare(Nearest)]
}

#[test]
fn a_legal_limit_order_passes_with_the_grid_scale() {
    for via in both() {
        check(
            &rad(),
            via,
            OrderDraft::limit(d("100"), d("0.43657")),
            Ok(("100.00", Some("0.43657"))),
        );
    }
    // Fewer places than the tick are padded to the tick's scale.
    check(
        &rad(),
        Via::Strict,
        OrderDraft::limit(d("100.5"), d("0.5")),
        Ok(("100.50", Some("0.50000"))),
    );
}

#[test]
fn a_legal_market_order_passes_without_a_price() {
    let rules = rad();
    let order = rules
        .validate_order(&OrderDraft::market(d("100"), d("0.43657")))
        .unwrap();
    assert_eq!(order.kind(), OrderKind::Market);
    assert_eq!(order.price(), None);
    assert_eq!(order.notional(), d("43.657"));
    assert_eq!(OrderType::from(order.kind()), OrderType::Market);
    assert_eq!(OrderType::from(OrderKind::Limit), OrderType::Limit);
}

#[test]
fn prepare_rounds_qty_down_and_price_by_mode() {
    let rules = rad();
    let draft = OrderDraft::limit(d("123.987"), d("0.43657521"));
    check(
        &rules,
        Via::Prepare(Down),
        draft,
        Ok(("123.98", Some("0.43657"))),
    );
    check(
        &rules,
        Via::Prepare(Up),
        draft,
        Ok(("123.98", Some("0.43658"))),
    );
    check(
        &rules,
        Via::Prepare(Nearest),
        draft,
        Ok(("123.98", Some("0.43658"))),
    );
    check(
        &rules,
        Via::Prepare(Down),
        OrderDraft::market(d("123.987"), d("0.43657521")),
        Ok(("123.98", None)),
    );
}

#[test]
fn not_trading() {
    let rules = Spec {
        status: "PreLaunch",
        ..Spec::rad()
    }
    .rules();
    for via in both() {
        let err = MetaError::NotTrading {
            symbol: sym("RADUSDT"),
            status: InstrumentStatus::PreLaunch,
        };
        assert!(err.is_symbol_unavailable());
        check(
            &rules,
            via,
            OrderDraft::limit(d("100"), d("0.5")),
            Err(err.clone()),
        );
        check(
            &rules,
            via,
            OrderDraft::market(d("100"), d("0.5")),
            Err(err),
        );
    }
}

#[test]
fn not_positive() {
    let not_positive = |field, value: &str| {
        Err(MetaError::NotPositive {
            symbol: sym("RADUSDT"),
            field,
            value: d(value),
        })
    };
    for via in both() {
        check(
            &rad(),
            via,
            OrderDraft::limit(d("0"), d("0.5")),
            not_positive("qty", "0"),
        );
        check(
            &rad(),
            via,
            OrderDraft::limit(d("-1"), d("0.5")),
            not_positive("qty", "-1"),
        );
        check(
            &rad(),
            via,
            OrderDraft::limit(d("100"), d("0")),
            not_positive("price", "0"),
        );
        check(
            &rad(),
            via,
            OrderDraft::limit(d("100"), d("-0.5")),
            not_positive("price", "-0.5"),
        );
        check(
            &rad(),
            via,
            OrderDraft::market(d("100"), d("0")),
            not_positive("reference price", "0"),
        );
    }
}

#[test]
fn strict_refuses_values_off_the_grid() {
    check(
        &rad(),
        Via::Strict,
        OrderDraft::limit(d("123.987"), d("0.43657")),
        Err(MetaError::NotOnStep {
            symbol: sym("RADUSDT"),
            qty: d("123.987"),
            step: d("0.01"),
        }),
    );
    check(
        &rad(),
        Via::Strict,
        OrderDraft::limit(d("123.98"), d("0.43657321")),
        Err(MetaError::NotOnTick {
            symbol: sym("RADUSDT"),
            price: d("0.43657321"),
            tick: d("0.00001"),
        }),
    );
    // The step is checked before the tick, and market orders have no tick to check.
    check(
        &rad(),
        Via::Strict,
        OrderDraft::market(d("123.98"), d("0.43657321")),
        Ok(("123.98", None)),
    );
}

#[test]
fn below_min_qty() {
    let rules = Spec {
        min_qty: "1",
        ..Spec::rad()
    }
    .rules();
    check(
        &rules,
        Via::Strict,
        OrderDraft::limit(d("0.99"), d("10")),
        Err(MetaError::BelowMinQty {
            symbol: sym("RADUSDT"),
            qty: d("0.99"),
            min: d("1"),
        }),
    );
    // Prepare reports the rounded quantity, which is the one checked.
    check(
        &rad(),
        Via::Prepare(Down),
        OrderDraft::market(d("0.005"), d("1000")),
        Err(MetaError::BelowMinQty {
            symbol: sym("RADUSDT"),
            qty: d("0.00"),
            min: d("0.01"),
        }),
    );
    check(
        &rules,
        Via::Strict,
        OrderDraft::limit(d("1"), d("10")),
        Ok(("1.00", Some("10.00000"))),
    );
}

#[test]
fn above_max_qty_for_limit_orders() {
    check(
        &rad(),
        Via::Strict,
        OrderDraft::limit(d("100000.01"), d("0.5")),
        Err(MetaError::AboveMaxQty {
            symbol: sym("RADUSDT"),
            qty: d("100000.01"),
            max: d("100000"),
        }),
    );
    check(
        &rad(),
        Via::Strict,
        OrderDraft::limit(d("100000"), d("0.5")),
        Ok(("100000.00", Some("0.50000"))),
    );
    // A limit order may exceed the market maximum.
    check(
        &rad(),
        Via::Strict,
        OrderDraft::limit(d("20000.01"), d("0.5")),
        Ok(("20000.01", Some("0.50000"))),
    );
}

#[test]
fn above_max_market_qty_for_market_orders() {
    for via in both() {
        check(
            &rad(),
            via,
            OrderDraft::market(d("20000.01"), d("0.5")),
            Err(MetaError::AboveMaxMarketQty {
                symbol: sym("RADUSDT"),
                qty: d("20000.01"),
                max: d("20000"),
            }),
        );
    }
    check(
        &rad(),
        Via::Strict,
        OrderDraft::market(d("20000"), d("0.5")),
        Ok(("20000.00", None)),
    );
    // Without maxMktOrderQty the limit maximum applies to market orders too.
    let old = Spec {
        max_mkt_qty: None,
        ..Spec::rad()
    }
    .rules();
    check(
        &old,
        Via::Strict,
        OrderDraft::market(d("100000.01"), d("0.5")),
        Err(MetaError::AboveMaxMarketQty {
            symbol: sym("RADUSDT"),
            qty: d("100000.01"),
            max: d("100000"),
        }),
    );
}

#[test]
fn price_out_of_range() {
    let rules = Spec {
        min_price: "0.001",
        ..Spec::rad()
    }
    .rules();
    let out = |price: &str| {
        Err(MetaError::PriceOutOfRange {
            symbol: sym("RADUSDT"),
            price: d(price),
            min: d("0.001"),
            max: d("199.99998"),
        })
    };
    check(
        &rules,
        Via::Strict,
        OrderDraft::limit(d("100000"), d("0.00099")),
        out("0.00099"),
    );
    check(
        &rules,
        Via::Strict,
        OrderDraft::limit(d("1"), d("199.99999")),
        out("199.99999"),
    );
    check(
        &rules,
        Via::Strict,
        OrderDraft::limit(d("5000"), d("0.001")),
        Ok(("5000.00", Some("0.00100"))),
    );
    // A price below one tick rounds down to zero, which is below minPrice.
    check(
        &rad(),
        Via::Prepare(Down),
        OrderDraft::limit(d("1"), d("0.000004")),
        {
            Err(MetaError::PriceOutOfRange {
                symbol: sym("RADUSDT"),
                price: d("0"),
                min: d("0.00001"),
                max: d("199.99998"),
            })
        },
    );
    // The reference price of a market order is not a limit price and is not range-checked.
    check(
        &rules,
        Via::Strict,
        OrderDraft::market(d("10"), d("500")),
        Ok(("10.00", None)),
    );
}

#[test]
fn below_min_notional() {
    for via in both() {
        check(
            &rad(),
            via,
            OrderDraft::limit(d("10"), d("0.4")),
            Err(MetaError::BelowMinNotional {
                symbol: sym("RADUSDT"),
                notional: d("4"),
                qty: d("10"),
                price: d("0.4"),
                min: d("5"),
            }),
        );
        // Market orders are valued at the caller's reference price.
        check(
            &rad(),
            via,
            OrderDraft::market(d("10"), d("0.49999")),
            Err(MetaError::BelowMinNotional {
                symbol: sym("RADUSDT"),
                notional: d("4.9999"),
                qty: d("10"),
                price: d("0.49999"),
                min: d("5"),
            }),
        );
        // Exactly the minimum is enough.
        check(
            &rad(),
            via,
            OrderDraft::market(d("10"), d("0.5")),
            Ok(("10.00", None)),
        );
    }
    // Notional uses the rounded price: 10 at 0.499996 rounds up to 0.50000 and passes.
    check(
        &rad(),
        Via::Prepare(Up),
        OrderDraft::limit(d("10"), d("0.499996")),
        Ok(("10.00", Some("0.50000"))),
    );
    let free = Spec {
        min_notional: None,
        ..Spec::rad()
    }
    .rules();
    check(
        &free,
        Via::Strict,
        OrderDraft::limit(d("0.01"), d("0.00001")),
        Ok(("0.01", Some("0.00001"))),
    );
}

#[test]
fn overflow_is_an_error() {
    let rules = Spec {
        step: "1",
        min_qty: "1",
        max_qty: "79228162514264337593543950335",
        max_mkt_qty: Some("79228162514264337593543950335"),
        max_price: "1000000",
        ..Spec::rad()
    }
    .rules();
    let err = rules
        .validate_order(&OrderDraft::limit(
            d("10000000000000000000000000000"),
            d("100"),
        ))
        .unwrap_err();
    assert_eq!(
        err,
        MetaError::Overflow {
            symbol: sym("RADUSDT"),
            operation: "qty * price",
        }
    );
    assert!(err.is_invalid_order());
    assert_eq!(
        rules.prepare_order(&OrderDraft::market(Decimal::MAX, Decimal::MAX), Nearest),
        Err(MetaError::Overflow {
            symbol: sym("RADUSDT"),
            operation: "qty * price",
        })
    );
}

#[test]
fn draft_accessors() {
    let draft = OrderDraft::limit(d("1"), d("2"));
    assert_eq!(
        draft,
        OrderDraft::Limit {
            qty: d("1"),
            price: d("2")
        }
    );
    assert_eq!(draft.qty(), d("1"));
    assert_eq!(OrderDraft::market(d("3"), d("4")).kind(), OrderKind::Market);
}
