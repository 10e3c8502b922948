//! An order whose limit price the exchange would move to the band
//! is never placed at a price the layer did not send.
//!
//! - docs/v5/account/set-price-limit.mdx: futures accounts default to `modifyEnable = true`,
//!   "the system will automatically adjust the price to the nearest allowed price"; `false`
//!   rejects the order (30208 buy above the maximum buy price, 30209 sell below the minimum
//!   sell price, docs/v5/error.mdx).
//! - docs/v5/account/get-user-setting-config.mdx: `lpaPerp` `true` = reject by its parameter
//!   table (its info box, and set-price-limit's "lpaSpot = true, lpaPerp = false" for the
//!   futures default, word it differently; the table is followed).
//! - docs/v5/market/order-price-limit.mdx: the band (`buyLmt`, `sellLmt`), read from the
//!   emulator's engine here, the same figure that endpoint serves.
//!
//! With the account left at Bybit's default (adjust) the pre-flight sets it to refuse; with it
//! already at refuse the pre-flight keeps it so; either way the order is refused and nothing
//! stands on the exchange. If the account is switched back to adjust behind the layer's back,
//! the moved order is never accepted silently: `execution.error` `PriceMismatch`, flagged.

use std::sync::Arc;
use std::time::Duration;

use exec_events::{ErrorKind, Event, ExecutionError, Received, Subscription};
use exec_gateway::{MemoryJournal, OrderLinkId, OrderRequest, OrderRouter, Side};
use exec_live::Preflight;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::{LimitPxCategory, OrderKey, OrderQuery, PriceLimit};

use crate::support::{btc, connect, start_emulator, Process};

fn limit(side: Side, link: &str, price: Decimal) -> OrderRequest {
    OrderRequest {
        symbol: btc(),
        side,
        qty: dec!(0.001),
        price: Some(price),
        trigger_price: None,
        trigger_direction: None,
        reduce_only: false,
        time_in_force: exec_gateway::TimeInForce::Gtc,
        order_link_id: OrderLinkId::new(link).unwrap(),
    }
}

fn checks() -> Preflight {
    Preflight {
        symbols: vec![btc()],
        leverage: dec!(10),
        min_available_usdt: dec!(100),
    }
}

fn band(emu: &bybit_emulator::Emulator) -> PriceLimit {
    emu.state()
        .read(|e| e.price_limit("BTCUSDT"))
        .unwrap()
        .unwrap()
}

/// Every order the exchange holds (open or closed) under `link`.
fn on_exchange(emu: &bybit_emulator::Emulator, link: &str) -> usize {
    let query = OrderQuery {
        key: Some(OrderKey::LinkId(link.into())),
        ..OrderQuery::default()
    };
    emu.state()
        .read(|e| e.open_orders(&query).len() + e.order_history(&query).len())
}

/// Places a buy above the maximum buy price and a sell below the minimum sell price: both
/// refused with Bybit's codes, neither on the exchange.
async fn beyond_the_band_is_refused(emu: &bybit_emulator::Emulator, p: &Process) {
    let b = band(emu);
    let buy = limit(Side::Buy, "andre_DCA1_PL1", b.buy_max + dec!(1000));
    let err = p.exchange.place(&buy).await.unwrap_err();
    assert_eq!(err.ret_code(), Some(30208), "{err}");
    assert!(err.is_definitive_reject(), "{err}");
    let sell = limit(Side::Sell, "andre_DCA2_PL1", b.sell_min - dec!(1000));
    let err = p.exchange.place(&sell).await.unwrap_err();
    assert_eq!(err.ret_code(), Some(30209), "{err}");
    for link in ["andre_DCA1_PL1", "andre_DCA2_PL1"] {
        assert_eq!(on_exchange(emu, link), 0, "{link} was placed");
    }
    assert!(p.exchange.price_mismatches().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_left_at_adjust_is_set_to_refuse_by_the_pre_flight() {
    let emu = start_emulator(dec!(10000)).await;
    let p = connect(&emu, Arc::new(MemoryJournal::new()), None).await;
    assert!(
        emu.state().read(|e| e.limit_px_action()).futures,
        "Bybit's default"
    );
    p.exchange.preflight(&checks()).await.unwrap();
    assert!(!emu.state().read(|e| e.limit_px_action()).futures);
    beyond_the_band_is_refused(&emu, &p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_already_at_refuse_stays_so_and_refuses() {
    let emu = start_emulator(dec!(10000)).await;
    emu.state()
        .execute(|e, _| e.set_limit_px_action(LimitPxCategory::Futures, false));
    let p = connect(&emu, Arc::new(MemoryJournal::new()), None).await;
    p.exchange.preflight(&checks()).await.unwrap();
    assert!(!emu.state().read(|e| e.limit_px_action()).futures);
    beyond_the_band_is_refused(&emu, &p).await;
}

/// The first `PriceMismatch` error on the bus, waited for up to 10 s.
async fn mismatch(sub: &mut Subscription) -> ExecutionError {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, sub.recv()).await {
            Ok(Received::Event(env)) => {
                if let Event::ExecutionError(x) = &*env.event {
                    if x.kind == ErrorKind::PriceMismatch {
                        return x.clone();
                    }
                }
            }
            Ok(other) => panic!("bus: {other:?}"),
            Err(_) => panic!("no PriceMismatch error within 10 s"),
        }
    }
}

fn mismatches(sub: &mut Subscription) -> usize {
    let mut n = 0;
    while let Some(Received::Event(env)) = sub.try_recv() {
        if matches!(&*env.event, Event::ExecutionError(x) if x.kind == ErrorKind::PriceMismatch) {
            n += 1;
        }
    }
    n
}

/// The account switched back to adjust after the pre-flight (by hand, another program): the
/// exchange moves a passive-looking sell to the minimum sell price. The order push and every
/// REST snapshot of it are compared with the price sent: one `execution.error`
/// `PriceMismatch` naming both prices, the order flagged, never silently accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_moved_by_the_exchange_is_a_loud_error_and_flagged() {
    let emu = start_emulator(dec!(10000)).await;
    let mut p = connect(&emu, Arc::new(MemoryJournal::new()), None).await;
    p.exchange.preflight(&checks()).await.unwrap();
    emu.state()
        .execute(|e, _| e.set_limit_px_action(LimitPxCategory::Futures, true));
    let b = band(&emu);
    // A sell below the minimum sell price: the exchange moves it up to the minimum (it may
    // trade at once against the bids there); either way its record carries the moved price.
    let sent = b.sell_min - dec!(1000);
    let link = "andre_DCA1_PL2";
    p.exchange
        .place(&limit(Side::Sell, link, sent))
        .await
        .unwrap();
    let error = mismatch(&mut p.sub).await;
    assert_eq!(error.order_link_id.as_deref(), Some(link));
    assert!(
        error.message.contains(&sent.to_string()),
        "{}",
        error.message
    );
    assert!(
        error.message.contains(&b.sell_min.to_string()),
        "{}",
        error.message
    );
    assert_eq!(p.exchange.price_mismatches(), vec![link.to_owned()]);
    // A REST lookup of the same order is compared too, and does not repeat the error.
    let found = p
        .exchange
        .get_order(&btc(), &OrderLinkId::new(link).unwrap())
        .await;
    let found = found.unwrap().unwrap();
    assert_eq!(found.price, Some(b.sell_min));
    assert_eq!(mismatches(&mut p.sub), 0);
    assert_eq!(p.exchange.price_mismatches(), vec![link.to_owned()]);
}
