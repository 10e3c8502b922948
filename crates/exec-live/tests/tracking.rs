//! The tracker: each execId once (bounded memory), order states only forward, non-trade
//! executions keep their type (docs/v5/enum.mdx execType, orderStatus).

use bybit_types::rest::execution::Execution;
use bybit_types::rest::order::Order;
use exec_events::{Event, EventBus, ExecKind, OrderEventKind, Received};
use exec_live::tracker::Dedupe;
use exec_live::Tracker;
use serde_json::json;

fn exec(id: &str, exec_type: &str) -> Execution {
    serde_json::from_value(json!({
        "symbol": "BTCUSDT", "orderId": "o1", "orderLinkId": "andre_TP1_T1", "side": "Sell",
        "execId": id, "execPrice": "51000", "execQty": "0.01", "execType": exec_type,
        "execFee": "0.1", "feeCurrency": "USDT", "isMaker": true, "execTime": "1700000000000"
    }))
    .unwrap()
}

fn order(status: &str, filled: &str, updated: &str) -> Order {
    serde_json::from_value(json!({
        "symbol": "BTCUSDT", "orderId": "o1", "orderLinkId": "andre_TP1_T1", "side": "Sell",
        "orderType": "Limit", "price": "51000", "qty": "0.02", "orderStatus": status,
        "cumExecQty": filled, "timeInForce": "GTC", "reduceOnly": true,
        "createdTime": "1700000000000", "updatedTime": updated
    }))
    .unwrap()
}

fn drain(sub: &mut exec_events::Subscription) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(Received::Event(env)) = sub.try_recv() {
        out.push((*env.event).clone());
    }
    out
}

#[tokio::test]
async fn a_fill_seen_by_both_paths_is_published_once() {
    let bus = EventBus::new(64);
    let mut sub = bus.subscribe();
    let tracker = Tracker::new(bus, journal(), 100);
    let e = exec("x1", "Trade");
    assert_eq!(tracker.executions([&e]).await, 1);
    // The REST catch-up sees it again, with a new one.
    assert_eq!(tracker.executions([&e, &exec("x2", "Trade")]).await, 1);
    let fills: Vec<_> = drain(&mut sub)
        .into_iter()
        .filter_map(|e| match e {
            Event::Fill(f) => Some(f.exec_id),
            _ => None,
        })
        .collect();
    assert_eq!(fills, ["x1", "x2"]);
}

#[tokio::test]
async fn non_trade_executions_keep_their_type() {
    let bus = EventBus::new(64);
    let mut sub = bus.subscribe();
    let tracker = Tracker::new(bus, journal(), 100);
    // CorporateAction: docs/changelog/v5.mdx, docs/v5/enum.mdx execType (stock split);
    // an execType this layer has never heard of keeps its text too.
    let kinds = [
        "Funding",
        "AdlTrade",
        "BustTrade",
        "Delivery",
        "Settle",
        "CorporateAction",
        "StockDividend",
    ];
    let execs: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| exec(&format!("n{i}"), k))
        .collect();
    tracker.executions(&execs).await;
    let got: Vec<_> = drain(&mut sub)
        .into_iter()
        .filter_map(|e| match e {
            Event::Fill(f) => Some(f.exec_kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            ExecKind::Funding,
            ExecKind::Liquidation,
            ExecKind::Liquidation,
            ExecKind::Other("Delivery".into()),
            ExecKind::Other("Settle".into()),
            ExecKind::Other("CorporateAction".into()),
            ExecKind::Other("StockDividend".into()),
        ]
    );
    assert!(got.iter().all(|k| *k != ExecKind::Trade));
}

#[test]
fn the_dedupe_memory_is_bounded() {
    let mut d = Dedupe::new(3);
    for id in ["a", "b", "c", "d"] {
        assert!(d.first(id));
    }
    assert_eq!(d.len(), 3);
    assert!(!d.first("d"));
    // "a" was forgotten first.
    assert!(d.first("a"));
}

#[test]
fn a_late_new_after_filled_is_ignored() {
    let bus = EventBus::new(64);
    let mut sub = bus.subscribe();
    let tracker = Tracker::new(bus, journal(), 100);
    tracker.orders([&order("New", "0", "1")]);
    tracker.orders([&order("Filled", "0.02", "3")]);
    // Late and repeated reports.
    tracker.orders([&order("New", "0", "2")]);
    tracker.orders([&order("PartiallyFilled", "0.01", "2")]);
    tracker.orders([&order("Filled", "0.02", "3")]);
    let kinds: Vec<_> = drain(&mut sub)
        .into_iter()
        .filter_map(|e| match e {
            Event::Order(o) => Some(o.kind),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, [OrderEventKind::Accepted, OrderEventKind::Filled]);
}

/// Every new execId is journaled before it is published: a subscriber that
/// never reads (the bus overflows) loses nothing from the journal, and a fill seen by both
/// paths is journaled once.
#[tokio::test]
async fn every_fill_is_journaled_once_even_when_the_bus_overflows() {
    use exec_gateway::{Journal, MemoryJournal};
    use std::sync::Arc;

    let bus = EventBus::new(2);
    let mut deaf = bus.subscribe();
    let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::new());
    let tracker = Tracker::new(bus, journal.clone(), 100);
    let execs: Vec<Execution> = (0..10).map(|i| exec(&format!("x{i}"), "Trade")).collect();
    // The private stream sees them all, then a REST catch-up sees them again.
    assert_eq!(tracker.executions(&execs).await, 10);
    assert_eq!(tracker.executions(&execs).await, 0);
    assert!(
        matches!(deaf.try_recv(), Some(Received::Lagged { .. })),
        "the bus must have overflowed for this test to mean anything"
    );
    let ids: Vec<String> = journal
        .fills("")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.exec_id)
        .collect();
    let want: Vec<String> = (0..10).map(|i| format!("x{i}")).collect();
    assert_eq!(ids, want);
}

fn journal() -> std::sync::Arc<dyn exec_gateway::Journal> {
    std::sync::Arc::new(exec_gateway::MemoryJournal::new())
}

/// Bybit promises no order between the pushes of one fill
/// (v5/websocket/private/order, execution, position), and a cancel racing a fill brings a
/// second `Filled` push with `cancelType` `CancelByUser` and `rejectReason`
/// `EC_OrigClOrdIDDoesNotExist` (v5/websocket/private/order, tip). The position may come
/// before its execution, the execution before its order: the fill is published once and the
/// order's `Filled` once, never followed by a step back.
#[tokio::test]
async fn pushes_in_any_order_and_the_cancel_race_duplicate_move_nothing_backward() {
    let bus = EventBus::new(64);
    let mut sub = bus.subscribe();
    let tracker = Tracker::new(bus, journal(), 100);
    let position: bybit_types::rest::position::Position = serde_json::from_value(json!({
        "symbol": "BTCUSDT", "side": "Buy", "size": "0.01", "avgPrice": "50000",
        "positionIdx": 0, "leverage": "10", "updatedTime": "1700000000001"
    }))
    .unwrap();
    tracker.orders([&order("New", "0", "1")]);
    // Position, then execution, then order, then the race's duplicate, then a late New.
    tracker.positions([&position]);
    assert_eq!(tracker.executions([&exec("x1", "Trade")]).await, 1);
    tracker.orders([&order("Filled", "0.02", "3")]);
    let mut raced = order("Filled", "0.02", "4");
    raced.cancel_type = Some(serde_json::from_value(json!("CancelByUser")).unwrap());
    raced.reject_reason = "EC_OrigClOrdIDDoesNotExist".to_owned();
    assert_eq!(tracker.orders([&raced]), 0, "the second Filled is not news");
    assert_eq!(tracker.orders([&order("PartiallyFilled", "0.01", "2")]), 0);
    assert_eq!(tracker.executions([&exec("x1", "Trade")]).await, 0);
    let events = drain(&mut sub);
    let fills = events
        .iter()
        .filter(|e| matches!(e, Event::Fill(_)))
        .count();
    let orders: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Order(o) => Some(o.kind),
            _ => None,
        })
        .collect();
    assert_eq!(fills, 1);
    assert_eq!(orders, [OrderEventKind::Accepted, OrderEventKind::Filled]);
}
