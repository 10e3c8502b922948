//! Metrics through the `metrics` facade: no-ops until the application installs a recorder
//! (`bybit-exec serve` installs the Prometheus exporter), so a library user pays nothing.
//! Every metric has the label `stream` (`public`, `private` or `trade`), except the trade
//! stream's request counter, labelled by operation and outcome.

/// Counter: connections re-established after the first.
pub const RECONNECTS_TOTAL: &str = "bybit_ws_reconnects_total";
/// Counter: order-book updates that broke continuity, label `reason` (`gap` in `u`, `crossed`,
/// `no_snapshot`: a delta before any snapshot).
pub const BOOK_GAPS_TOTAL: &str = "bybit_ws_book_gaps_total";
/// Counter: order-book topics resubscribed to get a fresh snapshot.
pub const BOOK_RESYNCS_TOTAL: &str = "bybit_ws_book_resyncs_total";
/// Counter: frames skipped because they could not be read.
pub const BAD_FRAMES_TOTAL: &str = "bybit_ws_bad_frames_total";
/// Counter: events dropped because the consumer's channel was full.
pub const DROPPED_EVENTS_TOTAL: &str = "bybit_ws_dropped_events_total";

/// Counter: trade-stream requests, labels `op` (the operation's wire name) and `outcome`
/// (`answered`: Bybit replied, whatever its retCode; `unknown`: written and not answered, the
/// order may exist; `not_sent`: nothing left, the stream was not ready).
pub const TRADE_REQUESTS_TOTAL: &str = "bybit_ws_trade_requests_total";

/// Every value of the `stream` label.
pub const STREAMS: [&str; 3] = ["public", "private", "trade"];
/// Every value of the `op` label of [`TRADE_REQUESTS_TOTAL`].
pub const TRADE_OPS: [&str; 6] = [
    "order.create",
    "order.amend",
    "order.cancel",
    "order.create-batch",
    "order.amend-batch",
    "order.cancel-batch",
];
/// Every value of the `outcome` label of [`TRADE_REQUESTS_TOTAL`].
pub const TRADE_OUTCOMES: [&str; 3] = ["answered", "unknown", "not_sent"];
/// Every value of the `reason` label of [`BOOK_GAPS_TOTAL`].
pub const GAP_REASONS: [&str; 3] = ["gap", "crossed", "no_snapshot"];

/// Every metric this crate records.
pub const ALL: [&str; 6] = [
    RECONNECTS_TOTAL,
    BOOK_GAPS_TOTAL,
    BOOK_RESYNCS_TOTAL,
    BAD_FRAMES_TOTAL,
    DROPPED_EVENTS_TOTAL,
    TRADE_REQUESTS_TOTAL,
];

pub(crate) fn count(name: &'static str, stream: &'static str) {
    metrics::counter!(name, "stream" => stream).increment(1);
}

pub(crate) fn book_gap(reason: &'static str) {
    metrics::counter!(BOOK_GAPS_TOTAL, "stream" => "public", "reason" => reason).increment(1);
}

/// Gives every metric above its help text in the installed recorder (call once after
/// installing it; exporters print it as `# HELP`).
pub fn describe() {
    metrics::describe_counter!(
        RECONNECTS_TOTAL,
        "Bybit WebSocket connections re-established after the first"
    );
    metrics::describe_counter!(
        BOOK_GAPS_TOTAL,
        "Order-book updates that broke continuity, by reason"
    );
    metrics::describe_counter!(
        BOOK_RESYNCS_TOTAL,
        "Order-book topics resubscribed for a fresh snapshot"
    );
    metrics::describe_counter!(
        BAD_FRAMES_TOTAL,
        "Bybit WebSocket frames skipped as unreadable"
    );
    metrics::describe_counter!(
        DROPPED_EVENTS_TOTAL,
        "Stream events dropped because the consumer's channel was full"
    );
    metrics::describe_counter!(
        TRADE_REQUESTS_TOTAL,
        "Trade-stream requests by operation and outcome (answered, unknown, not_sent)"
    );
}
