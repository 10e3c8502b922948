//! The emulator's clock: wall time plus an adjustable skew (a fault), and the ticker that
//! moves the price sources along.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;

/// Wall-clock milliseconds plus a skew the control API can set (server clock ahead or behind
/// the client's, to provoke 10002).
#[derive(Debug, Default)]
pub(crate) struct Clock {
    skew_ms: AtomicI64,
}

impl Clock {
    pub(crate) fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        wall.saturating_add(self.skew_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn set_skew(&self, skew_ms: i64) {
        self.skew_ms.store(skew_ms, Ordering::Relaxed);
    }

    pub(crate) fn skew(&self) -> i64 {
        self.skew_ms.load(Ordering::Relaxed)
    }
}

/// Advances the engine every `tick_ms` so random walks, replays and paths print on time.
pub(crate) fn spawn_ticker(
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let period = Duration::from_millis(state.tick_ms.max(1));
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = interval.tick() => state.execute(|engine, now| engine.advance(now)),
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
        }
    })
}
