//! Test support: an in-process emulator, short timeouts, and waiting on events with deadlines.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_sign::Credentials;
use bybit_ws::{BackoffConfig, EventReceiver, WsConfig, WsEvent};
use rust_decimal_macros::dec;
use serde_json::Value;

/// The API key the test emulators accept.
pub(crate) const KEY: &str = "test-key";
/// Its secret.
pub(crate) const SECRET: &str = "test-secret";

/// How long any one expected event may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// Starts a still-market emulator (prices move only when set) after `adjust`.
pub(crate) async fn start_with(adjust: impl FnOnce(&mut EmulatorConfig)) -> Emulator {
    let mut config = EmulatorConfig::with_defaults(KEY, SECRET, dec!(100000), 7);
    config.static_prices = true;
    adjust(&mut config);
    Emulator::start("127.0.0.1:0", config).await.unwrap()
}

pub(crate) async fn start() -> Emulator {
    start_with(|_| {}).await
}

/// A configuration with heartbeat and backoff short enough for socket tests.
pub(crate) fn fast(url: String) -> WsConfig {
    let mut config = WsConfig::new(url);
    config.ping_interval = Duration::from_millis(300);
    config.pong_timeout = Duration::from_millis(700);
    config.idle_timeout = Duration::from_secs(3);
    config.connect_timeout = Duration::from_secs(3);
    config.reply_timeout = Duration::from_secs(3);
    config.backoff = BackoffConfig {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(800),
        stable_after: Duration::from_secs(5),
    };
    config
}

/// Receives events until one matches `want`, returning it and what came before it. Fails the
/// test after [`WAIT`] or if the stream closes.
pub(crate) async fn wait_for(
    events: &mut EventReceiver,
    what: &str,
    mut want: impl FnMut(&WsEvent) -> bool,
) -> (WsEvent, Vec<WsEvent>) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}; saw {:?}", summary(&seen)))
            .unwrap_or_else(|| panic!("stream ended before {what}"));
        if want(&event) {
            return (event, seen);
        }
        seen.push(event);
    }
}

/// Polls `check` every 20 ms until it holds, failing after [`WAIT`].
pub(crate) async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} not reached within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Short names of events, for failure messages.
pub(crate) fn summary(events: &[WsEvent]) -> Vec<String> {
    events
        .iter()
        .rev()
        .take(30)
        .map(|e| {
            let text = format!("{e:?}");
            text.chars().take(120).collect()
        })
        .collect()
}

/// A plain HTTP client for the control API, public REST and signed order creation.
pub(crate) struct Control {
    http: reqwest::Client,
    base: String,
}

impl Control {
    pub(crate) fn new(emu: &Emulator) -> Self {
        Control {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            base: emu.http_url(),
        }
    }

    /// A control call that must succeed.
    pub(crate) async fn control(&self, path: &str, body: Value) {
        let response = self
            .http
            .post(format!("{}/emulator{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
    }

    /// `GET /v5/market/orderbook` result.
    pub(crate) async fn orderbook(&self, symbol: &str, limit: u32) -> Value {
        let body: Value = self
            .http
            .get(format!(
                "{}/v5/market/orderbook?category=linear&symbol={symbol}&limit={limit}",
                self.base
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["retCode"], 0, "{body}");
        body["result"].clone()
    }

    /// A signed `POST /v5/order/create` of a market order.
    pub(crate) async fn market_order(&self, symbol: &str, side: &str, qty: &str) -> Value {
        let creds = Credentials::new(KEY, SECRET).unwrap();
        let body = serde_json::json!({
            "category": "linear", "symbol": symbol, "side": side,
            "orderType": "Market", "qty": qty,
        })
        .to_string();
        let signed = creds.sign_post_raw(now_ms(), 5000, body).unwrap();
        let (body, headers) = signed.into_parts();
        let mut request = self
            .http
            .post(format!("{}/v5/order/create", self.base))
            .header("content-type", "application/json");
        for (name, value) in headers.iter() {
            request = request.header(name, value);
        }
        let reply: Value = request
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(reply["retCode"], 0, "{reply}");
        reply
    }
}

pub(crate) fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}
