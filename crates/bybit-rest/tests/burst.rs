//! A 1,000-request burst (SPEC R-REST-3, R-ERR-4; docs/v5/rate-limit/rate-limit.mdx: 50
//! requests per rolling second per endpoint for order, position and account reads, and 600
//! requests per 5 s per IP for all of them together).
//!
//! How it counts from the exchange's side: a recording proxy stands in front of the emulator
//! on loopback. It stamps each request as it arrives, forwards it unchanged, and inspects each
//! reply the emulator gives. So the per-second counts are arrival times at the server's door,
//! and the 10006 count is the emulator's own verdict, not what the client chose to show.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bybit_rest::{Executions, OpenOrders, OrderHistory, Positions, RestClient};
use bybit_types::AccountType;

use crate::support::{btc, config, emulator_alone};

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    arrivals: Mutex<Vec<(Instant, String)>>,
    rejected_10006: AtomicUsize,
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    proxy
        .arrivals
        .lock()
        .unwrap()
        .push((Instant::now(), parts.uri.path().to_owned()));
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let target = format!(
        "{}{}",
        proxy.upstream,
        parts.uri.path_and_query().map_or("", |p| p.as_str())
    );
    let mut upstream = proxy.http.request(parts.method, target);
    for (name, value) in &parts.headers {
        if name != "host" {
            upstream = upstream.header(name, value);
        }
    }
    let reply = upstream.body(body).send().await.unwrap();
    let status = reply.status();
    let headers = reply.headers().clone();
    let bytes = reply.bytes().await.unwrap();
    if serde_json::from_slice::<serde_json::Value>(&bytes)
        .is_ok_and(|v| v["retCode"] == bybit_rest::codes::RATE_LIMIT)
    {
        proxy.rejected_10006.fetch_add(1, Ordering::SeqCst);
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name.as_str().starts_with("x-bapi") || name == "content-type" {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

/// The most arrivals on one path within any window of `window`.
fn max_per_window(arrivals: &[(Instant, String)], window: Duration) -> HashMap<String, usize> {
    let mut by_path: HashMap<String, Vec<Instant>> = HashMap::new();
    for (at, path) in arrivals {
        by_path.entry(path.clone()).or_default().push(*at);
    }
    by_path
        .into_iter()
        .map(|(path, mut times)| {
            times.sort();
            let max = (0..times.len())
                .map(|i| {
                    times[i..]
                        .iter()
                        .take_while(|t| **t < times[i] + window)
                        .count()
                })
                .max()
                .unwrap_or(0);
            (path, max)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1000_request_burst_never_exceeds_the_limit_and_no_10006_reaches_the_caller() {
    let emu = emulator_alone().await;
    let proxy = Arc::new(Proxy {
        upstream: emu.http_url(),
        http: reqwest::Client::new(),
        arrivals: Mutex::new(Vec::new()),
        rejected_10006: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = RestClient::new(config(&proxy_url)).unwrap();
    let limit = client_limit();
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            match i % 6 {
                0 => client
                    .open_orders(OpenOrders::symbol(btc()))
                    .await
                    .map(drop),
                1 => client.order_history(OrderHistory::new()).await.map(drop),
                2 => client.executions(Executions::new()).await.map(drop),
                3 => client.positions(Positions::symbol(btc())).await.map(drop),
                4 => client
                    .wallet_balance(AccountType::Unified, None)
                    .await
                    .map(drop),
                _ => client.account_info().await.map(drop),
            }
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            failures.push(e.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "errors reached the caller: {failures:?}"
    );
    let arrivals = proxy.arrivals.lock().unwrap().clone();
    let peaks = max_per_window(&arrivals, Duration::from_secs(1));
    eprintln!(
        "arrivals {}, 10006 answered {}, peaks per rolling second {peaks:?}",
        arrivals.len(),
        proxy.rejected_10006.load(Ordering::SeqCst)
    );
    // The emulator keeps its own rolling window, stamped when its handler runs, a proxy hop
    // after the door. On a loaded 2-core machine that hop can bunch requests that passed the
    // door at 48/s into 51 in the emulator's second, and it answers 10006: the client then
    // waits for the reset and re-sends, so nothing reaches the caller (asserted above). What
    // is pinned here: the only re-sends are answers to 10006, and they stay rare.
    let rejected = proxy.rejected_10006.load(Ordering::SeqCst);
    assert_eq!(
        arrivals.len(),
        1000 + rejected,
        "nothing was re-sent but a 10006"
    );
    assert!(rejected <= 10, "{rejected} requests refused with 10006");
    assert_eq!(peaks.len(), 6);
    for (path, peak) in &peaks {
        assert!(
            *peak <= limit,
            "{path}: {peak} requests in one second, limit {limit}"
        );
    }
    // The IP limit (600 requests per 5 s from one IP, HTTP 403 and a 10-minute ban beyond it)
    // counts all six endpoints together: it, not the per-endpoint budgets, sets the pace here.
    let all: Vec<(Instant, String)> = arrivals
        .iter()
        .map(|(at, _)| (*at, "all".to_owned()))
        .collect();
    let busiest = max_per_window(&all, Duration::from_secs(5))["all"];
    assert!(busiest <= 600, "{busiest} requests in one 5 s window");
    // The limiter is not idle either: it runs close to the budget.
    assert!(busiest >= 300, "only {busiest} in the busiest 5 s");
}

fn client_limit() -> usize {
    let limits = bybit_rest::LimitConfig::default();
    assert_eq!(limits.order_read, limits.account);
    assert_eq!(limits.order_read, limits.position_read);
    // The configured rate: Bybit's 50 per second. The limiter aims at its ceiling (45) and
    // keeps the rest spare for requests that arrive bunched.
    usize::try_from(limits.order_read.requests).unwrap()
}
