//! The events kept for `GET /api/events` (`stream.rs`): the last [`REPLAY`] events of the bus
//! and the execId of every fill of this server's life, fed by the bus watcher.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use exec_events::{Envelope, Event};

/// How many events are kept for a reconnecting client.
pub(crate) const REPLAY: usize = 2048;

/// One event, ready to send.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) seq: u64,
    pub(super) name: &'static str,
    pub(super) data: String,
}

#[derive(Debug, Default)]
struct Inner {
    ring: VecDeque<Arc<Item>>,
    /// The execId of every fill of this server's life, by sequence number.
    fills: BTreeMap<u64, String>,
}

/// The events kept for the stream; fed by the bus watcher.
#[derive(Debug)]
pub struct Hub {
    pub(super) epoch: u64,
    inner: Mutex<Inner>,
    pub(super) latest: tokio::sync::watch::Sender<u64>,
}

fn name_of(event: &Event) -> &'static str {
    match event {
        Event::Order(_) => "order",
        Event::Fill(_) => "fill",
        Event::Position(_) => "position",
        Event::Wallet(_) => "wallet",
        Event::Health(_) => "health",
        Event::ExecutionError(_) => "execution.error",
        Event::WouldSend(_) => "would_send",
    }
}

impl Default for Hub {
    fn default() -> Self {
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| u64::try_from(d.as_millis()).ok())
            .unwrap_or(0);
        Hub {
            epoch,
            inner: Mutex::default(),
            latest: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps one event of the bus.
    pub fn push(&self, envelope: &Envelope) {
        let data = serde_json::to_string(envelope.event.as_ref()).unwrap_or_default();
        let item = Arc::new(Item {
            seq: envelope.seq,
            name: name_of(&envelope.event),
            data,
        });
        {
            let mut inner = self.lock();
            if let Some(fill) = envelope.event.as_fill() {
                inner.fills.insert(envelope.seq, fill.exec_id.clone());
            }
            if inner.ring.len() == REPLAY {
                inner.ring.pop_front();
            }
            inner.ring.push_back(item);
        }
        self.latest.send_replace(envelope.seq);
    }

    /// The events after `after` kept in memory, the execIds of the fills after `after` that
    /// memory no longer holds (with their sequence numbers), and whether other events were
    /// lost in between.
    pub(super) fn after(&self, after: u64) -> (Vec<Arc<Item>>, Vec<(u64, String)>, bool) {
        let inner = self.lock();
        let oldest = inner.ring.front().map_or(u64::MAX, |i| i.seq);
        let kept: Vec<Arc<Item>> = inner
            .ring
            .iter()
            .filter(|i| i.seq > after)
            .cloned()
            .collect();
        let from = after.saturating_add(1);
        let older: Vec<(u64, String)> = if oldest > from {
            inner
                .fills
                .range(from..oldest)
                .map(|(s, id)| (*s, id.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let gap = oldest != u64::MAX && oldest > after.saturating_add(1);
        (kept, older, gap)
    }

    /// The sequence number a `Last-Event-ID` stands for in this server (0: from the start).
    pub(super) fn resume_point(&self, last: Option<&str>) -> u64 {
        let Some((epoch, seq)) = last.and_then(|l| l.trim().split_once('-')) else {
            return 0;
        };
        match (epoch.parse::<u64>(), seq.parse::<u64>()) {
            (Ok(e), Ok(s)) if e == self.epoch => s,
            _ => 0,
        }
    }
}
