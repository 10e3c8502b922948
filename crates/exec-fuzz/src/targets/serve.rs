//! `serve`'s HTTP surface: its router (the guard, then the routes) called in-process with
//! generated requests, the layer behind it trading on an emulator on loopback. Most requests
//! are near-valid control calls: the right `Host`, the control header, a JSON body started
//! from a valid trade plan (or `{}` for the operations on a trade) and edited; others have a
//! wrong or missing `Host`, a foreign `Origin`, a remote peer, another content type or
//! method, or an odd path or tag.
//!
//! Promises checked: no panic; no 5xx except the two the API documents (a 502 on a control
//! call, with its JSON story, when the exchange refused or did not answer a leg; a 503 from
//! `/health` while something is unhealthy); every refusal (4xx) has a body that says why.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_exec::config::Settings;
use bybit_exec::serve::Server;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::gen::{self, shown, Doc};
use crate::runner::{Describe, Tally, Target};

const KEY: &str = "fuzz-key";
const SECRET: &str = "fuzz-secret";

/// Tags: a few real ones, so calls on a trade meet trades, and odd ones.
const TAGS: &[&str] = &[
    "FZ1",
    "FZ2",
    "FZ3",
    "",
    "..",
    "a b",
    "%00",
    "\u{e9}t\u{e9}",
    "x/y",
    "FZ1%2Fclose",
];

/// The routes and what a valid call sends.
const ROUTES: &[(&str, &str, bool)] = &[
    // (method, path with {tag}, body is a plan)
    ("POST", "/api/trades", true),
    ("POST", "/api/trades", true),
    ("POST", "/api/trades", true),
    ("POST", "/api/trades/{tag}/tps", false),
    ("POST", "/api/trades/{tag}/dcas", false),
    ("POST", "/api/trades/{tag}/breakeven", false),
    ("POST", "/api/trades/{tag}/close", false),
    ("POST", "/api/trades/{tag}/close", false),
    ("GET", "/api/trades", false),
    ("GET", "/api/trades/{tag}", false),
    ("GET", "/api/status", false),
    ("GET", "/health", false),
    ("GET", "/metrics", false),
    ("GET", "/", false),
    ("GET", "/api/events", false),
    ("POST", "/api/nothing", false),
    ("GET", "/api/trades/{tag}/tps", false),
];

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

const CONTENT_TYPES: &[&str] = &[
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "text/plain",
    "application/x-www-form-urlencoded",
    "",
];

/// Whose `Host` (and `Origin`) a request names.
#[derive(Debug, Clone)]
pub enum Host {
    /// This server, as `127.0.0.1:port`.
    Own,
    /// This server, as `localhost:port`.
    Localhost,
    /// No `Host`.
    Missing,
    /// Any other value.
    Other(String),
}

/// One request.
#[derive(Debug, Clone)]
pub struct ServeInput {
    /// Which route.
    pub route: Index,
    /// Which tag, or any string.
    pub tag: Result<Index, String>,
    /// The body, edited from the route's valid one.
    pub body: Doc,
    /// Raw bytes instead, sometimes.
    pub raw: Option<Vec<u8>>,
    /// Another method, sometimes.
    pub method: Option<Index>,
    /// `Host`.
    pub host: Host,
    /// `Origin`: none, this server, or another site.
    pub origin: Option<bool>,
    /// Whether the control header is sent.
    pub control_header: bool,
    /// `Content-Type`: JSON, or sometimes another.
    pub content_type: Option<Index>,
    /// A loopback peer (the control API obeys no other).
    pub loopback: bool,
}

/// The target: one emulator and one `serve`, fresh every [`FRESH_EVERY`] cases.
pub struct Serve {
    runtime: tokio::runtime::Runtime,
    state: Option<(Emulator, Server, Router)>,
    addr: SocketAddr,
    /// Answers by status and route.
    tally: Tally,
}

impl std::fmt::Debug for Serve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// How many cases share one server: trades, journal and events grow with them.
pub const FRESH_EVERY: u64 = 20_000;

async fn start() -> anyhow::Result<(Emulator, Server, Router)> {
    let mut config =
        EmulatorConfig::with_defaults(KEY, SECRET, rust_decimal::Decimal::from(100_000), 7);
    config.static_prices = true;
    config.engine = config
        .engine
        .with_price("BTCUSDT", rust_decimal::Decimal::from(50_000));
    let emulator = Emulator::start("127.0.0.1:0", config).await?;
    let settings = Settings::for_emulator(&emulator.http_url(), KEY, SECRET)?;
    let server = Server::start(settings, "127.0.0.1:0".parse()?).await?;
    let router = server.router();
    Ok((emulator, server, router))
}

impl Serve {
    /// Starts an emulator and `serve` on it.
    pub fn new() -> anyhow::Result<Serve> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let state = runtime.block_on(start())?;
        let addr = state.1.addr();
        Ok(Serve {
            runtime,
            state: Some(state),
            addr,
            tally: Tally::default(),
        })
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some((emulator, server, _)) = self.state.take() {
            self.runtime.block_on(async {
                server.stop().await;
                emulator.stop().await;
            });
        }
    }
}

fn plan() -> Value {
    json!({
        "symbol": "BTCUSDT",
        "side": "Buy",
        "margin_usdt": "40",
        "leverage": "25",
        "dca_levels": [{"price": "48000", "margin_usdt": "20"}],
        "tp_levels": [
            {"price": "51000", "share": "0.3"},
            {"price": "52000", "share": "0.3"},
            {"price": "53000", "share": "0.4"}
        ],
        "client_tag": "FZ1",
        "manage": false,
    })
}

struct Built {
    method: Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    peer: SocketAddr,
}

fn encode_segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~%".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn build(addr: SocketAddr, input: &ServeInput) -> Built {
    let (method, path, is_plan) = ROUTES[input.route.index(ROUTES.len())];
    let method = input
        .method
        .map_or(method, |m| METHODS[m.index(METHODS.len())]);
    let tag = match &input.tag {
        Ok(i) => TAGS[i.index(TAGS.len())].to_owned(),
        Err(any) => any.clone(),
    };
    let uri = path.replace("{tag}", &encode_segment(&tag));
    let mut seed = if is_plan { plan() } else { json!({}) };
    if is_plan {
        seed["client_tag"] = json!(tag);
    }
    let body = match &input.raw {
        Some(raw) => raw.clone(),
        None if method == "GET" || method == "HEAD" => Vec::new(),
        None => input.body.render_value(seed),
    };
    let mut headers = Vec::new();
    match &input.host {
        Host::Own => headers.push(("host".to_owned(), addr.to_string())),
        Host::Localhost => headers.push(("host".to_owned(), format!("localhost:{}", addr.port()))),
        Host::Missing => {}
        Host::Other(h) => headers.push(("host".to_owned(), h.clone())),
    }
    match input.origin {
        Some(true) => headers.push(("origin".to_owned(), format!("http://{addr}"))),
        Some(false) => headers.push(("origin".to_owned(), "http://evil.example".to_owned())),
        None => {}
    }
    if input.control_header {
        headers.push(("x-bybit-exec".to_owned(), "1".to_owned()));
    }
    let content_type = input.content_type.map_or("application/json", |i| {
        CONTENT_TYPES[i.index(CONTENT_TYPES.len())]
    });
    if !content_type.is_empty() {
        headers.push(("content-type".to_owned(), content_type.to_owned()));
    }
    let peer = if input.loopback {
        SocketAddr::from(([127, 0, 0, 1], 50_000))
    } else {
        SocketAddr::from(([192, 0, 2, 7], 50_000))
    };
    Built {
        method: Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
        uri,
        headers,
        body,
        peer,
    }
}

fn describe(built: &Built) -> String {
    let mut out = format!("{} {} (peer {})", built.method, built.uri, built.peer);
    for (name, value) in &built.headers {
        out.push_str(&format!("\n{name}: {value}"));
    }
    out.push_str("\n\n");
    out.push_str(&String::from_utf8_lossy(&built.body));
    out
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        12 => Just(Host::Own),
        2 => Just(Host::Localhost),
        1 => Just(Host::Missing),
        1 => "[ -~]{0,30}".prop_map(Host::Other),
    ]
}

impl Target for Serve {
    type Input = ServeInput;

    fn name(&self) -> &'static str {
        "serve"
    }

    fn strategy(&self) -> BoxedStrategy<ServeInput> {
        (
            (
                any::<Index>(),
                prop_oneof![9 => any::<Index>().prop_map(Ok), 1 => any::<String>().prop_map(Err)],
                gen::doc(3),
                prop::option::weighted(0.05, gen::raw()),
                prop::option::weighted(0.05, any::<Index>()),
            ),
            (
                host(),
                prop::option::weighted(0.1, prop::bool::weighted(0.5)),
                prop::bool::weighted(0.95),
                prop::option::weighted(0.05, any::<Index>()),
                prop::bool::weighted(0.97),
            ),
        )
            .prop_map(
                |(
                    (route, tag, body, raw, method),
                    (host, origin, control_header, content_type, loopback),
                )| {
                    ServeInput {
                        route,
                        tag,
                        body,
                        raw,
                        method,
                        host,
                        origin,
                        control_header,
                        content_type,
                        loopback,
                    }
                },
            )
            .boxed()
    }

    fn describer(&self) -> Describe<ServeInput> {
        let addr = self.addr;
        Arc::new(move |input| describe(&build(addr, input)))
    }

    fn check(&mut self, input: &ServeInput) -> Result<(), String> {
        let Some((_, _, router)) = &self.state else {
            return Err("no server".to_owned());
        };
        let built = build(self.addr, input);
        let mut request = Request::builder()
            .method(built.method.clone())
            .uri(&built.uri);
        for (name, value) in &built.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        // A target or header the HTTP layer cannot carry never reaches a router.
        let Ok(mut request) = request.body(HttpBody::from(built.body.clone())) else {
            return Ok(());
        };
        request.extensions_mut().insert(ConnectInfo(built.peer));
        let router = router.clone();
        let (status, stream, body) = self.runtime.block_on(async move {
            let response = router.oneshot(request).await.map_err(|e| e.to_string())?;
            let status = response.status();
            let stream = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("text/event-stream"));
            // The event stream never ends by itself: its head is the answer.
            let body = if stream {
                Default::default()
            } else {
                axum::body::to_bytes(response.into_body(), 1 << 24)
                    .await
                    .map_err(|e| format!("the reply's body failed: {e}"))?
            };
            Ok::<_, String>((status, stream, body))
        })?;
        let said = || shown(&body, 300);
        let (_, path, _) = ROUTES[input.route.index(ROUTES.len())];
        self.tally
            .add(format!("{} {} {}", status.as_u16(), built.method, path));
        let control = built.method == Method::POST && built.uri.starts_with("/api/");
        if status == StatusCode::BAD_GATEWAY && control {
            serde_json::from_slice::<Value>(&body)
                .map_err(|_| format!("502 without its JSON story: {}", said()))?;
            return Ok(());
        }
        if status == StatusCode::SERVICE_UNAVAILABLE && built.uri == "/health" {
            return Ok(());
        }
        if status.is_server_error() {
            return Err(format!("answered {status}: {}", said()));
        }
        if status.is_client_error() && body.is_empty() && !stream && built.method != Method::HEAD {
            return Err(format!("refused {status} without saying why"));
        }
        Ok(())
    }

    fn fresh_every(&self) -> Option<u64> {
        Some(FRESH_EVERY)
    }

    fn reached(&self) -> String {
        self.tally.top(40)
    }

    fn fresh(&mut self) -> anyhow::Result<()> {
        if let Some((emulator, server, _)) = self.state.take() {
            self.runtime.block_on(async {
                server.stop().await;
                emulator.stop().await;
            });
        }
        let state = self.runtime.block_on(start())?;
        self.addr = state.1.addr();
        self.state = Some(state);
        Ok(())
    }
}
