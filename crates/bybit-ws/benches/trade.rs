//! The order-entry stream's create acknowledgement against its floor and against REST,
//! measured side by side.
//!
//! A create over [`TradeStream`] (`order.create` on `/v5/trade`: the typed request written to
//! JSON as `exec-live` hands it over, a fresh `reqId`, the header's timestamp, the task's hop,
//! the answer read into a `TradeReply` and matched by `reqId`) versus a bare WebSocket
//! send/receive of the same request on a socket of its own (tokio-tungstenite, authenticated
//! once, the same bytes but for its `reqId`, reading until the answer), versus the REST
//! client's create round trip (`bybit_rest::RestClient::create_order`, signed, rate limits
//! off), all three interleaved so they see the same machine load, in a fresh (seeded) order
//! each round so that none always follows the same one; p50 and p99. Targets: the
//! stream at most 1.3x the bare socket, and at most 0.6x REST. The order is the REST bench's
//! (`bybit-rest/benches/client.rs`): an IOC buy of 0.001 BTCUSDT at 50000, accepted and never
//! resting.
//!
//! The stream and REST are compared within one run because on a shared machine the same
//! round trip moves by half between runs a minute apart; a ratio of two runs measured the
//! machine more than the protocols. The timed loop runs in a spawned task, as every caller in
//! `serve` does (an HTTP handler or the executor): from `block_on` every wake-up of the caller
//! would cross threads, a cost no real caller pays.
//!
//! Run: `cargo bench -p bybit-ws --bench trade` (optionally `-- <round trips>`;
//! `BENCH_EMULATOR_URL` points it at a running emulator with key `bench-key`, secret
//! `bench-secret` and no rate limits, as `cargo xtask bench` does). Not a test: it prints figures.
//! `BENCH_WORKERS` sets the runtime's worker threads (default 2, as `serve` has on this
//! machine).
//!
//! On the 2-vCPU build machine, with the emulator and this bench free to use both vCPUs, a
//! wake-up that crosses vCPUs costs tens of microseconds, more than a WebSocket round trip's
//! work: even the bare socket is 0.56-0.65x REST from run to run, and the figures measure the
//! hypervisor. With both on one CPU (`taskset -c 0` for the emulator and for this bench,
//! `BENCH_WORKERS=1`) every figure drops to about a third and holds within a few percent
//! between runs: what remains is the work at both ends. `cargo xtask bench` runs it both ways
//! and names the rows `(free)` and `(one CPU)`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testkit::bench::{against_floor, percentile, row, Side};

use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_rest::{LimitConfig, NewOrder, RestClient, RestConfig};
use bybit_sign::Credentials;
use bybit_types::{Price, Qty, Symbol, TimeInForce, WireSide};
use bybit_ws::{PrivateAuth, TradeOp, TradeStream, WsConfig, WsEvent};
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "bench-key";
const SECRET: &str = "bench-secret";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
}

/// The REST bench's order.
fn rest_order() -> NewOrder {
    NewOrder::limit(
        Symbol::new("BTCUSDT").expect("symbol"),
        WireSide::Buy,
        Qty::new(dec!(0.001)).expect("qty"),
        Price::new(dec!(50000)).expect("price"),
    )
    .time_in_force(TimeInForce::Ioc)
}

async fn bench(trade_url: String, rest_url: String, count: usize) {
    let trade_url = trade_url.as_str();
    let credentials = Credentials::new(KEY, SECRET).expect("credentials");
    let (stream, mut events) = TradeStream::connect(
        WsConfig::new(trade_url),
        PrivateAuth::new(credentials.clone()),
    )
    .expect("stream");
    while let Some(event) = events.recv().await {
        match event {
            WsEvent::Authenticated => break,
            WsEvent::AuthFailed(e) => panic!("trade stream auth: {e}"),
            _ => {}
        }
    }

    let (mut bare, _) = tokio_tungstenite::connect_async(trade_url)
        .await
        .expect("bare socket");
    let expires = now_ms() + 10_000;
    let auth = credentials
        .ws_auth(expires)
        .expect("auth")
        .to_request("auth");
    bare.send(Message::Text(auth.into())).await.expect("auth");
    let reply = bare.next().await.expect("auth reply").expect("auth reply");
    assert!(
        reply
            .to_text()
            .unwrap_or_default()
            .contains(r#""retCode":0"#),
        "{reply:?}"
    );
    let body = serde_json::to_string(rest_order().as_wire()).expect("order JSON");
    let mut next_id = 0_u64;
    let mut bare_create = async || {
        next_id += 1;
        let frame = format!(
            r#"{{"reqId":"bare-{next_id}","header":{{"X-BAPI-TIMESTAMP":"{}","X-BAPI-RECV-WINDOW":"5000"}},"op":"order.create","args":[{body}]}}"#,
            now_ms()
        );
        bare.send(Message::Text(frame.into())).await.expect("send");
        loop {
            let reply = bare.next().await.expect("reply").expect("reply");
            let text = reply.to_text().unwrap_or_default();
            if text.contains(r#""op":"order.create""#) {
                assert!(text.contains(r#""retCode":0"#), "{text}");
                break;
            }
        }
    };
    let ours = async || {
        let reply = stream
            .send(
                TradeOp::Create,
                rest_order().as_wire(),
                Duration::from_secs(5),
            )
            .await
            .expect("create");
        assert_eq!(reply.ret_code, 0, "{reply:?}");
    };
    let mut rest_config = RestConfig::with_base_url(&rest_url).credentials(credentials.clone());
    rest_config.limits = LimitConfig {
        enabled: false,
        ..LimitConfig::default()
    };
    let rest = RestClient::new(rest_config).expect("REST client");
    let rest_create = async || {
        rest.create_order(rest_order()).await.expect("REST create");
    };
    for _ in 0..200 {
        ours().await;
        bare_create().await;
        rest_create().await;
    }
    let mut ours_t = Vec::with_capacity(count);
    let mut floor = Vec::with_capacity(count);
    let mut rest_t = Vec::with_capacity(count);
    // Each round runs the three in a fresh order: whatever a request leaves behind for the
    // runtime after its answer (the HTTP client's connection task returning the connection to
    // its pool) lands in the request that follows it, and a fixed order would charge it to
    // one of them every time.
    let mut rng = fastrand::Rng::with_seed(1);
    let mut order = [0_u8, 1, 2];
    for _ in 0..count {
        rng.shuffle(&mut order);
        for path in order {
            let start = Instant::now();
            match path {
                0 => ours().await,
                1 => bare_create().await,
                _ => rest_create().await,
            }
            let took = start.elapsed();
            match path {
                0 => ours_t.push(took),
                1 => floor.push(took),
                _ => rest_t.push(took),
            }
        }
    }
    against_floor(
        "trade-stream create ack",
        "vs a bare WebSocket send/receive of the same request",
        Side {
            label: "TradeStream",
            sample: &ours_t,
        },
        Side {
            label: "bare socket",
            sample: &floor,
        },
    );
    against_rest(&ours_t, &floor, &rest_t);
    println!("({count} creates each, interleaved in a shuffled order)");
    stream.close().await;
}

/// The stream's create acknowledgement against REST's create round trip from the same run,
/// and the bare socket's beside it (what any WebSocket client could reach here).
fn against_rest(ours: &[Duration], floor: &[Duration], rest: &[Duration]) {
    let p50 = |sample: &[Duration]| {
        let mut sorted = sample.to_vec();
        sorted.sort();
        percentile(&sorted, 500).as_secs_f64() * 1e6
    };
    let (ours, floor, rest) = (p50(ours), p50(floor), p50(rest));
    println!(
        "create p50: TradeStream ack {ours:7.1} us, bare socket {floor:7.1} us, REST round trip {rest:7.1} us; \
         ratio {:.2}x (target <= 0.6x), bare socket {:.2}x",
        ours / rest,
        floor / rest
    );
    row(
        "create p50: trade-stream ack vs REST round trip, same emulator, same run",
        ours,
        Some(rest),
        "µs",
        "ratio<=0.6",
    );
    row(
        "create p50: bare WebSocket send/receive vs REST round trip, same emulator, same run",
        floor,
        Some(rest),
        "µs",
        "-",
    );
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000);
    let workers = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let external = std::env::var("BENCH_EMULATOR_URL").ok();
        let emulator = match &external {
            Some(_) => None,
            None => {
                let mut config =
                    EmulatorConfig::with_defaults(KEY, SECRET, Decimal::from(1_000_000_000_i64), 1);
                config.rate_limits = false;
                Some(
                    Emulator::start("127.0.0.1:0", config)
                        .await
                        .expect("emulator"),
                )
            }
        };
        let (trade_url, rest_url) = match (&external, &emulator) {
            (Some(url), _) => {
                let host = url.trim_end_matches('/').trim_start_matches("http://");
                (format!("ws://{host}/v5/trade"), format!("http://{host}"))
            }
            (None, Some(emulator)) => (emulator.trade_ws_url(), emulator.http_url()),
            (None, None) => unreachable!("one of the two is set"),
        };
        tokio::spawn(bench(trade_url, rest_url, count))
            .await
            .expect("bench task");
    });
}
