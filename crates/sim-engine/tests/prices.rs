//! Price sources and determinism.

use bybit_types::WireSide;
use rust_decimal_macros::dec;
use sim_engine::{defaults, Engine, EngineConfig, NewOrder, PriceSource};

use crate::support::{engine, T0};

#[test]
fn a_path_prints_each_point_when_its_time_comes() {
    let mut e = engine();
    e.set_price_source(
        "ETHUSDT",
        PriceSource::path(T0 + 1000, 1000, &[dec!(3510), dec!(3520), dec!(3530)]),
    )
    .unwrap();
    e.advance(T0 + 500);
    assert_eq!(e.price("ETHUSDT").unwrap(), dec!(3500));
    e.advance(T0 + 2000);
    assert_eq!(e.price("ETHUSDT").unwrap(), dec!(3520));
    e.advance(T0 + 10_000);
    assert_eq!(e.price("ETHUSDT").unwrap(), dec!(3530));
}

#[test]
fn a_replay_keeps_the_recorded_gaps() {
    let mut e = engine();
    let trades = [(5_000, dec!(2.2), dec!(100)), (5_250, dec!(2.3), dec!(50))];
    e.set_price_source("XRPUSDT", PriceSource::replay(T0, &trades))
        .unwrap();
    e.advance(T0);
    assert_eq!(e.price("XRPUSDT").unwrap(), dec!(2.2));
    e.advance(T0 + 249);
    assert_eq!(e.price("XRPUSDT").unwrap(), dec!(2.2));
    e.advance(T0 + 250);
    assert_eq!(e.price("XRPUSDT").unwrap(), dec!(2.3));
}

#[test]
fn a_random_walk_moves_on_ticks_and_the_same_seed_gives_the_same_run() {
    let run = |seed| {
        let mut config = EngineConfig::new(defaults::instruments(), dec!(10000), seed);
        config.initial_prices = defaults::start_prices();
        let mut e = Engine::new(config).unwrap();
        e.set_price_source(
            "BTCUSDT",
            PriceSource::RandomWalk {
                interval_ms: 100,
                max_step_ticks: 5,
            },
        )
        .unwrap();
        e.create_order(T0, &NewOrder::market("BTCUSDT", WireSide::Buy, dec!(0.01)))
            .unwrap();
        let mut path = Vec::new();
        for i in 0..50 {
            e.advance(T0 + 100 * i);
            path.push(e.price("BTCUSDT").unwrap());
        }
        (path, serde_json::to_string(&e.snapshot()).unwrap())
    };
    let (a, snap_a) = run(7);
    let (b, snap_b) = run(7);
    let (c, _) = run(8);
    assert_eq!(a, b);
    assert_eq!(snap_a, snap_b);
    assert_ne!(a, c);
    assert!(a.windows(2).any(|w| w[0] != w[1]), "the walk never moved");
    let tick = dec!(0.10);
    assert!(
        a.iter().all(|p| (p % tick).is_zero()),
        "off-tick price in {a:?}"
    );
}
