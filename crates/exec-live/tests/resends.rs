//! One owner of a write's re-sends (SPEC R-ERR-1, R-ORD-5): the gateway's outcome policy.
//! The REST client under the live router sends each create once
//! (`exec_live::gateway_rest_config`), so a leg costs at most `max_send_attempts` create
//! requests, counted where they arrive: at the emulator.

use std::sync::Arc;
use std::time::Duration;

use exec_events::{ErrorKind, Event, Received};
use exec_gateway::{GatewayConfig, GatewayError, Journal, MemoryJournal, PositionService};
use exec_live::{LiveConfig, OrderPath};
use rust_decimal_macros::dec;
use serde_json::json;

use crate::support::{btc, connect_with_rest, plan, start_emulator, Live};

/// Every REST create reply of the entry is lost (the emulator holds each create, unexecuted,
/// far longer than the client waits; creates over REST only): the gateway looks the order up after each send, finds
/// nothing and sends again, `max_send_attempts` sends in all, then reports the leg unknown.
/// The emulator counts the create requests on arrival: never more than the policy's limit.
/// The trade ends clear: nothing on the exchange, no position, `execution.error` published,
/// and once the replies come through again the same call resumes and opens it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_whose_create_replies_are_all_lost_costs_at_most_max_send_attempts_creates() {
    let emu = start_emulator(dec!(10000)).await;
    let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::new());
    let live = LiveConfig {
        poll_interval: Duration::from_millis(200),
        silence_threshold: Duration::from_secs(2),
        order_path: OrderPath::Rest,
        ..LiveConfig::default()
    };
    let config = GatewayConfig::new(dec!(5000));
    let max = config.max_send_attempts;
    let p = connect_with_rest(&emu, journal.clone(), None, live, config, |mut rest| {
        rest.timeout = Duration::from_millis(300);
        rest
    })
    .await;
    let l = Live::over(emu, &p);
    l.ticker_ready().await;
    let mut sub = l.bus.subscribe();
    l.control("/create-hold", json!({"count": 100, "ms": 3000}))
        .await;

    let plan = plan("T1");
    let err = l.gateway.execute_entry(&plan).await.unwrap_err();
    assert!(matches!(err, GatewayError::OutcomeUnknown { .. }), "{err}");

    let link = "andre_ENTRY_T1";
    let truth = l.emu.truth();
    let creates = truth["requests"]["createsByOrderLinkId"][link]
        .as_u64()
        .unwrap_or(0);
    assert!(
        (1..=u64::from(max)).contains(&creates),
        "{creates} create requests for {link}; the policy allows {max}: {}",
        truth["requests"]
    );
    assert_eq!(
        truth["requests"]["byPath"]["/v5/order/create"].as_u64(),
        Some(creates),
        "no other create was sent"
    );
    // Clear: nothing on the exchange, no position, the leg reported unknown.
    assert!(l.exchange_orders().iter().all(|o| o.order_link_id != link));
    assert!(l.exchange.get_position(&btc()).await.unwrap().is_flat());
    let mut unknown = false;
    while let Some(Received::Event(env)) = sub.try_recv() {
        if let Event::ExecutionError(e) = &*env.event {
            unknown |= e.kind == ErrorKind::UnknownOutcome;
        }
    }
    assert!(unknown, "the unresolved leg is reported as execution.error");

    // The replies come through again: the same call looks the order up (not there), sends
    // it once more with the same orderLinkId, and the trade opens once.
    l.control("/reset", json!({})).await;
    let entry = l.gateway.execute_entry(&plan).await.unwrap();
    assert_eq!(entry.order_link_id, link);
    let placed: Vec<_> = l
        .exchange_orders()
        .into_iter()
        .filter(|o| o.order_link_id == link)
        .collect();
    assert_eq!(placed.len(), 1, "{placed:?}");
    p.exchange.shutdown().await;
}
