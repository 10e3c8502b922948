//! The newtypes' invariants: what each constructor accepts and refuses.

use std::str::FromStr;

use bybit_types::{
    Error, OrderId, OrderLinkId, Price, Qty, Symbol, WireSide, ORDER_LINK_ID_MAX_LEN,
    SYMBOL_MAX_LEN,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// Checks that `OrderLinkId::new(value)` is accepted exactly when `ok`.
fn check_link_id(value: &str, ok: bool) {
    let result = OrderLinkId::new(value);
    assert_eq!(result.is_ok(), ok, "{value:?}: {result:?}");
    match result {
        Ok(id) => assert_eq!(id.as_str(), value),
        Err(err) => assert!(matches!(err, Error::InvalidOrderLinkId { .. })),
    }
}

#[test]
fn order_link_id_length_and_characters() {
    check_link_id(&"a".repeat(ORDER_LINK_ID_MAX_LEN), true);
    check_link_id(&"a".repeat(ORDER_LINK_ID_MAX_LEN + 1), false);
    check_link_id("andre_ENTRY_RAD_20251122_130601", true);
    check_link_id("x-Y_0", true);
    check_link_id("", false);
    check_link_id("has space", false);
    check_link_id("dot.ted", false);
    check_link_id("ümlaut", false);
    check_link_id("semi;colon", false);
}

/// Checks that `Symbol::new(value)` is accepted exactly when `ok`.
fn check_symbol(value: &str, ok: bool) {
    let result = Symbol::new(value);
    assert_eq!(result.is_ok(), ok, "{value:?}: {result:?}");
    if let Err(err) = result {
        assert!(matches!(err, Error::InvalidSymbol { .. }));
    }
}

#[test]
fn symbol_rules() {
    check_symbol("BTCUSDT", true);
    check_symbol("1000000BABYDOGEUSDT", true);
    check_symbol("BTC-26DEC25", true);
    check_symbol(&"A".repeat(SYMBOL_MAX_LEN), true);
    check_symbol(&"A".repeat(SYMBOL_MAX_LEN + 1), false);
    check_symbol("", false);
    check_symbol("btcusdt", false);
    check_symbol("BTC USDT", false);
    check_symbol("BTC_USDT", false);
}

#[test]
fn order_id_must_not_be_empty() {
    assert_eq!(OrderId::new(""), Err(Error::EmptyOrderId));
    assert_eq!(
        OrderId::new("1321003749386327552").unwrap().as_str(),
        "1321003749386327552"
    );
}

#[test]
fn price_and_qty_refuse_zero_and_negative() {
    for value in [Decimal::ZERO, dec!(-0.1), dec!(-100)] {
        assert!(matches!(
            Price::new(value),
            Err(Error::NotPositive { field: "price", .. })
        ));
        assert!(matches!(
            Qty::new(value),
            Err(Error::NotPositive { field: "qty", .. })
        ));
    }
    assert_eq!(Price::new(dec!(0.10)).unwrap().get(), dec!(0.10));
    assert_eq!(Qty::from_str("0.001").unwrap().get(), dec!(0.001));
    assert!(matches!(
        Price::from_str("abc"),
        Err(Error::InvalidDecimal { .. })
    ));
    assert!(Qty::from_str("0").is_err());
    // Through serde the same rules hold, and the value is written as a string.
    assert!(serde_json::from_str::<Price>(r#""0""#).is_err());
    let price: Price = serde_json::from_str(r#""27464.50""#).unwrap();
    assert_eq!(serde_json::to_string(&price).unwrap(), r#""27464.50""#);
}

#[test]
fn side_parses_only_buy_and_sell() {
    assert_eq!(WireSide::from_str("Buy").unwrap(), WireSide::Buy);
    assert_eq!(
        WireSide::from_str("Sell").unwrap().opposite(),
        WireSide::Buy
    );
    assert!(matches!(
        WireSide::from_str("buy"),
        Err(Error::InvalidSide(_))
    ));
    assert!(WireSide::from_str("").is_err());
}

proptest! {
    #[test]
    fn any_valid_order_link_id_is_accepted(value in "[A-Za-z0-9_-]{1,36}") {
        let id = OrderLinkId::new(value.clone()).unwrap();
        prop_assert_eq!(id.as_str(), value.as_str());
    }

    #[test]
    fn any_link_id_with_a_foreign_character_is_refused(
        head in "[A-Za-z0-9]{0,10}",
        bad in "[^A-Za-z0-9_-]",
        tail in "[A-Za-z0-9]{0,10}",
    ) {
        let value = format!("{head}{bad}{tail}");
        prop_assert!(OrderLinkId::new(value).is_err());
    }
}
