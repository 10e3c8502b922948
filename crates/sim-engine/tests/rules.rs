//! Bybit's validation, one retCode per rule (REFERENCE.md §9, §12).

use bybit_types::{InstrumentStatus, TimeInForce, WireSide};
use rust_decimal_macros::dec;
use sim_engine::{
    codes, defaults, Amend, Engine, EngineConfig, Limits, NewOrder, OrderKey, TradingStop,
    TriggerDirection,
};

use crate::support::{assert_rejected, engine, engine_with, T0};

#[test]
fn price_off_tick_and_qty_off_step_are_10001() {
    let mut e = engine();
    let r = assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.001), dec!(90000.05)),
        ),
        codes::PARAMS,
    );
    assert!(r.ret_msg.contains("tick"), "{r}");
    let r = assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.0015), dec!(90000.0)),
        ),
        codes::PARAMS,
    );
    assert!(r.ret_msg.contains("qtyStep"), "{r}");
    // The low-priced symbol's 7-decimal tick: one more decimal is off-tick.
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit(
                "1000000BABYDOGEUSDT",
                WireSide::Buy,
                dec!(10000),
                dec!(0.00140005),
            ),
        ),
        codes::PARAMS,
    );
}

#[test]
fn quantity_bounds_are_10001_with_bybits_texts() {
    let mut e = engine_with(dec!(100000000));
    let r = assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0), dec!(3000)),
        ),
        codes::PARAMS,
    );
    assert_eq!(
        r.ret_msg,
        "The number of contracts exceeds minimum limit allowed"
    );
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("XRPUSDT", WireSide::Buy, dec!(-1), dec!(2)),
        ),
        codes::PARAMS,
    );
    let r = assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(7240.01), dec!(3000)),
        ),
        codes::PARAMS,
    );
    assert_eq!(
        r.ret_msg,
        "The number of contracts exceeds maximum limit allowed"
    );
    // Market orders are capped lower: maxMktOrderQty 724 for ETHUSDT.
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(724.01)),
        ),
        codes::PARAMS,
    );
    e.create_order(
        T0,
        &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(724.01), dec!(3000)),
    )
    .unwrap();
}

#[test]
fn price_outside_the_filter_is_110003() {
    let mut e = engine();
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("DOGEUSDT", WireSide::Buy, dec!(100), dec!(200)),
        ),
        codes::PRICE_OUT_OF_RANGE,
    );
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("DOGEUSDT", WireSide::Buy, dec!(100), dec!(0)),
        ),
        codes::PARAMS,
    );
}

#[test]
fn order_value_below_min_notional_is_110094() {
    let mut e = engine();
    // 2 XRP at 2.1 = 4.2 USDT < 5.
    let r = assert_rejected(
        e.create_order(T0, &NewOrder::market("XRPUSDT", WireSide::Buy, dec!(2))),
        codes::BELOW_MIN_NOTIONAL,
    );
    assert_eq!(r.ret_msg, "Order does not meet minimum order value 5USDT");
    // 3 XRP = 6.3 USDT is fine.
    e.create_order(T0, &NewOrder::market("XRPUSDT", WireSide::Buy, dec!(3)))
        .unwrap();
}

#[test]
fn insufficient_balance_is_110007_and_an_empty_wallet_110004() {
    let mut e = engine_with(dec!(100));
    // 0.1 BTC at 95,000 at 10x needs 950 USDT of margin.
    let r = assert_rejected(
        e.create_order(T0, &NewOrder::market("BTCUSDT", WireSide::Buy, dec!(0.1))),
        codes::AVAILABLE_INSUFFICIENT,
    );
    assert_eq!(r.ret_msg, "ab not enough for new order");
    assert!(e.snapshot().open_orders.is_empty());
    e.set_balance(T0, dec!(0)).unwrap();
    assert_rejected(
        e.create_order(T0, &NewOrder::market("BTCUSDT", WireSide::Buy, dec!(0.001))),
        codes::WALLET_INSUFFICIENT,
    );
}

#[test]
fn resting_orders_use_up_available_balance() {
    let mut e = engine_with(dec!(1000));
    // 0.1 BTC at 90,000 / 10x = 900 margin: fits once, not twice.
    e.create_order(
        T0,
        &NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.1), dec!(90000)),
    )
    .unwrap();
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.1), dec!(90000)),
        ),
        codes::AVAILABLE_INSUFFICIENT,
    );
}

#[test]
fn reduce_only_without_a_position_or_on_its_side_is_110017() {
    let mut e = engine();
    let r = assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("ETHUSDT", WireSide::Sell, dec!(0.1), dec!(3600)).reduce_only(),
        ),
        codes::REDUCE_ONLY,
    );
    assert!(r.ret_msg.contains("position is zero"), "{r}");
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.1)))
        .unwrap();
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.1), dec!(3400)).reduce_only(),
        ),
        codes::REDUCE_ONLY,
    );
    // On the closing side it is accepted, and a larger qty is cut to the position size.
    e.create_order(
        T0,
        &NewOrder::limit("ETHUSDT", WireSide::Sell, dec!(0.5), dec!(3600))
            .reduce_only()
            .link_id("tp"),
    )
    .unwrap();
    let tp = &e.snapshot().open_orders[0];
    assert_eq!(tp.qty, dec!(0.1));
    assert!(tp.reduce_only);
}

#[test]
fn duplicate_order_link_id_is_110072_while_open_and_after_it_closed() {
    let mut e = engine();
    e.create_order(
        T0,
        &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.1), dec!(3000)).link_id("andre_TP1"),
    )
    .unwrap();
    let r = assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.1), dec!(3000)).link_id("andre_TP1"),
        ),
        codes::DUPLICATE_ORDER_LINK_ID,
    );
    assert_eq!(r.ret_msg, "OrderLinkedID is duplicate");
    e.cancel_order(T0, "ETHUSDT", &OrderKey::LinkId("andre_TP1".into()))
        .unwrap();
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.1)).link_id("andre_TP1"),
        ),
        codes::DUPLICATE_ORDER_LINK_ID,
    );
    // A filled market order's id is taken too.
    e.create_order(
        T0,
        &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.1)).link_id("andre_ENTRY"),
    )
    .unwrap();
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.1)).link_id("andre_ENTRY"),
        ),
        codes::DUPLICATE_ORDER_LINK_ID,
    );
    // An id Bybit would refuse never reaches the book.
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.1)).link_id(&"x".repeat(37)),
        ),
        codes::PARAMS,
    );
}

#[test]
fn cancel_of_unknown_or_finished_orders_is_110001() {
    let mut e = engine();
    let r = assert_rejected(
        e.cancel_order(T0, "ETHUSDT", &OrderKey::Id("nope".into())),
        codes::ORDER_NOT_EXISTS,
    );
    assert_eq!(r.ret_msg, "order not exists or too late to cancel");
    let ack = e
        .create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.1)))
        .unwrap();
    assert_rejected(
        e.cancel_order(T0, "ETHUSDT", &OrderKey::Id(ack.order_id.clone())),
        codes::ORDER_NOT_EXISTS,
    );
    // Known id, wrong symbol.
    let ack = e
        .create_order(
            T0,
            &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.1), dec!(3000)),
        )
        .unwrap();
    assert_rejected(
        e.cancel_order(T0, "BTCUSDT", &OrderKey::Id(ack.order_id.clone())),
        codes::ORDER_NOT_EXISTS,
    );
    e.cancel_order(T0, "ETHUSDT", &OrderKey::Id(ack.order_id.clone()))
        .unwrap();
    assert_rejected(
        e.cancel_order(T0, "ETHUSDT", &OrderKey::Id(ack.order_id)),
        codes::ORDER_NOT_EXISTS,
    );
}

#[test]
fn leverage_unchanged_is_110043_and_out_of_range_10001() {
    let mut e = engine();
    e.set_leverage(T0, "BTCUSDT", dec!(25), dec!(25)).unwrap();
    let r = assert_rejected(
        e.set_leverage(T0, "BTCUSDT", dec!(25), dec!(25)),
        codes::LEVERAGE_NOT_MODIFIED,
    );
    assert_eq!(r.ret_msg, "leverage not modified");
    assert_rejected(
        e.set_leverage(T0, "BTCUSDT", dec!(151), dec!(151)),
        codes::PARAMS,
    );
    assert_rejected(
        e.set_leverage(T0, "BTCUSDT", dec!(20), dec!(25)),
        codes::PARAMS,
    );
    assert_rejected(
        e.set_leverage(T0, "ZRXUSDT", dec!(26), dec!(26)),
        codes::PARAMS,
    );
    assert_eq!(e.position_of("BTCUSDT").unwrap().leverage, Some(dec!(25)));
}

#[test]
fn trigger_on_the_wrong_side_is_110092_or_110093() {
    let mut e = engine();
    // ETH is at 3500.
    let r = assert_rejected(
        e.create_order(
            T0,
            &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.1))
                .trigger(dec!(3400), TriggerDirection::Rise),
        ),
        codes::TRIGGER_EXPECT_RISING,
    );
    assert!(
        r.ret_msg
            .starts_with("expect Rising, but trigger_price[3400] <= current[3500"),
        "{r}"
    );
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::market("ETHUSDT", WireSide::Sell, dec!(0.1))
                .trigger(dec!(3600), TriggerDirection::Fall),
        ),
        codes::TRIGGER_EXPECT_FALLING,
    );
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::market("ETHUSDT", WireSide::Sell, dec!(0.1))
                .trigger(dec!(3500), TriggerDirection::Fall),
        ),
        codes::TRIGGER_EXPECT_FALLING,
    );
}

#[test]
fn order_count_limits_are_110020_and_110009() {
    let mut config = EngineConfig::new(defaults::instruments(), dec!(1000000), 1);
    config.initial_prices = defaults::start_prices();
    config.limits = Limits {
        max_active_orders_per_symbol: 3,
        max_conditional_orders_per_symbol: 2,
        ..Limits::default()
    };
    let mut e = Engine::new(config).unwrap();
    for _ in 0..3 {
        e.create_order(
            T0,
            &NewOrder::limit("XRPUSDT", WireSide::Buy, dec!(10), dec!(2)),
        )
        .unwrap();
    }
    let r = assert_rejected(
        e.create_order(
            T0,
            &NewOrder::limit("XRPUSDT", WireSide::Buy, dec!(10), dec!(2)),
        ),
        codes::TOO_MANY_ACTIVE_ORDERS,
    );
    assert_eq!(
        r.ret_msg,
        "Not allowed to have more than 500 active orders."
    );
    // Another symbol has its own count.
    e.create_order(
        T0,
        &NewOrder::limit("DOGEUSDT", WireSide::Buy, dec!(100), dec!(0.17)),
    )
    .unwrap();
    for _ in 0..2 {
        e.create_order(
            T0,
            &NewOrder::market("XRPUSDT", WireSide::Buy, dec!(10))
                .trigger(dec!(2.5), TriggerDirection::Rise),
        )
        .unwrap();
    }
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::market("XRPUSDT", WireSide::Buy, dec!(10))
                .trigger(dec!(2.5), TriggerDirection::Rise),
        ),
        codes::TOO_MANY_STOP_ORDERS,
    );
}

#[test]
fn an_instrument_that_is_not_trading_is_110074_and_an_unknown_symbol_10001() {
    let mut instruments = defaults::instruments();
    instruments[0].status = InstrumentStatus::PreLaunch;
    let mut config = EngineConfig::new(instruments, dec!(10000), 1);
    config.initial_prices = defaults::start_prices();
    let mut e = Engine::new(config).unwrap();
    assert_rejected(
        e.create_order(T0, &NewOrder::market("BTCUSDT", WireSide::Buy, dec!(0.001))),
        codes::NOT_LIVE,
    );
    assert_rejected(
        e.create_order(T0, &NewOrder::market("NOPEUSDT", WireSide::Buy, dec!(1))),
        codes::PARAMS,
    );
}

#[test]
fn amend_rules() {
    let mut e = engine_with(dec!(1000000));
    // A thin book so a buy at the touch fills in part.
    e.set_book_shape(
        "XRPUSDT",
        sim_engine::BookShape {
            levels: 50,
            spacing_ticks: 1,
            level_notional: dec!(21),
        },
    )
    .unwrap();
    let ack = e
        .create_order(
            T0,
            &NewOrder::limit("XRPUSDT", WireSide::Buy, dec!(100), dec!(2.0)).link_id("a1"),
        )
        .unwrap();
    e.set_price(T0, "XRPUSDT", dec!(2.0)).unwrap();
    let o = e.open_orders(&sim_engine::OrderQuery {
        key: Some(OrderKey::LinkId("a1".into())),
        ..Default::default()
    });
    assert_eq!(o[0].cum_exec_qty, Some(dec!(10)));
    let amend = |qty| Amend {
        symbol: "XRPUSDT".into(),
        key: OrderKey::Id(ack.order_id.clone()),
        qty: Some(qty),
        price: None,
        trigger_price: None,
    };
    assert_rejected(
        e.amend_order(T0, &amend(dec!(10))),
        codes::AMEND_QTY_TOO_SMALL,
    );
    assert_rejected(e.amend_order(T0, &amend(dec!(100))), codes::PARAMS);
    e.amend_order(T0, &amend(dec!(50))).unwrap();
    let o = &e.open_orders(&Default::default())[0];
    assert_eq!((o.qty, o.leaves_qty), (dec!(50), Some(dec!(40))));
    assert_rejected(
        e.amend_order(
            T0,
            &Amend {
                symbol: "XRPUSDT".into(),
                key: OrderKey::Id("missing".into()),
                qty: Some(dec!(5)),
                price: None,
                trigger_price: None,
            },
        ),
        codes::ORDER_NOT_EXISTS,
    );
}

#[test]
fn trading_stop_rules() {
    let mut e = engine();
    let ts = |tp, sl| TradingStop {
        symbol: "ETHUSDT".into(),
        take_profit: tp,
        stop_loss: sl,
    };
    let r = assert_rejected(
        e.set_trading_stop(T0, &ts(Some(dec!(3600)), None)),
        codes::PARAMS,
    );
    assert!(r.ret_msg.contains("zero position"));
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    // A long's take-profit must be above the price, its stop below.
    assert_rejected(
        e.set_trading_stop(T0, &ts(Some(dec!(3000)), None)),
        codes::PARAMS,
    );
    assert_rejected(
        e.set_trading_stop(T0, &ts(None, Some(dec!(3900)))),
        codes::PARAMS,
    );
    e.set_trading_stop(T0, &ts(Some(dec!(3800)), Some(dec!(3300))))
        .unwrap();
    assert_rejected(
        e.set_trading_stop(T0, &ts(Some(dec!(3800)), None)),
        codes::NOT_MODIFIED,
    );
    let p = e.position_of("ETHUSDT").unwrap();
    assert_eq!(
        (p.take_profit, p.stop_loss),
        (Some(dec!(3800)), Some(dec!(3300)))
    );
}

#[test]
fn post_only_that_would_take_is_cancelled_and_fok_without_depth_too() {
    let mut e = engine();
    let ack = e
        .create_order(
            T0,
            &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.1), dec!(3600))
                .tif(TimeInForce::PostOnly),
        )
        .unwrap();
    let o = &e.order_history(&sim_engine::OrderQuery {
        key: Some(OrderKey::Id(ack.order_id)),
        ..Default::default()
    })[0];
    assert_eq!(o.order_status, bybit_types::OrderStatus::Cancelled);
    assert_eq!(o.reject_reason, "EC_PostOnlyWillTakeLiquidity");
    assert_eq!(o.cum_exec_qty, Some(dec!(0)));
    e.set_book_shape(
        "ETHUSDT",
        sim_engine::BookShape {
            levels: 3,
            spacing_ticks: 1,
            level_notional: dec!(350),
        },
    )
    .unwrap();
    let ack = e
        .create_order(
            T0,
            &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(1), dec!(3600)).tif(TimeInForce::Fok),
        )
        .unwrap();
    let o = &e.order_history(&sim_engine::OrderQuery {
        key: Some(OrderKey::Id(ack.order_id)),
        ..Default::default()
    })[0];
    assert_eq!(o.order_status, bybit_types::OrderStatus::Cancelled);
    assert_eq!(o.cum_exec_qty, Some(dec!(0)));
    assert!(e.snapshot().positions.is_empty());
}

#[test]
fn batch_items_succeed_or_fail_on_their_own() {
    let mut e = engine();
    let results = e.create_batch(
        T0,
        &[
            NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.1), dec!(3000)).link_id("b1"),
            NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.1), dec!(3000.001)).link_id("b2"),
            NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.1), dec!(3000)).link_id("b1"),
        ],
    );
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().ret_code, codes::PARAMS);
    assert_eq!(
        results[2].as_ref().unwrap_err().ret_code,
        codes::DUPLICATE_ORDER_LINK_ID
    );
    assert_eq!(e.snapshot().open_orders.len(), 1);
}

/// An orderLinkId is unique for the life of the account
/// (docs/v5/order/create-order.mdx: "orderLinkId ... unique"), not only among the recent
/// closed orders the engine still keeps (v5/order/open-order: 500): a link id whose order has
/// aged out is still refused with 110072.
#[test]
fn an_order_link_id_stays_taken_after_its_order_ages_out() {
    let mut config = EngineConfig::new(defaults::instruments(), dec!(1000000), 1);
    config.static_prices = true;
    config.initial_prices = defaults::start_prices();
    config.limits = Limits {
        recent_closed_orders: 2,
        ..Limits::default()
    };
    let mut e = Engine::new(config).unwrap();
    for (i, side) in [WireSide::Buy, WireSide::Sell, WireSide::Buy]
        .into_iter()
        .enumerate()
    {
        e.create_order(
            T0,
            &NewOrder::market("XRPUSDT", side, dec!(10)).link_id(&format!("life-{i}")),
        )
        .unwrap();
    }
    assert_eq!(e.retained().closed_orders, 2, "life-0 aged out");
    assert_rejected(
        e.create_order(
            T0,
            &NewOrder::market("XRPUSDT", WireSide::Sell, dec!(10)).link_id("life-0"),
        ),
        110072,
    );
}

/// An order type the engine does not trade (`Unknown`, or one a later bybit-types adds) is
/// refused as Bybit refuses a bad parameter, never read as a market or limit order.
#[test]
fn an_order_type_the_engine_does_not_trade_is_10001() {
    let mut e = engine();
    let mut order = NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.001), dec!(90000));
    order.order_type = bybit_types::OrderType::Unknown("Iceberg".to_owned());
    let r = assert_rejected(e.create_order(T0, &order), codes::PARAMS);
    assert_eq!(r.ret_msg, "params error: orderType invalid: Iceberg");
}
