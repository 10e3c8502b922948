//! Events out: every event of the gateway's bus, stored in the account's event stream.
//!
//! **Subjects.** An event goes to `bybit.exec.<account>.evt.<tag>`, where the tag is the
//! trade's, read from the orderLinkId of an order event, a fill or a dry run's "would send", or
//! from an execution error's trade tag; the account's own events (wallet, health, positions,
//! orders someone else placed) go to `bybit.exec.<account>.evt._account`. The body is the
//! event's JSON as the control API's event stream sends it (`{"type": ..., "data": ...}`);
//! the header `Bybit-Exec-Event` repeats its type, so a consumer can filter without parsing.
//!
//! **Once per fill.** A fill's `Nats-Msg-Id` is `fill-<execId>`: the stream stores one fill
//! once within its duplicate window however often it is published, by this process after a
//! lost acknowledgement or by a second gateway that saw the same execution. Any other event's
//! id is unique to this process and the event (`evt-<start ms>-<pid>-<bus seq>`), so a publish
//! retried after a lost acknowledgement is stored once as well.
//!
//! **Outages.** The [`EventPublisher`] moves each event from its bus subscription into its
//! own queue at once (the bus's channel never lags behind a slow server), then publishes the
//! queue in order, one event at a time, each waiting for the stream's acknowledgement. While
//! NATS is away the queue grows ([`EventPublisher::pending`]: the bus's lag) and the head is
//! retried with the same id; after the outage the events arrive in the order they happened.
//! The queue is bounded ([`PublisherConfig::max_pending`]); beyond it new events are dropped,
//! counted and logged, never silently.
//!
//! **Reading.** A consumer that was away opens an [`EventReader`] from the sequence after
//! the last one it handled: it sees every stored event from there, in order, each once.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use async_nats::jetstream::message::PublishMessage;
use async_nats::HeaderMap;
use bytes::Bytes;
use exec_events::{Event, EventBus, Received, Subscription};
use exec_gateway::LinkIds;
use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Bus, BusError};

/// The header that names the event's type (`fill`, `order`, `execution.error`, …).
pub const EVENT_TYPE_HEADER: &str = "Bybit-Exec-Event";

/// Counter: events stored in the stream (a duplicate the stream recognised counts too).
pub const EVENTS_PUBLISHED_TOTAL: &str = "bybit_exec_bus_events_published_total";
/// Gauge: events waiting to be published.
pub const EVENTS_PENDING: &str = "bybit_exec_bus_events_pending";
/// Counter: events that never reached the stream (queue full, or the bus subscription lagged).
pub const EVENTS_DROPPED_TOTAL: &str = "bybit_exec_bus_events_dropped_total";
/// Counter: publish attempts that failed and will be retried.
pub const EVENTS_PUBLISH_FAILURES_TOTAL: &str = "bybit_exec_bus_event_publish_failures_total";

/// How the publisher queues and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherConfig {
    /// Events kept while the server is away; more are dropped (and counted).
    pub max_pending: usize,
    /// The first wait after a failed publish; doubled per failure up to `max_backoff`.
    pub backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// After cancellation, how long queued events may still take to be published.
    pub drain_within: Duration,
    /// The orderLinkId prefix trades' tags are read with.
    pub link_prefix: String,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            max_pending: 100_000,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            drain_within: Duration::from_secs(2),
            link_prefix: exec_gateway::DEFAULT_LINK_PREFIX.to_owned(),
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    pending: AtomicU64,
    published: AtomicU64,
    dropped: AtomicU64,
    failures: AtomicU64,
}

/// The task that publishes the bus's events to the event stream.
#[derive(Debug)]
pub struct EventPublisher {
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

/// One event ready to be sent: everything computed once, so a retry sends the same bytes
/// with the same id.
#[derive(Debug, Clone)]
struct Outgoing {
    subject: String,
    msg_id: String,
    kind: String,
    payload: Bytes,
}

impl EventPublisher {
    /// Subscribes to `events` now (so nothing published after this returns is missed) and
    /// spawns the task that publishes them on `bus`, until `cancel`.
    pub fn spawn(
        bus: &Bus,
        events: &EventBus,
        config: PublisherConfig,
        cancel: CancellationToken,
    ) -> Result<EventPublisher, BusError> {
        Self::spawn_after(bus, events, config, cancel, Vec::new())
    }

    /// [`spawn`](Self::spawn), publishing `first` before anything of the bus: the fills a new
    /// lease holder finds in the journal but not in the event stream (its predecessor died
    /// between journaling them and publishing them; see [`stored_fill_ids`]).
    pub fn spawn_after(
        bus: &Bus,
        events: &EventBus,
        config: PublisherConfig,
        cancel: CancellationToken,
        first: Vec<Event>,
    ) -> Result<EventPublisher, BusError> {
        let links = LinkIds::new(&config.link_prefix)
            .map_err(|e| BusError::jetstream("the event publisher's orderLinkId prefix", e))?;
        let subscription = events.subscribe();
        let counts = Arc::new(Counts::default());
        let mut run = Run {
            bus: bus.clone(),
            links,
            config,
            counts: counts.clone(),
            queue: VecDeque::new(),
            origin: format!("{}-{}", now_ms(), std::process::id()),
        };
        // Numbered apart from the bus's own sequence (which starts at 1), so their ids never
        // meet a bus event's.
        for (n, event) in first.iter().enumerate() {
            let seq = u64::MAX - u64::try_from(n).unwrap_or(0);
            run.enqueue(seq, event);
        }
        let task = tokio::spawn(run.run(subscription, cancel));
        Ok(EventPublisher { counts, task })
    }

    /// Events waiting to be published: the bus's lag behind the stream.
    pub fn pending(&self) -> u64 {
        self.counts.pending.load(Ordering::Relaxed)
    }

    /// Events the stream has acknowledged.
    pub fn published(&self) -> u64 {
        self.counts.published.load(Ordering::Relaxed)
    }

    /// Events that never reached the stream.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Publish attempts that failed (and were retried).
    pub fn failures(&self) -> u64 {
        self.counts.failures.load(Ordering::Relaxed)
    }

    /// Waits for the task to end (after its token was cancelled and the queue drained or the
    /// drain time ran out).
    pub async fn join(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the event publisher's task failed");
        }
    }
}

struct Run {
    bus: Bus,
    links: LinkIds,
    config: PublisherConfig,
    counts: Arc<Counts>,
    queue: VecDeque<Outgoing>,
    origin: String,
}

impl Run {
    async fn run(mut self, mut subscription: Subscription, cancel: CancellationToken) {
        let mut backoff = self.config.backoff;
        let mut retry_at: Option<tokio::time::Instant> = None;
        // The publish of the queue's head, kept across loop turns: an event arriving must not
        // abandon a publish that may already have been stored.
        let mut inflight: Option<futures_util::future::BoxFuture<'static, Result<bool, String>>> =
            None;
        let mut open = true;
        loop {
            if inflight.is_none() && retry_at.is_none() {
                if let Some(head) = self.queue.front() {
                    inflight = Some(Box::pin(publish(self.bus.clone(), head.clone())));
                }
            }
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                received = subscription.recv(), if open => match received {
                    Received::Event(envelope) => self.enqueue(envelope.seq, &envelope.event),
                    Received::Lagged { missed } => self.lost(missed, "the bus subscription lagged"),
                    Received::Closed => open = false,
                },
                () = sleep_until(retry_at), if retry_at.is_some() => retry_at = None,
                done = async { inflight.as_mut().expect("guarded").await }, if inflight.is_some() => {
                    inflight = None;
                    match done {
                        Ok(duplicate) => {
                            self.acknowledged(duplicate);
                            backoff = self.config.backoff;
                        }
                        Err(reason) => {
                            self.failed(&reason, backoff == self.config.backoff);
                            retry_at = Some(tokio::time::Instant::now() + backoff);
                            backoff = (backoff * 2).min(self.config.max_backoff);
                        }
                    }
                }
            }
        }
        self.drain(subscription, inflight).await;
    }

    /// After cancellation: what the bus still holds joins the queue, and the queue is
    /// published while the drain time lasts.
    async fn drain(
        &mut self,
        mut subscription: Subscription,
        inflight: Option<futures_util::future::BoxFuture<'static, Result<bool, String>>>,
    ) {
        while let Some(received) = subscription.try_recv() {
            match received {
                Received::Event(envelope) => self.enqueue(envelope.seq, &envelope.event),
                Received::Lagged { missed } => self.lost(missed, "the bus subscription lagged"),
                Received::Closed => break,
            }
        }
        let deadline = tokio::time::Instant::now() + self.config.drain_within;
        let drained = tokio::time::timeout_at(deadline, async {
            if let Some(inflight) = inflight {
                match inflight.await {
                    Ok(duplicate) => self.acknowledged(duplicate),
                    Err(reason) => self.failed(&reason, false),
                }
            }
            while let Some(head) = self.queue.front().cloned() {
                match publish(self.bus.clone(), head).await {
                    Ok(duplicate) => self.acknowledged(duplicate),
                    Err(reason) => {
                        self.failed(&reason, false);
                        tokio::time::sleep(self.config.backoff).await;
                    }
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = self.queue.len(),
                "the event publisher stopped with events not yet published"
            );
        }
    }

    fn enqueue(&mut self, seq: u64, event: &Event) {
        if self.queue.len() >= self.config.max_pending {
            self.lost(1, "the publish queue is full");
            return;
        }
        match self.outgoing(seq, event) {
            Ok(outgoing) => {
                self.queue.push_back(outgoing);
                self.set_pending();
            }
            Err(e) => self.lost(1, &format!("the event cannot be serialised: {e}")),
        }
    }

    fn outgoing(&self, seq: u64, event: &Event) -> Result<Outgoing, serde_json::Error> {
        let json = serde_json::to_value(event)?;
        let kind = json
            .get("type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        let msg_id = match event {
            Event::Fill(fill) => format!("fill-{}", fill.exec_id),
            _ => format!("evt-{}-{seq}", self.origin),
        };
        let names = self.bus.names();
        Ok(Outgoing {
            subject: names.event_subject(tag_of(&self.links, event).as_deref()),
            msg_id,
            kind,
            payload: Bytes::from(serde_json::to_vec(&json)?),
        })
    }

    fn acknowledged(&mut self, duplicate: bool) {
        if let Some(done) = self.queue.pop_front() {
            if duplicate {
                tracing::debug!(msg_id = %done.msg_id, "the event stream already had this event");
            }
        }
        self.counts.published.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(EVENTS_PUBLISHED_TOTAL).increment(1);
        self.set_pending();
    }

    /// `first`: the first failure since the last success.
    fn failed(&self, reason: &str, first: bool) {
        self.counts.failures.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(EVENTS_PUBLISH_FAILURES_TOTAL).increment(1);
        // The first failure of an outage is worth a warning; the retries are not.
        if first {
            tracing::warn!(
                reason,
                pending = self.queue.len(),
                "publishing an event failed; retrying"
            );
        } else {
            tracing::debug!(
                reason,
                pending = self.queue.len(),
                "publishing an event failed; retrying"
            );
        }
    }

    fn lost(&self, count: u64, why: &str) {
        self.counts.dropped.fetch_add(count, Ordering::Relaxed);
        metrics::counter!(EVENTS_DROPPED_TOTAL).increment(count);
        tracing::error!(
            count,
            why,
            "events dropped before reaching the event stream"
        );
    }

    fn set_pending(&self) {
        let pending = self.queue.len() as u64;
        self.counts.pending.store(pending, Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(EVENTS_PENDING).set(pending as f64);
    }
}

/// Publishes one event and waits for the stream's acknowledgement: `Ok(duplicate)`.
async fn publish(bus: Bus, outgoing: Outgoing) -> Result<bool, String> {
    let mut headers = HeaderMap::new();
    headers.insert(EVENT_TYPE_HEADER, outgoing.kind.as_str());
    let message = PublishMessage::build()
        .payload(outgoing.payload)
        .headers(headers)
        .message_id(&outgoing.msg_id);
    let ack = bus
        .jetstream()
        .send_publish(outgoing.subject, message)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(ack.duplicate)
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The trade an event belongs to, as a subject token; `None` for the account's own events.
fn tag_of(links: &LinkIds, event: &Event) -> Option<String> {
    let from_link = |link: &str| links.parse(link).map(|(_, tag)| tag.to_owned());
    let tag = match event {
        Event::Order(order) => from_link(&order.order_link_id),
        Event::Fill(fill) => from_link(&fill.order_link_id),
        Event::WouldSend(would) => would.order_link_id.as_deref().and_then(from_link),
        Event::ExecutionError(error) => error
            .trade_tag
            .as_deref()
            .map(|tag| links.tag_of(tag).to_owned())
            .or_else(|| error.order_link_id.as_deref().and_then(from_link)),
        Event::Position(_) | Event::Wallet(_) | Event::Health(_) => None,
    };
    // A tag that is not a plain subject token ('.', '*', '>', spaces) would land on another
    // subject, or on none: such events stay on the account's subject.
    tag.filter(|tag| {
        !tag.is_empty()
            && tag
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'.' | b'*' | b'>'))
    })
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The execIds of the fills the account's event stream holds now (read from its first kept
/// event to its last). A new lease holder compares them with its journal's fills: a fill its
/// predecessor journaled but did not live to publish is published first
/// ([`EventPublisher::spawn_after`]), so the stream has every fill once.
pub async fn stored_fill_ids(bus: &Bus) -> Result<HashSet<String>, BusError> {
    let stream_name = bus.names().event_stream();
    let mut stream = bus
        .jetstream()
        .get_stream(&stream_name)
        .await
        .map_err(|e| BusError::jetstream(format!("opening stream {stream_name}"), e))?;
    let state = stream
        .info()
        .await
        .map_err(|e| BusError::jetstream(format!("reading stream {stream_name}"), e))?
        .state
        .clone();
    let mut ids = HashSet::new();
    if state.messages == 0 {
        return Ok(ids);
    }
    let last = state.last_sequence;
    let mut reader = EventReader::open(bus, 0).await?;
    let wait = bus.config().request_timeout;
    loop {
        let sequence = match tokio::time::timeout(wait, reader.next()).await {
            Ok(Some(Ok(stored))) => {
                if let Event::Fill(fill) = &stored.event {
                    ids.insert(fill.exec_id.clone());
                }
                stored.sequence
            }
            // Not an event: someone else's message on the subject; it holds no fill.
            Ok(Some(Err(ReadError::NotAnEvent { sequence, .. }))) => sequence,
            Ok(Some(Err(ReadError::Bus(e)))) => return Err(e),
            Ok(None) => break,
            Err(_) => {
                return Err(BusError::jetstream(
                    format!("reading stream {stream_name}"),
                    format!("no event within {wait:?} before sequence {last}"),
                ))
            }
        };
        if sequence >= last {
            break;
        }
    }
    Ok(ids)
}

/// An event read back from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its sequence in the event stream: resume from this plus one.
    pub sequence: u64,
    /// The subject it was stored on.
    pub subject: String,
    /// The event.
    pub event: Event,
}

/// Why an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The stream could not be read (the reader should be opened again from its last
    /// sequence plus one).
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A message of the stream is not an event (someone else published on the subject).
    #[error("message {sequence} of the event stream is not an event: {reason}")]
    NotAnEvent {
        /// Its sequence.
        sequence: u64,
        /// Why.
        reason: String,
    },
}

/// Reads an account's stored events in order, from a given stream sequence on, with an
/// ordered consumer (ephemeral, recreated by the client after a gap or an outage).
pub struct EventReader {
    messages: async_nats::jetstream::consumer::pull::Ordered,
}

impl std::fmt::Debug for EventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader").finish_non_exhaustive()
    }
}

impl EventReader {
    /// Every event of the account from stream sequence `from` on (`0` or `1`: from the
    /// first kept).
    pub async fn open(bus: &Bus, from: u64) -> Result<EventReader, BusError> {
        EventReader::open_subject(bus, bus.names().event_subjects(), from).await
    }

    /// One trade's events (`None`: the account's own) from stream sequence `from` on.
    pub async fn open_trade(
        bus: &Bus,
        tag: Option<&str>,
        from: u64,
    ) -> Result<EventReader, BusError> {
        EventReader::open_subject(bus, bus.names().event_subject(tag), from).await
    }

    async fn open_subject(bus: &Bus, subject: String, from: u64) -> Result<EventReader, BusError> {
        let stream_name = bus.names().event_stream();
        let stream = bus
            .jetstream()
            .get_stream(&stream_name)
            .await
            .map_err(|e| BusError::jetstream(format!("opening stream {stream_name}"), e))?;
        let deliver_policy = if from <= 1 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: from,
            }
        };
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: subject,
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::jetstream(format!("reading stream {stream_name}"), e))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| BusError::jetstream(format!("reading stream {stream_name}"), e))?;
        Ok(EventReader { messages })
    }

    /// The next stored event, waiting for one to be published if there is none yet; `None`
    /// when the reader has ended.
    pub async fn next(&mut self) -> Option<Result<StoredEvent, ReadError>> {
        let message = match self.messages.next().await? {
            Ok(message) => message,
            Err(e) => {
                return Some(Err(
                    BusError::jetstream("reading the event stream", e).into()
                ))
            }
        };
        let sequence = match message.info() {
            Ok(info) => info.stream_sequence,
            Err(e) => {
                return Some(Err(
                    BusError::jetstream("reading an event's sequence", e).into()
                ))
            }
        };
        Some(
            serde_json::from_slice::<Event>(&message.payload)
                .map(|event| StoredEvent {
                    sequence,
                    subject: message.subject.to_string(),
                    event,
                })
                .map_err(|e| ReadError::NotAnEvent {
                    sequence,
                    reason: e.to_string(),
                }),
        )
    }
}
