//! Splitting market quantities into legal chunks, and sizing an order from a USDT amount.

use bybit_meta::{InstrumentRules, MetaError, MAX_MARKET_CHUNKS};
use bybit_types::InstrumentStatus;

use crate::support::{d, sym, Spec};

/// The funnel: `qty` split by `rules` must give exactly these chunks (as text), or this error.
fn check(rules: &InstrumentRules, qty: &str, expected: Result<&[&str], MetaError>) {
    let got = rules
        .split_market_qty(d(qty))
        .map(|chunks| chunks.iter().map(ToString::to_string).collect::<Vec<_>>());
    let expected = expected.map(|chunks| chunks.iter().map(ToString::to_string).collect());
    assert_eq!(got, expected, "split of {qty}");
}

fn btc() -> InstrumentRules {
    Spec::btc().rules()
}

/// min 10, step 1, market max 15: small enough that the remainder matters.
fn tight() -> InstrumentRules {
    Spec {
        symbol: "TIGHTUSDT",
        step: "1",
        min_qty: "10",
        max_qty: "1000",
        max_mkt_qty: Some("15"),
        ..Spec::rad()
    }
    .rules()
}

#[test]
fn within_the_market_maximum_is_one_chunk() {
    check(&btc(), "150", Ok(&["150.000"]));
    check(&btc(), "0.001", Ok(&["0.001"]));
    // Floored to the step first.
    check(&btc(), "150.0009", Ok(&["150.000"]));
}

#[test]
fn above_it_splits_into_equal_chunks() {
    check(&btc(), "200", Ok(&["100.000", "100.000"]));
    check(&btc(), "300", Ok(&["150.000", "150.000"]));
    check(&btc(), "301", Ok(&["100.334", "100.333", "100.333"]));
    check(&btc(), "301.0009", Ok(&["100.334", "100.333", "100.333"]));
    check(&btc(), "150.001", Ok(&["75.001", "75.000"]));
}

#[test]
fn the_remainder_is_rebalanced_instead_of_left_below_min() {
    // Full chunks plus remainder would be 15 + 10 and 15 + 6; equal chunks are 13 + 12 and
    // 11 + 10, all legal.
    check(&tight(), "25", Ok(&["13", "12"]));
    check(&tight(), "21", Ok(&["11", "10"]));
    check(&tight(), "20", Ok(&["10", "10"]));
    check(&tight(), "31", Ok(&["11", "10", "10"]));
}

#[test]
fn no_split_exists_when_equal_chunks_are_below_min() {
    // 16 needs two chunks of at most 15, and two chunks of at least 10 make 20 or more.
    check(
        &tight(),
        "16",
        Err(MetaError::BelowMinQty {
            symbol: sym("TIGHTUSDT"),
            qty: d("8"),
            min: d("10"),
        }),
    );
}

#[test]
fn below_min_or_not_positive() {
    check(
        &btc(),
        "0.0009",
        Err(MetaError::BelowMinQty {
            symbol: sym("BTCUSDT"),
            qty: d("0.000"),
            min: d("0.001"),
        }),
    );
    check(
        &btc(),
        "0",
        Err(MetaError::NotPositive {
            symbol: sym("BTCUSDT"),
            field: "qty",
            value: d("0"),
        }),
    );
}

#[test]
fn too_many_chunks() {
    let unit = Spec {
        symbol: "UNITUSDT",
        step: "1",
        min_qty: "1",
        max_qty: "1000",
        max_mkt_qty: Some("1"),
        ..Spec::rad()
    }
    .rules();
    assert_eq!(MAX_MARKET_CHUNKS, 100);
    assert_eq!(unit.split_market_qty(d("100")).unwrap().len(), 100);
    check(
        &unit,
        "101",
        Err(MetaError::TooManyChunks {
            symbol: sym("UNITUSDT"),
            qty: d("101"),
            chunks: d("101"),
            max_chunk: d("1"),
            limit: 100,
        }),
    );
    // A count far past usize must not allocate or panic either.
    let err = unit
        .split_market_qty(d("79228162514264337593543950335"))
        .unwrap_err();
    assert!(matches!(err, MetaError::TooManyChunks { .. }), "{err:?}");
}

#[test]
fn a_market_maximum_below_one_step_allows_nothing() {
    let odd = Spec {
        symbol: "ODDUSDT",
        step: "1",
        min_qty: "0.5",
        max_qty: "1000",
        max_mkt_qty: Some("0.8"),
        ..Spec::rad()
    }
    .rules();
    check(
        &odd,
        "5",
        Err(MetaError::AboveMaxMarketQty {
            symbol: sym("ODDUSDT"),
            qty: d("5"),
            max: d("0.8"),
        }),
    );
}

#[test]
fn prepare_market_split_validates_every_chunk() {
    let orders = btc().prepare_market_split(d("301"), d("100000")).unwrap();
    let qtys: Vec<String> = orders.iter().map(|o| o.qty().to_string()).collect();
    assert_eq!(qtys, ["100.334", "100.333", "100.333"]);
    assert!(orders.iter().all(|o| o.price().is_none()));
    assert_eq!(orders[0].notional(), d("10033400"));

    let prelaunch = Spec {
        status: "PreLaunch",
        ..Spec::btc()
    }
    .rules();
    assert_eq!(
        prelaunch.prepare_market_split(d("301"), d("100000")),
        Err(MetaError::NotTrading {
            symbol: sym("BTCUSDT"),
            status: InstrumentStatus::PreLaunch,
        })
    );
    assert_eq!(
        btc().prepare_market_split(d("0.001"), d("1000")),
        Err(MetaError::BelowMinNotional {
            symbol: sym("BTCUSDT"),
            notional: d("1"),
            qty: d("0.001"),
            price: d("1000"),
            min: d("5"),
        })
    );
}

#[test]
fn qty_for_notional_floors_to_the_step() {
    let rad = Spec::rad().rules();
    assert_eq!(
        rad.qty_for_notional(d("100"), d("0.43657")).unwrap(),
        d("229.05")
    );
    assert_eq!(
        rad.qty_for_notional(d("100"), d("0.43657"))
            .unwrap()
            .to_string(),
        "229.05"
    );
    // Exact division stays exact.
    assert_eq!(rad.qty_for_notional(d("10"), d("2.5")).unwrap(), d("4"));
    // Less than one step's worth is zero: the caller's validation then refuses it.
    assert_eq!(
        btc()
            .qty_for_notional(d("5"), d("100000"))
            .unwrap()
            .to_string(),
        "0.000"
    );
    let xrp = Spec {
        symbol: "XRPUSDT",
        step: "1",
        min_qty: "1",
        ..Spec::rad()
    }
    .rules();
    // 5 USDT at 0.6 buys 8 XRP, worth 4.8: the conversion floors, the minimum is validation's.
    assert_eq!(xrp.qty_for_notional(d("5"), d("0.6")).unwrap(), d("8"));
    // A quotient with more digits than a decimal holds still never overshoots.
    let q = rad.qty_for_notional(d("1"), d("3")).unwrap();
    assert_eq!(q, d("0.33"));
}

#[test]
fn qty_for_notional_refuses_non_positive_inputs() {
    let rad = Spec::rad().rules();
    assert_eq!(
        rad.qty_for_notional(d("0"), d("1")),
        Err(MetaError::NotPositive {
            symbol: sym("RADUSDT"),
            field: "notional",
            value: d("0"),
        })
    );
    assert_eq!(
        rad.qty_for_notional(d("100"), d("-1")),
        Err(MetaError::NotPositive {
            symbol: sym("RADUSDT"),
            field: "price",
            value: d("-1"),
        })
    );
}
