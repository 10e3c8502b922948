//! Test support: an engine over the default instruments, and a funnel for refusals.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::{defaults, Engine, EngineConfig, Reject};

/// A fixed start time (ms).
pub(crate) const T0: i64 = 1_700_000_000_000;

/// An engine with the default instruments and prices and `usdt` in the wallet.
pub(crate) fn engine_with(usdt: Decimal) -> Engine {
    let mut config = EngineConfig::new(defaults::instruments(), usdt, 42);
    // A still market: these tests assert exact fills against a known book.
    config.static_prices = true;
    config.initial_prices = defaults::start_prices();
    Engine::new(config).unwrap()
}

/// An engine with 10,000 USDT.
pub(crate) fn engine() -> Engine {
    engine_with(dec!(10000))
}

/// The funnel for refusals: `result` must be refused with `code`.
#[track_caller]
pub(crate) fn assert_rejected<T: std::fmt::Debug>(result: Result<T, Reject>, code: i64) -> Reject {
    match result {
        Err(reject) => {
            assert_eq!(reject.ret_code, code, "wrong code: {reject}");
            reject
        }
        Ok(value) => panic!("expected retCode {code}, got success {value:?}"),
    }
}

/// Gives `symbol` a book of `levels` levels one tick apart, each worth `notional` USDT: a
/// thin book for partial fills, a deep one for fills exactly one tick from the price.
pub(crate) fn set_book(e: &mut Engine, symbol: &str, levels: u32, notional: Decimal) {
    e.set_book_shape(
        symbol,
        sim_engine::BookShape {
            levels,
            spacing_ticks: 1,
            level_notional: notional,
        },
    )
    .unwrap();
}
