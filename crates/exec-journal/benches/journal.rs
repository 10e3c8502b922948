//! The journal's cost on the order path.
//!
//! - intents per second: `record_intent` from 1 and from 32 concurrent tasks on one journal
//!   file (each awaited until durable);
//! - `execute_entry` → filled, p50 / p99, through the live adapters against the emulator on
//!   127.0.0.1 (real HTTP and WebSocket, as exec-live's tests start it), next to its floor
//!   measured the same way: one journal write (`record_intent`) then one create round trip
//!   (`place` on the same adapter).
//!
//! Run: `cargo bench -p exec-journal --bench journal` (or `cargo xtask bench`); optional
//! arguments: `-- <entries> <intents per writer>` (defaults 40 and 100). It prints figures and
//! asserts nothing about them.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a failed unwrap is a failed run"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::bench::{percentile, row};

use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_rest::{RestClient, RestConfig};
use bybit_sign::Credentials;
use bybit_ws::{PrivateAuth, WsConfig, WsStream};
use exec_events::EventBus;
use exec_gateway::{
    Gateway, GatewayConfig, Intent, Journal, OrderLinkId, OrderRequest, OrderRouter, Side, Symbol,
    SystemClock,
};
use exec_journal::SqliteJournal;
use exec_live::{LiveConfig, LiveExchange};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const KEY: &str = "bench-key";
const SECRET: &str = "bench-secret";

fn intent(writer: usize, n: usize) -> Intent {
    Intent {
        trade_tag: format!("W{writer}"),
        leg: "ENTRY".into(),
        order_link_id: format!("bench_{writer}_{n}"),
        symbol: "BTCUSDT".into(),
        side: "Buy".into(),
        qty: dec!(0.001),
        price: None,
        trigger_price: None,
        kind: "market".into(),
        reason: "bench".into(),
        at_ms: 1,
    }
}

/// Intents per second with `writers` concurrent tasks, each writing `each` intents.
async fn intents_per_second(writers: usize, each: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(dir.path().join("journal.sqlite")).unwrap());
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let journal = journal.clone();
            tokio::spawn(async move {
                for n in 0..each {
                    journal.record_intent(&intent(w, n)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let total = writers * each;
    f64::from(u32::try_from(total).unwrap()) / started.elapsed().as_secs_f64()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn ws(url: String) -> WsConfig {
    let mut config = WsConfig::new(url);
    config.connect_timeout = Duration::from_secs(3);
    config.reply_timeout = Duration::from_secs(3);
    config
}

struct Stack {
    _emu: Emulator,
    _dir: tempfile::TempDir,
    exchange: Arc<LiveExchange>,
    gateway: Gateway,
    journal: Arc<dyn Journal>,
}

/// The emulator (BTCUSDT still at 50 000) and the live stack on a journal file, as exec-live's
/// tests build it.
async fn stack() -> Stack {
    let mut config = EmulatorConfig::with_defaults(KEY, SECRET, dec!(100000000), 7);
    config.static_prices = true;
    config.rate_limits = false;
    config.engine = config.engine.with_price("BTCUSDT", dec!(50000));
    let emu = Emulator::start("127.0.0.1:0", config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(dir.path().join("journal.sqlite")).unwrap());
    let creds = Credentials::new(KEY, SECRET).unwrap();
    let mut rest_config = RestConfig::with_base_url(emu.http_url()).credentials(creds.clone());
    // The client's own limits (10 creates/s) would measure the limiter, not the journal.
    rest_config.limits.enabled = false;
    // As the execution layer wires it (the gateway's policy owns re-sends).
    let rest = RestClient::new(exec_live::gateway_rest_config(rest_config)).unwrap();
    let (private, private_events) =
        WsStream::private(ws(emu.private_ws_url()), PrivateAuth::new(creds)).unwrap();
    let (public, _public_events) = WsStream::public(ws(emu.public_ws_url())).unwrap();
    public.subscribe_tickers(&["BTCUSDT"]).await.unwrap();
    let bus = EventBus::new(65536);
    let exchange = Arc::new(LiveExchange::new(
        Arc::new(rest),
        bus.clone(),
        journal.clone(),
        LiveConfig::default(),
        Some(Arc::new(private)),
        Some(Arc::new(public)),
    ));
    exchange.start_tracking(Some(private_events)).await.unwrap();
    let ports = exchange.ports(journal.clone(), Arc::new(SystemClock));
    let gateway_config = GatewayConfig::new(dec!(5000));
    let gateway = Gateway::new(ports, gateway_config, bus, None).unwrap();
    Stack {
        _emu: emu,
        _dir: dir,
        exchange,
        gateway,
        journal,
    }
}

fn market(link: &str, side: Side, qty: Decimal, reduce_only: bool) -> OrderRequest {
    OrderRequest {
        symbol: Symbol::new("BTCUSDT").unwrap(),
        side,
        qty,
        price: None,
        trigger_price: None,
        trigger_direction: None,
        reduce_only,
        time_in_force: exec_gateway::TimeInForce::Ioc,
        order_link_id: OrderLinkId::new(link).unwrap(),
    }
}

/// `execute_entry` → filled, each trade closed (untimed) before the next.
async fn entry_latencies(s: &Stack, prefix: &str, runs: usize) -> Vec<Duration> {
    let mut out = Vec::new();
    for n in 0..runs {
        let tag = format!("{prefix}{n}");
        let plan = exec_gateway::testing::lifecycle_plan(&tag);
        let started = Instant::now();
        let entry = s.gateway.execute_entry(&plan).await.unwrap();
        out.push(started.elapsed());
        assert!(entry.filled_qty > Decimal::ZERO);
        let state = s.gateway.trade(&tag).unwrap();
        s.gateway.close_all(&state, "bench").await.unwrap();
    }
    out.sort();
    out
}

/// The floor: one journal write, then one create round trip on the same adapter.
async fn floor_latencies(s: &Stack, runs: usize) -> Vec<Duration> {
    let mut out = Vec::new();
    for n in 0..runs {
        let link = format!("floor_{n}");
        let req = market(&link, Side::Buy, dec!(0.001), false);
        let started = Instant::now();
        s.journal.record_intent(&intent(0, n)).await.unwrap();
        s.exchange.place(&req).await.unwrap();
        out.push(started.elapsed());
        let close = market(&format!("floorx_{n}"), Side::Sell, dec!(0.001), true);
        s.exchange.place(&close).await.unwrap();
    }
    out.sort();
    out
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let each: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);

    for writers in [1, 32] {
        let rate = intents_per_second(writers, each).await;
        println!("journal intents/s, {writers:>2} concurrent writer(s): {rate:>8.0}");
        row(
            &format!("journal intents/s, {writers} writer(s)"),
            rate,
            None,
            "/s",
            "-",
        );
    }

    let s = stack().await;
    // One warm-up trade (connections, instrument rules).
    let _ = entry_latencies(&s, "W", 1).await;
    let entry = entry_latencies(&s, "B", runs).await;
    let floor = floor_latencies(&s, runs).await;
    println!(
        "execute_entry -> filled ({runs} runs): p50 {}  p99 {}",
        ms(percentile(&entry, 500)),
        ms(percentile(&entry, 990))
    );
    println!(
        "floor: journal write + create round trip:  p50 {}  p99 {}",
        ms(percentile(&floor, 500)),
        ms(percentile(&floor, 990))
    );
    for p in [50, 99] {
        row(
            &format!("execute_entry → filled p{p} vs one journal write + one create round trip"),
            percentile(&entry, p * 10).as_secs_f64() * 1e3,
            Some(percentile(&floor, p * 10).as_secs_f64() * 1e3),
            "ms",
            "-",
        );
    }
}
