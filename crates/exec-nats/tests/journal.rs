//! The replicated journal against a real `nats-server -js`: every record kind replayed into a
//! second journal, the fence after a takeover, the lease's gate, and an outage.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::header::{HeaderMap, NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MESSAGE_ID};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::ErrorCode;
use bytes::Bytes;
use exec_events::{ExecKind, Fill, Side};
use exec_gateway::journal::{Intent, Journal, Outcome, WriteKind, WriteRecord, WriteStage};
use exec_gateway::{DcaLevel, Phase, Symbol, TpLevel, TradePlan};
use exec_journal::SqliteJournal;
use exec_nats::journal::{replay, replay_after, takeover, JournalRecord, ReplicatedJournal};
use exec_nats::{Account, Bus, BusConfig, Holding};
use rust_decimal_macros::dec;
use testkit::nats::NatsServer;
use tokio_util::sync::CancellationToken;

/// A lease the test steers: it refuses sends while `refuse` holds a reason, and remembers
/// every fence it was told of.
#[derive(Debug, Default)]
struct TestHolding {
    epoch: u64,
    refuse: Mutex<Option<String>>,
    fenced: Mutex<Vec<String>>,
}

impl TestHolding {
    fn new(epoch: u64) -> Arc<Self> {
        Arc::new(TestHolding {
            epoch,
            ..Default::default()
        })
    }

    fn fences(&self) -> Vec<String> {
        self.fenced.lock().expect("fences").clone()
    }
}

impl Holding for TestHolding {
    fn may_send(&self) -> Result<(), String> {
        match self.refuse.lock().expect("refusal").clone() {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn fenced(&self, why: &str) {
        self.fenced.lock().expect("fences").push(why.to_owned());
    }
}

async fn connect(server: &NatsServer, request_timeout: Duration) -> Bus {
    let mut config = BusConfig::new(server.url(), Account::new("acct-j").expect("account"));
    config.request_timeout = request_timeout;
    Bus::connect(config).await.expect("connect")
}

fn sqlite(dir: &tempfile::TempDir, name: &str) -> Arc<SqliteJournal> {
    Arc::new(SqliteJournal::open(dir.path().join(name)).expect("open journal"))
}

/// What a test starts from: the bus on a fresh `nats-server -js`, a directory for SQLite files
/// and the token that stops the journals' tasks. `None` (the test skips) where nats-server
/// cannot run outside CI. The server is the last field: it outlives the bus.
struct World {
    bus: Bus,
    dir: tempfile::TempDir,
    cancel: CancellationToken,
    server: NatsServer,
}

impl World {
    async fn start(request_timeout: Duration) -> Option<World> {
        let server = NatsServer::start()?;
        Some(World {
            bus: connect(&server, request_timeout).await,
            dir: tempfile::tempdir().expect("tempdir"),
            cancel: CancellationToken::new(),
            server,
        })
    }

    fn sqlite(&self, name: &str) -> Arc<SqliteJournal> {
        sqlite(&self.dir, name)
    }

    /// A holder that has just taken over as `host` (its takeover record appended), writing
    /// over `local`: what `serve --nats` builds at a takeover.
    async fn holder(
        &self,
        local: Arc<dyn Journal>,
        holding: &Arc<TestHolding>,
        host: &str,
    ) -> ReplicatedJournal {
        let start = takeover(&self.bus, host, holding.epoch, 1_000)
            .await
            .expect("takeover");
        ReplicatedJournal::new(&self.bus, local, holding.clone(), start, &self.cancel)
    }
}

fn plan(tag: &str) -> TradePlan {
    TradePlan {
        symbol: Symbol::new("BTCUSDT").expect("symbol"),
        side: Side::Buy,
        margin_usdt: dec!(100),
        leverage: dec!(10),
        dca_levels: vec![DcaLevel {
            price: dec!(49000),
            margin_usdt: dec!(100),
        }],
        tp_levels: vec![TpLevel {
            price: dec!(51000),
            share: dec!(1),
        }],
        client_tag: tag.to_owned(),
        adopt_position: false,
    }
}

fn intent(tag: &str, leg: &str, at_ms: i64) -> Intent {
    Intent {
        trade_tag: tag.to_owned(),
        leg: leg.to_owned(),
        order_link_id: format!("bx-{tag}-{leg}"),
        symbol: "BTCUSDT".to_owned(),
        side: "Buy".to_owned(),
        qty: dec!(0.02),
        price: Some(dec!(50000.5)),
        trigger_price: None,
        kind: "limit".to_owned(),
        reason: "execute_entry".to_owned(),
        at_ms,
    }
}

fn fill(tag: &str, exec_id: &str, time_ms: i64) -> Fill {
    Fill {
        exec_id: exec_id.to_owned(),
        symbol: "BTCUSDT".to_owned(),
        side: Side::Buy,
        order_id: "oid-1".to_owned(),
        order_link_id: format!("bx-{tag}-ENTRY"),
        price: dec!(50000.5),
        qty: dec!(0.01),
        fee: dec!(0.275),
        pnl: None,
        fee_currency: "USDT".to_owned(),
        is_maker: true,
        exec_kind: ExecKind::Trade,
        time_ms,
        simulated: false,
    }
}

fn write(tag: &str, kind: WriteKind, stage: WriteStage, at_ms: i64) -> WriteRecord {
    WriteRecord {
        trade_tag: tag.to_owned(),
        kind,
        symbol: "BTCUSDT".to_owned(),
        order_link_id: None,
        value: Some(dec!(48500)),
        stage,
        at_ms,
    }
}

/// Waits until the journal has nothing left to replicate.
async fn drained(journal: &ReplicatedJournal, within: Duration) {
    tokio::time::timeout(within, async {
        while journal.pending() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} records still pending after {within:?}",
            journal.pending()
        )
    });
}

async fn stream_last_sequence(bus: &Bus) -> u64 {
    let stream = bus
        .jetstream()
        .get_stream(bus.names().journal_stream().as_str())
        .await
        .expect("journal stream");
    stream.cached_info().state.last_sequence
}

/// The stream's records, oldest first, as `kind` or `kind:detail` (an intent's leg, a fill's
/// execId), read one by one by sequence.
async fn stream_records(bus: &Bus) -> Vec<String> {
    let stream = bus
        .jetstream()
        .get_stream(bus.names().journal_stream().as_str())
        .await
        .expect("journal stream");
    let mut kinds = Vec::new();
    for sequence in 1..=stream.cached_info().state.last_sequence {
        let message = stream.get_raw_message(sequence).await.expect("record");
        let record = JournalRecord::from_json(sequence, &message.payload).expect("readable");
        kinds.push(match record {
            JournalRecord::Takeover { holder, .. } => format!("takeover:{holder}"),
            JournalRecord::Plan { .. } => "plan".to_owned(),
            JournalRecord::Intent { intent } => format!("intent:{}", intent.leg),
            JournalRecord::Fill { fill } => format!("fill:{}", fill.exec_id),
            other => format!("{other:?}"),
        });
    }
    kinds
}

#[test]
fn an_unknown_or_malformed_record_is_a_typed_error() {
    let record = JournalRecord::State {
        trade_tag: "t".into(),
        phase: Phase::InPosition,
        detail: "entry filled".into(),
        at_ms: 7,
    };
    let json = record.to_json().unwrap();
    assert!(
        String::from_utf8_lossy(&json).contains(r#""record":"state""#),
        "{}",
        String::from_utf8_lossy(&json)
    );
    assert_eq!(JournalRecord::from_json(3, &json), Ok(record));
    for bad in [
        &br#"{"record":"teleport","at_ms":1}"#[..],
        br#"{"at_ms":1}"#,
        br#"{"record":"state","trade_tag":"t"}"#,
        b"not json",
        b"",
    ] {
        let err = JournalRecord::from_json(9, bad).expect_err("refused");
        assert_eq!(err.sequence, 9);
    }
}

/// The server's answers the fence and the retry rely on, pinned on the real server.
#[tokio::test]
async fn the_server_refuses_a_stale_expected_sequence_but_answers_a_retry_as_duplicate() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, Duration::from_secs(2)).await;
    let subject = bus.names().journal_subject();
    let publish = |id: &str, expected: u64| {
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, id);
        headers.insert(
            NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            expected.to_string().as_str(),
        );
        let js = bus.jetstream().clone();
        let subject = subject.clone();
        async move {
            js.publish_with_headers(subject, headers, Bytes::from_static(b"{}"))
                .await?
                .await
        }
    };
    // 0 means "the subject holds nothing yet".
    let first = publish("a", 0).await.expect("first append");
    assert_eq!((first.sequence, first.duplicate), (1, false));
    // Someone else's append after sequence 1 is refused with 10071.
    let err = publish("b", 0).await.expect_err("stale expected sequence");
    assert_eq!(err.kind(), PublishErrorKind::WrongLastSequence);
    let code = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
        .map(|e| e.error_code());
    assert_eq!(code, Some(ErrorCode::STREAM_WRONG_LAST_SEQUENCE));
    assert_eq!(ErrorCode::STREAM_WRONG_LAST_SEQUENCE, ErrorCode(10071));
    // A retry of a stored append (same id, now stale expected sequence) is answered as a
    // duplicate with the first copy's sequence: the id is checked first.
    let retry = publish("a", 0).await.expect("retry");
    assert_eq!((retry.sequence, retry.duplicate), (1, true));
    assert_eq!(stream_last_sequence(&bus).await, 1);
}

#[tokio::test]
async fn every_record_kind_is_replayed_into_a_second_journal() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, Duration::from_secs(2)).await;
    let dir = tempfile::tempdir().unwrap();
    let local = sqlite(&dir, "local.sqlite");
    let holding = TestHolding::new(1);
    let start = takeover(&bus, "host-a:1", 1, 1_000)
        .await
        .expect("takeover");
    assert_eq!(start, 1);
    let cancel = CancellationToken::new();
    let journal = ReplicatedJournal::new(&bus, local.clone(), holding.clone(), start, &cancel);

    let (a, b) = ("tag_a", "tag_b");
    journal.record_plan(&plan(a), 1_001).await.unwrap();
    journal.record_plan(&plan(b), 1_002).await.unwrap();
    let entry = intent(a, "ENTRY", 1_003);
    journal.record_intent(&entry).await.unwrap();
    journal
        .record_intent(&intent(a, "TP1", 1_004))
        .await
        .unwrap();
    let link = entry.order_link_id.as_str();
    for (outcome, at) in [
        (
            Outcome::Acked {
                order_id: "oid-1".into(),
            },
            1_005,
        ),
        (Outcome::AmendRequested { qty: dec!(0.03) }, 1_006),
        (Outcome::Amended { qty: dec!(0.03) }, 1_007),
        (
            Outcome::Rerounded {
                qty: dec!(0.03),
                price: Some(dec!(50000)),
                trigger_price: None,
                reason: "110003".into(),
            },
            1_008,
        ),
    ] {
        journal.record_outcome(link, &outcome, at).await.unwrap();
    }
    journal
        .record_write(&write(a, WriteKind::StopLoss, WriteStage::Requested, 1_009))
        .await
        .unwrap();
    journal
        .record_write(&write(a, WriteKind::StopLoss, WriteStage::Done, 1_010))
        .await
        .unwrap();
    journal
        .record_write(&write(
            a,
            WriteKind::Cancel,
            WriteStage::Failed {
                reason: "too late".into(),
            },
            1_011,
        ))
        .await
        .unwrap();
    let f1 = fill(a, "e-1", 1_012);
    assert!(journal.record_fill(&f1).await.unwrap());
    assert!(!journal.record_fill(&f1).await.unwrap(), "seen before");
    journal
        .record_state(a, Phase::Entering, "entry sent", 1_013)
        .await
        .unwrap();
    journal
        .record_state(a, Phase::InPosition, "entry filled", 1_014)
        .await
        .unwrap();
    journal
        .record_state(b, Phase::Closed, "done", 1_015)
        .await
        .unwrap();
    journal
        .save_paper_account(r#"{"usdt":"9990"}"#, &[fill(a, "e-2", 1_016)], 1_016)
        .await
        .unwrap();
    drained(&journal, Duration::from_secs(10)).await;
    // The takeover, then 17 writes (the repeated fill included).
    assert_eq!(journal.last_sequence(), 18);
    assert_eq!(stream_last_sequence(&bus).await, 18);

    let copy = sqlite(&dir, "copy.sqlite");
    let report = replay(&bus, copy.as_ref(), journal.last_sequence())
        .await
        .expect("replay");
    assert_eq!(
        (report.records, report.takeovers, report.last_sequence),
        (17, 1, 18)
    );
    assert_eq!(copy.plans().await.unwrap(), local.plans().await.unwrap());
    assert_eq!(copy.plans().await.unwrap().len(), 2);
    for tag in [a, b] {
        assert_eq!(
            copy.intents(tag).await.unwrap(),
            local.intents(tag).await.unwrap()
        );
        assert_eq!(
            copy.writes(tag).await.unwrap(),
            local.writes(tag).await.unwrap()
        );
        assert_eq!(
            copy.states(tag).await.unwrap(),
            local.states(tag).await.unwrap()
        );
    }
    assert_eq!(copy.intents(a).await.unwrap()[0].outcomes.len(), 4);
    assert_eq!(copy.writes(a).await.unwrap().len(), 3);
    assert_eq!(
        copy.fills("").await.unwrap(),
        local.fills("").await.unwrap()
    );
    assert_eq!(copy.fills("").await.unwrap().len(), 2, "e-1 once, e-2");
    assert_eq!(copy.open_trades().await.unwrap(), vec![a.to_owned()]);
    assert_eq!(
        copy.paper_account().await.unwrap(),
        Some(r#"{"usdt":"9990"}"#.to_owned())
    );

    // A replay that stops early applies only what came before.
    let early = sqlite(&dir, "early.sqlite");
    let report = replay(&bus, early.as_ref(), 3).await.expect("replay to 3");
    assert_eq!((report.records, report.last_sequence), (2, 3));
    assert_eq!(early.plans().await.unwrap().len(), 2);
    assert!(early.intents(a).await.unwrap().is_empty());
    assert!(holding.fences().is_empty());
    cancel.cancel();
}

#[tokio::test]
async fn a_takeover_fences_the_older_holder() {
    let Some(world) = World::start(Duration::from_secs(2)).await else {
        return;
    };
    let World {
        bus, dir, cancel, ..
    } = &world;
    let holding_a = TestHolding::new(1);
    let a = world
        .holder(world.sqlite("a.sqlite"), &holding_a, "host-a:1")
        .await;
    a.record_plan(&plan("t"), 1_001).await.unwrap();
    a.record_intent(&intent("t", "ENTRY", 1_002)).await.unwrap();
    assert_eq!(a.last_sequence(), 3);

    // B takes the lease and writes its takeover after A's records.
    let holding_b = TestHolding::new(2);
    let start_b = takeover(bus, "host-b:1", 2, 2_000).await.unwrap();
    assert_eq!(start_b, 4);
    let rebuilt = sqlite(dir, "b.sqlite");
    let report = replay(bus, rebuilt.as_ref(), start_b).await.unwrap();
    assert_eq!((report.records, report.takeovers), (2, 2));
    let b = ReplicatedJournal::new(bus, rebuilt.clone(), holding_b.clone(), start_b, cancel);

    // A's next write is refused by the stream, and A is told it lost the account.
    let err = a
        .record_intent(&intent("t", "TP1", 2_001))
        .await
        .expect_err("fenced");
    assert!(err.to_string().contains("fenced"), "{err}");
    assert!(a.is_fenced());
    let fences = holding_a.fences();
    assert_eq!(fences.len(), 1, "{fences:?}");
    assert!(fences[0].contains("wrong last sequence"), "{fences:?}");
    // Every later write of A is refused, even one of what already happened.
    assert!(a.record_fill(&fill("t", "e-a", 2_002)).await.is_err());
    assert_eq!(a.pending(), 0);

    // B goes on.
    b.record_intent(&intent("t", "TP1", 2_003)).await.unwrap();
    b.record_fill(&fill("t", "e-b", 2_004)).await.unwrap();
    drained(&b, Duration::from_secs(10)).await;
    assert_eq!(b.last_sequence(), 6);
    assert!(holding_b.fences().is_empty());

    let seen = sqlite(dir, "seen.sqlite");
    let report = replay(bus, seen.as_ref(), b.last_sequence()).await.unwrap();
    assert_eq!((report.records, report.takeovers), (4, 2));
    let legs: Vec<String> = seen
        .intents("t")
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.intent.leg)
        .collect();
    assert_eq!(legs, ["ENTRY", "TP1"]);
    assert_eq!(
        seen.intent("bx-t-TP1").await.unwrap().unwrap().intent.at_ms,
        2_003,
        "B's TP1, not A's"
    );
    let fills: Vec<String> = seen
        .fills("")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.exec_id)
        .collect();
    assert_eq!(fills, ["e-b"]);
    assert_eq!(
        stream_records(bus).await,
        [
            "takeover:host-a:1",
            "plan",
            "intent:ENTRY",
            "takeover:host-b:1",
            "intent:TP1",
            "fill:e-b"
        ]
    );
    cancel.cancel();
}

#[tokio::test]
async fn a_holder_that_may_not_send_writes_nothing_before_a_send() {
    let Some(world) = World::start(Duration::from_secs(2)).await else {
        return;
    };
    let World { bus, cancel, .. } = &world;
    let local = world.sqlite("local.sqlite");
    let holding = TestHolding::new(1);
    let journal = world.holder(local.clone(), &holding, "host-a:1").await;
    *holding.refuse.lock().unwrap() = Some("the lease expires in 100 ms".into());

    let err = journal
        .record_intent(&intent("t", "ENTRY", 1_001))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("the lease expires"), "{err}");
    assert!(journal.record_plan(&plan("t"), 1_002).await.is_err());
    assert!(journal
        .record_write(&write(
            "t",
            WriteKind::Leverage,
            WriteStage::Requested,
            1_003
        ))
        .await
        .is_err());
    assert!(local.intents("t").await.unwrap().is_empty());
    assert!(local.plans().await.unwrap().is_empty());
    assert!(local.writes("t").await.unwrap().is_empty());
    assert_eq!(journal.pending(), 0);
    // Nothing after the takeover record: the stream's last is still where the holder began.
    let start = journal.last_sequence();
    assert_eq!(start, 1, "only the takeover record");
    assert_eq!(stream_last_sequence(bus).await, start);
    cancel.cancel();
}

#[tokio::test]
async fn while_nats_is_away_sends_are_refused_and_what_happened_waits_in_order() {
    let timeout = Duration::from_secs(1);
    let Some(mut world) = World::start(timeout).await else {
        return;
    };
    let local = world.sqlite("local.sqlite");
    let holding = TestHolding::new(1);
    let journal = world.holder(local.clone(), &holding, "host-a:1").await;
    let World {
        bus,
        dir,
        cancel,
        server,
    } = &mut world;
    journal.record_plan(&plan("t"), 1_001).await.unwrap();

    server.kill();
    let began = std::time::Instant::now();
    let err = journal
        .record_intent(&intent("t", "ENTRY", 1_002))
        .await
        .expect_err("not replicated");
    assert!(began.elapsed() < timeout * 3, "{:?}", began.elapsed());
    assert!(err.to_string().contains("could not be replicated"), "{err}");
    // The intent is in the local journal (written first) and stays queued for the stream,
    // so both journals end alike.
    assert_eq!(journal.pending(), 1);

    let f = fill("t", "e-1", 1_003);
    assert!(journal.record_fill(&f).await.expect("a fill is kept"));
    assert_eq!(journal.pending(), 2);
    assert_eq!(local.fills("").await.unwrap(), vec![f.clone()]);

    server.start_again();
    drained(&journal, Duration::from_secs(30)).await;
    assert!(holding.fences().is_empty(), "{:?}", holding.fences());
    assert_eq!(journal.last_sequence(), 4);
    // After the outage, writes before a send go through again.
    journal
        .record_intent(&intent("t", "TP1", 1_004))
        .await
        .expect("replicated again");

    let copy = sqlite(dir, "copy.sqlite");
    let report = replay(bus, copy.as_ref(), journal.last_sequence())
        .await
        .unwrap();
    assert_eq!(
        (report.records, report.takeovers, report.last_sequence),
        (4, 1, 5)
    );
    assert_eq!(copy.fills("").await.unwrap(), vec![f]);
    assert_eq!(
        stream_records(bus).await,
        [
            "takeover:host-a:1",
            "plan",
            "intent:ENTRY",
            "fill:e-1",
            "intent:TP1"
        ]
    );
    let legs: Vec<String> = copy
        .intents("t")
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.intent.leg)
        .collect();
    assert_eq!(legs, ["ENTRY", "TP1"]);
    cancel.cancel();
}

#[tokio::test]
async fn a_record_of_what_happened_finds_the_fence_in_the_background() {
    let Some(world) = World::start(Duration::from_secs(2)).await else {
        return;
    };
    let World { bus, cancel, .. } = &world;
    let holding_a = TestHolding::new(1);
    let a = world
        .holder(world.sqlite("a.sqlite"), &holding_a, "host-a:1")
        .await;
    takeover(bus, "host-b:1", 2, 2_000).await.unwrap();

    // The fill is in A's local journal, so the write succeeds; its append is refused later.
    a.record_fill(&fill("t", "e-late", 2_001))
        .await
        .expect("local");
    tokio::time::timeout(Duration::from_secs(10), async {
        while !a.is_fenced() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("fenced by the background append");
    assert_eq!(holding_a.fences().len(), 1);
    assert_eq!(a.pending(), 0, "the queue is dropped");
    assert!(a
        .record_state("t", Phase::Closed, "x", 2_002)
        .await
        .is_err());
    assert_eq!(
        stream_records(bus).await,
        ["takeover:host-a:1", "takeover:host-b:1"]
    );
    cancel.cancel();
}

#[tokio::test]
async fn a_malformed_record_in_the_stream_stops_the_replay_with_an_error() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, Duration::from_secs(2)).await;
    let start = takeover(&bus, "host-a:1", 1, 1_000).await.unwrap();
    bus.jetstream()
        .publish(
            bus.names().journal_subject(),
            Bytes::from_static(br#"{"record":"teleport"}"#),
        )
        .await
        .expect("publish")
        .await
        .expect("stored");
    let dir = tempfile::tempdir().unwrap();
    let into = sqlite(&dir, "copy.sqlite");
    let err = replay(&bus, into.as_ref(), start + 1)
        .await
        .expect_err("unreadable record");
    assert!(err.to_string().contains("sequence 2"), "{err}");
    // Up to the takeover alone it is fine.
    let report = replay(&bus, into.as_ref(), start).await.expect("replay");
    assert_eq!((report.records, report.takeovers), (0, 1));
}

/// A hot standby follows the stream in steps and ends with the journal a full replay gives.
#[tokio::test]
async fn a_standby_following_the_stream_in_steps_ends_with_the_whole_journal() {
    let Some(world) = World::start(Duration::from_secs(2)).await else {
        return;
    };
    let World {
        bus, dir, cancel, ..
    } = &world;
    let holding = TestHolding::new(1);
    let journal = world
        .holder(world.sqlite("a.sqlite"), &holding, "host-a:1")
        .await;
    journal.record_plan(&plan("t"), 1_001).await.unwrap();
    journal
        .record_intent(&intent("t", "ENTRY", 1_002))
        .await
        .unwrap();

    let follower = sqlite(dir, "standby.sqlite");
    let first = replay_after(bus, follower.as_ref(), 0, u64::MAX)
        .await
        .unwrap();
    assert_eq!((first.records, first.takeovers), (2, 1));
    let idle = replay_after(bus, follower.as_ref(), first.last_sequence, u64::MAX)
        .await
        .unwrap();
    assert_eq!(idle.records, 0, "nothing new, nothing applied twice");
    assert_eq!(idle.last_sequence, first.last_sequence);

    journal.record_fill(&fill("t", "e-1", 1_003)).await.unwrap();
    drained(&journal, Duration::from_secs(10)).await;
    let next = replay_after(bus, follower.as_ref(), first.last_sequence, u64::MAX)
        .await
        .unwrap();
    assert_eq!(next.records, 1, "only the new record");

    let whole = sqlite(dir, "whole.sqlite");
    replay(bus, whole.as_ref(), u64::MAX).await.unwrap();
    assert_eq!(
        follower.plans().await.unwrap(),
        whole.plans().await.unwrap()
    );
    assert_eq!(
        follower.intents("t").await.unwrap(),
        whole.intents("t").await.unwrap()
    );
    assert_eq!(
        follower.fills("").await.unwrap(),
        whole.fills("").await.unwrap()
    );
    assert_eq!(follower.fills("").await.unwrap().len(), 1);
    cancel.cancel();
}
