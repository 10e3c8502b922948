//! Time as Bybit's lists see it: the 7-day query windows of
//! `/v5/execution/list` and `/v5/order/history`, what order history still keeps, the
//! realtime closed-order cache an exchange restart empties, and days that pass.
//!
//! - v5/order/execution and v5/order/order-list, `startTime`/`endTime`: neither given → the
//!   last 7 days; only `startTime` → [start, start + 7 days]; only `endTime` →
//!   [end − 7 days, end]; both → `endTime − startTime ≤ 7 days`. Trade history reaches back
//!   2 years (the page's title).
//! - v5/order/order-list, "rule": Cancelled, Rejected and Deactivated orders without fills
//!   are listed for 24 hours only; other closed orders by the window. Order history "may
//!   delay" (asynchronous): an optional lag before a closed order is listed.
//! - v5/order/open-order: "After a server release or restart, filled, cancelled, and
//!   rejected orders of Unified account should only be queried through order history"; the
//!   recent closed orders of `openOnly=1` are "cleared and accumulated again".

use bybit_types::OrderStatus;

use super::Engine;
use crate::command::OrderQuery;
use crate::reject::Reject;
use crate::state::OrderState;

/// One day, ms.
pub const DAY_MS: i64 = 86_400_000;
/// The widest `startTime`..`endTime` span, and the default window (7 days).
pub const QUERY_WINDOW_MS: i64 = 7 * DAY_MS;
/// How long order history lists a Cancelled / Rejected / Deactivated order without fills.
pub const UNFILLED_CLOSED_KEPT_MS: i64 = DAY_MS;
/// How far back trade history reaches (2 years).
pub const EXECUTIONS_KEPT_MS: i64 = 730 * DAY_MS;
/// The longest span [`Engine::pass_time`] takes at once (a year): far from overflow.
pub const MAX_PASS_MS: i64 = 365 * DAY_MS;

/// The window `[from, to]` (ms, both included) a list query covers at `now`, by the rules
/// of v5/order/execution and v5/order/order-list. A span over 7 days, or an end before the
/// start, is refused with 10001 and Bybit's text (v5/error 181010 / 176004).
pub fn query_window(
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    now: i64,
) -> Result<(i64, i64), Reject> {
    match (start_ms, end_ms) {
        (None, None) => Ok((now.saturating_sub(QUERY_WINDOW_MS), now)),
        (Some(start), None) => Ok((start, start.saturating_add(QUERY_WINDOW_MS))),
        (None, Some(end)) => Ok((end.saturating_sub(QUERY_WINDOW_MS), end)),
        (Some(start), Some(end)) if end < start => Err(Reject::params(
            "params error: Query order history start time exceeds end time",
        )),
        (Some(start), Some(end)) if end.saturating_sub(start) > QUERY_WINDOW_MS => {
            Err(Reject::params(
                "params error: The time range between startTime and endTime cannot exceed 7 days",
            ))
        }
        (Some(start), Some(end)) => Ok((start, end)),
    }
}

/// A closed order that order history drops after 24 hours: ended without a fill.
fn unfilled_end(o: &OrderState) -> bool {
    matches!(
        o.status,
        OrderStatus::Cancelled | OrderStatus::Rejected | OrderStatus::Deactivated
    ) && o.cum_qty.is_zero()
}

impl Engine {
    /// Order history as Bybit lists it at `now` for `window` (from [`query_window`]): closed
    /// orders (and, by id or link id, the order whatever its state) last changed inside the
    /// window, not before the history lag has passed, without the unfilled
    /// Cancelled / Rejected / Deactivated ones older than 24 hours. Newest first.
    pub fn order_history_at(
        &self,
        query: &OrderQuery,
        window: (i64, i64),
        now: i64,
    ) -> Vec<bybit_types::rest::order::Order> {
        let lag = self.history_lag_ms;
        self.select_orders(query, |o| {
            (!o.is_open() || query.key.is_some())
                && o.updated >= window.0
                && o.updated <= window.1
                && (o.is_open() || o.updated.saturating_add(lag) <= now)
                && !(unfilled_end(o) && o.updated < now.saturating_sub(UNFILLED_CLOSED_KEPT_MS))
        })
    }

    /// The recent closed orders `/v5/order/realtime?openOnly=1` lists: those closed since the
    /// exchange last restarted (the engine keeps the last [`crate::Limits`] many).
    pub fn recent_closed_orders(&self, query: &OrderQuery) -> Vec<bybit_types::rest::order::Order> {
        self.select_orders(query, |o| !o.is_open() && self.in_realtime_cache(o))
    }

    /// Whether `/v5/order/realtime` still shows this order: open, or closed since the
    /// exchange last restarted.
    pub(super) fn in_realtime_cache(&self, o: &OrderState) -> bool {
        o.is_open() || o.updated > self.realtime_since
    }

    /// An exchange restart (a Bybit release): the realtime endpoint forgets every order
    /// already closed; order history and everything else stay.
    pub fn restart_exchange(&mut self, now: i64) {
        self.touch(now);
        self.realtime_since = now;
    }

    /// Makes order history list a closed order only `lag_ms` after it closed (0: at once).
    pub fn set_history_lag(&mut self, lag_ms: i64) {
        self.history_lag_ms = lag_ms.max(0);
    }

    /// `ms` of exchange time pass at once from `from`: every funding time in (`from`,
    /// `from + ms`] is settled in order, each a `Funding` execution at its own time, and the
    /// engine ends at `from + ms` (the caller's clock has moved on by `ms`). Prices do not
    /// walk meanwhile (set them before or after); the random walk restarts its cadence.
    /// Refused beyond a year or below zero.
    pub fn pass_time(&mut self, from: i64, ms: i64) -> Result<(), Reject> {
        if !(0..=MAX_PASS_MS).contains(&ms) {
            return Err(Reject::params(format!(
                "params error: time to pass must be 0..={MAX_PASS_MS} ms"
            )));
        }
        let to = from.saturating_add(ms);
        self.touch(from);
        let symbols: Vec<String> = self.markets.keys().cloned().collect();
        // Funding times in (from, to], oldest first across symbols.
        let mut times: Vec<i64> = Vec::new();
        for symbol in &symbols {
            let period = self.funding_period(symbol);
            let first = (from.div_euclid(period) + 1).saturating_mul(period);
            if let Some(m) = self.markets.get_mut(symbol) {
                m.next_funding = first;
            }
            let mut t = first;
            while t <= to {
                times.push(t);
                t = t.saturating_add(period);
            }
        }
        times.sort_unstable();
        times.dedup();
        for t in times {
            self.touch(t);
            for symbol in &symbols {
                self.settle_funding(symbol);
            }
            self.flush();
        }
        self.touch(to);
        for m in self.markets.values_mut() {
            // The walk restarts its cadence from now rather than replaying the gap.
            m.next_walk_at = i64::MIN;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_execution_and_order_list_pages() {
        let now = 100 * DAY_MS;
        assert_eq!(query_window(None, None, now), Ok((93 * DAY_MS, now)));
        assert_eq!(
            query_window(Some(DAY_MS), None, now),
            Ok((DAY_MS, 8 * DAY_MS))
        );
        assert_eq!(
            query_window(None, Some(50 * DAY_MS), now),
            Ok((43 * DAY_MS, 50 * DAY_MS))
        );
        assert_eq!(
            query_window(Some(DAY_MS), Some(8 * DAY_MS), now),
            Ok((DAY_MS, 8 * DAY_MS))
        );
        let wide = query_window(Some(DAY_MS), Some(8 * DAY_MS + 1), now).unwrap_err();
        assert_eq!(wide.ret_code, 10001);
        assert!(wide.ret_msg.contains("cannot exceed 7 days"));
        assert_eq!(
            query_window(Some(2), Some(1), now).unwrap_err().ret_code,
            10001
        );
    }
}
