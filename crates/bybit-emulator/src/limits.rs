//! Bybit's per-UID, per-endpoint rate limits (REFERENCE.md §4, docs v5/rate-limit): a
//! rolling one-second window per `(UID, endpoint)`, the `X-Bapi-Limit*` headers on every
//! private reply, and 10006 when the window is spent. The control API can add pressure (a
//! lower cap for a while). The emulator has one account, so its one API key is its one UID.
//!
//! Rolling, not fixed: a request is counted against every request of the 1000 ms before it,
//! so ten creates at 999 ms leave none for 1500 ms, where a fixed window restarting at 1000
//! would have allowed ten more.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

const WINDOW_MS: i64 = 1000;

/// Default per-second limit of a private endpoint (UTA, linear column), or `None` where only
/// the IP limit applies.
pub(crate) fn limit_for(path: &str) -> Option<u32> {
    Some(match path {
        "/v5/order/create" | "/v5/order/amend" | "/v5/order/cancel" | "/v5/order/cancel-all" => 10,
        "/v5/order/create-batch" | "/v5/order/amend-batch" | "/v5/order/cancel-batch" => 10,
        "/v5/order/realtime" | "/v5/order/history" | "/v5/execution/list" => 50,
        "/v5/position/list" => 50,
        "/v5/position/set-leverage"
        | "/v5/position/switch-mode"
        | "/v5/position/trading-stop"
        | "/v5/position/switch-isolated" => 10,
        "/v5/account/wallet-balance" | "/v5/account/info" => 50,
        "/v5/account/fee-rate" | "/v5/account/set-margin-mode" => 5,
        _ => return None,
    })
}

/// The outcome of charging a request against its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    pub(crate) reset_ms: i64,
    pub(crate) exceeded: bool,
}

/// The charges of the last second on one `(UID, endpoint)`, oldest first: `(ms, units)`.
type Window = VecDeque<(i64, u32)>;

#[derive(Debug, Clone, Copy)]
struct Pressure {
    cap: u32,
    until_ms: i64,
}

#[derive(Debug)]
pub(crate) struct RateLimits {
    enabled: AtomicBool,
    windows: Mutex<HashMap<(String, String), Window>>,
    pressure: Mutex<Option<Pressure>>,
}

impl RateLimits {
    pub(crate) fn new(enabled: bool) -> Self {
        RateLimits {
            enabled: AtomicBool::new(enabled),
            windows: Mutex::new(HashMap::new()),
            pressure: Mutex::new(None),
        }
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Until `until_ms`, every endpoint allows at most `cap` requests per window.
    pub(crate) fn set_pressure(&self, cap: u32, until_ms: i64) {
        *self.pressure.lock().unwrap_or_else(|p| p.into_inner()) = Some(Pressure { cap, until_ms });
    }

    /// Charges `cost` units (orders, for batch endpoints) to `(uid, path)` at `now`.
    #[cfg(test)]
    pub(crate) fn charge(&self, uid: &str, path: &str, cost: u32, now: i64) -> Option<Verdict> {
        self.charge_upto(uid, path, cost, false, now)
            .map(|(verdict, _)| verdict)
    }

    /// Charges up to `cost` units. With `partial` (batch endpoints) what is left in the
    /// window is spent and its size returned: Bybit lets the first orders of a batch through
    /// and fails the rest. Otherwise it is all or nothing. Returns the verdict and the units
    /// granted.
    pub(crate) fn charge_upto(
        &self,
        uid: &str,
        path: &str,
        cost: u32,
        partial: bool,
        now: i64,
    ) -> Option<(Verdict, u32)> {
        let base = limit_for(path)?;
        let pressure = *self.pressure.lock().unwrap_or_else(|p| p.into_inner());
        let pressured = pressure.filter(|p| now < p.until_ms).map(|p| p.cap);
        let enabled = self.enabled.load(Ordering::Relaxed);
        if !enabled && pressured.is_none() {
            let verdict = Verdict {
                limit: base,
                remaining: base,
                reset_ms: now,
                exceeded: false,
            };
            return Some((verdict, cost));
        }
        let limit = pressured.map_or(base, |cap| cap.min(base));
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = windows
            .entry((uid.to_owned(), path.to_owned()))
            .or_default();
        // Charges a second old or more have left the window; so have charges from the future
        // (the clock was skewed, then set back).
        window.retain(|(at, _)| *at <= now && now - *at < WINDOW_MS);
        let used: u32 = window.iter().map(|(_, units)| *units).sum();
        let left = limit.saturating_sub(used);
        let granted = if cost <= left {
            cost
        } else if partial {
            left
        } else {
            0
        };
        if granted > 0 {
            window.push_back((now, granted));
        }
        let exceeded = granted < cost;
        // When refused, the window frees its first unit when its oldest charge leaves it.
        let oldest = window.front().map_or(now, |(at, _)| *at);
        let verdict = Verdict {
            limit,
            remaining: left.saturating_sub(granted),
            reset_ms: if exceeded {
                oldest.saturating_add(WINDOW_MS)
            } else {
                now
            },
            exceeded,
        };
        Some((verdict, granted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_create_in_a_second_is_refused_and_the_next_second_is_fresh() {
        let limits = RateLimits::new(true);
        for i in 0..10 {
            let v = limits
                .charge("k", "/v5/order/create", 1, 1_000 + i)
                .unwrap();
            assert!(!v.exceeded);
            assert_eq!(v.remaining, 9 - u32::try_from(i).unwrap());
        }
        let v = limits.charge("k", "/v5/order/create", 1, 1_500).unwrap();
        assert!(v.exceeded);
        assert_eq!((v.remaining, v.reset_ms), (0, 2_000));
        // Another endpoint and another key have their own windows.
        assert!(
            !limits
                .charge("k", "/v5/order/cancel", 1, 1_500)
                .unwrap()
                .exceeded
        );
        assert!(
            !limits
                .charge("k2", "/v5/order/create", 1, 1_500)
                .unwrap()
                .exceeded
        );
        assert!(
            !limits
                .charge("k", "/v5/order/create", 1, 2_000)
                .unwrap()
                .exceeded
        );
        assert!(limits.charge("k", "/v5/market/time", 1, 2_000).is_none());
    }

    // docs v5/rate-limit: "rolling time window per second and UID".
    #[test]
    fn the_window_rolls_with_each_request_rather_than_restarting_each_second() {
        let limits = RateLimits::new(true);
        for _ in 0..5 {
            assert!(
                !limits
                    .charge("k", "/v5/order/create", 1, 0)
                    .unwrap()
                    .exceeded
            );
        }
        for _ in 0..5 {
            assert!(
                !limits
                    .charge("k", "/v5/order/create", 1, 999)
                    .unwrap()
                    .exceeded
            );
        }
        // At 1000 the five charges of 0 have left the window; the five of 999 have not.
        let v = limits.charge("k", "/v5/order/create", 1, 1_000).unwrap();
        assert!(!v.exceeded);
        assert_eq!(v.remaining, 4);
        for _ in 0..4 {
            limits.charge("k", "/v5/order/create", 1, 1_500).unwrap();
        }
        let v = limits.charge("k", "/v5/order/create", 1, 1_500).unwrap();
        assert!(v.exceeded);
        // A fixed window restarted at 1000 would have let this through. The first unit comes
        // back when the charges of 999 leave, at 1999.
        assert_eq!((v.remaining, v.reset_ms), (0, 1_999));
        assert!(
            !limits
                .charge("k", "/v5/order/create", 1, 1_999)
                .unwrap()
                .exceeded
        );
    }

    #[test]
    fn fee_rate_has_its_documented_five_per_second() {
        let limits = RateLimits::new(true);
        for _ in 0..5 {
            assert!(
                !limits
                    .charge("k", "/v5/account/fee-rate", 1, 0)
                    .unwrap()
                    .exceeded
            );
        }
        let v = limits.charge("k", "/v5/account/fee-rate", 1, 10).unwrap();
        assert!(v.exceeded);
        assert_eq!(v.limit, 5);
    }

    #[test]
    fn a_batch_costs_one_unit_per_order_and_pressure_caps_every_endpoint() {
        let limits = RateLimits::new(true);
        assert!(
            !limits
                .charge("k", "/v5/order/create-batch", 8, 0)
                .unwrap()
                .exceeded
        );
        assert!(
            limits
                .charge("k", "/v5/order/create-batch", 3, 1)
                .unwrap()
                .exceeded
        );
        limits.set_pressure(0, 5_000);
        assert!(
            limits
                .charge("k", "/v5/position/list", 1, 10)
                .unwrap()
                .exceeded
        );
        assert!(
            !limits
                .charge("k", "/v5/position/list", 1, 5_000)
                .unwrap()
                .exceeded
        );
        let off = RateLimits::new(false);
        for _ in 0..100 {
            assert!(!off.charge("k", "/v5/order/create", 1, 0).unwrap().exceeded);
        }
    }
}
