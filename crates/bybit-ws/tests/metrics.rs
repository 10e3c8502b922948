//! The `bybit_ws_*` metrics, read back through a Prometheus recorder installed for
//! this test's thread only.

use bybit_ws::{telemetry, WsEvent, WsStream};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::json;

use crate::support::{fast, start, wait_for, Control};

// docs/v5/websocket/public/orderbook.mdx: a gap in `u` loses the book; the stream resubscribes.
// Then the socket is dropped and the stream reconnects. The current-thread runtime runs the
// stream's task on this thread, so the thread-local recorder sees its metrics.
#[tokio::test]
async fn book_gaps_resyncs_and_reconnects_are_counted() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    telemetry::describe();
    let emu = start().await;
    let control = Control::new(&emu);
    let (stream, mut events) = WsStream::public(fast(emu.public_ws_url())).unwrap();
    stream.subscribe_orderbook(&["BTCUSDT"], 50).await.unwrap();
    wait_for(&mut events, "snapshot", |e| {
        matches!(e, WsEvent::Book { snapshot: true, .. })
    })
    .await;

    control
        .control("/book-gap", json!({"symbol": "BTCUSDT"}))
        .await;
    control
        .control("/price", json!({"symbol": "BTCUSDT", "price": "60500"}))
        .await;
    wait_for(&mut events, "resync", |e| {
        matches!(e, WsEvent::BookResync { .. })
    })
    .await;
    control.control("/ws/drop", json!({})).await;
    wait_for(&mut events, "reconnected", |e| {
        matches!(e, WsEvent::Connected { reconnects: 1 })
    })
    .await;

    let text = handle.render();
    for needle in [
        "bybit_ws_book_gaps_total{stream=\"public\",reason=\"gap\"} 1",
        "bybit_ws_book_resyncs_total{stream=\"public\"} 1",
        "bybit_ws_reconnects_total{stream=\"public\"} 1",
        "# HELP bybit_ws_reconnects_total",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    assert!(
        !text.contains("bybit_ws_bad_frames_total"),
        "no bad frame was sent"
    );
    stream.close().await;
}
