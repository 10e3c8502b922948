//! Benchmarks of bybit-ws, printed side by side in one run:
//!
//! 1. Parse + apply of the captured XRPUSDT order-book frames (1 snapshot of 2 × 500 levels,
//!    49 deltas) into an [`OrderBook`], versus parse only of the same frames, alternated so
//!    both see the same machine load; messages/s and level updates/s. Targets: at least
//!    10,000,000 level updates/s, parse + apply at most 1.3× parse only.
//! 2. Drop-to-resubscribed against the emulator on loopback: from the control call that drops
//!    every socket to the acknowledgement of every topic on the new one; p50 and p99. The
//!    backoff's first delay is set to 1 ms so the figure measures the mechanism, not the
//!    configured wait (the default first delay is 125–250 ms).
//!
//! Run: `cargo bench -p bybit-ws` (optionally `-- <drops>`). Not a test: it prints figures.
//! `-- --profile-book <seconds>` only loops the book's parse + apply, for `perf record`.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::{Duration, Instant};
use testkit::bench::row;

use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_types::ws::WsMessage;
use bybit_ws::{BackoffConfig, OrderBook, WsConfig, WsEvent, WsStream};
use rust_decimal_macros::dec;

const CAPTURE: &str = "ws_public_orderbook_ob500_XRPUSDT_2024-12-01.jsonl";

/// Times `a` and `b` in alternating rounds of `n` calls and returns each one's fastest round,
/// in ns per call (the minimum keeps other processes' load off the comparison).
fn race(n: u32, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(n)
    };
    let (mut best_a, mut best_b) = (f64::MAX, f64::MAX);
    for _ in 0..15 {
        best_a = best_a.min(time(&mut a));
        best_b = best_b.min(time(&mut b));
    }
    (best_a, best_b)
}

fn bench_book() {
    let Some(text) = testkit::fixture(CAPTURE) else {
        println!("book: fixture {CAPTURE} absent, skipped");
        return;
    };
    let frames: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let levels: usize = frames
        .iter()
        .map(|f| match WsMessage::parse(f) {
            Ok(WsMessage::Orderbook(m)) => m.data.bids.len() + m.data.asks.len(),
            _ => 0,
        })
        .sum();
    let mut book = OrderBook::new("XRPUSDT", 500);
    // One call = the whole capture (the snapshot resets the book each pass).
    let (apply_ns, parse_ns) = race(
        20,
        || {
            for frame in &frames {
                if let Ok(WsMessage::Orderbook(m)) = WsMessage::parse(frame) {
                    black_box(book.apply(&m).is_ok());
                }
            }
        },
        || {
            for frame in &frames {
                black_box(WsMessage::parse(frame).is_ok());
            }
        },
    );
    let per_s = |ns: f64, count: usize| count as f64 / (ns / 1e9);
    println!(
        "book frames: {} messages, {levels} level updates per pass",
        frames.len()
    );
    println!(
        "  parse + apply: {:>10.0} msg/s  {:>12.0} level updates/s  ({:.1} µs/pass)",
        per_s(apply_ns, frames.len()),
        per_s(apply_ns, levels),
        apply_ns / 1e3
    );
    println!(
        "  parse only:    {:>10.0} msg/s  {:>12.0} level updates/s  ({:.1} µs/pass)",
        per_s(parse_ns, frames.len()),
        per_s(parse_ns, levels),
        parse_ns / 1e3
    );
    println!(
        "  parse + apply / parse only = {:.3} (target <= 1.3); level updates/s target >= 10,000,000",
        apply_ns / parse_ns
    );
    row(
        "book parse + apply vs parse only (captured XRPUSDT), per level update",
        apply_ns / levels as f64,
        Some(parse_ns / levels as f64),
        "ns",
        "ratio<=1.3",
    );
    row(
        "book parse + apply, level updates/s",
        per_s(apply_ns, levels),
        None,
        "/s",
        "ours>=10000000",
    );
}

async fn bench_reconnect(drops: usize) {
    let mut config = EmulatorConfig::with_defaults("bench-key", "bench-secret", dec!(10000), 7);
    config.static_prices = true;
    config.rate_limits = false;
    let emu = Emulator::start("127.0.0.1:0", config)
        .await
        .expect("emulator");
    let http = reqwest::Client::new();
    let drop_url = format!("{}/emulator/ws/drop", emu.http_url());
    let mut ws = WsConfig::new(emu.public_ws_url());
    ws.backoff = BackoffConfig {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(1),
        stable_after: Duration::ZERO,
    };
    let (stream, mut events) = WsStream::public(ws).expect("stream");
    let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
    stream
        .subscribe_orderbook(&symbols, 50)
        .await
        .expect("books");
    stream.subscribe_tickers(&symbols).await.expect("tickers");
    stream.subscribe_trades(&symbols).await.expect("trades");
    let topics = 9;
    let mut times = Vec::with_capacity(drops);
    for _ in 0..drops {
        while events.try_recv().is_ok() {}
        let start = Instant::now();
        http.post(&drop_url)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("drop");
        let mut reconnected = false;
        let mut back = BTreeSet::new();
        while back.len() < topics {
            let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("resubscribed in time")
                .expect("stream open");
            match event {
                WsEvent::Connected { .. } => reconnected = true,
                WsEvent::Subscribed { topics } if reconnected => back.extend(topics),
                _ => {}
            }
        }
        times.push(start.elapsed());
    }
    times.sort();
    let pct = |percent: usize| times[(times.len() - 1) * percent / 100];
    println!(
        "drop-to-resubscribed ({drops} drops, {topics} topics, backoff 1 ms): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        pct(50).as_secs_f64() * 1e3,
        pct(99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    for (name, p) in [("p50", 50), ("p99", 99)] {
        row(
            &format!("drop → resubscribed {name} ({topics} topics, backoff 1 ms)"),
            pct(p).as_secs_f64() * 1e3,
            None,
            "ms",
            "-",
        );
    }
    stream.close().await;
}

/// `-- --profile-book <seconds>`: parse + apply of the capture in a loop and nothing else, for
/// `perf record` (the report's profile of where the book's time goes).
fn profile_book(seconds: u64) {
    let Some(text) = testkit::fixture(CAPTURE) else {
        return;
    };
    let frames: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut book = OrderBook::new("XRPUSDT", 500);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut passes = 0u64;
    while Instant::now() < deadline {
        for frame in &frames {
            if let Ok(WsMessage::Orderbook(m)) = WsMessage::parse(frame) {
                black_box(book.apply(&m).is_ok());
            }
        }
        passes += 1;
    }
    println!("{passes} passes");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--profile-book") {
        profile_book(args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(10));
        return;
    }
    let drops = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.trim());
    }
    bench_book();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench_reconnect(drops));
}
