//! The journal replicated on JetStream, so that a gateway on another host can rebuild the
//! journal it never wrote and finish the trades in it.
//!
//! **What is replicated.** [`ReplicatedJournal`] wraps the gateway's local journal (the SQLite
//! file). Every write goes to the local journal first and, once it is durable there, is
//! appended as one [`JournalRecord`] (JSON) to the account's journal subject
//! ([`Names::journal_subject`](crate::Names::journal_subject)) in its stream. Reads are
//! answered by the local journal alone. A standby that takes the lease appends a
//! [`JournalRecord::Takeover`] ([`takeover`]) and rebuilds its own local journal with
//! [`replay`] up to that record's sequence.
//!
//! **Order.** Records reach the stream in the order they were written locally: one appender,
//! one record in flight at a time, and nothing is appended past a record still waiting.
//!
//! **The fence.** Each append carries `Nats-Expected-Last-Subject-Sequence`: the sequence of
//! this holder's previous record (of its takeover, for the first). JetStream stores it only if
//! nobody else wrote to the subject since; a newer holder's takeover therefore makes the old
//! holder's next append fail with error 10071 ("wrong last sequence"). The old holder then
//! tells its lease ([`Holding::fenced`]), drops what it had not replicated and refuses every
//! later write. Each append also carries a `Nats-Msg-Id` unique to the record, so an append
//! retried after a lost acknowledgement is stored once: JetStream answers the retry as a
//! duplicate with the first copy's sequence (it checks the id before the expected sequence;
//! a test pins this on the real server).
//!
//! **When NATS is away.** A write made *before a send* (a plan, an intent, a re-send or amend
//! about to go out, a requested cancel/stop-loss/leverage write) first asks the lease whether
//! this process may send, and returns an error unless its record is in the stream within the
//! bus's request timeout: the gateway then sends nothing. A write of *what already happened*
//! (a fill, an outcome, a state change, a finished write, the paper account) returns `Ok` once
//! it is in the local journal; its record waits in memory, in order, and a background task
//! delivers it when the server is back. The operator sees the orders refused with "the journal
//! could not be replicated", and [`ReplicatedJournal::pending`] (the bus's lag on `/health`)
//! counting the records not yet in the stream, falling back to 0 after the outage. A record
//! whose pre-send write was refused stays queued too: it is in the local journal (the order
//! was not sent, as the local journal shows), and it may have reached the server unacknowledged,
//! so replicating it keeps the two journals alike and the fence's sequence true.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_nats::header::{HeaderMap, NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MESSAGE_ID};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, consumer, stream::Stream as JsStream};
use async_trait::async_trait;
use bytes::Bytes;
use exec_events::Fill;
use exec_gateway::journal::{
    Intent, IntentRow, Journal, JournalError, Outcome, PlanRow, StateRow, WriteRecord, WriteStage,
};
use exec_gateway::{Phase, TradePlan};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{Bus, BusError, Holding};

/// How often the background task retries records that could not be appended.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// How many times [`takeover`] re-reads the stream's end when another writer got in first.
const TAKEOVER_ATTEMPTS: usize = 5;

/// One journal write as it is stored in the stream: `{"record": "<kind>", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum JournalRecord {
    /// [`Journal::record_plan`].
    Plan {
        /// The plan.
        plan: TradePlan,
        /// When it was recorded (ms).
        at_ms: i64,
    },
    /// [`Journal::record_intent`].
    Intent {
        /// The intent.
        intent: Intent,
    },
    /// [`Journal::record_outcome`].
    Outcome {
        /// The order's orderLinkId.
        order_link_id: String,
        /// What became of it.
        outcome: Outcome,
        /// When (ms).
        at_ms: i64,
    },
    /// [`Journal::record_write`].
    Write {
        /// The write.
        write: WriteRecord,
    },
    /// [`Journal::record_fill`].
    Fill {
        /// The fill.
        fill: Fill,
    },
    /// [`Journal::record_state`].
    State {
        /// The trade's client tag.
        trade_tag: String,
        /// The new phase.
        phase: Phase,
        /// Why.
        detail: String,
        /// When (ms).
        at_ms: i64,
    },
    /// [`Journal::save_paper_account`].
    PaperAccount {
        /// The simulated account, as its owner wrote it.
        account: String,
        /// The fills saved with it.
        fills: Vec<Fill>,
        /// When (ms).
        at_ms: i64,
    },
    /// A new holder of the lease starts writing here; every append of an older holder after
    /// it is refused.
    Takeover {
        /// Who took the lease.
        holder: String,
        /// The lease's epoch.
        epoch: u64,
        /// When (ms).
        at_ms: i64,
    },
}

/// A stream message that is not a journal record this version reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal record at sequence {sequence} cannot be read: {reason}")]
pub struct RecordError {
    /// Its sequence in the stream.
    pub sequence: u64,
    /// Why.
    pub reason: String,
}

impl JournalRecord {
    /// The record's JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Reads the record stored at `sequence`.
    pub fn from_json(sequence: u64, payload: &[u8]) -> Result<Self, RecordError> {
        serde_json::from_slice(payload).map_err(|e| RecordError {
            sequence,
            reason: e.to_string(),
        })
    }

    /// Whether the write it records comes before a send: such a write must be in the stream
    /// before the gateway may send.
    pub fn comes_before_a_send(&self) -> bool {
        match self {
            JournalRecord::Plan { .. } | JournalRecord::Intent { .. } => true,
            JournalRecord::Outcome { outcome, .. } => matches!(
                outcome,
                Outcome::Rerounded { .. } | Outcome::AmendRequested { .. }
            ),
            JournalRecord::Write { write } => write.stage == WriteStage::Requested,
            JournalRecord::Fill { .. }
            | JournalRecord::State { .. }
            | JournalRecord::PaperAccount { .. }
            | JournalRecord::Takeover { .. } => false,
        }
    }

    /// Writes it into `journal` (a [`JournalRecord::Takeover`] writes nothing).
    pub async fn apply(&self, journal: &dyn Journal) -> Result<(), JournalError> {
        match self {
            JournalRecord::Plan { plan, at_ms } => journal.record_plan(plan, *at_ms).await,
            JournalRecord::Intent { intent } => journal.record_intent(intent).await,
            JournalRecord::Outcome {
                order_link_id,
                outcome,
                at_ms,
            } => journal.record_outcome(order_link_id, outcome, *at_ms).await,
            JournalRecord::Write { write } => journal.record_write(write).await,
            JournalRecord::Fill { fill } => journal.record_fill(fill).await.map(|_| ()),
            JournalRecord::State {
                trade_tag,
                phase,
                detail,
                at_ms,
            } => {
                journal
                    .record_state(trade_tag, *phase, detail, *at_ms)
                    .await
            }
            JournalRecord::PaperAccount {
                account,
                fills,
                at_ms,
            } => journal.save_paper_account(account, fills, *at_ms).await,
            JournalRecord::Takeover { .. } => Ok(()),
        }
    }
}

/// A record written locally and waiting for its append.
#[derive(Debug, Clone)]
struct Queued {
    /// Its place in this holder's order (1, 2, …).
    number: u64,
    /// Its `Nats-Msg-Id`.
    id: String,
    payload: Bytes,
}

/// Why an append did not go through.
enum AppendFailure {
    /// Another holder wrote after this one: it has lost the account.
    Fenced(String),
    /// The server did not take it now (away, slow, refusing): try again later.
    Retry(String),
}

/// What the writers and the background task share.
#[derive(Debug)]
struct Shared {
    jetstream: jetstream::Context,
    subject: String,
    request_timeout: Duration,
    holding: Arc<dyn Holding>,
    /// The prefix of every `Nats-Msg-Id`: this holder's epoch and first sequence, unique to it.
    id_prefix: String,
    /// Records written locally, not yet in the stream, oldest first.
    queue: StdMutex<VecDeque<Queued>>,
    /// The one appender: held while a record is in flight; guards the last sequence written.
    appender: Mutex<u64>,
    last_sequence: AtomicU64,
    pending: AtomicUsize,
    fenced: AtomicBool,
    wake: Notify,
}

impl Shared {
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
        // A writer never panics while holding it; should one have, the queue is still whole.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fenced_error(&self) -> JournalError {
        JournalError::Io(
            "the journal is fenced: another gateway holds this account and writes its journal"
                .to_owned(),
        )
    }

    /// Appends queued records in order until the one numbered `upto` (or all) is in the
    /// stream; `Err` when the server did not take one, which stays at the head.
    async fn flush(&self, upto: Option<u64>) -> Result<(), JournalError> {
        let mut last = self.appender.lock().await;
        loop {
            if self.fenced.load(Ordering::SeqCst) {
                return Err(self.fenced_error());
            }
            let Some(head) = self.lock_queue().front().cloned() else {
                return Ok(());
            };
            if upto.is_some_and(|n| head.number > n) {
                return Ok(());
            }
            match self.append(&head, *last).await {
                Ok(sequence) => {
                    *last = sequence;
                    self.last_sequence.store(sequence, Ordering::SeqCst);
                    let mut queue = self.lock_queue();
                    queue.pop_front();
                    self.pending.store(queue.len(), Ordering::SeqCst);
                }
                Err(AppendFailure::Fenced(why)) => {
                    self.fenced.store(true, Ordering::SeqCst);
                    let dropped = {
                        let mut queue = self.lock_queue();
                        let dropped = queue.len();
                        queue.clear();
                        self.pending.store(0, Ordering::SeqCst);
                        dropped
                    };
                    tracing::error!(
                        subject = %self.subject,
                        dropped,
                        reason = %why,
                        "journal fenced: another holder has written to the replicated journal; \
                         this gateway stops trading and drops the records it had not replicated"
                    );
                    self.holding.fenced(&why);
                    return Err(self.fenced_error());
                }
                Err(AppendFailure::Retry(why)) => {
                    return Err(JournalError::Io(format!(
                        "the journal could not be replicated to NATS: {why}"
                    )));
                }
            }
        }
    }

    /// One publish of `record`, expecting the subject's last sequence to be `last`.
    async fn append(&self, record: &Queued, last: u64) -> Result<u64, AppendFailure> {
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, record.id.as_str());
        headers.insert(
            NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            last.to_string().as_str(),
        );
        let publish = async {
            self.jetstream
                .publish_with_headers(self.subject.clone(), headers, record.payload.clone())
                .await?
                .await
        };
        match tokio::time::timeout(self.request_timeout, publish).await {
            Err(_) => Err(AppendFailure::Retry(format!(
                "no acknowledgement within {:?}",
                self.request_timeout
            ))),
            Ok(Ok(ack)) => Ok(ack.sequence),
            Ok(Err(e)) if e.kind() == PublishErrorKind::WrongLastSequence => Err(
                AppendFailure::Fenced(format!("append expecting sequence {last} refused: {e}")),
            ),
            Ok(Err(e)) => Err(AppendFailure::Retry(e.to_string())),
        }
    }
}

/// The gateway's journal: the local journal, with every write replicated, in order and
/// fenced by the lease, to the account's journal stream (see the module's documentation).
pub struct ReplicatedJournal {
    inner: Arc<dyn Journal>,
    shared: Arc<Shared>,
    /// Keeps local writes and their place in the queue in one order.
    order: Mutex<u64>,
    _flusher: DropGuard,
}

impl std::fmt::Debug for ReplicatedJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicatedJournal")
            .field("subject", &self.shared.subject)
            .field("last_sequence", &self.last_sequence())
            .field("pending", &self.pending())
            .field("fenced", &self.is_fenced())
            .finish_non_exhaustive()
    }
}

impl ReplicatedJournal {
    /// Replicates the writes to `inner` for the lease `holding`, which starts writing after
    /// the stream's sequence `start_sequence` (its [`takeover`] record's). Starts the
    /// background task that delivers records queued during an outage; it stops when
    /// `cancel` is cancelled or this journal is dropped. Must be called within a Tokio
    /// runtime.
    pub fn new(
        bus: &Bus,
        inner: Arc<dyn Journal>,
        holding: Arc<dyn Holding>,
        start_sequence: u64,
        cancel: &CancellationToken,
    ) -> Self {
        let shared = Arc::new(Shared {
            jetstream: bus.jetstream().clone(),
            subject: bus.names().journal_subject(),
            request_timeout: bus.config().request_timeout,
            id_prefix: format!("{}-{start_sequence}", holding.epoch()),
            holding,
            queue: StdMutex::new(VecDeque::new()),
            appender: Mutex::new(start_sequence),
            last_sequence: AtomicU64::new(start_sequence),
            pending: AtomicUsize::new(0),
            fenced: AtomicBool::new(false),
            wake: Notify::new(),
        });
        let stop = cancel.child_token();
        tokio::spawn(flush_in_background(shared.clone(), stop.clone()));
        ReplicatedJournal {
            inner,
            shared,
            order: Mutex::new(0),
            _flusher: stop.drop_guard(),
        }
    }

    /// How many records are in the local journal but not yet in the stream: the bus's lag.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::SeqCst)
    }

    /// The stream sequence of the last record this holder appended (of its takeover before
    /// the first).
    pub fn last_sequence(&self) -> u64 {
        self.shared.last_sequence.load(Ordering::SeqCst)
    }

    /// Waits until every queued record is in the stream (a clean stop does, before it gives
    /// the lease up), at most `within`; whether they all are.
    pub async fn flush(&self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.pending() == 0 {
                return true;
            }
            if self.is_fenced() || tokio::time::Instant::now() >= deadline {
                return false;
            }
            self.shared.wake.notify_one();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Whether another holder has written to the stream after this one.
    pub fn is_fenced(&self) -> bool {
        self.shared.fenced.load(Ordering::SeqCst)
    }

    /// Writes `record` locally with `local`, then replicates it: a write before a send waits
    /// for its append, any other returns once it is local and queued.
    async fn write<T, F>(&self, record: JournalRecord, local: F) -> Result<T, JournalError>
    where
        F: std::future::Future<Output = Result<T, JournalError>>,
    {
        let shared = &self.shared;
        if shared.fenced.load(Ordering::SeqCst) {
            return Err(shared.fenced_error());
        }
        let before_send = record.comes_before_a_send();
        if before_send {
            shared
                .holding
                .may_send()
                .map_err(|why| JournalError::Io(format!("this gateway may not send: {why}")))?;
        }
        let payload = record
            .to_json()
            .map_err(|e| JournalError::Io(format!("cannot encode the journal record: {e}")))?;
        let (number, value) = {
            let mut order = self.order.lock().await;
            let value = local.await?;
            *order += 1;
            let number = *order;
            let mut queue = shared.lock_queue();
            queue.push_back(Queued {
                number,
                id: format!("{}-{number}", shared.id_prefix),
                payload: Bytes::from(payload),
            });
            shared.pending.store(queue.len(), Ordering::SeqCst);
            drop(queue);
            if !before_send {
                shared.wake.notify_one();
                return Ok(value);
            }
            (number, value)
        };
        // The whole wait, including records queued ahead of this one, fits in one timeout:
        // an order waits no longer than that for the journal.
        match tokio::time::timeout(shared.request_timeout, shared.flush(Some(number))).await {
            Ok(Ok(())) => Ok(value),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(JournalError::Io(format!(
                "the journal could not be replicated to NATS within {:?}",
                shared.request_timeout
            ))),
        }
    }
}

async fn flush_in_background(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(FLUSH_EVERY) => {}
        }
        if shared.fenced.load(Ordering::SeqCst) {
            return;
        }
        if shared.pending.load(Ordering::SeqCst) > 0 {
            if let Err(e) = shared.flush(None).await {
                tracing::warn!(
                    pending = shared.pending.load(Ordering::SeqCst),
                    error = %e,
                    "journal records wait for NATS"
                );
            }
        }
    }
}

#[async_trait]
impl Journal for ReplicatedJournal {
    async fn record_plan(&self, plan: &TradePlan, at_ms: i64) -> Result<(), JournalError> {
        let record = JournalRecord::Plan {
            plan: plan.clone(),
            at_ms,
        };
        self.write(record, self.inner.record_plan(plan, at_ms))
            .await
    }

    async fn record_intent(&self, intent: &Intent) -> Result<(), JournalError> {
        let record = JournalRecord::Intent {
            intent: intent.clone(),
        };
        self.write(record, self.inner.record_intent(intent)).await
    }

    async fn record_outcome(
        &self,
        order_link_id: &str,
        outcome: &Outcome,
        at_ms: i64,
    ) -> Result<(), JournalError> {
        let record = JournalRecord::Outcome {
            order_link_id: order_link_id.to_owned(),
            outcome: outcome.clone(),
            at_ms,
        };
        self.write(
            record,
            self.inner.record_outcome(order_link_id, outcome, at_ms),
        )
        .await
    }

    async fn record_write(&self, write: &WriteRecord) -> Result<(), JournalError> {
        let record = JournalRecord::Write {
            write: write.clone(),
        };
        self.write(record, self.inner.record_write(write)).await
    }

    async fn record_fill(&self, fill: &Fill) -> Result<bool, JournalError> {
        let record = JournalRecord::Fill { fill: fill.clone() };
        self.write(record, self.inner.record_fill(fill)).await
    }

    async fn record_state(
        &self,
        trade_tag: &str,
        phase: Phase,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), JournalError> {
        let record = JournalRecord::State {
            trade_tag: trade_tag.to_owned(),
            phase,
            detail: detail.to_owned(),
            at_ms,
        };
        self.write(
            record,
            self.inner.record_state(trade_tag, phase, detail, at_ms),
        )
        .await
    }

    async fn plan(&self, trade_tag: &str) -> Result<Option<TradePlan>, JournalError> {
        self.inner.plan(trade_tag).await
    }

    async fn plans(&self) -> Result<Vec<PlanRow>, JournalError> {
        self.inner.plans().await
    }

    async fn intent(&self, order_link_id: &str) -> Result<Option<IntentRow>, JournalError> {
        self.inner.intent(order_link_id).await
    }

    async fn intents(&self, trade_tag: &str) -> Result<Vec<IntentRow>, JournalError> {
        self.inner.intents(trade_tag).await
    }

    async fn fills(&self, link_prefix: &str) -> Result<Vec<Fill>, JournalError> {
        self.inner.fills(link_prefix).await
    }

    async fn writes(&self, trade_tag: &str) -> Result<Vec<WriteRecord>, JournalError> {
        self.inner.writes(trade_tag).await
    }

    async fn states(&self, trade_tag: &str) -> Result<Vec<StateRow>, JournalError> {
        self.inner.states(trade_tag).await
    }

    async fn open_trades(&self) -> Result<Vec<String>, JournalError> {
        self.inner.open_trades().await
    }

    async fn save_paper_account(
        &self,
        account: &str,
        fills: &[Fill],
        at_ms: i64,
    ) -> Result<(), JournalError> {
        let record = JournalRecord::PaperAccount {
            account: account.to_owned(),
            fills: fills.to_vec(),
            at_ms,
        };
        self.write(record, self.inner.save_paper_account(account, fills, at_ms))
            .await
    }

    async fn paper_account(&self) -> Result<Option<String>, JournalError> {
        self.inner.paper_account().await
    }
}

/// The account's journal stream.
async fn journal_stream(bus: &Bus) -> Result<JsStream, BusError> {
    let name = bus.names().journal_stream();
    bus.jetstream()
        .get_stream(name.as_str())
        .await
        .map_err(|e| BusError::jetstream(format!("opening stream {name}"), e))
}

/// The sequence of the journal subject's last record (0 when it has none).
async fn last_sequence_now(bus: &Bus) -> Result<u64, BusError> {
    let stream = journal_stream(bus).await?;
    // The stream holds the journal subject alone, so its last sequence is the subject's.
    Ok(stream.cached_info().state.last_sequence)
}

/// Appends `holder`'s [`JournalRecord::Takeover`] at the end of the account's journal and
/// answers its sequence, from which `holder`'s [`ReplicatedJournal`] starts. From then on
/// every append of an older holder is refused (its expected sequence is no longer the last).
/// Call it once the lease is held, before [`replay`] up to the answer.
pub async fn takeover(bus: &Bus, holder: &str, epoch: u64, at_ms: i64) -> Result<u64, BusError> {
    let record = JournalRecord::Takeover {
        holder: holder.to_owned(),
        epoch,
        at_ms,
    };
    let payload = Bytes::from(
        record
            .to_json()
            .map_err(|e| BusError::jetstream("encoding the takeover record", e))?,
    );
    let subject = bus.names().journal_subject();
    let mut refused = String::new();
    for _ in 0..TAKEOVER_ATTEMPTS {
        let last = last_sequence_now(bus).await?;
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, format!("takeover-{epoch}").as_str());
        headers.insert(
            NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            last.to_string().as_str(),
        );
        let published = async {
            bus.jetstream()
                .publish_with_headers(subject.clone(), headers, payload.clone())
                .await?
                .await
        };
        match published.await {
            Ok(ack) => return Ok(ack.sequence),
            // The old holder appended a record of what already happened after `last` was
            // read: read the end again.
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                refused = e.to_string();
            }
            Err(e) => return Err(BusError::jetstream("appending the takeover record", e)),
        }
    }
    Err(BusError::jetstream(
        "appending the takeover record",
        format!("the journal kept moving ({TAKEOVER_ATTEMPTS} attempts): {refused}"),
    ))
}

/// What [`replay`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayReport {
    /// Records applied.
    pub records: usize,
    /// [`JournalRecord::Takeover`] records passed.
    pub takeovers: usize,
    /// The sequence of the last record read (0 when none).
    pub last_sequence: u64,
}

/// Reads the account's journal from its first record up to and including sequence `upto`,
/// in order, and writes each record into `into` (takeovers are counted, not written).
/// A record that cannot be read or written stops it with an error: a journal rebuilt with a
/// hole would lie to `recover()`.
pub async fn replay(bus: &Bus, into: &dyn Journal, upto: u64) -> Result<ReplayReport, BusError> {
    replay_after(bus, into, 0, upto).await
}

/// [`replay`] of the records after sequence `after` only (those up to it were applied to
/// `into` already): how a hot standby follows the stream while it waits, and catches up to
/// the takeover record at its takeover. The report's `last_sequence` is where to go on from
/// (`after` when there was nothing new).
pub async fn replay_after(
    bus: &Bus,
    into: &dyn Journal,
    after: u64,
    upto: u64,
) -> Result<ReplayReport, BusError> {
    let mut report = ReplayReport {
        last_sequence: after,
        ..ReplayReport::default()
    };
    let end = last_sequence_now(bus).await?.min(upto);
    if end <= after {
        return Ok(report);
    }
    let stream = journal_stream(bus).await?;
    // An ordered consumer: ephemeral, no acks, recreated by the client from the last sequence
    // seen should a message be missed, so every record is read once and in order.
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: bus.names().journal_subject(),
            deliver_policy: if after == 0 {
                consumer::DeliverPolicy::All
            } else {
                consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                }
            },
            ..Default::default()
        })
        .await
        .map_err(|e| BusError::jetstream("reading the journal", e))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| BusError::jetstream("reading the journal", e))?;
    let wait = bus.config().request_timeout;
    while report.last_sequence < end {
        let message = match tokio::time::timeout(wait, messages.next()).await {
            Err(_) => {
                return Err(BusError::jetstream(
                    "reading the journal",
                    format!(
                        "no record after sequence {} within {wait:?} (expected up to {end})",
                        report.last_sequence
                    ),
                ))
            }
            Ok(None) => {
                return Err(BusError::jetstream(
                    "reading the journal",
                    format!("the stream ended after sequence {}", report.last_sequence),
                ))
            }
            Ok(Some(Err(e))) => return Err(BusError::jetstream("reading the journal", e)),
            Ok(Some(Ok(message))) => message,
        };
        let sequence = message
            .info()
            .map_err(|e| BusError::jetstream("reading the journal", e))?
            .stream_sequence;
        if sequence > end {
            break;
        }
        let record = JournalRecord::from_json(sequence, &message.payload)
            .map_err(|e| BusError::jetstream("reading the journal", e))?;
        if let JournalRecord::Takeover { .. } = record {
            report.takeovers += 1;
        } else {
            record.apply(into).await.map_err(|e| {
                BusError::jetstream(format!("replaying journal record {sequence}"), e)
            })?;
            report.records += 1;
        }
        report.last_sequence = sequence;
    }
    Ok(report)
}
