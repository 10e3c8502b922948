//! Test support: an in-process emulator on a free loopback port, and a small signed client.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_sign::Credentials;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use rust_decimal_macros::dec;
use serde_json::Value;

/// The API key the test emulators accept.
pub(crate) const KEY: &str = "test-key";
/// Its secret.
pub(crate) const SECRET: &str = "test-secret";

/// Starts an emulator with the default instruments and 10,000 USDT.
pub(crate) async fn start() -> Emulator {
    start_with(|_| {}).await
}

/// Starts an emulator after `adjust` has changed the default configuration.
pub(crate) async fn start_with(adjust: impl FnOnce(&mut EmulatorConfig)) -> Emulator {
    let mut config = EmulatorConfig::with_defaults(KEY, SECRET, dec!(10000), 7);
    // A still market: these tests assert prices, books and fills that must not move.
    config.static_prices = true;
    adjust(&mut config);
    Emulator::start("127.0.0.1:0", config).await.unwrap()
}

/// Wall-clock milliseconds, as a client stamps its requests.
pub(crate) fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A reply: HTTP status, headers and the JSON body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn ret_code(&self) -> i64 {
        self.body["retCode"].as_i64().unwrap_or(-999)
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A client that signs like Bybit's SDKs do.
pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) creds: Credentials,
}

impl Client {
    pub(crate) fn new(emu: &Emulator) -> Self {
        Self::with_secret(emu, SECRET)
    }

    pub(crate) fn with_secret(emu: &Emulator, secret: &str) -> Self {
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            base: emu.http_url(),
            creds: Credentials::new(KEY, secret).unwrap(),
        }
    }

    pub(crate) async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// An unsigned GET (public endpoints).
    pub(crate) async fn public(&self, path: &str, query: &str) -> Reply {
        let url = format!("{}{path}?{query}", self.base);
        Self::read(self.http.get(url).send().await.unwrap()).await
    }

    /// A signed GET with `query` sent (and signed) exactly as given.
    pub(crate) async fn get(&self, path: &str, query: &str) -> Reply {
        self.get_at(path, query, now_ms()).await
    }

    pub(crate) async fn get_at(&self, path: &str, query: &str, ts: u64) -> Reply {
        let signed = self
            .creds
            .sign_get_query(ts, 5000, query.to_owned())
            .unwrap();
        let mut request = self
            .http
            .get(format!("{}{path}?{}", self.base, signed.query()));
        for (name, value) in signed.headers().iter() {
            request = request.header(name, value);
        }
        Self::read(request.send().await.unwrap()).await
    }

    /// A signed POST of `body`'s compact JSON.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, body.to_string()).await
    }

    /// A signed POST of exactly `body`.
    pub(crate) async fn post_raw(&self, path: &str, body: String) -> Reply {
        Self::read(self.send_raw(path, body).await.unwrap()).await
    }

    /// A signed POST whose transport errors are returned, for fault tests.
    pub(crate) async fn send_raw(
        &self,
        path: &str,
        body: String,
    ) -> reqwest::Result<reqwest::Response> {
        let signed = self.creds.sign_post_raw(now_ms(), 5000, body).unwrap();
        let (body, headers) = signed.into_parts();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        for (name, value) in headers.iter() {
            request = request.header(name, value);
        }
        request.body(body).send().await
    }

    /// A control-API call.
    pub(crate) async fn control(&self, path: &str, body: Value) -> Reply {
        let url = format!("{}/emulator{path}", self.base);
        Self::read(self.http.post(url).json(&body).send().await.unwrap()).await
    }

    /// The engine's truth.
    pub(crate) async fn state(&self) -> Value {
        let url = format!("{}/emulator/state", self.base);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
