//! Health shared between the socket task (writer) and any reader: counters are atomics, the
//! few strings sit behind a mutex that is held only to copy them, never across an `.await`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// What a stream's health looks like at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// A socket is open.
    pub connected: bool,
    /// Private streams: the current socket is authenticated (public streams: always false).
    pub authenticated: bool,
    /// Time since the last frame of any kind was received, if one ever was.
    pub since_last_message: Option<Duration>,
    /// Time since the last topic push (data: not a pong or a request's reply), or since a
    /// subscription was last acknowledged if that is later; `None` before either. A stream
    /// that keeps answering pings but pushes nothing shows here, not in `since_last_message`.
    pub since_last_data: Option<Duration>,
    /// Wall-clock time of the last frame, Unix ms.
    pub last_message_unix_ms: Option<i64>,
    /// Connections opened after the first.
    pub reconnects: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Frames that could not be parsed or had an unknown topic, counted and skipped.
    pub bad_frames: u64,
    /// Order books resubscribed for a fresh snapshot (gap, crossed, delta before snapshot).
    pub book_resyncs: u64,
    /// Events dropped because the consumer was not reading (see [`crate::WsEvent::Lagged`]).
    pub dropped_events: u64,
    /// The last error: a disconnect reason, a refused subscription, a resync reason.
    pub last_error: Option<String>,
    /// Topics Bybit has acknowledged on the current socket.
    pub subscriptions: BTreeSet<String>,
    /// Topics Bybit refused, with its reason; they are not retried.
    pub refused: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Details {
    last_error: Option<String>,
    subscriptions: BTreeSet<String>,
    refused: BTreeMap<String, String>,
}

/// The shared health record.
#[derive(Debug)]
pub(crate) struct Health {
    started: Instant,
    connected: AtomicBool,
    authenticated: AtomicBool,
    /// Nanoseconds after `started` of the last frame, plus one (0: never).
    last_message: AtomicU64,
    last_message_unix_ms: AtomicI64,
    /// Nanoseconds after `started` of the last push or subscription ack, plus one (0: never).
    last_data: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) bad_frames: AtomicU64,
    pub(crate) book_resyncs: AtomicU64,
    pub(crate) dropped_events: AtomicU64,
    details: Mutex<Details>,
}

impl Health {
    pub(crate) fn new() -> Self {
        Health {
            started: Instant::now(),
            connected: AtomicBool::new(false),
            authenticated: AtomicBool::new(false),
            last_message: AtomicU64::new(0),
            last_message_unix_ms: AtomicI64::new(0),
            last_data: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            bad_frames: AtomicU64::new(0),
            book_resyncs: AtomicU64::new(0),
            dropped_events: AtomicU64::new(0),
            details: Mutex::new(Details::default()),
        }
    }

    fn details(&self) -> MutexGuard<'_, Details> {
        // A panic elsewhere while holding the lock leaves plain data: keep using it.
        self.details
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
        if !connected {
            self.authenticated.store(false, Ordering::Relaxed);
            self.details().subscriptions.clear();
        }
    }

    pub(crate) fn set_authenticated(&self, authenticated: bool) {
        self.authenticated.store(authenticated, Ordering::Relaxed);
    }

    pub(crate) fn message_received(&self) {
        let nanos = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_message
            .store(nanos.saturating_add(1), Ordering::Relaxed);
        self.last_message_unix_ms
            .store(unix_ms(), Ordering::Relaxed);
    }

    /// A topic push arrived (or a subscription was acknowledged: the data clock restarts).
    pub(crate) fn data_received(&self) {
        self.last_data.store(self.now_mark(), Ordering::Relaxed);
    }

    fn now_mark(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    fn since(&self, mark: u64) -> Option<Duration> {
        (mark != 0).then(|| {
            self.started
                .elapsed()
                .saturating_sub(Duration::from_nanos(mark - 1))
        })
    }

    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_error(&self, error: impl Into<String>) {
        self.details().last_error = Some(error.into());
    }

    pub(crate) fn subscribed(&self, topics: &[String]) {
        self.data_received();
        let mut details = self.details();
        for topic in topics {
            details.refused.remove(topic);
            details.subscriptions.insert(topic.clone());
        }
    }

    pub(crate) fn unsubscribed(&self, topics: &[String]) {
        let mut details = self.details();
        for topic in topics {
            details.subscriptions.remove(topic);
        }
    }

    pub(crate) fn refused(&self, topic: &str, reason: &str) {
        let mut details = self.details();
        details.subscriptions.remove(topic);
        details.refused.insert(topic.to_owned(), reason.to_owned());
        details.last_error = Some(format!("subscription to {topic} refused: {reason}"));
    }

    pub(crate) fn last_message_unix_ms(&self) -> Option<i64> {
        let ms = self.last_message_unix_ms.load(Ordering::Relaxed);
        (ms != 0).then_some(ms)
    }

    pub(crate) fn snapshot(&self) -> HealthSnapshot {
        let last = self.last_message.load(Ordering::Relaxed);
        let since_last_message = (last != 0).then(|| {
            self.started
                .elapsed()
                .saturating_sub(Duration::from_nanos(last - 1))
        });
        let details = self.details();
        HealthSnapshot {
            connected: self.connected.load(Ordering::Relaxed),
            authenticated: self.authenticated.load(Ordering::Relaxed),
            since_last_message,
            since_last_data: self.since(self.last_data.load(Ordering::Relaxed)),
            last_message_unix_ms: self.last_message_unix_ms(),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            connect_failures: self.connect_failures.load(Ordering::Relaxed),
            bad_frames: self.bad_frames.load(Ordering::Relaxed),
            book_resyncs: self.book_resyncs.load(Ordering::Relaxed),
            dropped_events: self.dropped_events.load(Ordering::Relaxed),
            last_error: details.last_error.clone(),
            subscriptions: details.subscriptions.clone(),
            refused: details.refused.clone(),
        }
    }
}

/// Wall-clock Unix ms (0 before 1970, which no machine here is).
pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
