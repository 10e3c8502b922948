//! The emulator's clock: wall time plus an adjustable skew (a fault) plus the exchange time
//! passed with `/emulator/time/pass`, and the ticker that moves the price sources along.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds plus a skew the control API can set (server clock ahead or behind
/// the client's, to provoke 10002).
#[derive(Debug, Default)]
pub(crate) struct Clock {
    skew_ms: AtomicI64,
    /// Exchange time passed at once (`/emulator/time/pass`), ms.
    passed_ms: AtomicI64,
}

impl Clock {
    /// The exchange's time: what it stamps, windows and retention follow.
    pub(crate) fn now_ms(&self) -> i64 {
        self.client_ms()
            .saturating_add(self.passed_ms.load(Ordering::Relaxed))
    }

    /// The time a client's own clock is taken to say: wall time plus the skew fault, not the
    /// days passed (a test process's clock does not jump). Request timestamps and WebSocket
    /// `expires` are also accepted against it.
    pub(crate) fn client_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        wall.saturating_add(self.skew_ms.load(Ordering::Relaxed))
    }

    /// Moves the exchange's time on by `ms` (at most a year at a time, so it stays far from
    /// overflow).
    pub(crate) fn pass(&self, ms: i64) {
        self.passed_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Exchange time passed so far, ms.
    pub(crate) fn passed(&self) -> i64 {
        self.passed_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn set_skew(&self, skew_ms: i64) {
        self.skew_ms.store(skew_ms, Ordering::Relaxed);
    }

    pub(crate) fn skew(&self) -> i64 {
        self.skew_ms.load(Ordering::Relaxed)
    }
}
