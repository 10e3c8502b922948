//! Fills come from the stream (SPEC R-WS-4): `execute_entry` and `close_all` wait on the
//! order and position events on the gateway's bus (subscribed before the order is sent) and
//! look up over REST only when the stream stays silent (`stream_silence`) or the deadline
//! passes. Here the router publishes what the exchange reports as it answers, the way the
//! live tracker does from the private stream; a REST lookup would panic the mocks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use exec_events::{Event, EventBus, OrderEvent, OrderEventKind, PositionUpdate};
use exec_gateway::{OrderAck, OrderRequest, Phase, Side, TradeState};
use rust_decimal_macros::dec;

use crate::support::{long, plan, Mocks};

/// The order event a stream reports for `req` filled in full at 50 000.
fn filled(req: &OrderRequest) -> Event {
    Event::Order(OrderEvent {
        kind: OrderEventKind::Filled,
        symbol: req.symbol.as_str().to_owned(),
        side: req.side,
        order_id: format!("id-{}", req.order_link_id.as_str()),
        order_link_id: req.order_link_id.as_str().to_owned(),
        qty: req.qty,
        price: None,
        trigger_price: None,
        filled_qty: req.qty,
        avg_price: Some(dec!(50000)),
        reduce_only: req.reduce_only,
        reason: None,
        simulated: false,
    })
}

fn ack(req: &OrderRequest) -> OrderAck {
    OrderAck {
        order_id: format!("id-{}", req.order_link_id.as_str()),
        order_link_id: req.order_link_id.as_str().to_owned(),
    }
}

/// Mocks whose stream is never silent long enough for a lookup to be due.
fn patient() -> (Mocks, Arc<OnceLock<EventBus>>) {
    let mut m = Mocks::new();
    m.config.stream_silence = Duration::from_secs(3600);
    (m, Arc::new(OnceLock::new()))
}

#[tokio::test]
async fn an_entry_filled_on_the_stream_is_not_looked_up_over_rest() {
    let (mut m, bus) = patient();
    let b = bus.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(1)
        .returning(move |req| {
            // The fill reaches the bus before the create's answer (as it may on Bybit).
            b.get().unwrap().publish(filled(req));
            Ok(ack(req))
        });
    m.router.expect_get_order().never();
    let (gw, _) = m.build_mem();
    bus.set(gw.bus().clone()).unwrap();
    let entry = gw.execute_entry(&plan("T1")).await.unwrap();
    assert_eq!(
        (entry.entry_price, entry.filled_qty),
        (dec!(50000), dec!(0.02))
    );
}

#[tokio::test]
async fn a_close_confirmed_flat_on_the_stream_reads_no_position_or_order_over_rest() {
    let (mut m, bus) = patient();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let closing = Arc::new(AtomicBool::new(false));
    let c = closing.clone();
    m.positions.expect_get_position().returning(move |_| {
        assert!(
            !c.load(Ordering::SeqCst),
            "the position was read over REST after the close was sent"
        );
        Ok(long(dec!(0.02), dec!(50000)))
    });
    let (b, c) = (bus.clone(), closing.clone());
    m.router
        .expect_place()
        .withf(crate::support::is_close)
        .times(1)
        .returning(move |req| {
            c.store(true, Ordering::SeqCst);
            let bus = b.get().unwrap();
            bus.publish(filled(req));
            bus.publish(Event::Position(PositionUpdate {
                symbol: req.symbol.as_str().to_owned(),
                side: None,
                size: dec!(0),
                entry_price: None,
                leverage: None,
                unrealised_pnl: None,
            }));
            Ok(ack(req))
        });
    let c = closing.clone();
    m.router.expect_get_order().returning(move |_, link| {
        assert!(
            !c.load(Ordering::SeqCst),
            "{} looked up over REST after the close was sent",
            link.as_str()
        );
        Ok(None)
    });
    let (gw, journal) = m.build_mem();
    bus.set(gw.bus().clone()).unwrap();
    // The trade owns the position: its entry is journaled as filled.
    let p = plan("T1");
    let entry = crate::support::entry_intent("andre_ENTRY_T1");
    use exec_gateway::Journal;
    journal.record_plan(&p, 1).await.unwrap();
    journal.record_intent(&entry).await.unwrap();
    journal
        .record_fill(&exec_events::Fill {
            exec_id: "e1".into(),
            symbol: "BTCUSDT".into(),
            side: Side::Buy,
            order_id: "id-entry".into(),
            order_link_id: "andre_ENTRY_T1".into(),
            price: dec!(50000),
            qty: dec!(0.02),
            fee: dec!(0),
            pnl: None,
            fee_currency: "USDT".into(),
            is_maker: false,
            exec_kind: exec_events::ExecKind::Trade,
            time_ms: 1,
            simulated: false,
        })
        .await
        .unwrap();
    let state = TradeState::new(&p);
    let done = gw.close_all(&state, "exit").await.unwrap();
    assert_eq!(done.phase, Phase::Closed);
}
