//! A market that moves by default (seeded random walk, trade prints, a book whose
//! sizes vary like a real one), the account's resting orders in the public book, a still
//! market on request, and memory that stays flat however long the market runs.

use std::collections::BTreeSet;

use bybit_types::WireSide;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::{defaults, BookShape, Engine, EngineConfig, EngineEvent, NewOrder};

use crate::support::{engine, T0};

fn living(seed: u64) -> Engine {
    let mut config = EngineConfig::new(defaults::instruments(), dec!(10000), seed);
    config.initial_prices = defaults::start_prices();
    Engine::new(config).unwrap()
}

fn symbols(e: &Engine) -> Vec<String> {
    e.instruments().into_iter().map(|i| i.symbol).collect()
}

/// Advances `e` from `from` to `to` in steps of `step_ms`, returning the events.
fn run(e: &mut Engine, from: i64, to: i64, step_ms: i64) -> Vec<EngineEvent> {
    let mut events = Vec::new();
    let mut now = from;
    while now < to {
        now += step_ms;
        e.advance(now);
        events.extend(e.take_events());
    }
    events
}

#[test]
fn every_symbol_walks_and_prints_by_default() {
    let mut e = living(5);
    let start: Vec<Decimal> = symbols(&e).iter().map(|s| e.price(s).unwrap()).collect();
    let events = run(&mut e, T0, T0 + 60_000, 100);
    let moved: Vec<Decimal> = symbols(&e).iter().map(|s| e.price(s).unwrap()).collect();
    for ((symbol, a), b) in symbols(&e).iter().zip(&start).zip(&moved) {
        assert_ne!(a, b, "{symbol} did not move in a minute");
        // About 0.9 bp per second: a minute stays well inside 1 %.
        assert!(((*b - *a) / *a).abs() < dec!(0.01), "{symbol}: {a} -> {b}");
    }
    let trades: Vec<_> = events
        .iter()
        .filter_map(|ev| match ev {
            EngineEvent::Trade(t) => Some(t),
            _ => None,
        })
        .collect();
    assert!(
        trades.len() > symbols(&e).len() * 100,
        "{} prints",
        trades.len()
    );
    let sizes: BTreeSet<Decimal> = trades
        .iter()
        .filter(|t| t.symbol == "ETHUSDT")
        .map(|t| t.qty)
        .collect();
    assert!(sizes.len() > 5, "print sizes vary: {sizes:?}");
}

#[test]
fn the_same_seed_walks_the_same_path() {
    let path = |seed| {
        let mut e = living(seed);
        (0..50)
            .map(|i| {
                e.advance(T0 + i * 1_000);
                e.price("BTCUSDT").unwrap()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(path(9), path(9));
    assert_ne!(path(9), path(10));
}

// Shape from the captured XRPUSDT book (fixture ws_public_orderbook_ob500_XRPUSDT_2024-12-01):
// sizes differ from level to level, deeper levels thin out, and sizes change between prints.
#[test]
fn a_living_book_varies_like_a_real_one() {
    let mut e = living(3);
    let first = e.book("XRPUSDT", 200).unwrap();
    let sizes: BTreeSet<Decimal> = first.bids.iter().map(|l| l.qty).collect();
    assert!(
        sizes.len() > 20,
        "level sizes vary: {} distinct",
        sizes.len()
    );
    let near: Decimal = first.bids[5..50].iter().map(|l| l.qty).sum::<Decimal>() / dec!(45);
    let far: Decimal = first.bids[150..200].iter().map(|l| l.qty).sum::<Decimal>() / dec!(50);
    assert!(near > far * dec!(1.5), "near {near} vs far {far}");
    run(&mut e, T0, T0 + 5_000, 100);
    let later = e.book("XRPUSDT", 50).unwrap();
    let changed = first.bids[..50]
        .iter()
        .zip(&later.bids)
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > 0, "the book changes between prints");
    // Still a book: bids below asks, best first.
    assert!(later.bids[0].price < later.asks[0].price);
    assert!(later.bids.windows(2).all(|w| w[0].price > w[1].price));
    assert!(later.asks.windows(2).all(|w| w[0].price < w[1].price));
}

#[test]
fn static_prices_keep_a_still_market() {
    let mut e = engine();
    let before = e.price("BTCUSDT").unwrap();
    let book = e.book("BTCUSDT", 10).unwrap();
    let events = run(&mut e, T0, T0 + 60_000, 1_000);
    assert_eq!(e.price("BTCUSDT").unwrap(), before);
    assert_eq!(e.book("BTCUSDT", 10).unwrap(), book);
    assert!(!events.iter().any(|ev| matches!(ev, EngineEvent::Trade(_))));
}

// v5/websocket/public/orderbook, v5/market/tickers: the account's own resting orders are part
// of the book everyone sees, and of bid1Price / ask1Price.
#[test]
fn resting_orders_show_in_the_public_book_and_the_ticker() {
    let mut e = engine();
    e.set_book_shape(
        "ETHUSDT",
        BookShape {
            levels: 20,
            spacing_ticks: 5,
            level_notional: dec!(10000),
        },
    )
    .unwrap();
    let last = e.price("ETHUSDT").unwrap();
    let synthetic_bid = e.book("ETHUSDT", 1).unwrap().bids[0];
    // Inside the spread: the new best bid.
    e.create_order(
        T0,
        &NewOrder::limit("ETHUSDT", WireSide::Buy, dec!(0.7), last - dec!(0.02)),
    )
    .unwrap();
    let ticker = e.ticker("ETHUSDT").unwrap();
    assert_eq!(
        (ticker.bid1_price, ticker.bid1_size),
        (Some(last - dec!(0.02)), Some(dec!(0.7)))
    );
    // Joining a synthetic level adds to its size.
    e.create_order(
        T0,
        &NewOrder::limit("ETHUSDT", WireSide::Sell, dec!(0.3), last + dec!(0.05)),
    )
    .unwrap();
    let book = e.book("ETHUSDT", 5).unwrap();
    let synthetic_ask = synthetic_bid.qty; // the flat book is symmetric around the price
    assert_eq!(book.asks[0].price, last + dec!(0.05));
    assert_eq!(book.asks[0].qty, synthetic_ask + dec!(0.3));
    assert_eq!(book.bids[1], synthetic_bid);
    // The book changed: a market event went out.
    assert!(e
        .take_events()
        .iter()
        .any(|ev| matches!(ev, EngineEvent::Market { symbol } if symbol == "ETHUSDT")));
}

// An hour of a living market on every symbol (time advanced fast): nothing the engine holds
// grows with it.
#[test]
fn an_hour_of_random_walk_keeps_memory_flat() {
    let mut e = living(11);
    // Some account activity, so orders and executions exist too.
    e.create_order(T0, &NewOrder::market("ETHUSDT", WireSide::Buy, dec!(0.1)))
        .unwrap();
    let last = e.price("BTCUSDT").unwrap();
    e.create_order(
        T0,
        &NewOrder::limit("BTCUSDT", WireSide::Buy, dec!(0.001), last * dec!(0.5)),
    )
    .unwrap();
    let mut prints = 0usize;
    let mut after_ten_minutes = None;
    let mut now = T0;
    for minute in 1..=60 {
        for _ in 0..60 {
            now += 1_000;
            e.advance(now);
            prints += e
                .take_events()
                .iter()
                .filter(|ev| matches!(ev, EngineEvent::Trade(_)))
                .count();
        }
        if minute == 10 {
            after_ten_minutes = Some(e.retained());
        }
    }
    // A print every 200 ms on each symbol, less the steps that draw no move.
    let expected = symbols(&e).len() * 18_000;
    assert!(prints > expected * 3 / 4, "{prints} prints in an hour");
    assert_eq!(Some(e.retained()), after_ten_minutes);
    let retained = e.retained();
    assert_eq!(retained.queued_events, 0);
    assert!(
        retained.orders <= 2 && retained.executions <= 1,
        "{retained:?}"
    );
}
