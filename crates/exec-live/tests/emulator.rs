//! The gateway through the live adapters against the emulator (SPEC R-TEST-2): the reference
//! lifecycle, a TP fill while the private stream is down, too small a balance, ten
//! concurrent entries, a lost entry response.

use std::sync::Arc;

use exec_events::{ErrorKind, ErrorLog, Event, Received};
use exec_gateway::testing::{run_lifecycle, LifecycleBackend};
use exec_gateway::{GatewayError, Journal, MemoryJournal, OrderRouter, Phase, PositionService};
use exec_journal::SqliteJournal;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;

use crate::support::{btc, eventually, fills, live, plan, wait_fills, Live};

/// The live backend of the shared reference lifecycle (exec-gateway's `testing` feature, the
/// same driver and assertions as exec-sim's paper test): prices are printed on the emulator and
/// fills arrive asynchronously on the private stream.
struct LiveBackend {
    l: Live,
    journal: Arc<dyn Journal>,
}

#[async_trait::async_trait]
impl LifecycleBackend for LiveBackend {
    fn gateway(&self) -> &exec_gateway::Gateway {
        &self.l.gateway
    }
    fn journal(&self) -> Arc<dyn Journal> {
        self.journal.clone()
    }
    fn bus(&self) -> &exec_events::EventBus {
        &self.l.bus
    }
    fn router(&self) -> &dyn OrderRouter {
        self.l.exchange.as_ref()
    }
    fn positions(&self) -> &dyn PositionService {
        self.l.exchange.as_ref()
    }
    async fn move_price(&self, price: Decimal) {
        self.l.set_price(price);
    }
    async fn stop_loss(&self) -> Option<Decimal> {
        self.l
            .emu
            .state()
            .read(|e| e.position_of("BTCUSDT"))
            .unwrap()
            .stop_loss
    }
    /// A REST catch-up sees every fill again.
    async fn catch_up(&self) {
        self.l.exchange.catch_up().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_lifecycle_through_the_live_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(dir.path().join("data/journal.sqlite")).unwrap());
    let l = live(dec!(10000), journal.clone(), None).await;
    l.ticker_ready().await;
    run_lifecycle(&LiveBackend { l, journal }).await;
}

/// SPEC R-TEST-2: the private stream dropped and refused while the position is open; the TP
/// fill still arrives, once, through REST polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tp_fill_while_the_private_stream_is_down_is_reported_once_through_rest() {
    let l = live(dec!(10000), Arc::new(MemoryJournal::new()), None).await;
    l.ticker_ready().await;
    let plan = plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    let mut sub = l.bus.subscribe();

    // Kill the private stream and keep it out for 30 s.
    l.control("/ws/drop", json!({})).await;
    l.control("/ws/refuse", json!({"seconds": 30})).await;
    eventually("the private stream is quiet", async || {
        l.exchange.private_stream_quiet()
    })
    .await;
    l.set_price(dec!(51010));
    let f = wait_fills(&mut sub, 1).await;
    assert_eq!(
        (f[0].order_link_id.as_str(), f[0].qty),
        ("andre_TP1_T1", dec!(0.010))
    );
    assert!(l.exchange.private_stream_quiet(), "it came through REST");
    // More REST passes find it again and publish nothing.
    l.exchange.poll().await.unwrap();
    l.exchange.catch_up().await.unwrap();
    assert!(fills(&mut sub).is_empty());
}

/// The private stream stays connected and keeps answering pings but sends
/// no data (the emulator's `ws/mute` with `"pongs": true`) past the silence threshold; the TP
/// fill still arrives, once, through REST polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tp_fill_while_the_private_stream_is_connected_but_silent_is_reported_once() {
    let l = live(dec!(10000), Arc::new(MemoryJournal::new()), None).await;
    l.ticker_ready().await;
    let plan = plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    let mut sub = l.bus.subscribe();

    l.control("/ws/mute", json!({"stream": "private", "pongs": true}))
        .await;
    eventually("the private stream is quiet", async || {
        l.exchange.private_stream_quiet()
    })
    .await;
    let private = exec_gateway::HealthCheck::check_ws_health(l.exchange.as_ref())
        .await
        .unwrap()
        .1;
    assert!(private.ok, "still connected and authenticated: {private:?}");
    l.set_price(dec!(51010));
    let f = wait_fills(&mut sub, 1).await;
    assert_eq!(
        (f[0].order_link_id.as_str(), f[0].qty),
        ("andre_TP1_T1", dec!(0.010))
    );
    // Unmuted, the stream delivers the held execution too: it is not published again.
    l.control("/ws/unmute", json!({"stream": "private"})).await;
    eventually("the private stream is live", async || {
        !l.exchange.private_stream_quiet()
    })
    .await;
    l.exchange.poll().await.unwrap();
    assert!(fills(&mut sub).is_empty());
}

/// SPEC R-TEST-2 / R-ERR-3: too small a balance ends the trade in ERROR with one event and
/// one error-log line, nothing retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_small_a_balance_aborts_with_one_event_and_one_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("data/logs/execution-error.log");
    let log = Arc::new(ErrorLog::open(&log_path).unwrap());
    let journal = Arc::new(MemoryJournal::new());
    let l = live(dec!(5), journal.clone(), Some(log)).await;
    l.ticker_ready().await;
    let mut sub = l.bus.subscribe();
    let err = l.gateway.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(
        matches!(err, GatewayError::InsufficientBalance { .. }),
        "{err}"
    );
    assert_eq!(l.gateway.trade("T1").unwrap().phase, Phase::Error);
    let mut errors = Vec::new();
    while let Some(Received::Event(env)) = sub.try_recv() {
        if let Event::ExecutionError(e) = &*env.event {
            errors.push(e.clone());
        }
    }
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, ErrorKind::InsufficientBalance);
    assert_eq!(errors[0].order_link_id.as_deref(), Some("andre_ENTRY_T1"));
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let position = l.exchange.get_position(&btc()).await.unwrap();
    assert!(l.gateway.setup_dcas(&plan("T1"), &position).await.is_err());
    assert!(l
        .exchange_orders()
        .iter()
        .all(|o| o.order_status == bybit_types::OrderStatus::Rejected));
    assert_eq!(journal.intents("T1").await.unwrap().len(), 1);
}

/// SPEC R-TEST-2 / R-ORD-5: ten concurrent entries, one order on the exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_entries_put_one_order_on_the_exchange() {
    let l = live(dec!(10000), Arc::new(MemoryJournal::new()), None).await;
    l.ticker_ready().await;
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let gw = l.gateway.clone();
            tokio::spawn(async move { gw.execute_entry(&plan("T1")).await })
        })
        .collect();
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap().unwrap());
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    let orders = l.exchange_orders();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].order_link_id, "andre_ENTRY_T1");
}

/// SPEC R-TEST-2: the entry's response is lost after the exchange executed it; the order is
/// found by its orderLinkId and not placed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_entry_response_leaves_one_order_found_by_link_id() {
    let journal = Arc::new(MemoryJournal::new());
    let l = live(dec!(10000), journal.clone(), None).await;
    l.ticker_ready().await;
    // Leverage is set beforehand (pre-flight), so the create is the next REST request.
    exec_gateway::AccountService::set_leverage(l.exchange.as_ref(), &btc(), dec!(10))
        .await
        .unwrap();
    // And the private stream is live, so no REST poll runs in between.
    eventually("the private stream is live", async || {
        !l.exchange.private_stream_quiet()
    })
    .await;
    l.control("/lose-response", json!({"count": 1})).await;
    let entry = l.gateway.execute_entry(&plan("T1")).await.unwrap();
    assert_eq!(entry.filled_qty, dec!(0.020));
    // The fault was spent (on the create, the first REST request after arming it).
    assert_eq!(l.emu.truth()["faults"]["loseResponse"], json!(0));
    let orders = l.exchange_orders();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].order_link_id, "andre_ENTRY_T1");
}

/// SPEC R-HEALTH-1: REST latency and both streams' health; a refused private stream shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_rest_and_both_streams() {
    use exec_gateway::HealthCheck;
    let l = live(dec!(10000), Arc::new(MemoryJournal::new()), None).await;
    l.ticker_ready().await;
    eventually("the private stream is live", async || {
        !l.exchange.private_stream_quiet()
    })
    .await;
    let status = l.exchange.get_bybit_status().await.unwrap();
    assert!(status.rest.ok);
    assert!(status.ws_public.ok, "{:?}", status.ws_public);
    assert!(status.ws_private.ok, "{:?}", status.ws_private);
    l.control("/ws/refuse", json!({"seconds": 30})).await;
    let mut down = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !down && tokio::time::Instant::now() < deadline {
        down = !l.exchange.check_ws_health().await.unwrap().1.ok;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(down, "the private stream never showed as down");
}
