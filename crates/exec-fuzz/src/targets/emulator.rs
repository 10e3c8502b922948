//! The emulator's request parsing: its axum router called in-process (no socket) with
//! generated method, path, query, headers and body. Most requests start from a valid request
//! of one of its endpoints, edited, and are signed correctly with the emulator's key over the
//! exact bytes sent, so the parameter parsing behind authentication is reached; others carry
//! a wrong signature, key, timestamp or recv window, or none. A few call the control API
//! (`/emulator/...`), after which the faults it set are reset, so every other request meets
//! the exchange's own behaviour.
//!
//! Promises checked: no panic; no 5xx (nothing in force asks the emulator for one); every
//! refusal (4xx) has a body that says why; a REST path (`/v5/...`) always answers Bybit's
//! JSON envelope, and an envelope with a non-zero `retCode` has a `retMsg`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body as HttpBody;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_sign::Credentials;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::gen::{self, shown, Doc};
use crate::runner::{Describe, Tally, Target};

const KEY: &str = "fuzz-key";
const SECRET: &str = "fuzz-secret";

/// How a request is authenticated.
#[derive(Debug, Clone)]
pub enum Sign {
    /// The right key and a signature over exactly what is sent.
    Correct,
    /// The right key, a signature over other bytes.
    WrongSignature,
    /// Another key.
    WrongKey,
    /// No authentication headers.
    None,
    /// A correct signature with this timestamp header (ms offset from now, or junk).
    Timestamp(Result<i64, String>),
    /// A correct signature with this recv-window header.
    RecvWindow(String),
}

/// One request.
#[derive(Debug, Clone)]
pub struct EmuInput {
    /// A control-API call or stream path rather than a REST endpoint.
    pub control: bool,
    /// Which endpoint's valid request it starts from.
    pub endpoint: Index,
    /// Its parameters, edited.
    pub params: Doc,
    /// Another method than the endpoint's, sometimes.
    pub method: Option<Index>,
    /// Another path, sometimes: the endpoint's with something appended, or another.
    pub path: Option<(Index, String)>,
    /// GET parameters: percent-encoded as a client would, or some left raw (but still a
    /// valid URI).
    pub encode: bool,
    /// Authentication.
    pub sign: Sign,
    /// Extra headers (name from a list, any value).
    pub headers: Vec<(Index, String)>,
}

/// An endpoint: method, path, a valid request's parameters.
struct Endpoint {
    method: Method,
    path: &'static str,
    params: Value,
}

fn get(path: &'static str, params: Value) -> Endpoint {
    Endpoint {
        method: Method::GET,
        path,
        params,
    }
}

fn post(path: &'static str, params: Value) -> Endpoint {
    Endpoint {
        method: Method::POST,
        path,
        params,
    }
}

fn endpoints() -> Vec<Endpoint> {
    let create = json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy",
        "orderType": "Limit", "qty": "0.001", "price": "49000", "timeInForce": "GTC",
        "orderLinkId": "fz-1", "reduceOnly": false, "positionIdx": 0,
        "takeProfit": "60000", "stopLoss": "40000", "tpslMode": "Full"});
    let market = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Sell",
        "orderType": "Market", "qty": "0.01", "orderLinkId": "fz-2",
        "triggerPrice": "2000", "triggerDirection": 2, "triggerBy": "LastPrice"});
    let amend = json!({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "fz-1",
        "qty": "0.002", "price": "48000"});
    let cancel = json!({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "fz-1"});
    let pair = json!({"category": "linear", "symbol": "BTCUSDT"});
    vec![
        get("/v5/market/time", json!({})),
        get("/v5/market/instruments-info", pair.clone()),
        get("/v5/market/tickers", pair.clone()),
        get(
            "/v5/market/orderbook",
            json!({"category": "linear", "symbol": "BTCUSDT", "limit": "50"}),
        ),
        get("/v5/market/price-limit", pair.clone()),
        get("/v5/account/user-setting-config", json!({})),
        get(
            "/v5/order/realtime",
            json!({"category": "linear", "symbol": "BTCUSDT", "openOnly": "0", "limit": "20"}),
        ),
        get(
            "/v5/order/history",
            json!({"category": "linear", "symbol": "BTCUSDT", "limit": "50",
                "startTime": "1700000000000", "endTime": "1700300000000", "cursor": ""}),
        ),
        get(
            "/v5/execution/list",
            json!({"category": "linear", "symbol": "BTCUSDT", "limit": "50", "execType": "Trade"}),
        ),
        get("/v5/position/list", pair.clone()),
        get(
            "/v5/account/wallet-balance",
            json!({"accountType": "UNIFIED", "coin": "USDT"}),
        ),
        get("/v5/account/info", json!({})),
        get("/v5/account/fee-rate", pair.clone()),
        post("/v5/order/create", create.clone()),
        post("/v5/order/create", market.clone()),
        post("/v5/order/amend", amend.clone()),
        post("/v5/order/cancel", cancel.clone()),
        post("/v5/order/cancel-all", pair.clone()),
        post(
            "/v5/order/create-batch",
            json!({"category": "linear", "request": [create, market]}),
        ),
        post(
            "/v5/order/amend-batch",
            json!({"category": "linear", "request": [amend]}),
        ),
        post(
            "/v5/order/cancel-batch",
            json!({"category": "linear", "request": [cancel]}),
        ),
        post(
            "/v5/position/set-leverage",
            json!({"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "10", "sellLeverage": "10"}),
        ),
        post(
            "/v5/position/switch-isolated",
            json!({"category": "linear", "symbol": "BTCUSDT", "tradeMode": 1,
                "buyLeverage": "10", "sellLeverage": "10"}),
        ),
        post(
            "/v5/position/switch-mode",
            json!({"category": "linear", "symbol": "BTCUSDT", "coin": "USDT", "mode": 0}),
        ),
        post(
            "/v5/position/trading-stop",
            json!({"category": "linear", "symbol": "BTCUSDT", "takeProfit": "60000",
                "stopLoss": "40000", "tpslMode": "Full", "positionIdx": 0}),
        ),
        post(
            "/v5/account/set-margin-mode",
            json!({"setMarginMode": "REGULAR_MARGIN"}),
        ),
        post("/v5/account/fee-rate", pair.clone()),
        post(
            "/v5/account/set-limit-px-action",
            json!({"category": "linear", "modifyEnable": true}),
        ),
    ]
}

/// The control API's calls (each one's effects are reset after it), and the stream
/// upgrades asked without a connection.
fn controls() -> Vec<Endpoint> {
    vec![
        get("/emulator/state", json!({})),
        post(
            "/emulator/price",
            json!({"symbol": "BTCUSDT", "price": "50000"}),
        ),
        post("/emulator/balance", json!({"usdt": "10000"})),
        post("/emulator/fail", json!({"count": 1, "status": 503})),
        post("/emulator/fail", json!({"count": 1, "retCode": 10016})),
        post("/emulator/hold", json!({"count": 1, "ms": 10})),
        post("/emulator/create-unknown", json!({"count": 1})),
        post("/emulator/lose-response", json!({"count": 1})),
        post("/emulator/clock", json!({"skewMs": 1000})),
        post("/emulator/time/pass", json!({"days": 1, "ms": 0})),
        post("/emulator/history-lag", json!({"ms": 100})),
        post("/emulator/ip-ban", json!({"seconds": 1})),
        post("/emulator/book-gap", json!({"symbol": "BTCUSDT"})),
        post(
            "/emulator/price-path",
            json!({"symbol": "BTCUSDT", "intervalMs": 100, "prices": ["50000", "50100"]}),
        ),
        post(
            "/emulator/replay",
            json!({"symbol": "BTCUSDT", "trades": [[1, "50000", "0.01"]]}),
        ),
        post(
            "/emulator/random-walk",
            json!({"symbol": "BTCUSDT", "intervalMs": 100, "maxStepTicks": 3}),
        ),
        post(
            "/emulator/book",
            json!({"symbol": "BTCUSDT", "levels": 5, "spacingTicks": 1, "levelNotional": "1000"}),
        ),
        post(
            "/emulator/instrument",
            json!({"symbol": "BTCUSDT", "tickSize": "0.1", "qtyStep": "0.001",
                "minOrderQty": "0.001", "maxOrderQty": "100", "minNotionalValue": "5"}),
        ),
        post("/emulator/rate-limit", json!({"cap": 5, "seconds": 1})),
        post("/emulator/ws/mute", json!({"stream": "all", "pongs": true})),
        post("/emulator/ws/refuse", json!({"seconds": 1})),
        post("/emulator/ws/shuffle", json!({"enabled": true})),
        post("/emulator/ws/double-filled", json!({"count": 1})),
        post("/emulator/exchange-restart", json!({})),
        get("/v5/public/linear", json!({})),
        get("/v5/private", json!({})),
        get("/v5/trade", json!({})),
        post("/emulator/ws/trade-hold", json!({"count": 1, "ms": 10})),
        post("/emulator/ws/trade-lose", json!({"count": 1})),
        post(
            "/emulator/ws/trade-fail",
            json!({"count": 1, "retCode": 10429}),
        ),
        post("/emulator/ws/trade-restart", json!({})),
    ]
}

const METHODS: &[Method] = &[
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
];

const HEADERS: &[&str] = &[
    "content-type",
    "x-bapi-api-key",
    "x-bapi-sign",
    "x-bapi-timestamp",
    "x-bapi-recv-window",
    "referer",
    "x-referer",
    "cdn-request-id",
    "content-length",
    "transfer-encoding",
    "accept",
];

const PATH_TAILS: &[&str] = &[
    "/",
    "//",
    "/..",
    "%00",
    "%2F",
    "?",
    "x",
    "/v5",
    "/../v5/order/create",
    ";a=b",
];

/// The target: a fresh emulator every [`FRESH_EVERY`] cases.
pub struct Emu {
    runtime: tokio::runtime::Runtime,
    router: Router,
    endpoints: Arc<(Vec<Endpoint>, Vec<Endpoint>)>,
    creds: Credentials,
    wrong: Credentials,
    /// Answers by HTTP status and retCode.
    tally: Tally,
}

impl std::fmt::Debug for Emu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emu").finish_non_exhaustive()
    }
}

/// How many cases share one emulator: its orders and requests log grow with the cases.
pub const FRESH_EVERY: u64 = 5_000;

fn config() -> EmulatorConfig {
    let mut config =
        EmulatorConfig::with_defaults(KEY, SECRET, rust_decimal::Decimal::from(100_000), 7);
    // Rate limits would answer most of a million requests with 10006 and hide the parsing
    // behind; the control API's `rate-limit` call still exercises that path.
    config.rate_limits = false;
    config.static_prices = true;
    config
}

impl Emu {
    /// A fresh emulator, in-process.
    pub fn new() -> anyhow::Result<Emu> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (router, _) = runtime.block_on(async { Emulator::router(config()) })?;
        Ok(Emu {
            runtime,
            router,
            endpoints: Arc::new((endpoints(), controls())),
            creds: Credentials::new(KEY, SECRET)?,
            wrong: Credentials::new("other-key", SECRET)?,
            tally: Tally::default(),
        })
    }
}

/// `%XX` for every byte but the unreserved ones (`bybit-sign`'s query escaping agrees).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The bytes a request carries: a query string for GET (from an object's fields, or the
/// document's text as one value), a body otherwise.
fn payload(method: &Method, bytes: &[u8], encode_values: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    if *method != Method::GET && *method != Method::HEAD {
        return text.into_owned();
    }
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => return format!("q={}", encode(&text)),
    };
    let Value::Object(map) = value else {
        return format!("q={}", encode(&value.to_string()));
    };
    map.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            // Unencoded values keep only what a URI may hold as it is.
            let v = if encode_values || !v.bytes().all(|b| b.is_ascii_graphic() && b != b'#') {
                encode(&v)
            } else {
                v
            };
            format!("{}={v}", encode(k))
        })
        .collect::<Vec<_>>()
        .join("&")
}

struct Built {
    method: Method,
    path: String,
    query: String,
    body: String,
    headers: Vec<(String, String)>,
    control: bool,
}

fn build(
    (rest, controls): &(Vec<Endpoint>, Vec<Endpoint>),
    creds: &Credentials,
    wrong: &Credentials,
    input: &EmuInput,
) -> Built {
    let endpoints = if input.control { controls } else { rest };
    let ep = &endpoints[input.endpoint.index(endpoints.len())];
    let method = input.method.map_or_else(
        || ep.method.clone(),
        |m| METHODS[m.index(METHODS.len())].clone(),
    );
    let mut path = ep.path.to_owned();
    if let Some((which, tail)) = &input.path {
        match which.index(3) {
            0 => path.push_str(PATH_TAILS[which.index(PATH_TAILS.len())]),
            1 => {
                path.push('/');
                path.push_str(&encode(tail));
            }
            _ => path = format!("/{}", encode(tail)),
        }
    }
    let bytes = input.params.render_value(ep.params.clone());
    let text = payload(&method, &bytes, input.encode);
    let (query, body) = if method == Method::GET || method == Method::HEAD {
        (text, String::new())
    } else {
        (String::new(), text)
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    let signed_over = if body.is_empty() { &query } else { &body };
    let sign = |c: &Credentials, payload: &str, ts: u64| {
        c.sign_post_raw(ts, 5000, payload.to_owned())
            .ok()
            .map(|s| {
                s.headers()
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let mut headers = match &input.sign {
        Sign::Correct => sign(creds, signed_over, now),
        Sign::WrongSignature => sign(creds, &format!("{signed_over} "), now),
        Sign::WrongKey => sign(wrong, signed_over, now),
        Sign::None => Vec::new(),
        Sign::Timestamp(ts) => {
            let mut h = sign(creds, signed_over, now);
            let text = match ts {
                Ok(offset) => now.saturating_add_signed(*offset).to_string(),
                Err(junk) => junk.clone(),
            };
            for (name, value) in &mut h {
                if name.eq_ignore_ascii_case("x-bapi-timestamp") {
                    *value = text.clone();
                }
            }
            h
        }
        Sign::RecvWindow(window) => {
            let mut h = sign(creds, signed_over, now);
            for (name, value) in &mut h {
                if name.eq_ignore_ascii_case("x-bapi-recv-window") {
                    *value = window.clone();
                }
            }
            h
        }
    };
    if method == Method::POST {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    for (name, value) in &input.headers {
        headers.push((HEADERS[name.index(HEADERS.len())].to_owned(), value.clone()));
    }
    Built {
        method,
        control: path.starts_with("/emulator"),
        path,
        query,
        body,
        headers,
    }
}

fn describe(built: &Built) -> String {
    let mut out = format!("{} {}", built.method, built.path);
    if !built.query.is_empty() {
        out.push('?');
        out.push_str(&built.query);
    }
    for (name, value) in &built.headers {
        out.push_str(&format!("\n{name}: {value}"));
    }
    out.push_str("\n\n");
    out.push_str(&built.body);
    out
}

fn sign_strategy() -> impl Strategy<Value = Sign> {
    prop_oneof![
        12 => Just(Sign::Correct),
        1 => Just(Sign::WrongSignature),
        1 => Just(Sign::WrongKey),
        1 => Just(Sign::None),
        1 => prop_oneof![
            any::<i64>().prop_map(Ok),
            (-20_000i64..20_000).prop_map(Ok),
            prop::sample::select(&["", "abc", "-1", "1e3", "18446744073709551616", " 1"][..])
                .prop_map(|s| Err(s.to_owned())),
        ]
        .prop_map(Sign::Timestamp),
        1 => prop::sample::select(&["", "0", "-1", "1e3", "99999999999999999999", "5000 ", "abc"][..])
            .prop_map(|s| Sign::RecvWindow(s.to_owned())),
    ]
}

/// What a header value may be: visible ASCII and spaces (anything else is refused by the
/// HTTP layer before any router sees it).
fn header_value() -> impl Strategy<Value = String> {
    "[ -~]{0,40}"
}

impl Target for Emu {
    type Input = EmuInput;

    fn name(&self) -> &'static str {
        "emulator"
    }

    fn strategy(&self) -> BoxedStrategy<EmuInput> {
        (
            prop::bool::weighted(0.1),
            any::<Index>(),
            gen::doc(3),
            prop::option::weighted(0.05, any::<Index>()),
            prop::option::weighted(0.05, (any::<Index>(), any::<String>())),
            prop::bool::weighted(0.8),
            sign_strategy(),
            prop::collection::vec((any::<Index>(), header_value()), 0..2),
        )
            .prop_map(
                |(control, endpoint, params, method, path, encode, sign, headers)| EmuInput {
                    control,
                    endpoint,
                    params,
                    method,
                    path,
                    encode,
                    sign,
                    headers,
                },
            )
            .boxed()
    }

    fn describer(&self) -> Describe<EmuInput> {
        let endpoints = self.endpoints.clone();
        let creds = self.creds.clone();
        let wrong = self.wrong.clone();
        Arc::new(move |input| describe(&build(&endpoints, &creds, &wrong, input)))
    }

    fn check(&mut self, input: &EmuInput) -> Result<(), String> {
        let built = build(&self.endpoints, &self.creds, &self.wrong, input);
        let uri = if built.query.is_empty() {
            built.path.clone()
        } else {
            format!("{}?{}", built.path, built.query)
        };
        let mut request = Request::builder().method(built.method.clone()).uri(&uri);
        for (name, value) in &built.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        // A target or header the HTTP layer cannot carry never reaches a router.
        let Ok(request) = request.body(HttpBody::from(built.body.clone())) else {
            return Ok(());
        };
        let router = self.router.clone();
        let (status, body) = self.runtime.block_on(async move {
            let response = router.oneshot(request).await.map_err(|e| e.to_string())?;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 24)
                .await
                .map_err(|e| format!("the reply's body failed: {e}"))?;
            Ok::<_, String>((status, body))
        })?;
        if built.control {
            let router = self.router.clone();
            let reset = Request::post("/emulator/reset")
                .body(HttpBody::empty())
                .map_err(|e| e.to_string())?;
            let answer = self
                .runtime
                .block_on(router.oneshot(reset))
                .map_err(|e| e.to_string())?;
            if answer.status() != StatusCode::OK {
                return Err(format!("reset answered {}", answer.status()));
            }
        }
        let code = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("retCode").and_then(Value::as_i64))
            .map_or_else(|| "-".to_owned(), |c| c.to_string());
        self.tally.add(format!("{}/{code}", status.as_u16()));
        judge(&built, status, &body)
    }

    fn reached(&self) -> String {
        format!("(HTTP status/retCode) {}", self.tally.top(12))
    }

    fn fresh_every(&self) -> Option<u64> {
        Some(FRESH_EVERY)
    }

    fn fresh(&mut self) -> anyhow::Result<()> {
        let (router, _) = self
            .runtime
            .block_on(async { Emulator::router(config()) })?;
        self.router = router;
        Ok(())
    }
}

/// The promises of one reply.
fn judge(built: &Built, status: StatusCode, body: &[u8]) -> Result<(), String> {
    let said = || shown(body, 200);
    if status.is_server_error() {
        return Err(format!("answered {status}: {}", said()));
    }
    if status.is_client_error() && body.is_empty() && built.method != Method::HEAD {
        return Err(format!("refused {status} without saying why"));
    }
    let rest = built.path.starts_with("/v5/")
        && !built.path.starts_with("/v5/public")
        && !built.path.starts_with("/v5/private")
        && !built.path.starts_with("/v5/trade");
    if rest && built.method != Method::HEAD {
        let envelope: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{status} with a body that is not JSON ({e}): {}", said()))?;
        let Some(code) = envelope.get("retCode").and_then(Value::as_i64) else {
            return Err(format!("{status} without retCode: {}", said()));
        };
        let message = envelope.get("retMsg").and_then(Value::as_str).unwrap_or("");
        if code != 0 && message.trim().is_empty() {
            return Err(format!("retCode {code} without retMsg"));
        }
    }
    Ok(())
}
