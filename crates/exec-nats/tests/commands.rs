//! Commands in: de-duplicated by message id, handled one at a time, answered on the reply
//! subject, acknowledged only once answered, delivered again to the next reader when a
//! reader died mid-command.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::Subscriber;
use bytes::Bytes;
use exec_nats::commands::{
    publish_command, publish_raw, Answer, Command, CommandConsumer, CommandHandler, ConsumerConfig,
    Operation,
};
use exec_nats::{Account, Bus, BusConfig};
use futures_util::StreamExt;
use serde_json::{json, Value};
use testkit::nats::NatsServer;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

const WITHIN: Duration = Duration::from_secs(30);
const REPLY: &str = "test.replies";

/// Records what it handled and answers 200; with a gate, waits for a permit first.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Command>>,
    started: Notify,
    gate: Option<Semaphore>,
}

impl Recorder {
    fn gated() -> Recorder {
        Recorder {
            gate: Some(Semaphore::new(0)),
            ..Recorder::default()
        }
    }

    fn seen(&self) -> Vec<Command> {
        self.seen.lock().expect("the record").clone()
    }
}

#[async_trait::async_trait]
impl CommandHandler for Recorder {
    async fn handle(&self, command: Command) -> Answer {
        self.seen.lock().expect("the record").push(command.clone());
        self.started.notify_one();
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate").forget();
        }
        Answer {
            status: 200,
            body: json!({"done": command.op, "delivered": command.delivered}),
        }
    }
}

async fn connect(server: &NatsServer, account: &str) -> Bus {
    Bus::connect(BusConfig::new(
        server.url(),
        Account::new(account).expect("an account name"),
    ))
    .await
    .expect("connect")
}

async fn replies(bus: &Bus) -> Subscriber {
    let subscriber = bus.client().subscribe(REPLY).await.expect("subscribe");
    bus.client().flush().await.expect("flush");
    subscriber
}

async fn next_answer(replies: &mut Subscriber) -> Value {
    let message = tokio::time::timeout(WITHIN, replies.next())
        .await
        .unwrap_or_else(|_| panic!("no answer within {WITHIN:?}"))
        .expect("the subscription ended");
    serde_json::from_slice(&message.payload).expect("an answer is JSON")
}

fn quick(ack_wait: Duration) -> ConsumerConfig {
    ConsumerConfig {
        ack_wait,
        fetch_wait: Duration::from_millis(500),
        retry_after: Duration::from_millis(100),
    }
}

/// A consumer on `bus` with `handler`, acknowledging within `ack_wait`, until dropped or shut
/// down.
async fn consume(
    bus: &Bus,
    handler: Arc<dyn CommandHandler>,
    ack_wait: Duration,
) -> CommandConsumer {
    CommandConsumer::spawn(bus, handler, quick(ack_wait), CancellationToken::new())
        .await
        .expect("consumer")
}

/// The command consumer's acknowledged floor: the last stream sequence done with.
async fn acked_through(bus: &Bus) -> u64 {
    let stream = bus
        .jetstream()
        .get_stream(bus.names().command_stream())
        .await
        .expect("stream");
    let info = stream
        .consumer_info(bus.names().command_consumer())
        .await
        .expect("consumer info");
    info.ack_floor.stream_sequence
}

async fn wait_acked_through(bus: &Bus, sequence: u64) {
    tokio::time::timeout(WITHIN, async {
        while acked_through(bus).await < sequence {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("sequence {sequence} not acknowledged within {WITHIN:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_published_twice_is_handled_once_and_answered() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, "acct-cmd").await;
    let mut answers = replies(&bus).await;
    let handler = Arc::new(Recorder::default());
    let cancel = CancellationToken::new();
    let consumer = CommandConsumer::spawn(
        &bus,
        handler.clone(),
        quick(Duration::from_secs(30)),
        cancel,
    )
    .await
    .expect("consumer");

    let (first, duplicate) = publish_command(&bus, "T1", Operation::SetupTps, None, Some(REPLY))
        .await
        .expect("publish");
    assert!(!duplicate);
    let (again, duplicate) = publish_command(&bus, "T1", Operation::SetupTps, None, Some(REPLY))
        .await
        .expect("publish again");
    assert_eq!(
        (again, duplicate),
        (first, true),
        "the stream keeps one of the two"
    );

    let answer = next_answer(&mut answers).await;
    assert_eq!(
        answer,
        json!({
            "op": "setup_tps",
            "tag": "T1",
            "msgId": "T1:setup_tps",
            "sequence": first,
            "status": 200,
            "body": {"done": "setup_tps", "delivered": 1},
        })
    );
    // A later command runs after it: had the duplicate been stored, it would come first.
    let (next, _) = publish_command(&bus, "T1", Operation::CloseAll, None, Some(REPLY))
        .await
        .expect("publish");
    let answer = next_answer(&mut answers).await;
    assert_eq!(answer["op"], "close_all");
    assert_eq!(answer["sequence"], next);
    wait_acked_through(&bus, next).await;
    let ops: Vec<(Operation, Option<String>)> =
        handler.seen().into_iter().map(|c| (c.op, c.tag)).collect();
    assert_eq!(
        ops,
        [
            (Operation::SetupTps, Some("T1".to_owned())),
            (Operation::CloseAll, Some("T1".to_owned()))
        ]
    );
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_passes_its_plan_through_untouched() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, "acct-entry").await;
    let mut answers = replies(&bus).await;
    let handler = Arc::new(Recorder::default());
    let consumer = consume(&bus, handler.clone(), Duration::from_secs(30)).await;
    let plan = json!({"symbol": "BTCUSDT", "side": "Buy", "margin_usdt": "100",
        "leverage": "10", "tp_levels": [{"price": "51000", "share": "1"}], "client_tag": "E1"});
    let (sequence, _) = publish_command(
        &bus,
        "E1",
        Operation::ExecuteEntry,
        Some(plan.clone()),
        Some(REPLY),
    )
    .await
    .expect("publish");
    let answer = next_answer(&mut answers).await;
    assert_eq!(answer["msgId"], "E1:execute_entry");
    assert_eq!(answer["tag"], "E1");
    assert_eq!(answer["status"], 200);
    let seen = handler.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].op, Operation::ExecuteEntry);
    assert_eq!(seen[0].body, plan);
    assert_eq!(seen[0].tag.as_deref(), Some("E1"));
    assert_eq!(seen[0].stream_sequence, sequence);
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_body_is_answered_400_and_the_next_command_still_runs() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, "acct-bad").await;
    let mut answers = replies(&bus).await;
    let handler = Arc::new(Recorder::default());
    let consumer = consume(&bus, handler.clone(), Duration::from_secs(30)).await;
    let bad: [(&str, &str, &str); 5] = [
        ("b:1", "{not json", "is not"),
        ("b:2", r#"{"op":"launch_rocket","tag":"T"}"#, "unknown op"),
        ("b:3", r#"{"op":"setup_tps"}"#, "needs a non-empty tag"),
        ("b:4", r#"{"op":"execute_entry"}"#, "needs a plan"),
        (
            "b:5",
            r#"{"op":"close_all","tag":"T","force":true}"#,
            "unknown field",
        ),
    ];
    for (id, body, _) in bad {
        publish_raw(&bus, id, Bytes::from(body), Some(REPLY))
            .await
            .expect("publish");
    }
    let (good, _) = publish_command(&bus, "G1", Operation::MoveToBreakeven, None, Some(REPLY))
        .await
        .expect("publish");
    for (id, _, why) in bad {
        let answer = next_answer(&mut answers).await;
        assert_eq!(answer["msgId"], id);
        assert_eq!(answer["status"], 400, "{answer}");
        let error = answer["body"]["error"].as_str().expect("an error");
        assert!(error.contains(why), "{id}: {error:?} should say {why:?}");
    }
    let answer = next_answer(&mut answers).await;
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["sequence"], good);
    wait_acked_through(&bus, good).await;
    assert_eq!(
        handler.seen().len(),
        1,
        "only the good command reached the handler"
    );
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_unfinished_when_its_reader_dies_is_delivered_to_the_next() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, "acct-redeliver").await;
    let mut answers = replies(&bus).await;
    let ack_wait = Duration::from_secs(1);
    let stuck = Arc::new(Recorder::gated());
    let first = consume(&bus, stuck.clone(), ack_wait).await;
    let (sequence, _) = publish_command(&bus, "D1", Operation::SetupDcas, None, Some(REPLY))
        .await
        .expect("publish");
    tokio::time::timeout(WITHIN, stuck.started.notified())
        .await
        .expect("the first reader took the command");
    // The reader dies mid-command (its process is gone): no answer, no acknowledgement.
    drop(first);
    assert_eq!(acked_through(&bus).await, 0);
    // A command published meanwhile waits for the unfinished one: order is kept.
    let (later, _) = publish_command(&bus, "D2", Operation::SetupDcas, None, Some(REPLY))
        .await
        .expect("publish");

    // The next lease holder reads the same durable consumer.
    let next = Arc::new(Recorder::default());
    let second = consume(&bus, next.clone(), ack_wait).await;
    let answer = next_answer(&mut answers).await;
    assert_eq!(answer["sequence"], sequence);
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["body"]["delivered"], 2, "{answer}");
    let answer = next_answer(&mut answers).await;
    assert_eq!(answer["sequence"], later);
    assert_eq!(answer["body"]["delivered"], 1, "{answer}");
    wait_acked_through(&bus, later).await;
    let seen: Vec<(Option<String>, u64)> = next
        .seen()
        .into_iter()
        .map(|c| (c.tag, c.delivered))
        .collect();
    assert_eq!(
        seen,
        [(Some("D1".to_owned()), 2), (Some("D2".to_owned()), 1)]
    );
    assert_eq!(stuck.seen().len(), 1);
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_command_being_handled_and_fetches_no_more() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, "acct-stop").await;
    let mut answers = replies(&bus).await;
    let handler = Arc::new(Recorder::gated());
    let consumer = consume(&bus, handler.clone(), Duration::from_secs(30)).await;
    let (first, _) = publish_command(&bus, "S1", Operation::CloseAll, None, Some(REPLY))
        .await
        .expect("publish");
    publish_command(&bus, "S2", Operation::CloseAll, None, Some(REPLY))
        .await
        .expect("publish");
    tokio::time::timeout(WITHIN, handler.started.notified())
        .await
        .expect("the command was taken");
    let mut stopping = tokio::spawn(consumer.shutdown());
    // While the command runs, the shutdown waits for it (a consumer that dropped it here
    // would have returned at once).
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut stopping)
            .await
            .is_err(),
        "the shutdown did not wait for the command being handled"
    );
    handler.gate.as_ref().expect("a gate").add_permits(1);
    tokio::time::timeout(WITHIN, stopping)
        .await
        .expect("shut down in time")
        .expect("joined");
    let answer = next_answer(&mut answers).await;
    assert_eq!(answer["sequence"], first);
    assert_eq!(acked_through(&bus).await, first);
    assert_eq!(
        handler.seen().len(),
        1,
        "nothing fetched after the shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_continues_after_the_server_restarts() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, "acct-restart").await;
    let mut answers = replies(&bus).await;
    let handler = Arc::new(Recorder::default());
    let consumer = consume(&bus, handler.clone(), Duration::from_secs(2)).await;
    let (first, _) = publish_command(&bus, "R1", Operation::SetupTps, None, Some(REPLY))
        .await
        .expect("publish");
    assert_eq!(next_answer(&mut answers).await["sequence"], first);
    wait_acked_through(&bus, first).await;

    server.kill();
    server.start_again();
    // The publisher retries until the server is back (the same id: stored once).
    let published = tokio::time::timeout(WITHIN, async {
        loop {
            match publish_command(&bus, "R1", Operation::CloseAll, None, Some(REPLY)).await {
                Ok(ack) => break ack,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("published after the restart");
    // A server killed right after an acknowledgement may not have written it down (it
    // keeps consumer state lazily): the acknowledged command may come again, marked as
    // delivered before, and only ever before the commands after it.
    loop {
        let answer = next_answer(&mut answers).await;
        if answer["sequence"] == published.0 {
            assert_eq!(answer["op"], "close_all");
            break;
        }
        assert_eq!(answer["sequence"], first, "{answer}");
        assert!(answer["body"]["delivered"].as_u64() >= Some(2), "{answer}");
    }
    let ops: Vec<Operation> = handler.seen().into_iter().map(|c| c.op).collect();
    assert_eq!(ops.last(), Some(&Operation::CloseAll));
    assert!(ops[..ops.len() - 1]
        .iter()
        .all(|op| *op == Operation::SetupTps));
    consumer.shutdown().await;
}

/// `/health`'s command backlog: the commands waiting behind the one being handled, then none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_counts_the_commands_waiting_behind_the_one_handled() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let bus = connect(&server, "acct-backlog").await;
    let handler = Arc::new(Recorder::gated());
    // Published before the consumer starts, so all three are there at its first fetch.
    for tag in ["B1", "B2", "B3"] {
        publish_command(&bus, tag, Operation::CloseAll, None, None)
            .await
            .expect("publish");
    }
    let consumer = consume(&bus, handler.clone(), Duration::from_secs(30)).await;
    let backlog = consumer.backlog();
    tokio::time::timeout(WITHIN, handler.started.notified())
        .await
        .expect("the first command was taken");
    assert_eq!(backlog.get(), 2, "two wait behind the first");
    handler.gate.as_ref().expect("a gate").add_permits(3);
    tokio::time::timeout(WITHIN, async {
        while handler.seen().len() < 3 || backlog.get() != 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("all handled, none waiting");
    consumer.shutdown().await;
}
