//! Tracing: one span per request with endpoint, symbol, orderLinkId, attempt, latency and
//! retCode, and never the secret or a signature (SPEC R-CFG-4).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::support::{client, control, emulator_alone, resting_buy, SECRET};

/// A subscriber that writes every span field and event field it sees into one text.
#[derive(Default)]
struct Capture {
    text: Arc<Mutex<String>>,
    next: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut text = self.text.lock().unwrap();
        let _ = write!(text, "\nspan {} ", span.metadata().name());
        span.record(&mut Fields(&mut text));
        Id::from_u64(self.next.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Fields(&mut self.text.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut text = self.text.lock().unwrap();
        text.push_str("\nevent ");
        event.record(&mut Fields(&mut text));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn each_request_has_a_span_with_its_context_and_no_secret_or_signature() {
    let capture = Capture::default();
    let text = capture.text.clone();
    // The turn first: the subscriber is installed while no other test registers callsites.
    let emu = emulator_alone().await;
    let _guard = tracing::subscriber::set_default(capture);
    let client = client(&emu);
    control(&emu, "/fail", json!({"count": 1, "retCode": 10016})).await;
    client
        .create_order(resting_buy(Some("span-1")))
        .await
        .unwrap();
    let text = text.lock().unwrap().clone();
    assert!(
        text.contains("span bybit_rest endpoint=\"POST /v5/order/create\""),
        "{text}"
    );
    assert!(
        text.contains("symbol=\"BTCUSDT\" order_link_id=\"span-1\""),
        "{text}"
    );
    assert!(
        text.contains("attempt=2") && text.contains("ret_code=10016"),
        "{text}"
    );
    assert!(
        text.contains("ret_code=0") && text.contains("latency_ms="),
        "{text}"
    );
    assert!(text.contains("retrying"), "the retry is logged: {text}");
    assert!(!text.contains(SECRET));
    // No 64-character lowercase hex run (an HMAC-SHA256 signature) anywhere.
    let hex_run = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(hex_run < 64, "a signature-like value leaked: {text}");
}
