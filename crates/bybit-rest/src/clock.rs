//! The offset between the local clock and Bybit's (SPEC R-REST-4). Every request timestamp is
//! local time plus the offset; the offset is measured from `/v5/market/time` at the midpoint of
//! the round trip when Bybit answers 10002. Never fixed by widening `recv_window`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn local_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The measured offset and when it was measured. Readable for health checks.
#[derive(Debug, Default)]
pub(crate) struct ClockSync {
    offset_ms: AtomicI64,
    /// Local ms of the last sync; `i64::MIN` = never.
    last_sync_ms: AtomicI64,
}

/// A clock-offset reading for health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockStatus {
    /// Server time minus local time, ms, applied to every request timestamp.
    pub offset_ms: i64,
    /// Local Unix ms when the offset was last measured; `None` if never.
    pub last_sync_ms: Option<i64>,
}

impl ClockSync {
    pub(crate) fn new() -> Self {
        ClockSync {
            offset_ms: AtomicI64::new(0),
            last_sync_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// The timestamp to sign now, ms in the server's clock.
    pub(crate) fn timestamp_ms(&self) -> u64 {
        let ms = local_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed));
        u64::try_from(ms).unwrap_or(0)
    }

    /// Server time now, as far as the client knows.
    pub(crate) fn server_now_ms(&self) -> i64 {
        local_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Records a measurement: the server said `server_ms` somewhere between local `sent_ms`
    /// and `received_ms`; assume the middle.
    pub(crate) fn record(&self, sent_ms: i64, received_ms: i64, server_ms: i64) -> i64 {
        let midpoint = sent_ms.saturating_add(received_ms.saturating_sub(sent_ms) / 2);
        let offset = server_ms.saturating_sub(midpoint);
        self.offset_ms.store(offset, Ordering::Relaxed);
        self.last_sync_ms.store(received_ms, Ordering::Relaxed);
        offset
    }

    pub(crate) fn status(&self) -> ClockStatus {
        let last = self.last_sync_ms.load(Ordering::Relaxed);
        ClockStatus {
            offset_ms: self.offset_ms.load(Ordering::Relaxed),
            last_sync_ms: (last != i64::MIN).then_some(last),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_taken_at_the_midpoint_of_the_round_trip() {
        let clock = ClockSync::new();
        assert_eq!(clock.status().last_sync_ms, None);
        // Sent at 1000, answered at 1100, server said 11_050: the server is 10 s ahead.
        assert_eq!(clock.record(1000, 1100, 11_050), 10_000);
        assert_eq!(
            clock.status(),
            ClockStatus {
                offset_ms: 10_000,
                last_sync_ms: Some(1100)
            }
        );
        let ts = i64::try_from(clock.timestamp_ms()).unwrap();
        assert!((ts - local_ms() - 10_000).abs() < 1000);
        assert_eq!(clock.record(5000, 5000, 0), -5000);
    }
}
