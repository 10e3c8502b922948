use exec_events::{Event, EventBus, Received};

use crate::fill;

#[tokio::test]
async fn a_subscriber_that_keeps_up_sees_every_event_once_in_order() {
    let bus = EventBus::new(8);
    let mut sub = bus.subscribe();
    for n in 0..5 {
        bus.publish(Event::Fill(fill(n)));
    }
    for n in 0..5u32 {
        match sub.recv().await {
            Received::Event(env) => {
                assert_eq!(env.seq, u64::from(n) + 1);
                assert_eq!(env.event.as_fill().unwrap().exec_id, format!("exec-{n}"));
            }
            other => panic!("expected event {n}, got {other:?}"),
        }
    }
    assert!(sub.try_recv().is_none(), "nothing more");
}

#[tokio::test]
async fn a_slow_subscriber_is_told_it_lagged_and_how_much() {
    // Capacity 4, ten fills published before the subscriber reads: it must learn that it
    // missed six, then see the last four, and the sequence numbers show the gap.
    let bus = EventBus::new(4);
    let mut slow = bus.subscribe();
    let mut fast = bus.subscribe();
    let mut fast_seen = Vec::new();
    for n in 0..10 {
        bus.publish(Event::Fill(fill(n)));
        if let Some(Received::Event(env)) = fast.try_recv() {
            fast_seen.push(env.event.as_fill().unwrap().exec_id.clone());
        }
    }
    assert_eq!(
        fast_seen.len(),
        10,
        "a subscriber that keeps up loses nothing"
    );
    assert_eq!(slow.recv().await, Received::Lagged { missed: 6 });
    let mut rest = Vec::new();
    while let Some(Received::Event(env)) = slow.try_recv() {
        rest.push(env.seq);
    }
    assert_eq!(rest, vec![7, 8, 9, 10]);
}

#[tokio::test]
async fn publishing_without_subscribers_neither_blocks_nor_fails() {
    let bus = EventBus::new(1);
    assert_eq!(bus.subscriber_count(), 0);
    for n in 0..100 {
        bus.publish(Event::Fill(fill(n)));
    }
    let mut late = bus.subscribe();
    assert!(
        late.try_recv().is_none(),
        "a late subscriber sees only what comes next"
    );
    assert_eq!(bus.publish(Event::Fill(fill(0))), 101);
}

#[test]
fn events_serialize_with_the_execution_error_name() {
    let event = Event::ExecutionError(exec_events::ExecutionError {
        kind: exec_events::ErrorKind::Auth,
        trade_tag: None,
        leg: None,
        order_link_id: None,
        ret_code: Some(10004),
        message: "signature refused".into(),
        time_ms: 5,
    });
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["type"], "execution.error");
    assert_eq!(json["data"]["kind"], "auth");
}
