//! Metrics through the `metrics` facade: no-ops until the application installs a recorder
//! (`bybit-exec serve` installs the Prometheus exporter), so a library user pays nothing.
//! Names carry their unit (`_seconds`, `_total`); labels are bounded (endpoint labels are the
//! client's fixed endpoint table, error kinds are [`RestError::kind`]).

use std::time::Duration;

use crate::error::RestError;
use crate::routes::{Endpoint, LABELS};

/// Histogram: one send's latency, from the request leaving to the whole body read; label
/// `endpoint` (`GET /v5/market/time`).
pub const REQUEST_DURATION_SECONDS: &str = "bybit_rest_request_duration_seconds";
/// Counter: sends, labels `endpoint` and `outcome` (`ok` or `error`).
pub const REQUESTS_TOTAL: &str = "bybit_rest_requests_total";
/// Counter: failed sends, labels `endpoint` and `kind` ([`RestError::kind`]: the retCode
/// class for an exchange answer).
pub const ERRORS_TOTAL: &str = "bybit_rest_errors_total";
/// Counter: sends that waited for the local rate limiter, label `endpoint`.
pub const RATE_LIMIT_WAITS_TOTAL: &str = "bybit_rest_rate_limit_waits_total";
/// Histogram: how long those sends waited, label `endpoint`.
pub const RATE_LIMIT_WAIT_SECONDS: &str = "bybit_rest_rate_limit_wait_seconds";
/// Gauge: the budget left in the current window per `X-Bapi-Limit-Status`, label `endpoint`.
pub const RATE_LIMIT_REMAINING: &str = "bybit_rest_rate_limit_remaining";
/// Gauge: the measured server-clock offset (server minus local), seconds.
pub const CLOCK_OFFSET_SECONDS: &str = "bybit_rest_clock_offset_seconds";

/// Every value of the `endpoint` label: the client's fixed endpoint table.
pub const ENDPOINTS: &[&str] = LABELS;
/// Every value of the `outcome` label.
pub const OUTCOMES: [&str; 2] = ["ok", "error"];
/// Every value of the `kind` label of [`ERRORS_TOTAL`] ([`RestError::kind`]).
pub const ERROR_KINDS: [&str; 16] = RestError::KINDS;

/// Every metric this crate records, for documentation and exporters that describe them.
pub const ALL: [&str; 7] = [
    REQUEST_DURATION_SECONDS,
    REQUESTS_TOTAL,
    ERRORS_TOTAL,
    RATE_LIMIT_WAITS_TOTAL,
    RATE_LIMIT_WAIT_SECONDS,
    RATE_LIMIT_REMAINING,
    CLOCK_OFFSET_SECONDS,
];

/// A wait shorter than this is the limiter's own bookkeeping, not a rate-limit wait.
const WAIT_FLOOR: Duration = Duration::from_millis(1);

pub(crate) fn limiter_waited(ep: &Endpoint, waited: Duration) {
    if waited >= WAIT_FLOOR {
        metrics::counter!(RATE_LIMIT_WAITS_TOTAL, "endpoint" => ep.label).increment(1);
        metrics::histogram!(RATE_LIMIT_WAIT_SECONDS, "endpoint" => ep.label)
            .record(waited.as_secs_f64());
    }
}

pub(crate) fn sent<T>(ep: &Endpoint, latency: Option<Duration>, result: &Result<T, RestError>) {
    if let Some(latency) = latency {
        metrics::histogram!(REQUEST_DURATION_SECONDS, "endpoint" => ep.label)
            .record(latency.as_secs_f64());
    }
    match result {
        Ok(_) => metrics::counter!(REQUESTS_TOTAL, "endpoint" => ep.label, "outcome" => "ok")
            .increment(1),
        Err(error) => {
            metrics::counter!(REQUESTS_TOTAL, "endpoint" => ep.label, "outcome" => "error")
                .increment(1);
            metrics::counter!(ERRORS_TOTAL, "endpoint" => ep.label, "kind" => error.kind())
                .increment(1);
        }
    }
}

pub(crate) fn remaining_budget(ep: &Endpoint, remaining: u32) {
    metrics::gauge!(RATE_LIMIT_REMAINING, "endpoint" => ep.label).set(f64::from(remaining));
}

pub(crate) fn clock_offset(offset_ms: i64) {
    // Whole milliseconds to seconds for display; an offset of more than 2^53 ms is not a clock.
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!(CLOCK_OFFSET_SECONDS).set(offset_ms as f64 / 1000.0);
}

/// Gives every metric above its help text in the installed recorder (call once after
/// installing it; exporters print it as `# HELP`).
pub fn describe() {
    use metrics::Unit;
    metrics::describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Bybit REST latency of one send, from the request leaving to the whole reply read"
    );
    metrics::describe_counter!(REQUESTS_TOTAL, "Bybit REST sends by endpoint and outcome");
    metrics::describe_counter!(
        ERRORS_TOTAL,
        "Failed Bybit REST sends by endpoint and kind (the retCode class for exchange answers)"
    );
    metrics::describe_counter!(
        RATE_LIMIT_WAITS_TOTAL,
        "Bybit REST sends that waited for the local rate limiter"
    );
    metrics::describe_histogram!(
        RATE_LIMIT_WAIT_SECONDS,
        Unit::Seconds,
        "How long Bybit REST sends waited for the local rate limiter"
    );
    metrics::describe_gauge!(
        RATE_LIMIT_REMAINING,
        "Requests left in the current window per X-Bapi-Limit-Status, by endpoint"
    );
    metrics::describe_gauge!(
        CLOCK_OFFSET_SECONDS,
        Unit::Seconds,
        "Measured Bybit server clock minus the local clock"
    );
}
