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
//! `control.rs` (the faults in force are `faults.rs`) and in the crate README section of
//! ARCHITECTURE.md. The shared state is `app.rs`; what takes the whole state (handlers, the
//! routes, the ticker) lives in files the state does not name, so the files form no import
//! cycle (`cargo xtask cycles`).

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
