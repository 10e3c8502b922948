//! Events out: the bus's events in the event stream, on their trades' subjects, each fill
//! once, read again from a sequence, and published after an outage in order.

use std::collections::HashSet;
use std::time::Duration;

use exec_events::{
    Event, EventBus, ExecKind, Fill, OrderEvent, OrderEventKind, Side, WalletUpdate,
};
use exec_nats::events::{EventPublisher, EventReader, PublisherConfig, StoredEvent};
use exec_nats::{Account, Bus, BusConfig};
use rust_decimal_macros::dec;
use testkit::nats::NatsServer;
use tokio_util::sync::CancellationToken;

const WITHIN: Duration = Duration::from_secs(30);

fn fill(exec_id: &str, link: &str) -> Event {
    Event::Fill(Fill {
        exec_id: exec_id.to_owned(),
        symbol: "BTCUSDT".to_owned(),
        side: Side::Buy,
        order_id: format!("o-{link}"),
        order_link_id: link.to_owned(),
        price: dec!(50000),
        qty: dec!(0.001),
        fee: dec!(0.03),
        pnl: None,
        fee_currency: "USDT".to_owned(),
        is_maker: false,
        exec_kind: ExecKind::Trade,
        time_ms: 1_700_000_000_000,
        simulated: false,
    })
}

fn order(link: &str, kind: OrderEventKind) -> Event {
    Event::Order(OrderEvent {
        kind,
        symbol: "BTCUSDT".to_owned(),
        side: Side::Sell,
        order_id: format!("o-{link}"),
        order_link_id: link.to_owned(),
        qty: dec!(0.001),
        price: Some(dec!(51000)),
        trigger_price: None,
        filled_qty: dec!(0),
        avg_price: None,
        reduce_only: true,
        reason: None,
        simulated: false,
    })
}

fn wallet() -> Event {
    Event::Wallet(WalletUpdate {
        coin: "USDT".to_owned(),
        wallet_balance: dec!(1000),
        available: dec!(900),
    })
}

async fn connect(server: &NatsServer, account: &str) -> Bus {
    Bus::connect(BusConfig::new(
        server.url(),
        Account::new(account).expect("an account name"),
    ))
    .await
    .expect("connect")
}

/// Waits until `done` holds, or fails saying `what`.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(WITHIN, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not within {WITHIN:?}: {what}"));
}

async fn read(reader: &mut EventReader, count: usize) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    while out.len() < count {
        let next = tokio::time::timeout(WITHIN, reader.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} events within {WITHIN:?}", out.len()))
            .expect("the reader ended");
        out.push(next.expect("an event"));
    }
    out
}

async fn stored(bus: &Bus) -> u64 {
    let stream = bus
        .jetstream()
        .get_stream(bus.names().event_stream())
        .await
        .expect("the event stream");
    stream.get_info().await.expect("its info").state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_go_to_their_trades_subjects_and_each_fill_once() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, "acct-evt").await;
    let events = EventBus::default();
    let cancel = CancellationToken::new();
    let publisher =
        EventPublisher::spawn(&bus, &events, PublisherConfig::default(), cancel.clone())
            .expect("spawn");

    events.publish(order("andre_ENTRY_A1", OrderEventKind::Accepted));
    events.publish(fill("x-1", "andre_ENTRY_A1"));
    events.publish(wallet());
    // The same execution again (the REST poll and the socket both saw it).
    events.publish(fill("x-1", "andre_ENTRY_A1"));
    events.publish(fill("x-2", "andre_TP1_B2"));
    events.publish(order("manual-order", OrderEventKind::Cancelled));
    wait_until("six events acknowledged", || publisher.published() == 6).await;
    assert_eq!(publisher.pending(), 0);
    assert_eq!(publisher.dropped(), 0);

    let mut reader = EventReader::open(&bus, 0).await.expect("reader");
    let got = read(&mut reader, 5).await;
    assert_eq!(stored(&bus).await, 5, "the repeated fill is stored once");
    let subjects: Vec<(&str, &str)> = got
        .iter()
        .map(|stored| {
            let kind = match &stored.event {
                Event::Fill(f) => f.exec_id.as_str(),
                Event::Order(o) => o.order_link_id.as_str(),
                Event::Wallet(_) => "wallet",
                other => panic!("unexpected {other:?}"),
            };
            (kind, stored.subject.as_str())
        })
        .collect();
    assert_eq!(
        subjects,
        [
            ("andre_ENTRY_A1", "bybit.exec.acct-evt.evt.A1"),
            ("x-1", "bybit.exec.acct-evt.evt.A1"),
            ("wallet", "bybit.exec.acct-evt.evt._account"),
            ("x-2", "bybit.exec.acct-evt.evt.B2"),
            ("manual-order", "bybit.exec.acct-evt.evt._account"),
        ]
    );
    let sequences: Vec<u64> = got.iter().map(|s| s.sequence).collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5]);

    // One trade's subject alone.
    let mut trade = EventReader::open_trade(&bus, Some("B2"), 0)
        .await
        .expect("reader");
    let only = read(&mut trade, 1).await;
    assert_eq!(only[0].event, fill("x-2", "andre_TP1_B2"));

    // A type header lets a consumer filter without parsing.
    let raw = bus
        .jetstream()
        .get_stream(bus.names().event_stream())
        .await
        .expect("the event stream")
        .get_raw_message(2)
        .await
        .expect("message 2");
    assert_eq!(
        raw.headers
            .get(exec_nats::events::EVENT_TYPE_HEADER)
            .map(|v| v.as_str()),
        Some("fill")
    );
    cancel.cancel();
    publisher.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_resumes_from_its_last_sequence_sees_every_fill_once() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, "acct-resume").await;
    let events = EventBus::default();
    let cancel = CancellationToken::new();
    let publisher =
        EventPublisher::spawn(&bus, &events, PublisherConfig::default(), cancel.clone())
            .expect("spawn");
    let ids: Vec<String> = (1..=10).map(|i| format!("exec-{i}")).collect();
    for id in &ids {
        events.publish(fill(id, "andre_ENTRY_R1"));
    }
    wait_until("ten fills acknowledged", || publisher.published() == 10).await;

    let mut first = EventReader::open(&bus, 0).await.expect("reader");
    let before = read(&mut first, 4).await;
    let last = before.last().unwrap().sequence;
    drop(first);
    // More fills while the reader is away.
    for i in 11..=13 {
        events.publish(fill(&format!("exec-{i}"), "andre_ENTRY_R1"));
    }
    wait_until("thirteen fills acknowledged", || {
        publisher.published() == 13
    })
    .await;
    let mut again = EventReader::open(&bus, last + 1).await.expect("reader");
    let after = read(&mut again, 9).await;
    assert_eq!(after[0].sequence, last + 1);
    assert_eq!(stored(&bus).await, 13);

    let seen: Vec<String> = before
        .iter()
        .chain(&after)
        .map(|s| s.event.as_fill().expect("a fill").exec_id.clone())
        .collect();
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "a fill seen twice: {seen:?}");
    let expected: Vec<String> = (1..=13).map(|i| format!("exec-{i}")).collect();
    assert_eq!(seen, expected);
    cancel.cancel();
    publisher.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_during_an_outage_arrive_after_it_in_order_once() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, "acct-outage").await;
    let events = EventBus::default();
    let cancel = CancellationToken::new();
    let publisher =
        EventPublisher::spawn(&bus, &events, PublisherConfig::default(), cancel.clone())
            .expect("spawn");
    let mut sent = Vec::new();
    for i in 1..=3 {
        let event = fill(&format!("before-{i}"), "andre_ENTRY_O1");
        events.publish(event.clone());
        sent.push(event);
    }
    wait_until("three events acknowledged", || publisher.published() == 3).await;

    server.kill();
    for i in 1..=20 {
        let event = if i % 2 == 0 {
            fill(&format!("during-{i}"), "andre_ENTRY_O1")
        } else {
            order("andre_ENTRY_O1", OrderEventKind::PartiallyFilled)
        };
        events.publish(event.clone());
        sent.push(event);
    }
    wait_until("a publish failed while the server is away", || {
        publisher.failures() > 0
    })
    .await;
    assert_eq!(
        publisher.published(),
        3,
        "nothing is stored while it is away"
    );
    assert_eq!(
        publisher.pending(),
        20,
        "the outage's events wait in the queue"
    );

    server.start_again();
    wait_until("the outage's events acknowledged", || {
        publisher.published() == 23
    })
    .await;
    assert_eq!(publisher.pending(), 0);
    assert_eq!(publisher.dropped(), 0);

    let mut reader = EventReader::open(&bus, 0).await.expect("reader");
    let got: Vec<Event> = read(&mut reader, 23)
        .await
        .into_iter()
        .map(|s| s.event)
        .collect();
    assert_eq!(got, sent, "every event, in the order it happened");
    assert_eq!(stored(&bus).await, 23, "none stored twice");
    cancel.cancel();
    publisher.join().await;
}
