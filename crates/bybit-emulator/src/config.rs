//! How the emulator starts ([`EmulatorConfig`], [`TransportConfig`]) and why it may not
//! ([`StartError`]).

use std::time::Duration;

use rust_decimal::Decimal;
use sim_engine::{ConfigError, EngineConfig};

/// How the emulator starts.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The engine: instruments, prices, balance, fees, seed.
    pub engine: EngineConfig,
    /// The one API key the emulator accepts.
    pub api_key: String,
    /// Its secret.
    pub api_secret: String,
    /// Bybit's per-UID, per-endpoint rate limits apply (off for benchmarks).
    pub rate_limits: bool,
    /// How often the price sources advance, in ms.
    pub tick_ms: u64,
    /// A still market (`--static-prices`): prices move only when set, replayed or traded
    /// through. Off by default: every symbol walks at random with trade prints (see
    /// `sim_engine::EngineConfig::static_prices`, which this turns on).
    pub static_prices: bool,
    /// Connection timeouts (idle WebSockets, stalled writes, slow requests, shutdown).
    pub transport: TransportConfig,
}

/// How long the emulator waits on its connections. The defaults follow Bybit where it
/// documents a figure (the 10-minute WebSocket idle cut, docs v5/ws/connect); tests shorten
/// them.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// A WebSocket that sends no ping and is sent no data for this long is closed. A private
    /// connection's `?max_active_time=` replaces it for that connection.
    pub ws_idle: Duration,
    /// A WebSocket write that cannot finish in this time (the client stopped reading) ends
    /// the connection.
    pub ws_write: Duration,
    /// An HTTP connection must deliver a request's headers within this time, and an idle
    /// keep-alive connection its next request; otherwise it is closed.
    pub http_header: Duration,
    /// A request body must have arrived within this time of its headers (HTTP 408 otherwise).
    pub http_body: Duration,
    /// The most HTTP connections held at once; beyond it the longest-idle one is closed
    /// (`http_serve::Limits::max_connections`).
    pub http_max_connections: usize,
    /// How long [`Emulator::stop`] lets requests in flight finish before cutting them.
    pub shutdown_grace: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            ws_idle: Duration::from_secs(600),
            ws_write: Duration::from_secs(10),
            http_header: Duration::from_secs(30),
            http_body: Duration::from_secs(30),
            http_max_connections: 512,
            shutdown_grace: Duration::from_secs(2),
        }
    }
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
            transport: TransportConfig::default(),
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
