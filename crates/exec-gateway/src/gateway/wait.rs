//! Waiting for an order to finish or a position to shrink (SPEC R-WS-4: the private stream
//! first). `await_fill` and `await_size` listen on the gateway's bus — the order, fill and
//! position events a router publishes (the live tracker from the private stream, the paper
//! and dry-run routers as they act) — with a subscription taken **before** the order is sent,
//! so no event is missed. They look up over REST only when the stream has said nothing about
//! the order or position for [`GatewayConfig::stream_silence`], when events were missed
//! (lagged), or once more when the deadline has passed, to confirm.
//!
//! [`GatewayConfig::stream_silence`]: crate::GatewayConfig::stream_silence

use exec_events::{Event, OrderEvent, OrderEventKind, Received, Subscription};
use tokio::time::Instant;

use crate::types::{OrderSnapshot, OrderStatus};

/// What a wait on the stream came to.
pub(crate) enum Heard<T> {
    /// An event the caller was waiting for.
    News(T),
    /// Nothing (or events were missed) until the given time: ask REST.
    Quiet,
}

/// Waits until `until` for the first event `pick` accepts. Missed events (a lagging
/// subscriber) end the wait at once as [`Heard::Quiet`]; a closed bus is silence until `until`.
pub(crate) async fn listen<T>(
    sub: &mut Subscription,
    until: Instant,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> Heard<T> {
    loop {
        match tokio::time::timeout_at(until, sub.recv()).await {
            Err(_) | Ok(Received::Lagged { .. }) => return Heard::Quiet,
            Ok(Received::Closed) => {
                tokio::time::sleep_until(until).await;
                return Heard::Quiet;
            }
            Ok(Received::Event(env)) => {
                if let Some(found) = pick(&env.event) {
                    return Heard::News(found);
                }
            }
        }
    }
}

/// An order event's status in the gateway's terms (the one mapping, also for the legs'
/// last status seen).
pub(crate) fn event_status(o: &OrderEvent) -> OrderStatus {
    match o.kind {
        OrderEventKind::Accepted | OrderEventKind::Updated if o.trigger_price.is_some() => {
            OrderStatus::Untriggered
        }
        OrderEventKind::Accepted | OrderEventKind::Updated => OrderStatus::Open,
        OrderEventKind::PartiallyFilled => OrderStatus::PartiallyFilled,
        OrderEventKind::Filled => OrderStatus::Filled,
        OrderEventKind::Cancelled => OrderStatus::Cancelled,
        OrderEventKind::Rejected => OrderStatus::Rejected,
    }
}

/// An order event as the snapshot a lookup would have answered.
pub(crate) fn event_snapshot(o: &OrderEvent) -> OrderSnapshot {
    OrderSnapshot {
        symbol: o.symbol.clone(),
        side: o.side,
        order_id: o.order_id.clone(),
        order_link_id: o.order_link_id.clone(),
        qty: o.qty,
        price: o.price,
        trigger_price: o.trigger_price,
        filled_qty: o.filled_qty,
        avg_price: o.avg_price,
        status: event_status(o),
        reduce_only: o.reduce_only,
    }
}
