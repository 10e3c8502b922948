//! The emulator's resident memory stays flat over hours of living market.
//! The binary runs in its own process (so its RSS is its own, not this test binary's, where
//! other tests run in parallel); the server clock is stepped forward ten minutes at a time
//! (`/emulator/clock {"skewMs"}`), each step making every symbol's random walk catch up 3,000
//! prints in one engine step, while a public WebSocket (books at three depths, tickers and
//! trades of every symbol) and an authenticated private one (order, execution, position,
//! wallet) read everything. RSS (`VmRSS` of `/proc/<pid>/status`) is sampled after every
//! step: the peak of the six hours after a two-hour warm-up must stay within a bound of the
//! warm-up's peak (peaks, because the allocator's footprint swings by a few MiB as bursts come
//! and go).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bybit_sign::Credentials;
use futures_util::StreamExt;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::binary::spawn;
use crate::support::{now_ms, Client};
use crate::ws::{request, subscribe, ws_connect, Ws};

/// Simulated time per clock step: 3,000 walk steps of 200 ms per symbol, well under the
/// engine's catch-up cap.
const STEP_MS: i64 = 10 * 60_000;
/// Hours of warm-up, then hours measured against it.
const WARM_UP_HOURS: usize = 2;
const MEASURED_HOURS: usize = 6;
/// How far the measured peak may exceed the warm-up's. Measured here (debug build, 20 simulated
/// hours): RSS between 31 and 36 MiB with no trend, swinging by up to 5 MiB from step to step.
/// A leak of 25 bytes per print (7 symbols, 18,000 prints each per hour) would add 18 MiB over
/// the six measured hours.
const MAX_GROWTH_KIB: u64 = 12 * 1024;

/// The resident set of process `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// What a reader task has seen.
#[derive(Default)]
struct Seen {
    frames: AtomicU64,
    /// The latest public trade time (`T`), ms on the emulator's clock.
    last_trade_ms: AtomicI64,
    ended: AtomicBool,
}

/// Reads every frame of `ws` until it ends, as a prompt client does.
fn read_all(mut ws: Ws) -> Arc<Seen> {
    let seen = Arc::new(Seen::default());
    let out = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = ws.next().await {
            let Message::Text(text) = frame else { continue };
            seen.frames.fetch_add(1, Ordering::Relaxed);
            let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            if v["topic"]
                .as_str()
                .is_some_and(|t| t.starts_with("publicTrade."))
            {
                let latest = v["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["T"].as_i64())
                    .max();
                if let Some(t) = latest {
                    seen.last_trade_ms.fetch_max(t, Ordering::Relaxed);
                }
            }
        }
        seen.ended.store(true, Ordering::Relaxed);
    });
    out
}

/// Moves the server clock `skew_ms` ahead of the wall and waits until the market has printed
/// up to (nearly) then, as seen on the public stream.
async fn advance_to(c: &Client, public: &Seen, skew_ms: i64) {
    let reply = c.control("/clock", json!({ "skewMs": skew_ms })).await;
    assert!(reply.status.is_success(), "{:?}", reply.body);
    let target = i64::try_from(now_ms()).unwrap() + skew_ms - 5_000;
    let deadline = Instant::now() + Duration::from_secs(120);
    while public.last_trade_ms.load(Ordering::Relaxed) < target {
        assert!(
            !public.ended.load(Ordering::Relaxed),
            "the public stream ended"
        );
        assert!(
            Instant::now() < deadline,
            "the market did not catch up with a {skew_ms} ms skew"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss_stays_flat_over_hours_of_living_market_with_subscribers() {
    // The binary's defaults: a living market (no --static-prices), rate limits on.
    let (emulator, url) = spawn(&[]);
    let pid = emulator.pid();
    let c = Client {
        http: reqwest::Client::new(),
        base: url.clone(),
        creds: Credentials::new("k", "s").unwrap(),
    };
    let instruments = c
        .public("/v5/market/instruments-info", "category=linear")
        .await;
    let symbols: Vec<String> = instruments.body["result"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["symbol"].as_str().unwrap().to_owned())
        .collect();
    assert!(symbols.len() >= 5, "{symbols:?}");

    let ws_base = url.replacen("http://", "ws://", 1);
    let mut public = ws_connect(&format!("{ws_base}/v5/public/linear")).await;
    let topics: Vec<String> = symbols
        .iter()
        .flat_map(|s| {
            [
                format!("orderbook.1.{s}"),
                format!("orderbook.50.{s}"),
                format!("orderbook.200.{s}"),
                format!("tickers.{s}"),
                format!("publicTrade.{s}"),
            ]
        })
        .collect();
    // Bybit takes at most 10 args per public subscribe request (v5/ws/connect).
    for chunk in topics.chunks(10) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let reply = subscribe(&mut public, &chunk).await;
        assert_eq!(reply["success"], true, "{reply}");
    }
    let mut private = ws_connect(&format!("{ws_base}/v5/private")).await;
    let expires = now_ms() + 10_000;
    let auth = Credentials::new("k", "s")
        .unwrap()
        .ws_auth(expires)
        .unwrap();
    let reply = request(
        &mut private,
        json!({"req_id": "a", "op": "auth", "args": ["k", expires, auth.signature()]}),
    )
    .await;
    assert_eq!(reply["success"], true, "{reply}");
    let reply = subscribe(&mut private, &["order", "execution", "position", "wallet"]).await;
    assert_eq!(reply["success"], true, "{reply}");
    let public = read_all(public);
    let private = read_all(private);

    // Account activity, so the private streams and the engine's order and execution stores
    // have something: an open position and a resting order (3 % below, inside the price band).
    let ticker = c
        .public("/v5/market/tickers", "category=linear&symbol=BTCUSDT")
        .await;
    let last: Decimal = ticker.body["result"]["list"][0]["lastPrice"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let below = (last * dec!(0.97)).floor().to_string();
    for body in [
        json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": "0.1"}),
        json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001", "price": below}),
    ] {
        let reply = c.post("/v5/order/create", &body).await;
        assert_eq!(reply.ret_code(), 0, "{:?}", reply.body);
    }

    let steps_per_hour = 3_600_000 / STEP_MS;
    let mut skew = 0;
    // Per hour: the peak RSS of its steps, KiB.
    let mut hourly = Vec::new();
    for _hour in 0..WARM_UP_HOURS + MEASURED_HOURS {
        let mut peak = 0;
        for _ in 0..steps_per_hour {
            skew += STEP_MS;
            advance_to(&c, &public, skew).await;
            peak = peak.max(rss_kib(pid));
        }
        hourly.push(peak);
    }
    let frames = public.frames.load(Ordering::Relaxed);
    let private_frames = private.frames.load(Ordering::Relaxed);
    eprintln!(
        "emulator RSS peak of each simulated hour (KiB): {hourly:?}; \
         {frames} public and {private_frames} private frames read"
    );
    assert!(
        !private.ended.load(Ordering::Relaxed),
        "the private stream was cut"
    );
    assert!(
        !public.ended.load(Ordering::Relaxed),
        "the public stream was cut"
    );
    assert!(private_frames >= 2, "{private_frames} private frames");
    let warm = hourly[..WARM_UP_HOURS].iter().max().copied().unwrap();
    let later = hourly[WARM_UP_HOURS..].iter().max().copied().unwrap();
    assert!(
        later <= warm + MAX_GROWTH_KIB,
        "RSS peaked at {later} KiB in the {MEASURED_HOURS} hours after a {warm} KiB warm-up \
         peak (allowed: {MAX_GROWTH_KIB} KiB more); hourly peaks: {hourly:?}"
    );
}
