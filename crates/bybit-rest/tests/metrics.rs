//! The `bybit_rest_*` metrics, read back through a Prometheus recorder installed
//! for this test's thread only: latency per endpoint, sends and errors by kind, the budget
//! left per `X-Bapi-Limit-Status`, and the clock offset.

use bybit_rest::{telemetry, CancelOrder, OrderTarget};
use bybit_types::{OrderLinkId, Symbol};
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::support::{client, emulator};

// The current-thread runtime polls the client and the emulator on this thread, so the
// thread-local recorder sees every metric.
#[tokio::test]
async fn sends_errors_budget_and_clock_offset_are_recorded() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    telemetry::describe();
    let emu = emulator().await;
    let client = client(&emu);

    client.sync_clock().await.unwrap();
    // docs/v5/order/cancel-order.mdx: cancelling an order that does not exist is refused
    // (110001), a definitive reject.
    let missing = CancelOrder::new(
        Symbol::new("BTCUSDT").unwrap(),
        OrderTarget::LinkId(OrderLinkId::new("metrics-missing").unwrap()),
    );
    let error = client.cancel_order(missing).await.unwrap_err();
    assert_eq!(error.kind(), "reject", "{error}");

    let text = handle.render();
    for needle in [
        "bybit_rest_request_duration_seconds{endpoint=\"GET /v5/market/time\",quantile=",
        "bybit_rest_requests_total{endpoint=\"GET /v5/market/time\",outcome=\"ok\"} 1",
        "bybit_rest_requests_total{endpoint=\"POST /v5/order/cancel\",outcome=\"error\"} 1",
        "bybit_rest_errors_total{endpoint=\"POST /v5/order/cancel\",kind=\"reject\"} 1",
        // The emulator answers private endpoints with Bybit's rate-limit headers.
        "bybit_rest_rate_limit_remaining{endpoint=\"POST /v5/order/cancel\"}",
        "bybit_rest_clock_offset_seconds ",
        "# HELP bybit_rest_errors_total",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    assert!(
        !text.contains("bybit_rest_rate_limit_waits_total"),
        "no wait happened"
    );
}
