//! An emulator on loopback with a still BTCUSDT market at 50 000, and settings pointing at it.

use std::time::Duration;

use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_exec::config::Settings;
use rust_decimal_macros::dec;

pub(crate) const KEY: &str = "test-key";
pub(crate) const SECRET: &str = "test-secret";

pub(crate) async fn emulator() -> Emulator {
    let mut config = EmulatorConfig::with_defaults(KEY, SECRET, dec!(10000), 7);
    config.static_prices = true;
    config.engine = config.engine.with_price("BTCUSDT", dec!(50000));
    Emulator::start("127.0.0.1:0", config).await.unwrap()
}

pub(crate) fn settings(emu: &Emulator) -> Settings {
    Settings::for_emulator(&emu.http_url(), KEY, SECRET).unwrap()
}

/// Waits (polling under a 10 s deadline) until `check` holds.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
