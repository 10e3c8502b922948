//! Commands in: the SPEC operations, published by a state machine anywhere, executed by the
//! gateway that holds the account's lease, one at a time and in order.
//!
//! # Wire format
//!
//! A command is a JetStream publish to `bybit.exec.<account>.cmd` (stream
//! `BYBIT_EXEC_<ACCOUNT>_CMD`) with:
//!
//! - the header `Nats-Msg-Id: <tag>:<op>`, e.g. `RAD_20251122_1306:setup_tps`. The stream
//!   stores a second publish with the same id within its duplicate window (two minutes by
//!   default) once: its acknowledgement says `duplicate`, and the gateway never sees it;
//! - optionally the header `Bybit-Exec-Reply: <subject>`: where the answer goes;
//! - a JSON body, one of
//!   - `{"op": "execute_entry", "plan": {...}}`: `plan` is the control API's plan
//!     (`POST /api/trades`), passed through untouched (the handler validates it); a `tag`
//!     beside it, if any, must be the plan's `client_tag`;
//!   - `{"op": "setup_tps" | "setup_dcas" | "move_to_breakeven" | "close_all", "tag": "..."}`.
//!
//!   Any other field, a missing or empty tag, or an unknown op is refused with status 400.
//!
//! The answer, published (core NATS, not stored) to the reply subject, is
//! `{"op", "tag", "msgId", "sequence", "status", "body"}`: the operation and tag as read
//! (`null` when unreadable), the message id, the command's stream sequence, an HTTP status
//! and the handler's JSON body (`{"error": "..."}` for a refusal).
//!
//! # The acknowledgement rule
//!
//! The gateway reads the stream with the durable pull consumer `gateway` (explicit acks, at
//! most one unacknowledged command), fetches one command, hands it to the
//! [`CommandHandler`], publishes the answer, flushes it, and only then acknowledges the
//! command, waiting for the server to confirm the acknowledgement. So a command is
//! acknowledged only once it was executed and answered; a gateway that dies before leaves it
//! unacknowledged, and whoever reads the consumer next (the new lease holder) receives it
//! again once the consumer's `ack_wait` has passed, with `delivered` above 1. Executing it
//! again is safe because the same plan gives the same orderLinkIds (no second order), and
//! the handler answers from the trade's state. A body that cannot be read is answered 400
//! and acknowledged: a poison message never blocks the queue.
//!
//! # After an outage
//!
//! While the server is away nothing is fetched and a publisher's command waits in its own
//! client (or fails, and the publisher retries with the same id). When the server is back the
//! consumer continues from the first unacknowledged command, in order. A command whose answer
//! or acknowledgement was lost is delivered again after `ack_wait` and answered again. So is
//! one whose acknowledgement the server confirmed just before it was killed: `nats-server`
//! writes a consumer's state lazily, so after a crash it may hold the command as delivered and
//! unacknowledged, and deliver it again (with `delivered` above 1) once `ack_wait` has
//! passed, before any later command. Handlers must therefore be idempotent, as the gateway's
//! operations are.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::message::PublishMessage;
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Bus, BusError};

/// The header a publisher names its reply subject in.
pub const REPLY_HEADER: &str = "Bybit-Exec-Reply";

/// The default time a command may stay unacknowledged before it is delivered again.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// Counter: commands answered, by operation (`invalid` for a body that was refused unread)
/// and status class (`2xx`, `4xx`, `5xx`).
pub const COMMANDS_TOTAL: &str = "bybit_exec_bus_commands_total";
/// Counter: commands delivered more than once (a previous reader died or lost its ack).
pub const COMMANDS_REDELIVERED_TOTAL: &str = "bybit_exec_bus_commands_redelivered_total";

/// The SPEC operations a command can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Place a trade's entry from its plan (`POST /api/trades`).
    ExecuteEntry,
    /// Place the take-profits (`POST /api/trades/{tag}/tps`).
    SetupTps,
    /// Place the DCAs (`POST /api/trades/{tag}/dcas`).
    SetupDcas,
    /// Move the stop to breakeven (`POST /api/trades/{tag}/breakeven`).
    MoveToBreakeven,
    /// Close the trade (`POST /api/trades/{tag}/close`).
    CloseAll,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 5] = [
        Operation::ExecuteEntry,
        Operation::SetupTps,
        Operation::SetupDcas,
        Operation::MoveToBreakeven,
        Operation::CloseAll,
    ];

    /// Its name on the wire, e.g. `setup_tps`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ExecuteEntry => "execute_entry",
            Operation::SetupTps => "setup_tps",
            Operation::SetupDcas => "setup_dcas",
            Operation::MoveToBreakeven => "move_to_breakeven",
            Operation::CloseAll => "close_all",
        }
    }

    /// The operation named `name`.
    pub fn parse(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command read from the stream, for the handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// What to do.
    pub op: Operation,
    /// The trade: the plan's `client_tag` for an entry (`None` if the plan has none; the
    /// handler refuses it), the message's `tag` otherwise.
    pub tag: Option<String>,
    /// The request body: the plan for an entry, `{}` for the others.
    pub body: Value,
    /// Its `Nats-Msg-Id`.
    pub msg_id: Option<String>,
    /// Its sequence in the command stream.
    pub stream_sequence: u64,
    /// How many times it was delivered (above 1: a reader before this one did not
    /// acknowledge it, and may have executed it).
    pub delivered: u64,
}

/// What the handler answers: an HTTP status and a JSON body, as the control API would.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// `200`, `400`, `404`, `409`, …
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Answer {
    /// A refusal with `status` and `{"error": why}`.
    pub fn refused(status: u16, why: impl Into<String>) -> Answer {
        Answer {
            status,
            body: json!({"error": why.into()}),
        }
    }
}

/// Executes commands: implemented by the process that trades (the control API in-process).
#[async_trait::async_trait]
pub trait CommandHandler: Send + Sync {
    /// Executes `command` and answers. Called for one command at a time, in stream order.
    async fn handle(&self, command: Command) -> Answer;
}

/// How the consumer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// How long a delivered command may stay unacknowledged before the server delivers it
    /// again (to whichever reader asks): longer than the slowest command.
    pub ack_wait: Duration,
    /// How long one fetch waits for a command before asking again.
    pub fetch_wait: Duration,
    /// The wait after a failed fetch before the next.
    pub retry_after: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            ack_wait: DEFAULT_ACK_WAIT,
            fetch_wait: Duration::from_secs(5),
            retry_after: Duration::from_millis(500),
        }
    }
}

/// How many commands wait to be handled: the server's count of the consumer's pending
/// messages, read from each command delivered (0 once a fetch finds none). For `/health`.
#[derive(Debug, Clone, Default)]
pub struct Backlog(Arc<std::sync::atomic::AtomicU64>);

impl Backlog {
    /// The count now.
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set(&self, n: u64) {
        self.0.store(n, std::sync::atomic::Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss, reason = "a count of commands")]
        metrics::gauge!(COMMANDS_BACKLOG).set(n as f64);
    }
}

/// Gauge: commands waiting behind the one being handled.
pub const COMMANDS_BACKLOG: &str = "bybit_exec_bus_commands_backlog";

/// The task that executes the account's commands. Dropping it stops the task at once (a
/// command being handled is abandoned unacknowledged); [`CommandConsumer::shutdown`] lets it
/// finish.
#[derive(Debug)]
pub struct CommandConsumer {
    backlog: Backlog,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl CommandConsumer {
    /// Creates (or updates) the durable consumer and spawns the task that fetches, handles,
    /// answers and acknowledges commands until `cancel`.
    pub async fn spawn(
        bus: &Bus,
        handler: Arc<dyn CommandHandler>,
        config: ConsumerConfig,
        cancel: CancellationToken,
    ) -> Result<CommandConsumer, BusError> {
        let consumer = durable(bus, &config).await?;
        let backlog = Backlog::default();
        let run = Run {
            bus: bus.clone(),
            handler,
            config,
            backlog: backlog.clone(),
        };
        let task = tokio::spawn(run.run(consumer, cancel.clone()));
        Ok(CommandConsumer {
            backlog,
            cancel,
            task: Some(task),
        })
    }

    /// The commands waiting behind the one being handled, as the server last said.
    pub fn backlog(&self) -> Backlog {
        self.backlog.clone()
    }

    /// Stops fetching and waits for the command being handled, if any, to be answered and
    /// acknowledged (bound it with a timeout: a dropped future abandons the command, which
    /// is delivered again after `ack_wait`).
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "the command consumer's task failed");
            }
        }
    }
}

impl Drop for CommandConsumer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn durable(bus: &Bus, config: &ConsumerConfig) -> Result<PullConsumer, BusError> {
    let names = bus.names();
    let stream_name = names.command_stream();
    let stream = bus
        .jetstream()
        .get_stream(&stream_name)
        .await
        .map_err(|e| BusError::jetstream(format!("opening stream {stream_name}"), e))?;
    let name = names.command_consumer();
    stream
        .create_consumer(pull::Config {
            durable_name: Some(name.to_owned()),
            description: Some(format!("the gateway of account {}", names.account())),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait: config.ack_wait,
            // One unacknowledged command at most: the next is not delivered until this one
            // was answered, so commands run in stream order even across a change of reader.
            max_ack_pending: 1,
            ..Default::default()
        })
        .await
        .map_err(|e| BusError::jetstream(format!("creating consumer {name} on {stream_name}"), e))
}

struct Run {
    bus: Bus,
    handler: Arc<dyn CommandHandler>,
    config: ConsumerConfig,
    backlog: Backlog,
}

impl Run {
    async fn run(self, consumer: PullConsumer, cancel: CancellationToken) {
        let mut failing = false;
        while !cancel.is_cancelled() {
            let fetched = tokio::select! {
                () = cancel.cancelled() => break,
                fetched = self.fetch(&consumer) => fetched,
            };
            match fetched {
                Ok(Some(message)) => {
                    failing = false;
                    if let Ok(info) = message.info() {
                        self.backlog.set(info.pending);
                    }
                    // Not raced against the token: a command once taken is finished.
                    self.serve(message).await;
                }
                Ok(None) => {
                    failing = false;
                    self.backlog.set(0);
                }
                Err(reason) => {
                    if !failing {
                        tracing::warn!(reason, "fetching a command failed; retrying");
                    }
                    failing = true;
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(self.config.retry_after) => {}
                    }
                }
            }
        }
    }

    /// One command, or `None` when none came within the fetch wait.
    async fn fetch(
        &self,
        consumer: &PullConsumer,
    ) -> Result<Option<async_nats::jetstream::Message>, String> {
        let mut batch = consumer
            .batch()
            .max_messages(1)
            .expires(self.config.fetch_wait)
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        match batch.next().await {
            Some(Ok(message)) => Ok(Some(message)),
            Some(Err(e)) => Err(e.to_string()),
            None => Ok(None),
        }
    }

    async fn serve(&self, message: async_nats::jetstream::Message) {
        let (stream_sequence, delivered) = match message.info() {
            Ok(info) => (
                info.stream_sequence,
                u64::try_from(info.delivered).unwrap_or(0),
            ),
            Err(e) => {
                tracing::error!(error = %e, "a command without JetStream metadata; skipped");
                return;
            }
        };
        let header = |name: &str| {
            message
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
        };
        let msg_id = header(async_nats::header::NATS_MESSAGE_ID.as_ref());
        let reply = header(REPLY_HEADER);
        if delivered > 1 {
            metrics::counter!(COMMANDS_REDELIVERED_TOTAL).increment(1);
            tracing::warn!(
                stream_sequence,
                delivered,
                msg_id = msg_id.as_deref().unwrap_or(""),
                "a command delivered again: a reader before did not acknowledge it"
            );
        }
        let (op, tag, answer) = match parse(&message.payload) {
            Ok((op, tag, body)) => {
                let command = Command {
                    op,
                    tag: tag.clone(),
                    body,
                    msg_id: msg_id.clone(),
                    stream_sequence,
                    delivered,
                };
                let answer = self.handler.handle(command).await;
                (Some(op.as_str()), tag, answer)
            }
            Err(refusal) => {
                tracing::warn!(stream_sequence, why = %refusal.why, "a command refused unread");
                (refusal.op, refusal.tag, Answer::refused(400, refusal.why))
            }
        };
        metrics::counter!(
            COMMANDS_TOTAL,
            "op" => op.unwrap_or("invalid"),
            "status" => status_class(answer.status)
        )
        .increment(1);
        if let Some(reply) = reply {
            let body = json!({
                "op": op,
                "tag": tag,
                "msgId": msg_id,
                "sequence": stream_sequence,
                "status": answer.status,
                "body": answer.body,
            });
            if let Err(why) = self.answer(reply, &body).await {
                // Unacknowledged, the command is delivered again after ack_wait and answered
                // again: an answer lost is worse than one given twice.
                tracing::warn!(
                    stream_sequence,
                    why,
                    "a command's answer could not be sent; left unacknowledged"
                );
                return;
            }
        }
        if let Err(e) = message.double_ack().await {
            tracing::warn!(
                stream_sequence,
                error = %e,
                "a command's acknowledgement was not confirmed; it may be delivered again"
            );
        }
    }

    async fn answer(&self, reply: String, body: &Value) -> Result<(), String> {
        let payload = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let client = self.bus.client();
        client
            .publish(reply, Bytes::from(payload))
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(self.bus.config().request_timeout, client.flush())
            .await
            .map_err(|_| "flushing the answer timed out".to_owned())?
            .map_err(|e| e.to_string())
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// The message body as the wire format has it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    op: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    plan: Option<Value>,
}

struct Refusal {
    op: Option<&'static str>,
    tag: Option<String>,
    why: String,
}

fn parse(payload: &[u8]) -> Result<(Operation, Option<String>, Value), Refusal> {
    let refuse = |op: Option<Operation>, tag: Option<String>, why: String| Refusal {
        op: op.map(Operation::as_str),
        tag,
        why,
    };
    let wire: Wire = serde_json::from_slice(payload).map_err(|e| {
        refuse(
            None,
            None,
            format!(
                "the command is not {{\"op\": ..., \"tag\": ...}} or {{\"op\": \"execute_entry\", \"plan\": ...}}: {e}"
            ),
        )
    })?;
    let Some(op) = Operation::parse(&wire.op) else {
        return Err(refuse(
            None,
            wire.tag,
            format!(
                "unknown op {:?}: one of execute_entry, setup_tps, setup_dcas, move_to_breakeven, close_all",
                wire.op
            ),
        ));
    };
    match op {
        Operation::ExecuteEntry => {
            let Some(plan) = wire.plan.filter(Value::is_object) else {
                return Err(refuse(
                    Some(op),
                    wire.tag,
                    "execute_entry needs a plan (a JSON object)".to_owned(),
                ));
            };
            let client_tag = plan
                .get("client_tag")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let (Some(tag), Some(client_tag)) = (&wire.tag, &client_tag) {
                if tag != client_tag {
                    return Err(refuse(
                        Some(op),
                        wire.tag.clone(),
                        format!("the tag {tag:?} is not the plan's client_tag {client_tag:?}"),
                    ));
                }
            }
            Ok((op, client_tag.or(wire.tag), plan))
        }
        _ => {
            if wire.plan.is_some() {
                return Err(refuse(
                    Some(op),
                    wire.tag,
                    format!("{op} takes a tag, not a plan"),
                ));
            }
            match wire.tag {
                Some(tag) if !tag.trim().is_empty() => Ok((op, Some(tag), json!({}))),
                tag => Err(refuse(Some(op), tag, format!("{op} needs a non-empty tag"))),
            }
        }
    }
}

/// The message id of a command: `<tag>:<op>`.
pub fn message_id(tag: &str, op: Operation) -> String {
    format!("{tag}:{op}")
}

/// Publishes a command (what a state machine does, in Rust): `plan` for an entry, `None`
/// otherwise; the answer goes to `reply` if given. Returns the stream's sequence and whether
/// the stream already had a command with this id (then it will not be executed again).
pub async fn publish_command(
    bus: &Bus,
    tag: &str,
    op: Operation,
    plan: Option<Value>,
    reply: Option<&str>,
) -> Result<(u64, bool), BusError> {
    let body = match (op, plan) {
        (Operation::ExecuteEntry, Some(plan)) => json!({"op": op, "plan": plan}),
        (Operation::ExecuteEntry, None) => json!({"op": op, "tag": tag}),
        (_, Some(plan)) => json!({"op": op, "tag": tag, "plan": plan}),
        (_, None) => json!({"op": op, "tag": tag}),
    };
    let payload =
        serde_json::to_vec(&body).map_err(|e| BusError::jetstream("serialising a command", e))?;
    publish_raw(bus, &message_id(tag, op), Bytes::from(payload), reply).await
}

/// Publishes `payload` as a command with message id `msg_id`, unchecked (tests use it to send
/// what a faulty publisher would).
pub async fn publish_raw(
    bus: &Bus,
    msg_id: &str,
    payload: Bytes,
    reply: Option<&str>,
) -> Result<(u64, bool), BusError> {
    let mut headers = HeaderMap::new();
    if let Some(reply) = reply {
        headers.insert(REPLY_HEADER, reply);
    }
    let message = PublishMessage::build()
        .payload(payload)
        .headers(headers)
        .message_id(msg_id);
    let what = "publishing a command";
    let ack = bus
        .jetstream()
        .send_publish(bus.names().command_subject(), message)
        .await
        .map_err(|e| BusError::jetstream(what, e))?
        .await
        .map_err(|e| BusError::jetstream(what, e))?;
    Ok((ack.sequence, ack.duplicate))
}
