//! What the refresher (`snapshot.rs`) last read, shared with the handlers: the latest
//! [`Snapshot`], the disagreements awaiting confirmation and the session's equity series.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exec_gateway::{Balance, OrderSnapshot, PositionState, Symbol, TradeHistory};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::runtime::RestStatus;

/// A REST check older than this counts as failed (the refresher itself is stuck).
pub const STALE_AFTER: Duration = Duration::from_secs(6);
/// The most equity points kept for the chart; when full, every other point is dropped, so
/// the chart always spans the whole session.
pub const SERIES_POINTS: usize = 720;

/// One point of the session's equity chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EquityPoint {
    /// When it was read (local clock, ms since 1970).
    pub time_ms: i64,
    /// The wallet's equity then (its balance where the exchange gives no equity).
    pub equity: Decimal,
}

/// One pass's reads.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) taken: Instant,
    pub(crate) rest: RestStatus,
    pub(crate) positions: Result<Vec<PositionState>, String>,
    pub(crate) orders: Vec<(Symbol, Result<Vec<OrderSnapshot>, String>)>,
    /// The wallet.
    pub(crate) wallet: Result<Balance, String>,
    /// Every trade of the journal with its realised P&L.
    pub(crate) history: Result<Vec<TradeHistory>, String>,
    /// Trades whose state disagrees with the exchange or the journal, seen in two passes in a
    /// row (so a fill in flight between two reads is not flagged): tag → why.
    pub(crate) flags: BTreeMap<String, String>,
}

impl Snapshot {
    /// Whether the positions and every symbol's open orders were read: when not, the page,
    /// `/api/status` and `/health` say *unknown*, never "none".
    pub(crate) fn known(&self) -> (bool, bool) {
        (
            self.positions.is_ok(),
            self.orders.iter().all(|(_, read)| read.is_ok()),
        )
    }
}

/// The latest [`Snapshot`], shared with the handlers.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    latest: Mutex<Option<Arc<Snapshot>>>,
    /// The disagreements of the last pass, confirmed (flagged) when the next pass sees them.
    candidates: Mutex<BTreeMap<String, String>>,
    /// The session's equity, oldest first.
    series: Mutex<VecDeque<EquityPoint>>,
}

impl Cache {
    pub(crate) fn get(&self) -> Option<Arc<Snapshot>> {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The session's equity points, oldest first.
    pub(crate) fn series(&self) -> Vec<EquityPoint> {
        self.series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }

    pub(super) fn add_point(&self, point: EquityPoint) {
        let mut series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if series.len() >= SERIES_POINTS {
            let thinned: VecDeque<EquityPoint> = series.iter().copied().step_by(2).collect();
            *series = thinned;
        }
        series.push_back(point);
    }

    pub(super) fn set(&self, snapshot: Snapshot) {
        *self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(snapshot));
    }

    /// Keeps `found` as the next pass's candidates; answers those also found last pass.
    pub(super) fn confirm(&self, found: BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut last = self
            .candidates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let confirmed = found
            .iter()
            .filter(|(tag, _)| last.contains_key(*tag))
            .map(|(t, w)| (t.clone(), w.clone()))
            .collect();
        *last = found;
        confirmed
    }
}

/// The REST part of R-HEALTH-1 as cached, and its age in ms: failed when there is no check
/// yet or the last one is older than [`STALE_AFTER`].
pub(crate) fn cached_rest(snapshot: Option<&Snapshot>) -> (RestStatus, Option<u64>) {
    match snapshot {
        None => (
            RestStatus {
                ok: false,
                latency_ms: 0,
                error: Some("not checked yet".to_owned()),
            },
            None,
        ),
        Some(s) => {
            let age = s.taken.elapsed();
            let mut rest = s.rest.clone();
            if rest.ok && age > STALE_AFTER {
                rest.ok = false;
                rest.error = Some(format!("the last check is {age:?} old"));
            }
            (
                rest,
                Some(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn the_equity_series_is_bounded_and_keeps_the_whole_session() {
        let cache = Cache::default();
        for n in 0..(SERIES_POINTS as i64 * 3) {
            cache.add_point(EquityPoint {
                time_ms: n,
                equity: Decimal::from(n),
            });
        }
        let series = cache.series();
        assert!(series.len() <= SERIES_POINTS, "{}", series.len());
        assert_eq!(series[0].time_ms, 0, "the session's start is kept");
        assert_eq!(
            series.last().unwrap().time_ms,
            SERIES_POINTS as i64 * 3 - 1,
            "and its latest point"
        );
        assert!(series.windows(2).all(|w| w[0].time_ms < w[1].time_ms));
    }
}
