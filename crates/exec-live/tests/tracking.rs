//! The tracker: each execId once (bounded memory), order states only forward, non-trade
//! executions keep their type (docs/v5/enum.mdx execType, orderStatus).

use bybit_types::rest::execution::Execution;
use bybit_types::rest::order::Order;
use exec_events::{Event, EventBus, ExecKind, OrderEventKind, Received};
use exec_live::tracker::{Dedupe, OrderStates, OrderVerdict, Parents, SentPrices};
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

/// An order report of `id` (its own orderLinkId `link_<id>`) at `price`.
fn report(id: &str, status: &str, filled: &str, price: &str, updated: &str) -> Order {
    let mut o = order(status, filled, updated);
    o.order_id = id.to_owned();
    o.order_link_id = format!("link_{id}");
    o.price = Some(price.parse().unwrap());
    o
}

fn verdicts(states: &mut OrderStates, reports: &[Order]) -> Vec<OrderVerdict> {
    reports.iter().map(|o| states.offer(o)).collect()
}

/// An order's state only moves forward along Untriggered → New → PartiallyFilled → final,
/// and its filled quantity only grows (docs/v5/enum.mdx orderStatus): a report that repeats
/// what is held, or steps back in state or in fill, is stale whatever its time says.
#[test]
fn order_reports_that_repeat_or_step_back_are_stale() {
    use OrderVerdict::{Changed, New, Stale};
    let mut states = OrderStates::new(100);
    let partly = report("o1", "PartiallyFilled", "0.01", "51000", "5");
    assert_eq!(
        verdicts(
            &mut states,
            &[
                partly.clone(),
                partly.clone(),
                // Back to New with a later time: a step back in state and in fill.
                report("o1", "New", "0", "51000", "6"),
                // Same state, less filled.
                report("o1", "PartiallyFilled", "0.005", "51000", "7"),
                // Same state, more filled: news.
                report("o1", "PartiallyFilled", "0.015", "51000", "8"),
            ]
        ),
        [New, Stale, Stale, Stale, Changed]
    );
    // A step back in state alone (the fill did not shrink): a conditional order reported
    // untriggered after it was seen triggered.
    let mut states = OrderStates::new(100);
    assert_eq!(
        verdicts(
            &mut states,
            &[
                report("o2", "New", "0", "51000", "5"),
                report("o2", "Untriggered", "0", "51000", "6"),
            ]
        ),
        [New, Stale]
    );
}

/// An amendment keeps the state and the fill and changes the price or quantity: it is news
/// when it is not older than what is held (the same millisecond included), and an older one
/// that arrives late is stale. A move forward in state is news even when its time is older:
/// the state, not the clock, orders the reports.
#[test]
fn amendments_are_ordered_by_time_and_state_moves_by_state() {
    use OrderVerdict::{Changed, New, Stale};
    let mut states = OrderStates::new(100);
    assert_eq!(
        verdicts(
            &mut states,
            &[
                report("o1", "New", "0", "51000", "5"),
                report("o1", "New", "0", "51100", "6"),
                // Amended again within the same millisecond.
                report("o1", "New", "0", "51200", "6"),
                // The first amendment's report, late.
                report("o1", "New", "0", "51100", "5"),
                // Cancelled, stamped earlier than the last amendment.
                report("o1", "Cancelled", "0", "51200", "4"),
                // Nothing moves a final order.
                report("o1", "New", "0", "51300", "9"),
            ]
        ),
        [New, Changed, Changed, Stale, Changed, Stale]
    );
    let mut states = OrderStates::new(100);
    assert_eq!(
        verdicts(
            &mut states,
            &[
                report("o2", "New", "0", "51000", "5"),
                report("o2", "PartiallyFilled", "0.01", "51000", "3"),
            ]
        ),
        [New, Changed]
    );
}

/// The order table keeps the last `cap` orders: the oldest is forgotten first, so a report of
/// it is new again, while the ones kept still compare with what was held.
#[test]
fn the_order_state_memory_is_bounded() {
    use OrderVerdict::{New, Stale};
    let mut states = OrderStates::new(2);
    let a = report("a", "New", "0", "51000", "1");
    let b = report("b", "New", "0", "51000", "1");
    let c = report("c", "New", "0", "51000", "1");
    assert_eq!(
        verdicts(&mut states, &[a.clone(), b.clone(), c.clone()]),
        [New, New, New]
    );
    assert_eq!(verdicts(&mut states, &[c, b]), [Stale, Stale]);
    assert_eq!(states.offer(&a), New, "the oldest order was forgotten");
}

#[test]
fn the_dedupe_memory_starts_empty() {
    let mut d = Dedupe::new(3);
    assert!(d.is_empty());
    d.first("a");
    assert!(!d.is_empty());
}

/// `Tracker::orders` says how many reports it published.
#[test]
fn the_tracker_counts_the_order_reports_it_publishes() {
    let bus = EventBus::new(64);
    let tracker = Tracker::new(bus, journal(), 100);
    let a = report("a", "New", "0", "51000", "1");
    let b = report("b", "New", "0", "51000", "1");
    assert_eq!(tracker.orders([&a, &b, &a]), 2);
}

fn mismatches(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ExecutionError(err) if err.kind == exec_events::ErrorKind::PriceMismatch => {
                err.order_link_id.clone()
            }
            _ => None,
        })
        .collect()
}

/// A REST lookup of an order standing at a price other than the one sent (Bybit's price-limit
/// action, docs/v5/account/set-price-limit.mdx) is flagged like a push of it, once.
#[test]
fn a_rest_lookup_at_another_price_is_flagged_once() {
    let bus = EventBus::new(64);
    let mut sub = bus.subscribe();
    let tracker = Tracker::new(bus, journal(), 100);
    tracker.expect_price("link_o1", "51000".parse().unwrap());
    tracker.check_sent_price(&report("o1", "New", "0", "51000", "1"));
    assert!(tracker.price_mismatches().is_empty());
    let moved = report("o1", "New", "0", "50500", "2");
    tracker.check_sent_price(&moved);
    tracker.check_sent_price(&moved);
    assert_eq!(mismatches(&drain(&mut sub)), ["link_o1"]);
    assert_eq!(tracker.price_mismatches(), ["link_o1"]);
}

/// The sent prices are remembered for the last `cap` orderLinkIds: one sent before the
/// latest `cap` is forgotten (its order is no longer compared), the others still are.
#[test]
fn the_sent_price_memory_is_bounded() {
    let bus = EventBus::new(64);
    let mut sub = bus.subscribe();
    let tracker = Tracker::new(bus, journal(), 2);
    for link in ["link_a", "link_b"] {
        tracker.expect_price(link, "51000".parse().unwrap());
    }
    // Both are remembered at the cap: the older one is still compared.
    tracker.check_sent_price(&report("a", "New", "0", "50500", "1"));
    tracker.expect_price("link_c", "51000".parse().unwrap());
    // "link_a" was the oldest: after "link_c" it is forgotten, "link_b" is kept.
    tracker.check_sent_price(&report("b", "New", "0", "50500", "1"));
    assert_eq!(mismatches(&drain(&mut sub)), ["link_a", "link_b"]);
    let mut prices = SentPrices::new(2);
    prices.sent("x", "1".parse().unwrap());
    prices.sent("y", "1".parse().unwrap());
    prices.sent("z", "1".parse().unwrap());
    let mut x = report("x", "New", "0", "2", "1");
    x.order_link_id = "x".to_owned();
    assert_eq!(prices.mismatch(&x), None, "the oldest price was forgotten");
    let mut y = x.clone();
    y.order_link_id = "y".to_owned();
    assert_eq!(prices.mismatch(&y), Some("1".parse().unwrap()));
}

/// A TP/SL child (no orderLinkId of its own, a parentOrderLinkId; docs/v5/order/open-order.mdx)
/// is learned; an order with its own link, or without an orderId, is not; the last `cap`
/// children are remembered.
#[test]
fn only_attached_children_are_learned_and_the_memory_is_bounded() {
    let child = |id: &str| {
        let mut o = report(id, "Untriggered", "0", "52000", "1");
        o.order_link_id = String::new();
        o.parent_order_link_id = Some("andre_entry_T1".to_owned());
        o
    };
    let mut parents = Parents::new(2);
    let mut own_link = child("own");
    own_link.order_link_id = "andre_TP1_T1".to_owned();
    parents.learn(&own_link);
    parents.learn(&child(""));
    assert_eq!(parents.of("own"), None);
    assert_eq!(parents.of(""), None);
    parents.learn(&child("c1"));
    parents.learn(&child("c2"));
    assert_eq!(parents.of("c1"), Some("andre_entry_T1"));
    assert_eq!(parents.of("c2"), Some("andre_entry_T1"));
    parents.learn(&child("c3"));
    assert_eq!(parents.of("c1"), None, "the oldest child was forgotten");
    assert_eq!(parents.of("c3"), Some("andre_entry_T1"));
}

/// Position and wallet reports are published as they come (docs/v5/websocket/private/
/// position.mdx, wallet.mdx), and the tracker's `Debug` shows its state.
#[test]
fn positions_and_wallets_are_published() {
    let bus = EventBus::new(64);
    let mut sub = bus.subscribe();
    let tracker = Tracker::new(bus, journal(), 100);
    let position: bybit_types::rest::position::Position = serde_json::from_value(json!({
        "symbol": "BTCUSDT", "side": "Buy", "size": "0.01", "avgPrice": "50000",
        "positionIdx": 0, "leverage": "10", "updatedTime": "1700000000001"
    }))
    .unwrap();
    let wallet: bybit_types::rest::account::WalletAccount = serde_json::from_value(json!({
        "accountType": "UNIFIED", "totalWalletBalance": "9684.46297164",
        "totalAvailableBalance": "9556.6056555", "coin": []
    }))
    .unwrap();
    tracker.positions([&position]);
    tracker.wallets([&wallet]);
    let events = drain(&mut sub);
    assert!(
        matches!(&events[..], [Event::Position(p), Event::Wallet(w)]
            if p.symbol == "BTCUSDT" && w.wallet_balance.to_string() == "9684.46297164"),
        "{events:?}"
    );
    let shown = format!("{tracker:?}");
    assert!(
        shown.starts_with("Tracker") && shown.contains("fills"),
        "{shown}"
    );
}
