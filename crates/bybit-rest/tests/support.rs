//! Test support: an in-process emulator on a free loopback port, a client configured for it,
//! and the control API.

use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_rest::{RestClient, RestConfig};
use bybit_sign::Credentials;
use bybit_types::{OrderLinkId, Price, Qty, Symbol};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;

/// The API key the test emulators accept.
pub(crate) const KEY: &str = "rest-key";
/// Its secret.
pub(crate) const SECRET: &str = "rest-secret-do-not-print";

/// Tests that measure timing or watch process-wide state (the burst counts arrivals per second
/// at the server's door; the span test installs a tracing subscriber, whose callsite cache other
/// threads' first hits can race) run alone: they take this lock for writing, every other
/// emulator test holds it for reading. Each test starts at most one emulator, so no test waits
/// on itself.
static TURN: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// An emulator for one test, with the test's turn (see [`TURN`]). Derefs to the emulator.
pub(crate) struct TestEmulator {
    emulator: Emulator,
    _turn: Turn,
}

enum Turn {
    Shared(
        #[allow(dead_code, reason = "held, never read")] tokio::sync::RwLockReadGuard<'static, ()>,
    ),
    Alone(
        #[allow(dead_code, reason = "held, never read")] tokio::sync::RwLockWriteGuard<'static, ()>,
    ),
}

impl std::ops::Deref for TestEmulator {
    type Target = Emulator;
    fn deref(&self) -> &Emulator {
        &self.emulator
    }
}

/// An emulator with the default instruments and 10,000 USDT.
pub(crate) async fn emulator() -> TestEmulator {
    emulator_with(|_| {}).await
}

/// [`emulator`] for a test that must run alone (timing or tracing; see [`TURN`]).
pub(crate) async fn emulator_alone() -> TestEmulator {
    let turn = Turn::Alone(TURN.write().await);
    TestEmulator {
        emulator: start(|_| {}).await,
        _turn: turn,
    }
}

pub(crate) async fn emulator_with(adjust: impl FnOnce(&mut EmulatorConfig)) -> TestEmulator {
    let turn = Turn::Shared(TURN.read().await);
    TestEmulator {
        emulator: start(adjust).await,
        _turn: turn,
    }
}

/// An emulator without a turn of its own: a second one for a test that holds a turn already
/// (two hosts), so the test does not queue behind itself.
pub(crate) async fn start(adjust: impl FnOnce(&mut EmulatorConfig)) -> Emulator {
    let mut config = EmulatorConfig::with_defaults(KEY, SECRET, dec!(10000), 7);
    adjust(&mut config);
    Emulator::start("127.0.0.1:0", config).await.unwrap()
}

/// A configuration pointing at `url` with the test key.
pub(crate) fn config(url: &str) -> RestConfig {
    RestConfig::with_base_url(url).credentials(Credentials::new(KEY, SECRET).unwrap())
}

pub(crate) fn client(emu: &Emulator) -> RestClient {
    RestClient::new(config(&emu.http_url())).unwrap()
}

pub(crate) fn client_with(emu: &Emulator, adjust: impl FnOnce(&mut RestConfig)) -> RestClient {
    let mut config = config(&emu.http_url());
    adjust(&mut config);
    RestClient::new(config).unwrap()
}

/// A control-API call; panics unless the emulator accepted it.
pub(crate) async fn control(emu: &Emulator, path: &str, body: Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/emulator{path}", emu.http_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "control {path} refused");
}

/// Every order (open and closed) in the emulator's truth with this orderLinkId.
pub(crate) async fn orders_with_link(emu: &Emulator, link: &str) -> Vec<Value> {
    let state = emu.truth();
    ["openOrders", "closedOrders"]
        .iter()
        .flat_map(|k| state[*k].as_array().cloned().unwrap_or_default())
        .filter(|o| o["orderLinkId"] == link)
        .collect()
}

pub(crate) fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

pub(crate) fn link(text: &str) -> OrderLinkId {
    OrderLinkId::new(text).unwrap()
}

pub(crate) fn qty(v: Decimal) -> Qty {
    Qty::new(v).unwrap()
}

pub(crate) fn price(v: Decimal) -> Price {
    Price::new(v).unwrap()
}

/// A resting limit buy far below BTC's start price (95,000).
pub(crate) fn resting_buy(link_id: Option<&str>) -> bybit_rest::NewOrder {
    let order = bybit_rest::NewOrder::limit(
        btc(),
        bybit_types::WireSide::Buy,
        qty(dec!(0.001)),
        price(dec!(90000)),
    );
    match link_id {
        Some(l) => order.order_link_id(link(l)),
        None => order,
    }
}
