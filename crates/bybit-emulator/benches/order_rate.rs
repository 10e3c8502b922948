//! Sustained order creates per second through the emulator: signed REST over loopback, with
//! signature verification, the load generator sharing the machine's cores with the server.
//!
//! Run: `cargo bench -p bybit-emulator --bench order_rate` (optionally `-- <seconds> <clients>`).
//! Target: at least 5,000 creates per second on 2 cores.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testkit::bench::row;

use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_sign::Credentials;
use rust_decimal::Decimal;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);

    let mut config = EmulatorConfig::with_defaults(
        "bench-key",
        "bench-secret",
        Decimal::from(1_000_000_000_i64),
        1,
    );
    // The per-key limit (10 creates/s) would measure the limiter, not the server.
    config.rate_limits = false;
    let emulator = Emulator::start("127.0.0.1:0", config)
        .await
        .expect("emulator starts");
    let url = format!("{}/v5/order/create", emulator.http_url());
    let creds = Arc::new(Credentials::new("bench-key", "bench-secret").expect("credentials"));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (http, url, creds, done, failed) = (
            http.clone(),
            url.clone(),
            creds.clone(),
            done.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                // Alternate sides so the position stays small and margin never runs out.
                let side = if n % 2 == 0 { "Buy" } else { "Sell" };
                let body = format!(
                    r#"{{"category":"linear","symbol":"XRPUSDT","side":"{side}","orderType":"Market","qty":"3","orderLinkId":"b{client}-{n}"}}"#
                );
                n += 1;
                let signed = creds.sign_post_raw(now_ms(), 5000, body).expect("sign");
                let (body, headers) = signed.into_parts();
                let mut request = http.post(&url).header("content-type", "application/json");
                for (name, value) in headers.iter() {
                    request = request.header(name, value);
                }
                let ok = match request.body(body).send().await {
                    Ok(response) => response
                        .bytes()
                        .await
                        .is_ok_and(|b| b.starts_with(br#"{"retCode":0,"#)),
                    Err(_) => false,
                };
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);
    let bad = failed.load(Ordering::Relaxed);
    let rate = f64::from(u32::try_from(ok).unwrap_or(u32::MAX)) / elapsed;
    println!("order creates: {ok} ok, {bad} failed in {elapsed:.2} s with {clients} clients");
    println!("sustained rate: {rate:.0} creates/s (target >= 5000)");
    row(
        &format!("emulator creates/s ({clients} clients, {seconds} s)"),
        rate,
        None,
        "/s",
        "ours>=5000",
    );
    emulator.stop().await;
}
