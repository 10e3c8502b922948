//! Fills: market orders walk the book, limit orders rest and fill on crosses, conditional
//! orders trigger, position TP/SL fire, events are pushed.

use bybit_types::{CancelType, CreateType, OrderStatus, StopOrderType, WireSide};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::{
    CancelAll, EngineEvent, ExecutionQuery, NewOrder, OrderKey, OrderQuery, TradingStop,
    TriggerDirection,
};

use crate::support::{engine, engine_with, set_book, T0};

fn by_link(e: &sim_engine::Engine, link: &str) -> bybit_types::rest::order::Order {
    e.open_orders(&OrderQuery {
        key: Some(OrderKey::LinkId(link.into())),
        ..Default::default()
    })
    .into_iter()
    .next()
    .unwrap_or_else(|| panic!("no order {link}"))
}

#[test]
fn a_market_order_walks_a_thin_book_and_pays_slippage() {
    let mut e = engine();
    // Each ETH level holds 3500.05 USDT: exactly 1 ETH after flooring, one tick apart.
    set_book(&mut e, "ETHUSDT", 50, dec!(3500.05));
    e.create_order(
        T0,
        &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(2.5)).link_id("m1"),
    )
    .unwrap();
    let fills = e.executions(&ExecutionQuery {
        key: Some(OrderKey::LinkId("m1".into())),
        ..Default::default()
    });
    let mut prices: Vec<(Decimal, Decimal)> =
        fills.iter().map(|f| (f.exec_price, f.exec_qty)).collect();
    prices.sort();
    assert_eq!(
        prices,
        vec![
            (dec!(3500.01), dec!(1)),
            (dec!(3500.02), dec!(1)),
            (dec!(3500.03), dec!(0.5))
        ]
    );
    assert!(fills
        .iter()
        .all(|f| !f.is_maker && f.exec_fee.unwrap() > Decimal::ZERO));
    let order = by_link(&e, "m1");
    assert_eq!(order.order_status, OrderStatus::Filled);
    assert_eq!(order.avg_price, Some(dec!(3500.018)));
    // The last trade moved the price.
    assert_eq!(e.price("ETHUSDT").unwrap(), dec!(3500.03));
    let p = e.position_of("ETHUSDT").unwrap();
    assert_eq!(
        (p.side, p.size, p.avg_price),
        (Some(WireSide::Buy), dec!(2.5), Some(dec!(3500.018)))
    );
}

#[test]
fn a_market_order_beyond_the_depth_fills_in_part_and_the_rest_is_cancelled() {
    let mut e = engine_with(dec!(100000));
    set_book(&mut e, "ETHUSDT", 3, dec!(3500));
    e.create_order(
        T0,
        &NewOrder::market("ETHUSDT", WireSide::Sell, dec!(5)).link_id("m2"),
    )
    .unwrap();
    let order = by_link(&e, "m2");
    assert_eq!(order.order_status, OrderStatus::Cancelled);
    assert_eq!(order.cum_exec_qty, Some(dec!(3)));
    assert_eq!(order.leaves_qty, Some(dec!(0)));
    assert_eq!(order.reject_reason, "EC_CancelForNoFullFill");
    assert_eq!(e.position_of("ETHUSDT").unwrap().size, dec!(3));
}

#[test]
fn a_resting_limit_fills_when_the_price_trades_through_and_in_part_at_the_touch() {
    let mut e = engine_with(dec!(100000));
    set_book(&mut e, "XRPUSDT", 50, dec!(20));
    e.create_order(
        T0,
        &NewOrder::limit("XRPUSDT", WireSide::Buy, dec!(30), dec!(2.0)).link_id("l1"),
    )
    .unwrap();
    assert_eq!(by_link(&e, "l1").order_status, OrderStatus::New);
    e.set_price(T0 + 1, "XRPUSDT", dec!(2.05)).unwrap();
    assert_eq!(by_link(&e, "l1").cum_exec_qty, Some(dec!(0)));
    // At the touch: one level's worth (20 USDT / 2.0 = 10 XRP).
    e.set_price(T0 + 2, "XRPUSDT", dec!(2.0)).unwrap();
    let o = by_link(&e, "l1");
    assert_eq!(
        (o.order_status.clone(), o.cum_exec_qty),
        (OrderStatus::PartiallyFilled, Some(dec!(10)))
    );
    // Through the price: the rest, at the limit price, as maker.
    e.set_price(T0 + 3, "XRPUSDT", dec!(1.99)).unwrap();
    let o = by_link(&e, "l1");
    assert_eq!(
        (o.order_status, o.cum_exec_qty, o.avg_price),
        (OrderStatus::Filled, Some(dec!(30)), Some(dec!(2)))
    );
    let fills = e.executions(&ExecutionQuery {
        key: Some(OrderKey::LinkId("l1".into())),
        ..Default::default()
    });
    assert_eq!(fills.len(), 2);
    assert!(fills
        .iter()
        .all(|f| f.is_maker && f.exec_price == dec!(2.0)));
    assert_eq!(fills[0].fee_rate, Some(dec!(0.0002)));
}

#[test]
fn a_marketable_limit_takes_then_rests() {
    let mut e = engine_with(dec!(100000));
    set_book(&mut e, "ETHUSDT", 50, dec!(3500.05));
    e.create_order(
        T0,
        &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(5), dec!(3500.02)).link_id("l2"),
    )
    .unwrap();
    let o = by_link(&e, "l2");
    assert_eq!(
        (o.order_status, o.cum_exec_qty, o.leaves_qty),
        (OrderStatus::PartiallyFilled, Some(dec!(2)), Some(dec!(3)))
    );
}

#[test]
fn a_conditional_order_waits_untriggered_then_fills_when_the_price_rises_to_it() {
    let mut e = engine();
    e.create_order(
        T0,
        &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.5))
            .trigger(dec!(3600), TriggerDirection::Rise)
            .link_id("c1"),
    )
    .unwrap();
    let o = by_link(&e, "c1");
    assert_eq!(
        (o.order_status, o.trigger_price, o.stop_order_type),
        (
            OrderStatus::Untriggered,
            Some(dec!(3600)),
            Some(StopOrderType::Stop)
        )
    );
    e.set_price(T0 + 1, "ETHUSDT", dec!(3599.99)).unwrap();
    assert_eq!(by_link(&e, "c1").order_status, OrderStatus::Untriggered);
    e.set_price(T0 + 2, "ETHUSDT", dec!(3600)).unwrap();
    let o = by_link(&e, "c1");
    assert_eq!(o.order_status, OrderStatus::Filled);
    assert_eq!(e.position_of("ETHUSDT").unwrap().size, dec!(0.5));
}

#[test]
fn a_dca_level_as_a_falling_conditional_limit_order() {
    let mut e = engine();
    e.create_order(T0, &NewOrder::market("SOLUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    e.create_order(
        T0,
        &NewOrder::limit("SOLUSDT", WireSide::Buy, dec!(2), dec!(171))
            .trigger(dec!(171), TriggerDirection::Fall)
            .link_id("dca1"),
    )
    .unwrap();
    e.set_price(T0 + 1, "SOLUSDT", dec!(170.5)).unwrap();
    let o = by_link(&e, "dca1");
    assert_eq!(o.order_status, OrderStatus::Filled);
    assert_eq!(e.position_of("SOLUSDT").unwrap().size, dec!(3));
}

#[test]
fn take_profit_on_the_position_closes_it_at_market() {
    let mut e = engine();
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    e.set_trading_stop(
        T0,
        &TradingStop {
            symbol: "ETHUSDT".into(),
            take_profit: Some(dec!(3700)),
            stop_loss: None,
        },
    )
    .unwrap();
    e.set_price(T0 + 1, "ETHUSDT", dec!(3650)).unwrap();
    assert_eq!(e.position_of("ETHUSDT").unwrap().size, dec!(1));
    e.take_events();
    e.set_price(T0 + 2, "ETHUSDT", dec!(3700)).unwrap();
    let p = e.position_of("ETHUSDT").unwrap();
    assert_eq!((p.side, p.size), (None, dec!(0)));
    let closing = e.order_history(&OrderQuery::default());
    let tp = closing
        .iter()
        .find(|o| o.stop_order_type == Some(StopOrderType::TakeProfit))
        .unwrap();
    assert_eq!(
        (tp.create_type.clone(), tp.side, tp.order_status.clone()),
        (
            Some(CreateType::CreateByTakeProfit),
            WireSide::Sell,
            OrderStatus::Filled
        )
    );
    let events = e.take_events();
    assert!(events
        .iter()
        .any(|ev| matches!(ev, EngineEvent::Execution(x) if x.closed_size == Some(dec!(1)))));
}

#[test]
fn reduce_only_orders_are_cancelled_when_the_position_closes() {
    let mut e = engine();
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    e.create_order(
        T0,
        &NewOrder::limit("ETHUSDT", WireSide::Sell, dec!(0.5), dec!(3800))
            .reduce_only()
            .link_id("tp1"),
    )
    .unwrap();
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Sell, dec!(1)))
        .unwrap();
    let tp = e.order_history(&OrderQuery {
        key: Some(OrderKey::LinkId("tp1".into())),
        ..Default::default()
    });
    assert_eq!(tp[0].order_status, OrderStatus::Cancelled);
    assert_eq!(tp[0].cancel_type, Some(CancelType::CancelByReduceOnly));
}

#[test]
fn cancel_all_lists_what_it_cancelled() {
    let mut e = engine();
    for i in 0..3 {
        e.create_order(
            T0,
            &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.1), dec!(3000))
                .link_id(&format!("x{i}")),
        )
        .unwrap();
    }
    e.create_order(
        T0,
        &NewOrder::limit("XRPUSDT", WireSide::Buy, dec!(10), dec!(2)),
    )
    .unwrap();
    let acks = e
        .cancel_all(
            T0,
            &CancelAll {
                symbol: Some("ETHUSDT".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let mut links: Vec<_> = acks.iter().map(|a| a.order_link_id.as_str()).collect();
    links.sort_unstable();
    assert_eq!(links, ["x0", "x1", "x2"]);
    assert_eq!(e.open_orders(&OrderQuery::default()).len(), 1);
    assert!(e.cancel_all(T0, &CancelAll::default()).is_err());
}

#[test]
fn a_market_order_pushes_order_execution_position_and_wallet() {
    let mut e = engine();
    e.take_events();
    e.create_order(
        T0,
        &NewOrder::market("BTCUSDT", WireSide::Buy, dec!(0.01)).link_id("ev"),
    )
    .unwrap();
    let events = e.take_events();
    let kinds: Vec<&str> = events
        .iter()
        .map(|ev| match ev {
            EngineEvent::Order(_) => "order",
            EngineEvent::Execution(_) => "execution",
            EngineEvent::Position(_) => "position",
            EngineEvent::Wallet(_) => "wallet",
            EngineEvent::Trade(_) => "trade",
            EngineEvent::Market { .. } => "market",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "order",
            "execution",
            "position",
            "wallet",
            "trade",
            "market"
        ]
    );
    let EngineEvent::Order(o) = &events[0] else {
        unreachable!()
    };
    assert_eq!(
        (o.order_link_id.as_str(), o.order_status.clone()),
        ("ev", OrderStatus::Filled)
    );
    assert!(e.take_events().is_empty());
}

#[test]
fn a_fok_market_order_fills_entirely_or_not_at_all() {
    let mut e = engine_with(dec!(100000));
    set_book(&mut e, "ETHUSDT", 3, dec!(3500.05));
    e.create_order(
        T0,
        &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(4))
            .tif(bybit_types::TimeInForce::Fok)
            .link_id("fok1"),
    )
    .unwrap();
    let o = e.order_history(&OrderQuery {
        key: Some(OrderKey::LinkId("fok1".into())),
        ..Default::default()
    });
    assert_eq!(
        (o[0].order_status.clone(), o[0].cum_exec_qty),
        (OrderStatus::Cancelled, Some(dec!(0)))
    );
    e.create_order(
        T0,
        &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(3))
            .tif(bybit_types::TimeInForce::Fok)
            .link_id("fok2"),
    )
    .unwrap();
    let o = e.order_history(&OrderQuery {
        key: Some(OrderKey::LinkId("fok2".into())),
        ..Default::default()
    });
    assert_eq!(
        (o[0].order_status.clone(), o[0].cum_exec_qty),
        (OrderStatus::Filled, Some(dec!(3)))
    );
}
