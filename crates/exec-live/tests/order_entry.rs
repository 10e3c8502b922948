//! Order creates over Bybit's order-entry stream (`/v5/trade`, docs/v5/websocket/trade/
//! guideline.mdx) with REST as the safety net, through the gateway and the live adapters on
//! the emulator: which path each create takes, and what a lost answer costs.

use std::sync::Arc;

use exec_gateway::{Journal, MemoryJournal, PositionService};
use rust_decimal_macros::dec;
use serde_json::json;

use crate::support::{btc, eventually, live, plan, Live};

fn creates_of(truth: &serde_json::Value, link: &str) -> u64 {
    truth["requests"]["createsByOrderLinkId"][link]
        .as_u64()
        .unwrap_or(0)
}

fn orders_with_link(l: &Live, link: &str) -> usize {
    l.exchange_orders()
        .iter()
        .filter(|o| o.order_link_id == link)
        .count()
}

async fn stream_ready(l: &Live) {
    eventually(
        "the trade stream is connected and authenticated",
        async || l.exchange.trade_stream().is_some_and(|s| s.is_ready()),
    )
    .await;
}

/// With `auto` routing and the stream up, every create of a trade goes over it, and the
/// exchange counts them as stream requests, not REST ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_go_over_the_trade_stream_while_it_is_up() {
    let l = live(dec!(10000), Arc::new(MemoryJournal::new()), None).await;
    l.ticker_ready().await;
    stream_ready(&l).await;
    let plan = plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    let paths = l.exchange.order_paths();
    assert_eq!(paths.rest, 0, "{paths:?}");
    assert!(paths.ws >= 4, "the entry and three take-profits: {paths:?}");
    let truth = l.emu.truth();
    assert_eq!(
        truth["requests"]["byPath"]["/v5/order/create"].as_u64(),
        None,
        "{}",
        truth["requests"]
    );
    assert_eq!(
        truth["requests"]["byPath"]["/v5/trade#order.create"].as_u64(),
        Some(paths.ws),
        "{}",
        truth["requests"]
    );
}

/// The stream drops with the entry's create in flight after the order landed (the emulator
/// executes it and cuts the socket without answering): the outcome is unknown, the policy
/// looks the order up and finds it — exactly one order, one create request. While the
/// stream is kept down the next creates go over REST; once it is back, over the stream again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_lost_with_the_stream_is_found_by_lookup_and_rest_carries_on_until_it_is_back() {
    let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::new());
    let l = live(dec!(10000), journal, None).await;
    l.ticker_ready().await;
    stream_ready(&l).await;
    let plan = plan("T1");

    l.control("/ws/trade-lose", json!({"count": 1})).await;
    l.gateway.execute_entry(&plan).await.unwrap();
    let link = "andre_ENTRY_T1";
    assert_eq!(orders_with_link(&l, link), 1, "exactly one entry order");
    let truth = l.emu.truth();
    assert_eq!(creates_of(&truth, link), 1, "{}", truth["requests"]);
    assert_eq!(
        truth["faults"]["tradeLose"].as_u64(),
        Some(0),
        "the fault was taken"
    );
    let after_entry = l.exchange.order_paths();
    assert_eq!((after_entry.ws, after_entry.rest), (1, 0));

    // Keep the stream out: the take-profits go over REST.
    l.control("/ws/refuse", json!({"seconds": 600})).await;
    eventually("the trade stream is down", async || {
        l.exchange.trade_stream().is_some_and(|s| !s.is_ready())
    })
    .await;
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    let during = l.exchange.order_paths();
    assert_eq!(during.ws, 1, "{during:?}");
    assert!(during.rest >= 3, "three take-profits over REST: {during:?}");

    // Back: the DCAs go over the stream again.
    l.control("/reset", json!({})).await;
    stream_ready(&l).await;
    l.gateway.setup_dcas(&plan, &position).await.unwrap();
    let after = l.exchange.order_paths();
    assert_eq!(after.rest, during.rest, "{after:?}");
    assert!(after.ws > during.ws, "the DCAs over the stream: {after:?}");
    for link in [
        "andre_TP1_T1",
        "andre_TP2_T1",
        "andre_TP3_T1",
        "andre_DCA1_T1",
    ] {
        assert_eq!(orders_with_link(&l, link), 1, "{link}");
    }
}

/// Cancels go over the stream too; one whose answer is lost with the socket (the emulator
/// cancels, then cuts it) goes over REST at once — idempotent by orderLinkId: REST's "too late
/// to cancel" (110001) is read as gone — and `close_all` still closes the trade flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_lost_with_the_stream_is_sent_over_rest_and_the_trade_still_closes() {
    let l = live(dec!(10000), Arc::new(MemoryJournal::new()), None).await;
    l.ticker_ready().await;
    stream_ready(&l).await;
    let plan = plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    let state = l.gateway.trade("T1").unwrap();

    l.control("/ws/trade-lose", json!({"count": 1})).await;
    let closed = l.gateway.close_all(&state, "test").await.unwrap();
    assert_eq!(closed.phase, exec_gateway::Phase::Closed, "{closed:?}");
    let open: Vec<_> = l
        .exchange_orders()
        .into_iter()
        .filter(|o| o.order_status.is_open())
        .collect();
    assert!(open.is_empty(), "{open:?}");
    let truth = l.emu.truth();
    let by_path = &truth["requests"]["byPath"];
    let (ws, rest) = (
        by_path["/v5/trade#order.cancel"].as_u64().unwrap_or(0),
        by_path["/v5/order/cancel"].as_u64().unwrap_or(0),
    );
    // The first cancel over the stream (lost), again over REST; the other two over REST while
    // the stream reconnects, or over it once it is back.
    assert!(ws >= 1 && rest >= 1, "{by_path}");
    assert_eq!(
        ws + rest,
        4,
        "three take-profits, one of them twice: {by_path}"
    );
}
