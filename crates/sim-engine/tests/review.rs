//! Regressions from the review of the engine: hostile sizes, margin that could be dodged,
//! a taker filled by its own print, unchecked TP/SL, time stepping back.

use bybit_types::{OrderStatus, WireSide};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::{
    codes, Amend, BookShape, NewOrder, OrderKey, OrderQuery, PriceSource, TriggerDirection,
    MAX_BALANCE,
};

use crate::support::{assert_rejected, engine, engine_with, set_book, T0};

#[test]
fn an_absurd_conditional_reduce_only_qty_is_refused_and_nothing_breaks() {
    let mut e = engine();
    e.create_order(T0, &NewOrder::market("BTCUSDT", WireSide::Buy, dec!(0.01)))
        .unwrap();
    let huge = NewOrder::limit(
        "BTCUSDT",
        WireSide::Sell,
        dec!(79228162514264337593543950),
        dec!(100000),
    )
    .reduce_only()
    .trigger(dec!(90000), TriggerDirection::Fall);
    assert_rejected(e.create_order(T0, &huge), codes::PARAMS);
    // A plain reduce-only above maxOrderQty is cut to the position instead.
    let ack = e
        .create_order(
            T0,
            &NewOrder::limit("BTCUSDT", WireSide::Sell, dec!(5000), dec!(100000)).reduce_only(),
        )
        .unwrap();
    let o = e.open_orders(&OrderQuery {
        key: Some(OrderKey::Id(ack.order_id)),
        ..Default::default()
    });
    assert_eq!(o[0].qty, dec!(0.01));
    let _ = e.snapshot();
}

#[test]
fn control_inputs_out_of_range_are_refused() {
    let mut e = engine();
    assert_rejected(e.set_balance(T0, MAX_BALANCE + Decimal::ONE), codes::PARAMS);
    assert_rejected(e.set_balance(T0, dec!(-1)), codes::PARAMS);
    let shape = |levels, notional| BookShape {
        levels,
        spacing_ticks: 1,
        level_notional: notional,
    };
    assert_rejected(
        e.set_book_shape("BTCUSDT", shape(u32::MAX, dec!(1000))),
        codes::PARAMS,
    );
    assert_rejected(
        e.set_book_shape("BTCUSDT", shape(10, dec!(0))),
        codes::PARAMS,
    );
    e.set_book_shape("BTCUSDT", shape(10_000, dec!(1000)))
        .unwrap();
    e.create_order(T0, &NewOrder::market("BTCUSDT", WireSide::Buy, dec!(0.01)))
        .unwrap();
    // Absurd replayed sizes saturate the statistics instead of overflowing.
    let trades = [
        (0, dec!(95100), Decimal::MAX),
        (1, dec!(95200), Decimal::MAX),
    ];
    e.set_price_source("BTCUSDT", PriceSource::replay(T0, &trades))
        .unwrap();
    e.advance(T0 + 10);
    assert_eq!(e.price("BTCUSDT").unwrap(), dec!(95200));
    assert!(e.ticker("BTCUSDT").is_ok());
}

#[test]
fn the_rest_of_a_limit_that_walked_the_book_rests_instead_of_filling_on_its_own_print() {
    let mut e = engine_with(dec!(1000000));
    set_book(&mut e, "BTCUSDT", 3, dec!(5000));
    e.create_order(
        T0,
        &NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(1), dec!(95001.0)).link_id("walker"),
    )
    .unwrap();
    let o = e.open_orders(&OrderQuery {
        key: Some(OrderKey::LinkId("walker".into())),
        ..Default::default()
    });
    assert_eq!(o[0].order_status, OrderStatus::PartiallyFilled);
    assert_eq!(o[0].cum_exec_qty, Some(dec!(0.156)));
    assert_eq!(o[0].leaves_qty, Some(dec!(0.844)));
}

#[test]
fn amending_up_needs_margin_for_the_difference() {
    let mut e = engine_with(dec!(10000));
    let ack = e
        .create_order(
            T0,
            &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.5), dec!(3000)),
        )
        .unwrap();
    let amend = Amend {
        symbol: "ETHUSDT".into(),
        key: OrderKey::Id(ack.order_id),
        qty: Some(dec!(1000)),
        price: None,
        trigger_price: None,
    };
    assert_rejected(e.amend_order(T0, &amend), codes::AVAILABLE_INSUFFICIENT);
    assert_eq!(e.open_orders(&OrderQuery::default())[0].qty, dec!(0.5));
}

#[test]
fn opposite_orders_beyond_the_position_hold_margin() {
    let mut e = engine_with(dec!(2000));
    set_book(&mut e, "ETHUSDT", 5, dec!(1000000));
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.5)))
        .unwrap();
    // The first sell closes the long and costs nothing; the next ones open a short.
    let sell = || NewOrder::limit("ETHUSDT", WireSide::Sell, dec!(0.5), dec!(3600));
    e.create_order(T0, &sell()).unwrap();
    for _ in 0..3 {
        e.create_order(T0, &sell()).unwrap();
    }
    // 1.5 ETH short at 3600 / 10x = 540 margin. About 1,284 USDT is left (2,000 less the
    // long's 175 margin, the 540 and a fee), so 4 more ETH (1,440 of margin) do not fit.
    let w = e.wallet();
    assert_eq!(w.coin[0].total_order_im, Some(dec!(540)));
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("ETHUSDT", WireSide::Sell, dec!(4), dec!(3600)),
        ),
        codes::AVAILABLE_INSUFFICIENT,
    );
}

#[test]
fn take_profit_and_stop_loss_on_create_are_checked() {
    let mut e = engine();
    let mut buy = NewOrder::market("BTCUSDT", WireSide::Buy, dec!(0.01));
    buy.take_profit = Some(dec!(50000));
    assert_rejected(e.create_order(T0, &buy), codes::PARAMS);
    buy.take_profit = Some(dec!(100000.05));
    assert_rejected(e.create_order(T0, &buy), codes::PARAMS);
    buy.take_profit = Some(dec!(100000));
    buy.stop_loss = Some(dec!(99000));
    assert_rejected(e.create_order(T0, &buy), codes::PARAMS);
    buy.stop_loss = Some(dec!(90000));
    e.create_order(T0, &buy).unwrap();
    let p = e.position_of("BTCUSDT").unwrap();
    assert_eq!(
        (p.take_profit, p.stop_loss),
        (Some(dec!(100000)), Some(dec!(90000)))
    );
    assert!(e
        .order_history(&OrderQuery::default())
        .iter()
        .all(|o| o.side == WireSide::Buy));
}

#[test]
fn after_a_flip_the_new_position_realised_pnl_is_only_its_own() {
    let mut e = engine_with(dec!(100000));
    set_book(&mut e, "ETHUSDT", 5, dec!(1000000));
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    e.set_price(T0, "ETHUSDT", dec!(3600)).unwrap();
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Sell, dec!(2)))
        .unwrap();
    let p = e.position_of("ETHUSDT").unwrap();
    assert_eq!(p.side, Some(WireSide::Sell));
    // Half of the fee on 2 ETH at 3599.99 belongs to the new short.
    assert_eq!(p.cur_realised_pnl, Some(dec!(-1.9799945)));
}

#[test]
fn a_random_walk_resumes_when_time_steps_back() {
    let mut e = engine();
    e.set_price_source(
        "XRPUSDT",
        PriceSource::RandomWalk {
            interval_ms: 10,
            max_step_ticks: 5,
        },
    )
    .unwrap();
    e.advance(T0 + 120_000);
    e.advance(T0 + 120_010);
    let before = e.price("XRPUSDT").unwrap();
    let mut moved = false;
    for i in 1..=200 {
        e.advance(T0 + i * 10);
        moved |= e.price("XRPUSDT").unwrap() != before;
    }
    assert!(moved, "the walk stayed paused after time stepped back");
}
