//! The Prometheus side of `/metrics`: the `metrics-exporter-prometheus` recorder (installed
//! once per process, rendered on request; no listener of its own) and the gauges sampled
//! when `/metrics` is read.

use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Gauge: 1 while the private stream is down or silent and orders are polled over REST
/// (live routing; always 0 for paper and dry-run, which have no private stream to miss).
pub const FALLBACK_POLLING_ACTIVE: &str = "bybit_exec_fallback_polling_active";
/// Gauge: orders of known trades whose outcome the journal does not hold yet (sent with no
/// answer, or answered "unknown" and not resolved by a lookup).
pub const UNRESOLVED_ORDERS: &str = "bybit_exec_unresolved_orders";
/// Gauge: 1 while a stream is connected (and authenticated, for `private`), label `stream`.
pub const WS_CONNECTED: &str = "bybit_exec_ws_connected";
/// Gauge: 1 once the gateway has halted trading after a fatal error.
pub const TRADING_HALTED: &str = "bybit_exec_trading_halted";

/// The documented values of every label `/metrics` shows, by metric and label
/// (labels are bounded sets; a value such as a leverage goes to a log line, never a label).
/// `None` for a label the metric does not have. The histograms' `le` / `quantile` are the
/// exporter's own.
pub fn label_values(metric: &str, label: &str) -> Option<&'static [&'static str]> {
    use super::{reconciler, watch};
    use bybit_rest::telemetry as rest;
    use bybit_ws::telemetry as ws;
    let rest_metric = rest::ALL.contains(&metric);
    Some(match (metric, label) {
        (_, "endpoint") if rest_metric && metric != rest::CLOCK_OFFSET_SECONDS => rest::ENDPOINTS,
        (m, "outcome") if m == rest::REQUESTS_TOTAL => &rest::OUTCOMES,
        (m, "kind") if m == rest::ERRORS_TOTAL => &rest::ERROR_KINDS,
        (m, "op") if m == ws::TRADE_REQUESTS_TOTAL => &ws::TRADE_OPS,
        (m, "path") if m == exec_live::route::ORDERS_BY_PATH_TOTAL => &exec_live::route::PATHS,
        (m, "op") if m == exec_live::route::ORDERS_BY_PATH_TOTAL => &exec_live::route::OPS,
        (m, "outcome") if m == ws::TRADE_REQUESTS_TOTAL => &ws::TRADE_OUTCOMES,
        (m, "stream") if m == ws::TRADE_REQUESTS_TOTAL => return None,
        (m, "stream") if ws::ALL.contains(&m) || m == WS_CONNECTED => &ws::STREAMS,
        (m, "reason") if m == ws::BOOK_GAPS_TOTAL => &ws::GAP_REASONS,
        (m, "kind") if m == watch::ORDERS_SENT_TOTAL || m == watch::FILLS_TOTAL => {
            &watch::LEG_KINDS
        }
        (m, "result") if m == watch::ORDERS_SENT_TOTAL => &watch::ORDER_RESULTS,
        (m, "kind") if m == watch::ERRORS_TOTAL => &watch::ERROR_KINDS,
        (m, "operation") if m == watch::WOULD_SEND_TOTAL => &watch::WOULD_SEND_OPERATIONS,
        (m, "result") if m == reconciler::RECONCILE_TOTAL => &reconciler::RESULTS,
        _ => return None,
    })
}

/// Latency buckets for every `_seconds` histogram: loopback to a slow exchange.
const SECONDS_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The recorder's handle, or why it could not be built. Built, installed and stored in one
/// `get_or_init`, so two servers starting at once cannot keep a handle whose recorder lost
/// the install race (and render nothing forever).
static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process's recorder, installed on first use; every metric is described once.
pub fn handle() -> Result<PrometheusHandle> {
    HANDLE
        .get_or_init(install)
        .clone()
        .map_err(|e| anyhow!("{e}"))
}

fn install() -> Result<PrometheusHandle, String> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &SECONDS_BUCKETS)
        .map_err(|e| format!("metrics buckets: {e}"))?
        .build_recorder();
    let handle = recorder.handle();
    // Another recorder may already be installed (a library user's): then this one stays
    // private and `/metrics` shows only what reaches it, which is nothing; say so rather than
    // fail the server.
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
    }
    describe();
    Ok(handle)
}

fn describe() {
    bybit_rest::telemetry::describe();
    bybit_ws::telemetry::describe();
    super::watch::describe();
    super::reconciler::describe();
    metrics::describe_gauge!(
        FALLBACK_POLLING_ACTIVE,
        "1 while the private stream is down or silent and orders are polled over REST"
    );
    metrics::describe_gauge!(
        UNRESOLVED_ORDERS,
        "Orders whose outcome the journal does not hold yet"
    );
    metrics::describe_gauge!(
        WS_CONNECTED,
        "1 while the stream is connected (and authenticated, for private)"
    );
    metrics::describe_gauge!(TRADING_HALTED, "1 once trading halted after a fatal error");
    metrics::describe_counter!(
        exec_live::route::ORDERS_BY_PATH_TOTAL,
        "Order requests sent, by path (ws: the trade stream, rest) and operation"
    );
}

/// Sets a 0/1 gauge.
pub fn flag(name: &'static str, on: bool) {
    metrics::gauge!(name).set(if on { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    #[test]
    fn servers_starting_at_once_share_the_installed_recorder() {
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<PrometheusHandle> = (0..8)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    handle().unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        metrics::counter!("bybit_exec_test_race_total").increment(1);
        let first = handles[0].render();
        assert!(first.contains("bybit_exec_test_race_total 1"), "{first}");
        for h in &handles {
            assert_eq!(h.render(), first);
        }
    }
}
