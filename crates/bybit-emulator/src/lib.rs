//! A local Bybit V5 exchange for tests, demos and paper trading: Bybit's REST paths and
//! envelope, the public and private WebSocket streams, signature and timestamp checks, per-UID
//! rate limits on a rolling one-second window, and a control API that injects faults.
//!
//! What it is: an axum server in front of [`sim_engine::Engine`]. Requests are verified with
//! the same `bybit-sign` the client signs with, over the raw bytes received; replies use
//! `bybit-types`, so they have the exchange's field sets. It runs as a binary
//! (`cargo run -p bybit-emulator -- --listen 127.0.0.1:0 …`) or in-process ([`Emulator::start`]).
//!
//! What it is not: a real exchange. One account, USDT linear perpetuals, one-way trading
//! (hedge mode is switched to and listed, not traded).
//! It knows nothing of the client crates; tests compare a client's view with
//! `GET /emulator/state`, the engine's truth.
//!
//! Main types: [`Emulator`], [`EmulatorConfig`], [`TransportConfig`]. The control API is documented in
//! `control.rs` (the faults in force are `faults.rs`). The shared state is `app.rs`; what takes
//! the whole state (handlers, the routes, the ticker) lives in files the state does not name,
//! so the files form no import cycle (`cargo xtask cycles`).
//!
//! # Bybit facts the emulator pins
//!
//! Each is tested in `tests/hardening.rs` (or the file named), citing the Bybit doc page.
//!
//! - Missing or unknown `X-BAPI-API-KEY`: HTTP 401 with the envelope `10003 "API key is invalid."`,
//!   `result` `{}` (v5/error, HTTP Code).
//! - 10002 (timestamp), 10004 (signature) and 10006 (rate limit) stay HTTP 200 business errors
//!   (v5/error; pybit expects them there).
//! - `qty`, `price`, `triggerPrice`, `takeProfit`, `stopLoss`, leverages are plain decimal strings;
//!   `"1_0"`, `"1e3"`, `"+1"`, `".5"`, `"5."`, padding, `"-0"`, > 28 fractional digits, or a JSON
//!   number instead of a string: 10001 (v5/order/create-order). Integers are `-?[0-9]+`.
//! - Reads in `inverse`/`spot`/`option` answer an empty account: `{category, list: [],
//!   nextPageCursor: ""}` for realtime, history, executions, instruments-info (v5/order/open-order,
//!   order-list, execution, v5/market/instrument); tickers `{category, list: []}`
//!   (v5/market/tickers); a named symbol there is the unknown-symbol 10001 (`categories.rs`).
//! - `position/list` takes `linear`, `inverse`, `option` only, so `spot` stays 10001
//!   (v5/position/position).
//! - `fee-rate` replies carry `category` for spot and option only; derivatives have none, and a
//!   request without `category` is refused 10001, as the docs' request example sends it
//!   (v5/account/fee-rate).
//! - Writes in untraded categories: 10001 naming the category and "linear".
//! - Batch create, amend and cancel (`/v5/order/create-batch`, `amend-batch`, `cancel-batch`) hold
//!   1 to 20 linear items, charge one rate-limit unit per item (the tail past the budget fails
//!   10006) and answer by index: `result.list` with each item's ids (a refused item echoes what it
//!   asked for), `retExtInfo.list` with its own `{code, msg}` while the envelope says 0
//!   (v5/order/batch-place, batch-amend, batch-cancel; `rest.rs`'s `run_batch`, tests in
//!   `tests/batch.rs`). Bybit refuses conditional orders in amend-batch; the emulator amends them
//!   like `/v5/order/amend` (no code is documented for the refusal).
//! - hyper's own bodiless 400/414/431 (URI > 65,534 B, > 100 headers or a head over ~400 KiB, a
//!   malformed head) are rewritten to the same status with a 10001 envelope, since clients expect
//!   JSON from every reply (v5/guide, envelope; `edge.rs`).
//! - The binary refuses a non-loopback `--listen` while the secret is the published default
//!   (`exposure.rs`; the emulator's own rule).
//! - The binary stops on SIGINT or SIGTERM and exits within 3 s whatever its clients do (`cli.rs`,
//!   shared with `bybit-exec emulator`; handlers installed before the `listening on` line).
//! - Memory stays flat with a living market (`tests/memory.rs`): the binary, with public (books at
//!   1/50/200, tickers, trades of every symbol) and private subscribers reading, is stepped through
//!   eight simulated hours by clock skew, ten minutes a step; the peak RSS of the six hours after a
//!   two-hour warm-up must stay within 12 MiB of the warm-up's peak. Measured (debug build): 29–33
//!   MiB over 8 hours (what the test runs and prints).

mod app;
mod auth;
mod categories;
pub mod cli;
mod clock;
mod config;
mod control;
mod edge;
mod exposure;
mod faults;
mod limits;
mod params;
mod requests;
mod rest;
mod routes;
mod server;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use app::AppState;
pub use config::{EmulatorConfig, StartError, TransportConfig};
pub use exposure::{check_exposure, ExposureError, DEFAULT_API_KEY, DEFAULT_API_SECRET};

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Binds `listen` (use `127.0.0.1:0` for a free port) and serves until stopped.
    pub async fn start(listen: &str, mut config: EmulatorConfig) -> Result<Emulator, StartError> {
        config.engine.static_prices |= config.static_prices;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: listen.to_owned(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: listen.to_owned(),
            source,
        })?;
        let (shutdown, stop) = watch::channel(false);
        let transport = config.transport.clone();
        let state = Arc::new(AppState::new(config, stop.clone())?);
        let router = routes::router(state.clone());
        let ticker = routes::spawn_ticker(state.clone(), stop.clone());
        let server = tokio::spawn(async move {
            server::serve(listener, router, &transport, stop).await;
            ticker.abort();
        });
        Ok(Emulator {
            addr,
            state,
            shutdown,
            server: Some(server),
        })
    }

    /// The emulator's routes with no listener, no price ticker and no stop signal, for a
    /// driver that calls them in-process (`tower::ServiceExt::oneshot`): the fuzzer, which
    /// runs a million requests without a socket. WebSocket upgrades need a connection, so they
    /// are refused here.
    pub fn router(mut config: EmulatorConfig) -> Result<(axum::Router, Arc<AppState>), StartError> {
        config.engine.static_prices |= config.static_prices;
        // The sender is dropped: with no server there is nothing to stop, so a request held
        // by the `hold` fault is answered (504) at once rather than after its delay.
        let (_, stop) = watch::channel(false);
        let state = Arc::new(AppState::new(config, stop)?);
        Ok((routes::router(state.clone()), state))
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port`: the REST base URL.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:port/v5/public/linear`.
    pub fn public_ws_url(&self) -> String {
        format!("ws://{}/v5/public/linear", self.addr)
    }

    /// `ws://127.0.0.1:port/v5/private`.
    pub fn private_ws_url(&self) -> String {
        format!("ws://{}/v5/private", self.addr)
    }

    /// `ws://127.0.0.1:port/v5/trade`: the order-entry stream.
    pub fn trade_ws_url(&self) -> String {
        format!("ws://{}/v5/trade", self.addr)
    }

    /// What `GET /emulator/state` answers (the engine's orders, executions, position and
    /// wallet, the armed faults, the request counts), read in-process.
    pub fn truth(&self) -> serde_json::Value {
        control::truth(&self.state)
    }

    /// The shared state, for in-process control (tests, the demo).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops the server and waits for it: new connections are refused at once, WebSockets are
    /// closed, and requests still in flight after the shutdown grace are cut.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
