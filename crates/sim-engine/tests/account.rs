//! The account saved as text and restored into a fresh engine continues where
//! it stopped: the same balance, position, resting orders and fills, no order id or
//! orderLinkId handed out twice, and the same fills afterwards as an engine never stopped.

use bybit_types::WireSide;
use rust_decimal_macros::dec;
use sim_engine::{codes, defaults, Engine, EngineConfig, NewOrder, RestoreError};

use crate::support::{assert_rejected, engine, set_book, T0};

/// An engine with a long ETH position (leverage 20), a resting take-profit and a resting DCA.
fn trading() -> Engine {
    let mut e = engine();
    set_book(&mut e, "ETHUSDT", 5, dec!(1000000));
    e.set_leverage(T0, "ETHUSDT", dec!(20), dec!(20)).unwrap();
    e.create_order(
        T0 + 1,
        &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(2)).link_id("entry"),
    )
    .unwrap();
    e.create_order(
        T0 + 2,
        &NewOrder::limit("ETHUSDT", WireSide::Sell, dec!(1), dec!(3600))
            .link_id("tp1")
            .reduce_only(),
    )
    .unwrap();
    e.create_order(
        T0 + 3,
        &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(1), dec!(3400)).link_id("dca1"),
    )
    .unwrap();
    e.take_events();
    e
}

/// A fresh engine of the same configuration, not yet traded on. The market is not part of
/// the account: a restarted router reads the price again, here the one `like` last printed.
fn fresh(like: &Engine) -> Engine {
    let mut e = engine();
    set_book(&mut e, "ETHUSDT", 5, dec!(1000000));
    e.set_price(T0, "ETHUSDT", like.price("ETHUSDT").unwrap())
        .unwrap();
    e.take_events();
    e
}

#[test]
fn a_restored_account_is_the_saved_one_and_trades_on_identically() {
    let mut before = trading();
    let saved = before.account_json();
    let mut after = fresh(&before);
    after.restore_account(&saved).unwrap();
    assert_eq!(after.snapshot(), before.snapshot());
    assert_eq!(
        after.account_json(),
        saved,
        "a second save writes the same text"
    );
    assert!(after.take_events().is_empty(), "a restore pushes nothing");

    // orderLinkIds are unique for the account's life: a used one is still refused.
    for e in [&mut before, &mut after] {
        assert_rejected(
            e.create_order(
                T0 + 4,
                &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)).link_id("entry"),
            ),
            codes::DUPLICATE_ORDER_LINK_ID,
        );
    }
    // The id generator goes on: the next order gets the id the never-stopped engine gives,
    // which no earlier order has.
    let next = NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(1), dec!(3300)).link_id("dca2");
    let a = before.create_order(T0 + 5, &next).unwrap();
    let b = after.create_order(T0 + 5, &next).unwrap();
    assert_eq!(a, b);
    assert!(
        !saved.contains(&a.order_id),
        "order id {} reused",
        a.order_id
    );

    // The market reaches the take-profit: both fill it the same way, once.
    before.set_price(T0 + 6, "ETHUSDT", dec!(3601)).unwrap();
    after.set_price(T0 + 6, "ETHUSDT", dec!(3601)).unwrap();
    assert_eq!(after.snapshot(), before.snapshot());
    assert_eq!(after.take_events(), before.take_events());
    let position = after.position_of("ETHUSDT").unwrap();
    assert_eq!(position.size, dec!(1));
}

#[test]
fn a_saved_account_that_does_not_fit_is_refused_and_changes_nothing() {
    let saved = trading().account_json();
    // An engine that trades BTCUSDT only does not know the ETHUSDT position.
    let btc: Vec<_> = defaults::instruments()
        .into_iter()
        .filter(|i| i.symbol == "BTCUSDT")
        .collect();
    let mut config = EngineConfig::new(btc, dec!(10000), 42);
    config.static_prices = true;
    let mut only_btc = Engine::new(config).unwrap();
    let untouched = only_btc.snapshot();
    assert_eq!(
        only_btc.restore_account(&saved),
        Err(RestoreError::UnknownSymbol {
            symbol: "ETHUSDT".into()
        })
    );
    assert_eq!(only_btc.snapshot(), untouched);

    let mut e = fresh(&trading());
    let untouched = e.snapshot();
    let other_version = saved.replacen("\"version\":1", "\"version\":2", 1);
    assert_eq!(
        e.restore_account(&other_version),
        Err(RestoreError::Version { found: 2 })
    );
    assert!(matches!(
        e.restore_account("{\"version\":1}"),
        Err(RestoreError::Unreadable(_))
    ));
    assert!(matches!(
        e.restore_account("not json"),
        Err(RestoreError::Unreadable(_))
    ));
    assert_eq!(e.snapshot(), untouched);
}

/// An engine that publishes nothing trades exactly as one that does: the same answers, the
/// same account, the same fills; it only queues no updates, and queues them again once
/// switched back.
#[test]
fn publishing_off_changes_nothing_but_the_queued_updates() {
    let mut publishing = engine();
    let mut silent = engine();
    for e in [&mut publishing, &mut silent] {
        set_book(e, "ETHUSDT", 5, dec!(1000000));
        e.take_events();
    }
    silent.set_publishing(false);
    let orders = [
        NewOrder::market("ETHUSDT", WireSide::Buy, dec!(2)).link_id("entry"),
        NewOrder::limit("ETHUSDT", WireSide::Sell, dec!(1), dec!(3600))
            .link_id("tp1")
            .reduce_only(),
        NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(1), dec!(3400)).link_id("dca1"),
    ];
    for (i, order) in (0..).zip(&orders) {
        let a = publishing.create_order(T0 + i, order);
        let b = silent.create_order(T0 + i, order);
        assert_eq!(a, b);
    }
    assert!(!publishing.take_events().is_empty());
    assert!(silent.take_events().is_empty(), "nothing queued while off");
    assert_eq!(silent.snapshot(), publishing.snapshot());
    assert_eq!(silent.account_json(), publishing.account_json());

    silent.set_publishing(true);
    let next = NewOrder::market("ETHUSDT", WireSide::Sell, dec!(1)).link_id("exit");
    assert_eq!(
        silent.create_order(T0 + 10, &next),
        publishing.create_order(T0 + 10, &next)
    );
    assert_eq!(silent.take_events(), publishing.take_events());
}
