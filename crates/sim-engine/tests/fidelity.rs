//! The statuses, fields and sequence numbers a Bybit client really sees. Each test
//! names the Bybit V5 doc page it follows.

use bybit_types::rest::order::Order;
use bybit_types::{CancelType, CreateType, OrderStatus, StopOrderType, TimeInForce, WireSide};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::{
    CancelAll, Engine, EngineEvent, ExecutionQuery, NewOrder, OrderKey, OrderQuery, TradingStop,
    TriggerDirection,
};

use crate::support::{engine, set_book, T0};

/// The `order` pushes among `events` for the order with link id `link`, in order.
fn order_pushes(events: &[EngineEvent], link: &str) -> Vec<Order> {
    events
        .iter()
        .filter_map(|ev| match ev {
            EngineEvent::Order(o) if o.order_link_id == link => Some((**o).clone()),
            _ => None,
        })
        .collect()
}

fn statuses(orders: &[Order]) -> Vec<OrderStatus> {
    orders.iter().map(|o| o.order_status.clone()).collect()
}

/// The order pushes of every order with stop-order type `kind`.
fn stop_pushes(events: &[EngineEvent], kind: StopOrderType) -> Vec<Order> {
    events
        .iter()
        .filter_map(|ev| match ev {
            EngineEvent::Order(o) if o.stop_order_type == Some(kind.clone()) => Some((**o).clone()),
            _ => None,
        })
        .collect()
}

fn open_of(e: &Engine, symbol: &str) -> Vec<Order> {
    e.open_orders(&OrderQuery {
        symbol: Some(symbol.into()),
        ..Default::default()
    })
}

fn stop(symbol: &str, tp: Option<Decimal>, sl: Option<Decimal>) -> TradingStop {
    TradingStop {
        symbol: symbol.into(),
        take_profit: tp,
        stop_loss: sl,
    }
}

// v5/enum (orderStatus: "Triggered: instantaneous state for conditional orders from
// Untriggered to New"; createType: "CreateByStopOrder: Futures conditional order").
#[test]
fn a_conditional_passes_through_triggered_before_it_goes_on() {
    let mut e = engine();
    e.create_order(
        T0,
        &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.5))
            .trigger(dec!(3600), TriggerDirection::Rise)
            .link_id("c1"),
    )
    .unwrap();
    let created = order_pushes(&e.take_events(), "c1");
    assert_eq!(statuses(&created), [OrderStatus::Untriggered]);
    assert_eq!(created[0].create_type, Some(CreateType::CreateByStopOrder));
    e.set_price(T0 + 1, "ETHUSDT", dec!(3600)).unwrap();
    let pushed = order_pushes(&e.take_events(), "c1");
    assert_eq!(
        statuses(&pushed),
        [OrderStatus::Triggered, OrderStatus::Filled]
    );
    assert!(pushed
        .iter()
        .all(|o| o.create_type == Some(CreateType::CreateByStopOrder)));

    // A conditional limit that rests after triggering: Triggered, then New.
    e.create_order(
        T0 + 2,
        &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.5), dec!(3000))
            .trigger(dec!(3500), TriggerDirection::Fall)
            .link_id("c2"),
    )
    .unwrap();
    e.take_events();
    e.set_price(T0 + 3, "ETHUSDT", dec!(3500)).unwrap();
    let pushed = order_pushes(&e.take_events(), "c2");
    assert_eq!(
        statuses(&pushed),
        [OrderStatus::Triggered, OrderStatus::New]
    );
}

// v5/enum (orderStatus "Deactivated: conditional order ... cancelled before they are triggered").
#[test]
fn a_conditional_cancelled_before_it_triggers_ends_deactivated() {
    let mut e = engine();
    for link in ["d1", "d2"] {
        e.create_order(
            T0,
            &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.5))
                .trigger(dec!(3600), TriggerDirection::Rise)
                .link_id(link),
        )
        .unwrap();
    }
    e.create_order(
        T0,
        &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.5), dec!(3000)).link_id("plain"),
    )
    .unwrap();
    e.take_events();
    e.cancel_order(T0 + 1, "ETHUSDT", &OrderKey::LinkId("d1".into()))
        .unwrap();
    e.cancel_all(
        T0 + 2,
        &CancelAll {
            symbol: Some("ETHUSDT".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let events = e.take_events();
    for link in ["d1", "d2"] {
        let last = order_pushes(&events, link).pop().unwrap();
        assert_eq!(last.order_status, OrderStatus::Deactivated, "{link}");
        assert_eq!(last.cancel_type, Some(CancelType::CancelByUser));
    }
    let plain = order_pushes(&events, "plain").pop().unwrap();
    assert_eq!(plain.order_status, OrderStatus::Cancelled);
}

// v5/position/trading-stop, v5/enum (createType CreateByTakeProfit / CreateByStopLoss,
// cancelType "CancelByTpSlTsClear: TP/SL order cancelled when the position is cleared").
#[test]
fn position_tp_and_sl_are_untriggered_orders_cleared_with_the_position() {
    let mut e = engine();
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    e.take_events();
    e.set_trading_stop(T0, &stop("ETHUSDT", Some(dec!(3700)), Some(dec!(3300))))
        .unwrap();
    let events = e.take_events();
    let tp = stop_pushes(&events, StopOrderType::TakeProfit);
    let sl = stop_pushes(&events, StopOrderType::StopLoss);
    assert_eq!(statuses(&tp), [OrderStatus::Untriggered]);
    assert_eq!(statuses(&sl), [OrderStatus::Untriggered]);
    assert_eq!(tp[0].create_type, Some(CreateType::CreateByTakeProfit));
    assert_eq!(sl[0].create_type, Some(CreateType::CreateByStopLoss));
    assert_eq!(
        (tp[0].side, tp[0].trigger_price, tp[0].trigger_direction),
        (WireSide::Sell, Some(dec!(3700)), 1)
    );
    assert_eq!(
        (sl[0].side, sl[0].trigger_price, sl[0].trigger_direction),
        (WireSide::Sell, Some(dec!(3300)), 2)
    );
    assert!(tp[0].reduce_only && tp[0].close_on_trigger);
    // /v5/order/realtime lists both.
    let open = open_of(&e, "ETHUSDT");
    assert_eq!(open.len(), 2);

    // Moving the TP moves its order; removing the SL deactivates its order.
    e.set_trading_stop(T0 + 1, &stop("ETHUSDT", Some(dec!(3750)), Some(dec!(0))))
        .unwrap();
    let events = e.take_events();
    let tp = stop_pushes(&events, StopOrderType::TakeProfit);
    assert_eq!(
        (tp[0].order_status.clone(), tp[0].trigger_price),
        (OrderStatus::Untriggered, Some(dec!(3750)))
    );
    let sl = stop_pushes(&events, StopOrderType::StopLoss);
    assert_eq!(statuses(&sl), [OrderStatus::Deactivated]);
    let p = e.position_of("ETHUSDT").unwrap();
    assert_eq!(
        (p.take_profit, p.stop_loss),
        (Some(dec!(3750)), Some(dec!(0)))
    );

    // Closing the position by hand clears the TP: Deactivated, CancelByTpSlTsClear.
    e.create_order(
        T0 + 2,
        &NewOrder::market("ETHUSDT", WireSide::Sell, dec!(1)).reduce_only(),
    )
    .unwrap();
    let events = e.take_events();
    let tp = stop_pushes(&events, StopOrderType::TakeProfit);
    assert_eq!(statuses(&tp), [OrderStatus::Deactivated]);
    assert_eq!(tp[0].cancel_type, Some(CancelType::CancelByTpSlTsClear));
    assert!(open_of(&e, "ETHUSDT").is_empty());
}

// v5/position/trading-stop, v5/enum: a TP that fires triggers like any conditional, closes the
// position, and the SL left over is cleared with it.
#[test]
fn a_firing_take_profit_closes_the_position_and_clears_the_stop_loss() {
    let mut e = engine();
    let mut order = NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1));
    order.take_profit = Some(dec!(3700));
    order.stop_loss = Some(dec!(3300));
    e.create_order(T0, &order).unwrap();
    // TP/SL given on create become the position's orders once it fills.
    let events = e.take_events();
    assert_eq!(
        statuses(&stop_pushes(&events, StopOrderType::TakeProfit)),
        [OrderStatus::Untriggered]
    );
    e.set_price(T0 + 1, "ETHUSDT", dec!(3700)).unwrap();
    let events = e.take_events();
    assert_eq!(
        statuses(&stop_pushes(&events, StopOrderType::TakeProfit)),
        [OrderStatus::Triggered, OrderStatus::Filled]
    );
    let sl = stop_pushes(&events, StopOrderType::StopLoss);
    assert_eq!(statuses(&sl), [OrderStatus::Deactivated]);
    assert_eq!(sl[0].cancel_type, Some(CancelType::CancelByTpSlTsClear));
    let p = e.position_of("ETHUSDT").unwrap();
    assert_eq!((p.side, p.size), (None, dec!(0)));
}

// v5/order/create-order: a user cancelling the position's SL order removes the SL.
#[test]
fn cancelling_the_stop_loss_order_removes_it_from_the_position() {
    let mut e = engine();
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    e.set_trading_stop(T0, &stop("ETHUSDT", None, Some(dec!(3300))))
        .unwrap();
    let sl = open_of(&e, "ETHUSDT").pop().unwrap();
    e.cancel_order(T0 + 1, "ETHUSDT", &OrderKey::Id(sl.order_id))
        .unwrap();
    assert_eq!(e.position_of("ETHUSDT").unwrap().stop_loss, Some(dec!(0)));
    e.set_price(T0 + 2, "ETHUSDT", dec!(3200)).unwrap();
    assert_eq!(e.position_of("ETHUSDT").unwrap().size, dec!(1));
}

// v5/websocket/private/order (capture: avgPrice, triggerPrice, takeProfit, stopLoss,
// stopOrderType "" on the stream) and v5/order/open-order (capture: avgPrice "0",
// triggerPrice "0.00", stopOrderType "UNKNOWN" over REST).
#[test]
fn the_stream_sends_empty_strings_where_rest_sends_zero() {
    let mut e = engine();
    e.create_order(
        T0,
        &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.5), dec!(3000)).link_id("l1"),
    )
    .unwrap();
    let pushed = order_pushes(&e.take_events(), "l1").pop().unwrap();
    let json = serde_json::to_value(&pushed).unwrap();
    for field in [
        "avgPrice",
        "triggerPrice",
        "takeProfit",
        "stopLoss",
        "stopOrderType",
    ] {
        assert_eq!(json[field], "", "stream {field}");
    }
    let rest = open_of(&e, "ETHUSDT").pop().unwrap();
    let json = serde_json::to_value(&rest).unwrap();
    assert_eq!(json["avgPrice"], "0");
    assert_eq!(json["triggerPrice"], "0");
    assert_eq!(json["stopOrderType"], "UNKNOWN");
    // A flat position reads size "0".
    let flat = serde_json::to_value(e.position_of("BTCUSDT").unwrap()).unwrap();
    assert_eq!(flat["size"], "0");
}

// v5/websocket/private/order (closedPnl belongs to closing fills), v5/enum (rejectReason
// EC_PostOnlyWillTakeLiquidity, EC_CancelForNoFullFill: system cancels, not the user's).
#[test]
fn opening_fills_have_no_closed_pnl_and_system_cancels_are_not_the_users() {
    let mut e = engine();
    e.create_order(
        T0,
        &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)).link_id("open"),
    )
    .unwrap();
    let opened = order_pushes(&e.take_events(), "open").pop().unwrap();
    assert_eq!(opened.order_status, OrderStatus::Filled);
    assert_eq!(opened.closed_pnl, Some(dec!(0)));
    e.create_order(
        T0 + 1,
        &NewOrder::market("ETHUSDT", WireSide::Sell, dec!(1)).link_id("close"),
    )
    .unwrap();
    let closed = order_pushes(&e.take_events(), "close").pop().unwrap();
    assert_ne!(closed.closed_pnl, Some(dec!(0)));

    let last = e.price("ETHUSDT").unwrap();
    e.create_order(
        T0 + 2,
        &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.1), last + dec!(10))
            .tif(TimeInForce::PostOnly)
            .link_id("po"),
    )
    .unwrap();
    let po = order_pushes(&e.take_events(), "po").pop().unwrap();
    assert_eq!(po.order_status, OrderStatus::Cancelled);
    assert_eq!(po.reject_reason, "EC_PostOnlyWillTakeLiquidity");
    assert_eq!(po.cancel_type, Some(CancelType::Unspecified));

    set_book(&mut e, "ETHUSDT", 2, dec!(1000));
    e.create_order(
        T0 + 3,
        &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(5)).link_id("ioc"),
    )
    .unwrap();
    let ioc = order_pushes(&e.take_events(), "ioc").pop().unwrap();
    assert_eq!(ioc.order_status, OrderStatus::Cancelled);
    assert_eq!(ioc.reject_reason, "EC_CancelForNoFullFill");
    assert_eq!(ioc.cancel_type, Some(CancelType::Unspecified));
}

// v5/websocket/private/execution ("seq: cross sequence, used to associate each fill and each
// position update"), v5/websocket/private/position (seq).
#[test]
fn one_seq_per_match_shared_by_its_fills_and_the_position() {
    let mut e = engine();
    assert_eq!(e.position_of("ETHUSDT").unwrap().seq, Some(-1));
    set_book(&mut e, "ETHUSDT", 50, dec!(2000));
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(3)))
        .unwrap();
    let events = e.take_events();
    let seqs: Vec<i64> = events
        .iter()
        .filter_map(|ev| match ev {
            EngineEvent::Execution(x) => x.seq,
            _ => None,
        })
        .collect();
    assert!(seqs.len() > 1, "a walk over several levels: {seqs:?}");
    assert!(seqs.iter().all(|s| *s == seqs[0]));
    let position_seq = events.iter().find_map(|ev| match ev {
        EngineEvent::Position(p) => p.seq,
        _ => None,
    });
    assert_eq!(position_seq, Some(seqs[0]));
    e.create_order(T0 + 1, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    let next = e.executions(&ExecutionQuery::default())[0].seq.unwrap();
    assert!(next > seqs[0]);
    assert_eq!(e.position_of("ETHUSDT").unwrap().seq, Some(next));
    assert_eq!(e.position_of("BTCUSDT").unwrap().seq, Some(-1));
}

// v5/websocket/private/position: pushed on fills, order operations and setting changes; a
// print that changes nothing of ours pushes no position.
#[test]
fn prices_alone_push_no_position() {
    let mut e = engine();
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    e.take_events();
    e.set_price(T0 + 1, "ETHUSDT", dec!(3550)).unwrap();
    assert!(!e
        .take_events()
        .iter()
        .any(|ev| matches!(ev, EngineEvent::Position(_))));
    e.set_leverage(T0 + 2, "ETHUSDT", dec!(5), dec!(5)).unwrap();
    assert!(e
        .take_events()
        .iter()
        .any(|ev| matches!(ev, EngineEvent::Position(_))));
}

// v5/websocket/private/execution (execPnl, execFee): the wallet moves by exactly what each
// execution reports, after thousands of fills at awkward prices.
#[test]
fn the_wallet_is_the_start_plus_reported_pnl_minus_fees_exactly() {
    let start = dec!(1000000);
    let mut e = crate::support::engine_with(start);
    let mut now = T0;
    for i in 0..1500u32 {
        now += 1;
        let side = if i % 3 == 0 {
            WireSide::Sell
        } else {
            WireSide::Buy
        };
        let qty = Decimal::from(1 + i % 7) * dec!(0.01);
        let _ = e.create_order(now, &NewOrder::market("ETHUSDT", side, qty));
        let ticks = Decimal::from(i % 13) - dec!(6);
        let price = e.price("ETHUSDT").unwrap() + ticks * dec!(0.01) + dec!(0.03);
        let _ = e.set_price(now, "ETHUSDT", price);
    }
    let fills = e.executions(&ExecutionQuery::default());
    assert!(fills.len() >= 1500);
    let moved: Decimal = fills
        .iter()
        .map(|f| f.exec_pnl.unwrap() - f.exec_fee.unwrap())
        .sum();
    assert_eq!(e.wallet().total_wallet_balance.unwrap(), start + moved);
}

// v5/error (30208 "The order price is higher than the maximum buying price", 30209 "... lower
// than the minimum selling price"; 110003 links the contract price limits) and
// v5/market/instrument (riskParameters.priceLimitRatioY, 0.02 for BTCUSDT), with the account's
// price-limit action set to refuse (docs/v5/account/set-price-limit.mdx, modifyEnable=false).
#[test]
fn limit_prices_outside_the_band_are_refused() {
    let mut e = engine();
    e.set_limit_px_action(sim_engine::LimitPxCategory::Futures, false);
    let last = e.price("BTCUSDT").unwrap();
    let buy = |price| NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.001), price);
    let sell = |price| NewOrder::limit("BTCUSDT", WireSide::Sell, dec!(0.001), price);
    crate::support::assert_rejected(e.create_order(T0, &buy(last * dec!(1.03))), 30208);
    crate::support::assert_rejected(e.create_order(T0, &sell(last * dec!(0.97))), 30209);
    // Inside the band, or passive however far: accepted.
    e.create_order(T0, &buy(last * dec!(1.01))).unwrap();
    e.create_order(T0, &buy(last * dec!(0.5))).unwrap();
    e.create_order(T0, &sell(last * dec!(1.5))).unwrap();
    // A conditional limit is banded around its trigger price.
    let far = NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.001), last * dec!(1.2))
        .trigger(last * dec!(1.19), TriggerDirection::Rise);
    e.create_order(T0, &far).unwrap();
    // Amending a resting buy through the band is refused too.
    e.create_order(
        T0,
        &NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.001), last * dec!(0.9)).link_id("am"),
    )
    .unwrap();
    let amend = sim_engine::Amend {
        symbol: "BTCUSDT".into(),
        key: OrderKey::LinkId("am".into()),
        qty: None,
        price: Some(last * dec!(1.1)),
        trigger_price: None,
    };
    crate::support::assert_rejected(e.amend_order(T0, &amend), 30208);
}

// v5/order/create-order (a market order becomes an IOC limit at a protection price); real
// BTCUSDT captures put it about 5 % from the price, and it is configurable.
#[test]
fn the_market_protection_price_is_five_percent_and_configurable() {
    let protection_price = |protection: Option<Decimal>| {
        let mut config =
            sim_engine::EngineConfig::new(sim_engine::defaults::instruments(), dec!(100000), 42);
        config.initial_prices = sim_engine::defaults::start_prices();
        if let Some(p) = protection {
            config.market_protection = p;
        }
        let mut e = Engine::new(config).unwrap();
        e.create_order(
            T0,
            &NewOrder::market("BTCUSDT", WireSide::Buy, dec!(0.01)).link_id("m"),
        )
        .unwrap();
        let pushed = order_pushes(&e.take_events(), "m").pop().unwrap();
        (pushed.price.unwrap(), e.price("BTCUSDT").unwrap())
    };
    let (price, _) = protection_price(None);
    assert_eq!(price, dec!(99750.00), "95000 × 1.05");
    let (price, _) = protection_price(Some(dec!(0.01)));
    assert_eq!(price, dec!(95950.00), "95000 × 1.01");
    let mut config = sim_engine::EngineConfig::new(sim_engine::defaults::instruments(), dec!(1), 1);
    config.market_protection = dec!(1.5);
    assert!(Engine::new(config).is_err());
}

// v5/enum (execType Funding; orderType UNKNOWN "used when execType is Funding"),
// v5/websocket/private/execution: every funding interval a position pays or receives
// size × mark × rate, as a Funding execution the wallet moves by exactly.
#[test]
fn positions_pay_and_receive_funding_every_interval() {
    let mut config =
        sim_engine::EngineConfig::new(sim_engine::defaults::instruments(), dec!(100000), 42);
    config.initial_prices = sim_engine::defaults::start_prices();
    config.static_prices = true;
    config.funding_rate = dec!(0.0003);
    let mut e = Engine::new(config).unwrap();
    let period = 8 * 3_600_000;
    let start = (T0 / period + 1) * period - 1_000; // a second before a funding time
    e.create_order(start, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(2)))
        .unwrap();
    e.create_order(
        start,
        &NewOrder::market("BTCUSDT", WireSide::Sell, dec!(0.01)),
    )
    .unwrap();
    assert_eq!(
        e.ticker("ETHUSDT").unwrap().funding_rate,
        Some(dec!(0.0003))
    );
    e.advance(start);
    e.take_events();
    let wallet = e.wallet().total_wallet_balance.unwrap();
    e.advance(start + 999);
    assert!(e.take_events().is_empty(), "not yet");
    e.advance(start + 1_000);
    let events = e.take_events();
    let funding: Vec<_> = events
        .iter()
        .filter_map(|ev| match ev {
            EngineEvent::Execution(x) => Some(x),
            _ => None,
        })
        .collect();
    assert_eq!(funding.len(), 2);
    let eth_mark = e.price("ETHUSDT").unwrap();
    let btc_mark = e.price("BTCUSDT").unwrap();
    let eth = funding.iter().find(|x| x.symbol == "ETHUSDT").unwrap();
    let btc = funding.iter().find(|x| x.symbol == "BTCUSDT").unwrap();
    assert_eq!(eth.exec_type, Some(bybit_types::ExecType::Funding));
    assert_eq!(
        eth.exec_fee,
        Some((dec!(2) * eth_mark * dec!(0.0003)).normalize())
    );
    // A short receives a positive rate: a negative fee.
    assert_eq!(
        btc.exec_fee,
        Some((-dec!(0.01) * btc_mark * dec!(0.0003)).normalize())
    );
    let json = serde_json::to_value(eth).unwrap();
    assert_eq!(json["orderType"], "UNKNOWN");
    assert_eq!(json["execType"], "Funding");
    let moved = eth.exec_fee.unwrap() + btc.exec_fee.unwrap();
    assert_eq!(e.wallet().total_wallet_balance.unwrap(), wallet - moved);
    assert!(events
        .iter()
        .any(|ev| matches!(ev, EngineEvent::Position(p) if p.symbol == "ETHUSDT")));
    // Once per interval.
    e.advance(start + 1_000 + period - 1);
    assert!(e.take_events().is_empty());
    e.advance(start + 1_000 + period);
    assert_eq!(
        e.executions(&ExecutionQuery::default())
            .iter()
            .filter(|x| x.exec_type == Some(bybit_types::ExecType::Funding))
            .count(),
        4
    );
}

// v5/order/amend-order, v5/position/trading-stop: amending the trigger of the position's TP
// order moves the position's take-profit with it.
#[test]
fn amending_the_take_profit_order_moves_the_positions_level() {
    let mut e = engine();
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    e.set_trading_stop(T0, &stop("ETHUSDT", Some(dec!(3700)), None))
        .unwrap();
    let tp = open_of(&e, "ETHUSDT").pop().unwrap();
    let amend = |qty, trigger| sim_engine::Amend {
        symbol: "ETHUSDT".into(),
        key: OrderKey::Id(tp.order_id.clone()),
        qty,
        price: None,
        trigger_price: trigger,
    };
    crate::support::assert_rejected(e.amend_order(T0, &amend(Some(dec!(2)), None)), 10001);
    e.amend_order(T0, &amend(None, Some(dec!(3800)))).unwrap();
    assert_eq!(
        e.position_of("ETHUSDT").unwrap().take_profit,
        Some(dec!(3800))
    );
    // A later fill keeps the amended level (no re-sync back to the old one).
    e.create_order(T0 + 1, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    let open = open_of(&e, "ETHUSDT");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].trigger_price, Some(dec!(3800)));
    e.set_price(T0 + 2, "ETHUSDT", dec!(3800)).unwrap();
    assert_eq!(e.position_of("ETHUSDT").unwrap().size, dec!(0));
}

// v5/order/cancel-all: with orderFilter StopOrder and stopOrderType Stop, "cancel conditional
// orders except TP/SL order and Trailing stop orders"; with no filter, every kind.
#[test]
fn cancel_all_of_plain_stops_leaves_the_positions_tp() {
    let mut e = engine();
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(1)))
        .unwrap();
    e.set_trading_stop(T0, &stop("ETHUSDT", Some(dec!(3700)), None))
        .unwrap();
    e.create_order(
        T0,
        &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.5))
            .trigger(dec!(3650), TriggerDirection::Rise)
            .link_id("stop"),
    )
    .unwrap();
    let only_stops = CancelAll {
        symbol: Some("ETHUSDT".into()),
        filter: Some(sim_engine::OrderFilter::StopOrder),
        stop_only: true,
        ..Default::default()
    };
    let cancelled = e.cancel_all(T0 + 1, &only_stops).unwrap();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].order_link_id, "stop");
    let left = open_of(&e, "ETHUSDT");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].stop_order_type, Some(StopOrderType::TakeProfit));
    let everything = CancelAll {
        symbol: Some("ETHUSDT".into()),
        ..Default::default()
    };
    assert_eq!(e.cancel_all(T0 + 2, &everything).unwrap().len(), 1);
    assert_eq!(e.position_of("ETHUSDT").unwrap().take_profit, Some(dec!(0)));
}

fn order_by_link(e: &sim_engine::Engine, link: &str) -> Order {
    let query = sim_engine::OrderQuery {
        key: Some(OrderKey::LinkId(link.into())),
        ..Default::default()
    };
    e.open_orders(&query).into_iter().next().unwrap()
}

// docs/v5/account/set-price-limit.mdx: futures default `modifyEnable = true`: "If the order
// price exceeds the limit, the system will automatically adjust the price to the nearest
// allowed price (i.e., highest bid or lowest ask)". docs/v5/market/order-price-limit.mdx:
// `buyLmt` / `sellLmt` are those prices. The order's `price` (REST and the `order` push) is the
// moved one.
#[test]
fn by_default_a_limit_price_beyond_the_band_is_moved_to_the_bound() {
    let mut e = engine();
    assert!(
        e.limit_px_action().futures,
        "Bybit's futures default is adjust"
    );
    let last = e.price("BTCUSDT").unwrap();
    let band = e.price_limit("BTCUSDT").unwrap().unwrap();
    assert!(band.buy_max > last && band.sell_min < last, "{band:?}");
    e.take_events();
    let buy =
        NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.001), last * dec!(1.03)).link_id("b");
    e.create_order(T0, &buy).unwrap();
    assert_eq!(order_by_link(&e, "b").price, Some(band.buy_max));
    let pushed: Vec<_> = e
        .take_events()
        .into_iter()
        .filter_map(|ev| match ev {
            sim_engine::EngineEvent::Order(o) => Some(o.price),
            _ => None,
        })
        .collect();
    assert_eq!(pushed, vec![Some(band.buy_max)]);
    // (A buy at the bound takes liquidity and moves the last price: the band follows it.)
    let band = e.price_limit("BTCUSDT").unwrap().unwrap();
    let sell =
        NewOrder::limit("BTCUSDT", WireSide::Sell, dec!(0.001), last * dec!(0.97)).link_id("s");
    e.create_order(T0, &sell).unwrap();
    assert_eq!(order_by_link(&e, "s").price, Some(band.sell_min));
    // Inside the band: unchanged.
    let inside =
        NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.001), last * dec!(0.99)).link_id("i");
    e.create_order(T0, &inside).unwrap();
    assert_eq!(order_by_link(&e, "i").price, Some(last * dec!(0.99)));
    // An amend through the band is moved as well.
    let amend = sim_engine::Amend {
        symbol: "BTCUSDT".into(),
        key: OrderKey::LinkId("i".into()),
        qty: None,
        price: Some(last * dec!(1.1)),
        trigger_price: None,
    };
    let band = e.price_limit("BTCUSDT").unwrap().unwrap();
    e.amend_order(T0, &amend).unwrap();
    assert_eq!(order_by_link(&e, "i").price, Some(band.buy_max));
    // Switched off, the same order is refused (docs: modifyEnable=false "reject your order
    // request"); switched back on, moved again.
    e.set_limit_px_action(sim_engine::LimitPxCategory::Futures, false);
    let again =
        NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.001), last * dec!(1.03)).link_id("b2");
    crate::support::assert_rejected(e.create_order(T0, &again), 30208);
    // Spot's setting is its own and does not touch futures.
    e.set_limit_px_action(sim_engine::LimitPxCategory::Spot, true);
    assert!(!e.limit_px_action().futures);
    e.set_limit_px_action(sim_engine::LimitPxCategory::Futures, true);
    let band = e.price_limit("BTCUSDT").unwrap().unwrap();
    e.create_order(T0, &again).unwrap();
    assert_eq!(order_by_link(&e, "b2").price, Some(band.buy_max));
}
