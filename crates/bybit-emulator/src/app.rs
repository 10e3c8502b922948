//! Shared state and the router: which path goes where.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::routing::{any, get};
use axum::Router;
use bybit_sign::Credentials;
use sim_engine::{Engine, EngineEvent};
use tokio::sync::{broadcast, watch};

use crate::clock::Clock;
use crate::faults::Faults;
use crate::limits::RateLimits;
use crate::{faults, rest, ws, EmulatorConfig, StartError};

/// Capacity of the event fan-out to WebSocket sessions. A session that falls this far behind
/// is disconnected (as Bybit drops slow consumers) rather than slowing the engine.
const EVENT_BUFFER: usize = 65_536;

/// Everything the handlers share. The engine sits behind a plain mutex that is never held
/// across an `.await`: every engine call is short and synchronous.
#[derive(Debug)]
pub struct AppState {
    engine: Mutex<Engine>,
    pub(crate) creds: Credentials,
    pub(crate) clock: Clock,
    pub(crate) limits: RateLimits,
    pub(crate) faults: Faults,
    pub(crate) events: broadcast::Sender<Arc<EngineEvent>>,
    /// Bumped to drop every WebSocket connection at once.
    pub(crate) ws_epoch: watch::Sender<u64>,
    pub(crate) stop: watch::Receiver<bool>,
    conn_ids: AtomicU64,
    pub(crate) tick_ms: u64,
}

impl AppState {
    pub(crate) fn new(
        config: EmulatorConfig,
        stop: watch::Receiver<bool>,
    ) -> Result<Self, StartError> {
        let engine = Engine::new(config.engine)?;
        let creds = Credentials::new(config.api_key, config.api_secret)?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (ws_epoch, _) = watch::channel(0);
        Ok(AppState {
            engine: Mutex::new(engine),
            creds,
            clock: Clock::default(),
            limits: RateLimits::new(config.rate_limits),
            faults: Faults::default(),
            events,
            ws_epoch,
            stop,
            conn_ids: AtomicU64::new(1),
            tick_ms: config.tick_ms,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Engine> {
        // A panic while holding the lock cannot leave the engine half-changed in a way a
        // later request would notice more than the panic itself; keep serving.
        self.engine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the engine at the emulator's current time, then publishes the updates it
    /// caused to the WebSocket sessions.
    pub fn execute<T>(&self, f: impl FnOnce(&mut Engine, i64) -> T) -> T {
        let now = self.clock.now_ms();
        let mut engine = self.lock();
        let result = f(&mut engine, now);
        // Published under the lock, so concurrent commands' events reach every session in the
        // order the engine applied them (`send` never blocks). No subscriber is fine.
        for event in engine.take_events() {
            let _ = self.events.send(Arc::new(event));
        }
        result
    }

    /// Reads the engine without changing it.
    pub fn read<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        f(&self.lock())
    }

    /// A fresh connection id for WebSocket replies.
    pub(crate) fn next_conn_id(&self) -> String {
        let n = self.conn_ids.fetch_add(1, Ordering::Relaxed);
        format!("emu{n:08x}-{:04x}", n.wrapping_mul(2654435761) & 0xffff)
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(rest::routes())
        .route("/v5/public/linear", get(ws::public))
        .route("/v5/private", get(ws::private))
        .nest("/emulator", faults::routes())
        .fallback(any(rest::not_found))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::inject,
        ))
        .with_state(state)
}
