//! Shared state: what every handler and task of the emulator reads.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bybit_sign::Credentials;
use sim_engine::{Engine, EngineEvent};
use tokio::sync::{broadcast, watch};

use crate::clock::Clock;
use crate::config::{EmulatorConfig, StartError, TransportConfig};
use crate::faults::{Faults, Mute};
use crate::limits::RateLimits;
use crate::requests::RequestLog;
use crate::ws::feeds::BookFeeds;

/// Capacity of each event fan-out to WebSocket sessions, in engine steps (one `execute`'s
/// events travel as one batch, however many there are, so a burst never overflows it). A
/// session that falls this many steps behind is disconnected (as Bybit drops slow consumers)
/// rather than slowing the engine.
const EVENT_BUFFER: usize = 4_096;

/// The events of one engine step, oldest first.
pub(crate) type Batch = Arc<[EngineEvent]>;

/// Everything the handlers share. The engine sits behind a plain mutex that is never held
/// across an `.await`: every engine call is short and synchronous.
#[derive(Debug)]
pub struct AppState {
    engine: Mutex<Engine>,
    pub(crate) creds: Credentials,
    pub(crate) clock: Clock,
    pub(crate) limits: RateLimits,
    pub(crate) faults: Faults,
    /// REST requests that arrived, by path and by created orderLinkId.
    pub(crate) requests: RequestLog,
    /// The order-book feeds every public connection shares (and REST's `u`).
    pub(crate) books: BookFeeds,
    /// Market events (trades, book and ticker changes), for the public streams.
    pub(crate) public_events: broadcast::Sender<Batch>,
    /// Account events (orders, executions, positions, wallet), for the private streams: kept
    /// apart so that no volume of market data can make a private session fall behind.
    pub(crate) private_events: broadcast::Sender<Batch>,
    /// Bumped to drop every WebSocket connection at once.
    pub(crate) ws_epoch: watch::Sender<u64>,
    /// While set for its stream, a WebSocket session neither reads nor sends (a fault).
    pub(crate) ws_mute: watch::Sender<Mute>,
    /// WebSocket sessions running now.
    pub(crate) ws_sessions: AtomicUsize,
    pub(crate) stop: watch::Receiver<bool>,
    conn_ids: AtomicU64,
    pub(crate) tick_ms: u64,
    pub(crate) transport: TransportConfig,
}

impl AppState {
    pub(crate) fn new(
        config: EmulatorConfig,
        stop: watch::Receiver<bool>,
    ) -> Result<Self, StartError> {
        let engine = Engine::new(config.engine)?;
        let creds = Credentials::new(config.api_key, config.api_secret)?;
        let (public_events, _) = broadcast::channel(EVENT_BUFFER);
        let (private_events, _) = broadcast::channel(EVENT_BUFFER);
        let (ws_epoch, _) = watch::channel(0);
        let (ws_mute, _) = watch::channel(Mute::default());
        Ok(AppState {
            engine: Mutex::new(engine),
            creds,
            clock: Clock::default(),
            limits: RateLimits::new(config.rate_limits),
            faults: Faults::default(),
            requests: RequestLog::default(),
            books: BookFeeds::default(),
            public_events,
            private_events,
            ws_epoch,
            ws_mute,
            ws_sessions: AtomicUsize::new(0),
            stop,
            conn_ids: AtomicU64::new(1),
            tick_ms: config.tick_ms,
            transport: config.transport,
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
        // With no session listening (a benchmark, a REST-only client) there is nothing to
        // build: a session that subscribes later starts from snapshots anyway.
        let listening =
            self.public_events.receiver_count() + self.private_events.receiver_count() > 0;
        let mut engine = self.lock();
        engine.set_publishing(listening);
        let result = f(&mut engine, now);
        // Published under the lock, so concurrent commands' events reach every session in the
        // order the engine applied them (`send` never blocks). No subscriber is fine.
        let events = engine.take_events();
        if events.is_empty() || !listening {
            return result;
        }
        let (public, private): (Vec<EngineEvent>, Vec<EngineEvent>) = events
            .into_iter()
            .partition(|e| matches!(e, EngineEvent::Trade(_) | EngineEvent::Market { .. }));
        if !public.is_empty() {
            let _ = self.public_events.send(public.into());
        }
        if !private.is_empty() {
            let _ = self.private_events.send(private.into());
        }
        result
    }

    /// Reads the engine without changing it.
    pub fn read<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        f(&self.lock())
    }

    /// WebSocket sessions running now.
    pub fn websocket_sessions(&self) -> usize {
        self.ws_sessions.load(Ordering::Relaxed)
    }

    /// A fresh connection id for WebSocket replies.
    pub(crate) fn next_conn_id(&self) -> String {
        let n = self.conn_ids.fetch_add(1, Ordering::Relaxed);
        format!("emu{n:08x}-{:04x}", n.wrapping_mul(2654435761) & 0xffff)
    }
}

impl crate::ws::feeds::Market for AppState {
    fn read_engine<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        self.read(f)
    }

    fn book_gaps(&self, symbol: &str) -> u64 {
        self.faults.book_gaps(symbol)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}
