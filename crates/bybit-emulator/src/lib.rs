//! A local Bybit V5 exchange for tests, demos and paper trading: Bybit's REST paths and
//! envelope, the public and private WebSocket streams, signature and timestamp checks, per-key
//! rate limits, and a control API that injects faults.
//!
//! What it is: an axum server in front of [`sim_engine::Engine`]. Requests are verified with
//! the same `bybit-sign` the client signs with, over the raw bytes received; replies use
//! `bybit-types`, so they have the exchange's field sets. It runs as a binary
//! (`cargo run -p bybit-emulator -- --listen 127.0.0.1:0 …`) or in-process ([`Emulator::start`]).
//!
//! What it is not: a real exchange. One account, USDT linear perpetuals, one-way mode.
//! It knows nothing of the client crates; tests compare a client's view with
//! `GET /emulator/state`, the engine's truth.
//!
//! Main types: [`Emulator`], [`EmulatorConfig`]. The control API is documented in
//! `faults.rs` and in the crate README section of ARCHITECTURE.md.

mod app;
mod auth;
mod categories;
mod clock;
mod edge;
mod exposure;
mod faults;
mod limits;
mod params;
mod rest;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use rust_decimal::Decimal;
use sim_engine::{ConfigError, EngineConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use app::AppState;
pub use exposure::{check_exposure, ExposureError, DEFAULT_API_KEY, DEFAULT_API_SECRET};

/// How the emulator starts.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The engine: instruments, prices, balance, fees, seed.
    pub engine: EngineConfig,
    /// The one API key the emulator accepts.
    pub api_key: String,
    /// Its secret.
    pub api_secret: String,
    /// Bybit's per-key, per-endpoint rate limits apply (off for benchmarks).
    pub rate_limits: bool,
    /// How often the price sources advance, in ms.
    pub tick_ms: u64,
    /// A still market (`--static-prices`): prices move only when set, replayed or traded
    /// through. Off by default: every symbol walks at random with trade prints (see
    /// `sim_engine::EngineConfig::static_prices`, which this turns on).
    pub static_prices: bool,
}

impl EmulatorConfig {
    /// The default instruments at their default prices, with `usdt` in the wallet.
    pub fn with_defaults(api_key: &str, api_secret: &str, usdt: Decimal, seed: u64) -> Self {
        let mut engine = EngineConfig::new(sim_engine::defaults::instruments(), usdt, seed);
        engine.initial_prices = sim_engine::defaults::start_prices();
        EmulatorConfig {
            engine,
            api_key: api_key.to_owned(),
            api_secret: api_secret.to_owned(),
            rate_limits: true,
            tick_ms: 100,
            static_prices: false,
        }
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The engine refused its configuration.
    #[error("engine configuration: {0}")]
    Engine(#[from] ConfigError),
    /// The API key pair is unusable.
    #[error("credentials: {0}")]
    Credentials(#[from] bybit_sign::SignError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

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
        let state = Arc::new(AppState::new(config, stop.clone())?);
        let router = app::router(state.clone());
        let ticker = clock::spawn_ticker(state.clone(), stop.clone());
        let mut stop_server = stop;
        let server = tokio::spawn(async move {
            let serve = axum::serve(
                edge::listener(listener),
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stop_server.wait_for(|stopped| *stopped).await;
            });
            let _ = serve.await;
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

    /// Stops the server and waits for it.
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
