//! An emulator on loopback with a still BTCUSDT market at 50 000, settings pointing at it, and
//! the call of its control API every test makes to steer it (its state is `Emulator::truth`).

use std::time::Duration;

use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_exec::config::Settings;
use rust_decimal_macros::dec;
use serde_json::Value;

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

/// `POST /emulator/<path>` with `body` (a price move, a fault, a reset); fails the test if the
/// emulator refuses it.
pub(crate) async fn control(emu: &Emulator, path: &str, body: Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/emulator/{path}", emu.http_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
}

/// Waits (polling under a 10 s deadline) until `check` holds.
pub(crate) async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(what, Duration::from_secs(10), check).await;
}

/// Waits (polling, at most `within`) until `check` holds.
pub(crate) async fn eventually_within<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A child's stdout, line by line, read on a thread to its end (a pipe closed early would
/// fail the process's next print).
pub(crate) fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    lines
}

/// Waits (at most `within`) for `serve`'s "status page http://ADDR/" line; the address and
/// the lines read on the way. `why` says what to show if it never comes.
pub(crate) fn serving_addr(
    lines: &std::sync::mpsc::Receiver<String>,
    within: Duration,
    why: impl Fn(&[String]) -> String,
) -> (std::net::SocketAddr, Vec<String>) {
    let mut printed = Vec::new();
    loop {
        let line = lines
            .recv_timeout(within)
            .unwrap_or_else(|_| panic!("serve did not start: {}", why(&printed)));
        printed.push(line.clone());
        if let Some(rest) = line.split("status page http://").nth(1) {
            let addr = rest.split('/').next().unwrap().parse().unwrap();
            return (addr, printed);
        }
    }
}
