//! The background reconciler (R-SAFE-4): while `serve` runs, one task calls
//! [`exec_gateway::Gateway::reconcile`] every [`RECONCILE_EVERY`]: every unresolved intent is
//! looked up and journaled, every open trade compared with the exchange and its interrupted
//! work finished (missing TPs and DCAs placed, a CLOSING trade closed). A pass that fails
//! (the exchange unreadable, a storm of 5xx) doubles the wait, up to 8× the pace
//! (`EXECUTION_RECONCILE_MS`, default [`RECONCILE_EVERY`]); the first pass that succeeds goes
//! back to the normal pace. The decisions are the
//! gateway's; this task only paces them and reports the last pass.

use std::sync::Arc;
use std::time::Duration;

use super::app::App;
use crate::runtime::Tasks;

/// The default pace while passes succeed.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(3);
/// The longest wait between passes while they fail, as a multiple of the pace.
pub const BACKOFF_CAP: u32 = 8;
/// The longest one pass may take before it is cut (and counted as failed).
pub const RECONCILE_TIMEOUT: Duration = Duration::from_secs(20);

/// Counter: reconciliation passes, label `result` (`settled`, `unsettled`, `failed`).
pub const RECONCILE_TOTAL: &str = "bybit_exec_reconcile_passes_total";
/// Every value of its `result` label.
pub const RESULTS: [&str; 3] = ["settled", "unsettled", "failed"];

/// The wait after a pass: the pace `every` after a success, doubled after a failure (at
/// most [`BACKOFF_CAP`] × `every`).
pub fn next_wait(every: Duration, now: Duration, failed: bool) -> Duration {
    if failed {
        (now * 2).clamp(every, every * BACKOFF_CAP)
    } else {
        every
    }
}

/// Gives the reconciler's counter its help text.
pub fn describe() {
    metrics::describe_counter!(
        RECONCILE_TOTAL,
        "Background reconciliation passes, by result (settled, unsettled, failed)"
    );
}

/// Runs passes until `tasks` are stopped, the first one `every` after the start's
/// `recover()`.
pub(crate) fn spawn(app: Arc<App>, every: Duration, tasks: &Tasks) {
    tasks.spawn(async move {
        let mut wait = every;
        loop {
            tokio::time::sleep(wait).await;
            let pass = tokio::time::timeout(RECONCILE_TIMEOUT, app.runtime.gateway.reconcile());
            let failed = match pass.await {
                Ok(Ok(report)) => {
                    let settled = report.is_settled();
                    // Each action of a pass (an order placed, an intent resolved, a trade
                    // closed) is logged where the gateway takes it; the pass itself is debug.
                    tracing::debug!(
                        trades = report.trades.len(),
                        unresolved = report.unresolved(),
                        settled,
                        "reconciliation pass"
                    );
                    metrics::counter!(
                        RECONCILE_TOTAL,
                        "result" => if settled { "settled" } else { "unsettled" }
                    )
                    .increment(1);
                    for trade in &report.trades {
                        app.seen.add_tag(&trade.state.tag);
                        for done in &trade.resumed {
                            app.seen
                                .note(Some(&trade.state.tag), format!("reconciler: {done}"));
                        }
                    }
                    app.reconciled.set(|last| {
                        last.settled = settled;
                        last.unresolved = report.unresolved();
                        last.error = None;
                    });
                    false
                }
                Ok(Err(e)) => {
                    metrics::counter!(RECONCILE_TOTAL, "result" => "failed").increment(1);
                    tracing::warn!(error = %e, "reconciliation pass failed");
                    app.reconciled.set(|last| {
                        last.settled = false;
                        last.error = Some(e.to_string());
                    });
                    true
                }
                Err(_) => {
                    tracing::warn!("reconciliation pass cut after {RECONCILE_TIMEOUT:?}");
                    metrics::counter!(RECONCILE_TOTAL, "result" => "failed").increment(1);
                    app.reconciled.set(|last| {
                        last.settled = false;
                        last.error = Some(format!("cut after {RECONCILE_TIMEOUT:?}"));
                    });
                    true
                }
            };
            wait = next_wait(every, wait, failed);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_to_the_cap_and_a_success_restores_the_pace() {
        let every = RECONCILE_EVERY;
        let mut wait = every;
        let mut seen = Vec::new();
        for _ in 0..5 {
            wait = next_wait(every, wait, true);
            seen.push(wait.as_secs());
        }
        assert_eq!(seen, [6, 12, 24, 24, 24]);
        assert_eq!(next_wait(every, wait, false), every);
    }
}
