//! The event bus and its slow-subscriber policy.
//!
//! The bus is a bounded [`tokio::sync::broadcast`] channel of [`Envelope`]s, each numbered in
//! publishing order. Publishing never waits for subscribers: a router must not be slowed (or
//! stopped) by a consumer that is not reading.
//!
//! **Slow subscribers.** A subscriber that falls more than the capacity behind loses the oldest
//! events it had not read. It is never left to guess: its next [`Subscription::recv`] returns
//! [`Received::Lagged`] with how many it missed, and the numbers of the envelopes that follow
//! show the gap. What it must do then is re-read current state (positions and open orders from
//! the ports, fills from the journal, which records every fill by `execId`) instead of trusting
//! what it had pieced together. That is how a fill is never missed *silently*: it was either
//! delivered, or the subscriber was told it lagged and where to look. Subscribers that keep up
//! see every event, in order, exactly once.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::event::Event;

/// Events kept for a subscriber that has not read them yet.
pub const DEFAULT_CAPACITY: usize = 4096;

/// An event with its place in the bus's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// 1 for the first event published on this bus, then +1 per event.
    pub seq: u64,
    /// The event.
    pub event: Arc<Event>,
}

/// The publishing side; cheap to clone (all clones publish to the same subscribers).
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Envelope>,
    next_seq: Arc<std::sync::atomic::AtomicU64>,
    publish_lock: Arc<std::sync::Mutex<()>>,
}

impl EventBus {
    /// A bus that keeps up to `capacity` unread events per subscriber (at least 1).
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        EventBus {
            sender,
            next_seq: Arc::new(std::sync::atomic::AtomicU64::new(1)),
            publish_lock: Arc::new(std::sync::Mutex::new(())),
        }
    }

    /// Publishes an event to every current subscriber and returns its sequence number. Never
    /// waits; with no subscriber the event is dropped (nobody was listening).
    pub fn publish(&self, event: Event) -> u64 {
        // Numbering and sending under one short lock keeps sequence numbers in channel order
        // when several routers publish at once. The lock is never held across an await.
        let _guard = self
            .publish_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seq = self
            .next_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // An error here only means there is no subscriber.
        let _ = self.sender.send(Envelope {
            seq,
            event: Arc::new(event),
        });
        seq
    }

    /// A new subscriber that sees every event published from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            receiver: self.sender.subscribe(),
        }
    }

    /// How many subscribers there are.
    pub fn subscriber_count(&self) -> usize {
        self.sender.receiver_count()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(DEFAULT_CAPACITY)
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The next event.
    Event(Envelope),
    /// The subscriber fell behind and `missed` events were dropped for it: re-read current
    /// state (see the module docs). The events after this one continue normally.
    Lagged {
        /// How many events it did not see.
        missed: u64,
    },
    /// Every publisher is gone.
    Closed,
}

/// The receiving side of the bus.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<Envelope>,
}

impl Subscription {
    /// Waits for the next event (or the news that some were missed).
    pub async fn recv(&mut self) -> Received {
        match self.receiver.recv().await {
            Ok(envelope) => Received::Event(envelope),
            Err(broadcast::error::RecvError::Lagged(missed)) => Received::Lagged { missed },
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }

    /// How many events are waiting to be read.
    pub fn pending(&self) -> usize {
        self.receiver.len()
    }

    /// The next event if one is waiting, without waiting; `None` when there is none yet.
    pub fn try_recv(&mut self) -> Option<Received> {
        match self.receiver.try_recv() {
            Ok(envelope) => Some(Received::Event(envelope)),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                Some(Received::Lagged { missed })
            }
            Err(broadcast::error::TryRecvError::Closed) => Some(Received::Closed),
            Err(broadcast::error::TryRecvError::Empty) => None,
        }
    }
}
