//! One active gateway per account: a lease in a JetStream key-value bucket.
//!
//! The lease is the one key of the account's bucket (`Names::lease_bucket`), whose stream
//! keeps each key for the lease's TTL (`max_age`) after its last write. Taking it is a
//! create-if-absent; renewing it is an update that names the revision this holder last wrote
//! (compare-and-set), so a renewal fails once anyone else has written the key. A holder that
//! dies stops renewing, the server drops the key one TTL after the last renewal, and a standby,
//! which looks every renewal interval, creates it: a dead holder blocks the account for at
//! most the TTL plus one renewal interval.
//!
//! The **epoch** is the revision the lease was created with: the bucket's sequence, so every
//! later holder's is higher. The replicated journal stamps it and fences on the journal stream
//! itself (see [`crate::journal`]); the lease alone is never trusted to stop a stale holder.
//!
//! **When the holder cannot renew** (the server is away), it keeps trying; it counts its lease
//! valid until one TTL after the last renewal it *sent* (the server's clock starts later, at
//! receipt), less a margin for the time between a journal write and its send. Past that,
//! [`Held::may_send`] refuses, so the replicated journal refuses every write that precedes a
//! send: the holder stops sending orders before its lease could have expired, because it
//! cannot know whether a standby has taken over. If the next renewal succeeds (the server came
//! back within the TTL and nobody took the lease), trading goes on; if it is refused (the key
//! expired or was taken), the lease is lost for good and [`Held::lost`] fires.
//!
//! A renewal sent while the connection is down is kept by the client and may land on
//! reconnect after its caller gave up on it: the next renewal then names a stale revision. A
//! refused renewal therefore reads the key first, and goes on from its revision when the key
//! still holds this holder's own lease (same holder, same epoch).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{Bus, BusError, Holding};

/// What the lease's key holds: who holds it and since when, for an operator to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseValue {
    /// The holder's name (`<host>:<pid>` unless configured).
    pub holder: String,
    /// When it took the lease (ms since the epoch, its own clock).
    pub since_ms: i64,
    /// The lease's epoch, written from the first renewal on (the create's revision is not
    /// known before the create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

/// The lease as seen now, by its holder or by anyone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// Who holds it.
    pub holder: String,
    /// Its epoch (the revision it was created with).
    pub epoch: u64,
    /// Its revision now (changes at every renewal).
    pub revision: u64,
    /// How long until it expires unless renewed: for its holder, how long it still counts it
    /// valid; for anyone else, from the server's timestamp of the last renewal and this
    /// host's clock (an estimate across hosts).
    pub expires_in: Duration,
}

/// The account's lease: look at it, or wait to hold it.
#[derive(Debug, Clone)]
pub struct Lease {
    store: kv::Store,
    key: &'static str,
    holder: String,
    ttl: Duration,
    renew_every: Duration,
    request_timeout: Duration,
}

impl Lease {
    /// The lease of `bus`'s account, for this process ([`crate::BusConfig::holder`]).
    pub async fn open(bus: &Bus) -> Result<Lease, BusError> {
        let config = bus.config();
        Ok(Lease {
            store: bus.lease_store().await?,
            key: bus.names().lease_key(),
            holder: config.holder.clone(),
            ttl: config.lease_ttl,
            renew_every: config.renew_every,
            request_timeout: config.request_timeout,
        })
    }

    /// The holder now, if any.
    pub async fn current(&self) -> Result<Option<LeaseInfo>, BusError> {
        let entry = tokio::time::timeout(self.request_timeout, self.store.entry(self.key))
            .await
            .map_err(|_| BusError::jetstream("reading the lease", "timed out"))?
            .map_err(|e| BusError::jetstream("reading the lease", e))?;
        let Some(entry) = entry.filter(|e| e.operation == Operation::Put) else {
            return Ok(None);
        };
        let value: LeaseValue = serde_json::from_slice(&entry.value)
            .map_err(|e| BusError::jetstream("reading the lease", format!("its value: {e}")))?;
        let written_ns = entry.created.unix_timestamp_nanos();
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
        let age = u64::try_from((now_ns - written_ns).max(0)).unwrap_or(u64::MAX);
        Ok(Some(LeaseInfo {
            holder: value.holder,
            epoch: value.epoch.unwrap_or(entry.revision),
            revision: entry.revision,
            expires_in: self.ttl.saturating_sub(Duration::from_nanos(age)),
        }))
    }

    /// Waits until this process holds the lease, looking every renewal interval and telling
    /// `seen` who holds it meanwhile (`None`: free, or unreadable); then renews it in the
    /// background until it is lost or released. `Err` only when `cancel` fires first.
    pub async fn acquire(
        &self,
        cancel: &CancellationToken,
        mut seen: impl FnMut(Option<&LeaseInfo>),
    ) -> Result<Held, BusError> {
        let mut last_holder: Option<String> = None;
        loop {
            if cancel.is_cancelled() {
                return Err(BusError::jetstream("taking the lease", "cancelled"));
            }
            match self.try_take().await {
                Ok(Some(held)) => return Ok(held),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "taking the lease failed; trying again"),
            }
            match self.current().await {
                Ok(info) => {
                    let holder = info.as_ref().map(|i| i.holder.clone());
                    if holder != last_holder {
                        if let Some(info) = &info {
                            tracing::info!(
                                holder = %info.holder,
                                epoch = info.epoch,
                                "standby: the account's lease is held elsewhere"
                            );
                        }
                        last_holder = holder;
                    }
                    seen(info.as_ref());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "standby: the lease cannot be read");
                    seen(None);
                }
            }
            tokio::select! {
                () = cancel.cancelled() => {}
                () = tokio::time::sleep(self.renew_every) => {}
            }
        }
    }

    /// One attempt: the lease if it was free, `None` if someone holds it.
    pub async fn try_take(&self) -> Result<Option<Held>, BusError> {
        let mut value = LeaseValue {
            holder: self.holder.clone(),
            since_ms: now_ms(),
            epoch: None,
        };
        let bytes = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        let sent_at = Instant::now();
        let created =
            tokio::time::timeout(self.request_timeout, self.store.create(self.key, bytes))
                .await
                .map_err(|_| BusError::jetstream("taking the lease", "timed out"))?;
        let revision = match created {
            Ok(revision) => revision,
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(BusError::jetstream("taking the lease", e)),
        };
        tracing::info!(holder = %self.holder, epoch = revision, "took the account's lease");
        let margin = margin(self.ttl, self.renew_every);
        let inner = Arc::new(Inner {
            holder: self.holder.clone(),
            epoch: revision,
            ttl: self.ttl,
            margin,
            state: Mutex::new(State {
                revision,
                valid_until: sent_at + self.ttl - margin,
                lapsed: false,
                lost: None,
            }),
            lost: CancellationToken::new(),
            stop: CancellationToken::new(),
        });
        value.epoch = Some(revision);
        let renewal = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        let renewing = tokio::spawn(renew(self.clone(), inner.clone(), renewal));
        Ok(Some(Held {
            inner,
            store: self.store.clone(),
            key: self.key,
            request_timeout: self.request_timeout,
            renewing: Some(renewing),
        }))
    }
}

/// How much earlier than the server a holder stops trusting its lease: room for a send that
/// follows a journal write, and for the two clocks' rates. A tenth of the TTL, at least half
/// a renewal interval.
fn margin(ttl: Duration, renew_every: Duration) -> Duration {
    (ttl / 10).max(renew_every / 2)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[derive(Debug)]
struct State {
    revision: u64,
    valid_until: Instant,
    lapsed: bool,
    lost: Option<String>,
}

#[derive(Debug)]
struct Inner {
    holder: String,
    epoch: u64,
    ttl: Duration,
    margin: Duration,
    state: Mutex<State>,
    /// Fired once, when the lease is lost for good.
    lost: CancellationToken,
    /// Stops the renewals (release or drop).
    stop: CancellationToken,
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lose(&self, why: &str) {
        let mut state = self.state();
        if state.lost.is_none() {
            tracing::error!(
                holder = %self.holder,
                epoch = self.epoch,
                reason = why,
                "lost the account's lease: no order is sent from now on"
            );
            state.lost = Some(why.to_owned());
        }
        drop(state);
        self.lost.cancel();
        self.stop.cancel();
    }

    fn may_send(&self) -> Result<(), String> {
        let state = self.state();
        if let Some(why) = &state.lost {
            return Err(format!("the account's lease is lost ({why})"));
        }
        if Instant::now() >= state.valid_until {
            return Err(format!(
                "the account's lease (epoch {}) has not been renewed for too long: it may have \
                 expired, and another gateway may hold the account",
                self.epoch
            ));
        }
        Ok(())
    }
}

/// The lease, held by this process; renewed in the background until lost or released.
#[derive(Debug)]
pub struct Held {
    inner: Arc<Inner>,
    store: kv::Store,
    key: &'static str,
    request_timeout: Duration,
    renewing: Option<tokio::task::JoinHandle<()>>,
}

impl Held {
    /// Fires when the lease is lost for good (taken, expired, released, or the journal was
    /// fenced).
    pub fn lost(&self) -> CancellationToken {
        self.inner.lost.clone()
    }

    /// Why it was lost, once it was.
    pub fn lost_reason(&self) -> Option<String> {
        self.inner.state().lost.clone()
    }

    /// The holder's name.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// A cheap handle on the same lease for the journal's gate.
    pub fn gate(&self) -> Arc<dyn Holding> {
        Arc::new(self.view())
    }

    /// A cheap handle on the same lease, for a status page.
    pub fn view(&self) -> LeaseView {
        LeaseView(self.inner.clone())
    }

    /// The lease as its holder sees it (`expires_in` is zero once lapsed or lost).
    pub fn info(&self) -> LeaseInfo {
        self.view().info()
    }

    /// Gives the lease up (a clean stop): the key is deleted if this holder still owns it,
    /// so a standby takes over at its next look instead of after the TTL.
    pub async fn release(mut self) {
        self.inner.stop.cancel();
        if let Some(renewing) = self.renewing.take() {
            let _ = renewing.await;
        }
        let revision = {
            let state = self.inner.state();
            if state.lost.is_some() {
                return;
            }
            state.revision
        };
        let deleted = tokio::time::timeout(
            self.request_timeout,
            self.store.delete_expect_revision(self.key, Some(revision)),
        )
        .await;
        match deleted {
            Ok(Ok(())) => tracing::info!(epoch = self.inner.epoch, "released the account's lease"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the lease was not released; it expires by its TTL")
            }
            Err(_) => tracing::warn!("releasing the lease timed out; it expires by its TTL"),
        }
        self.inner.lose("released");
    }
}

impl Holding for Held {
    fn may_send(&self) -> Result<(), String> {
        self.inner.may_send()
    }
    fn epoch(&self) -> u64 {
        self.inner.epoch
    }
    fn fenced(&self, why: &str) {
        self.inner.lose(why);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // A dropped holder stops renewing; the key expires by its TTL.
        self.inner.stop.cancel();
    }
}

/// A handle on a held lease: its state for a status page, and [`Holding`] for the journal.
#[derive(Debug, Clone)]
pub struct LeaseView(Arc<Inner>);

impl LeaseView {
    /// The lease as its holder sees it (`expires_in` is zero once lapsed or lost).
    pub fn info(&self) -> LeaseInfo {
        let inner = &self.0;
        let state = inner.state();
        let left = if state.lost.is_some() {
            Duration::ZERO
        } else {
            state.valid_until.saturating_duration_since(Instant::now())
        };
        LeaseInfo {
            holder: inner.holder.clone(),
            epoch: inner.epoch,
            revision: state.revision,
            expires_in: left,
        }
    }
}

impl Holding for LeaseView {
    fn may_send(&self) -> Result<(), String> {
        self.0.may_send()
    }
    fn epoch(&self) -> u64 {
        self.0.epoch
    }
    fn fenced(&self, why: &str) {
        self.0.lose(why);
    }
}

/// The renewal loop: every renewal interval, compare-and-set on the revision last written.
async fn renew(lease: Lease, inner: Arc<Inner>, value: Bytes) {
    loop {
        tokio::select! {
            () = inner.stop.cancelled() => return,
            () = tokio::time::sleep(lease.renew_every) => {}
        }
        let revision = inner.state().revision;
        let sent_at = Instant::now();
        let updated = tokio::time::timeout(
            lease.request_timeout,
            lease.store.update(lease.key, value.clone(), revision),
        )
        .await;
        match updated {
            Ok(Ok(next)) => {
                let mut state = inner.state();
                state.revision = next;
                state.valid_until = sent_at + inner.ttl - inner.margin;
                if std::mem::take(&mut state.lapsed) {
                    tracing::warn!(epoch = inner.epoch, "the account's lease is renewed again");
                }
                metrics::counter!("bybit_exec_lease_renewals_total", "outcome" => "ok")
                    .increment(1);
            }
            Ok(Err(e)) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                // A renewal whose answer was lost (sent while the connection was down, kept
                // by the client and delivered on reconnect) moved the revision on: the key
                // then still holds this holder's own value, and the renewal goes on from it.
                if let Some(revision) = own_revision(&lease, &inner).await {
                    tracing::info!(
                        epoch = inner.epoch,
                        revision,
                        "an earlier renewal landed late; renewing from it"
                    );
                    inner.state().revision = revision;
                    continue;
                }
                metrics::counter!("bybit_exec_lease_renewals_total", "outcome" => "lost")
                    .increment(1);
                inner.lose("the lease expired or another gateway took it");
                return;
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                metrics::counter!("bybit_exec_lease_renewals_total", "outcome" => "failed")
                    .increment(1);
                let mut state = inner.state();
                if Instant::now() >= state.valid_until && !state.lapsed {
                    state.lapsed = true;
                    tracing::error!(
                        epoch = inner.epoch,
                        error = %why,
                        "the account's lease could not be renewed in time: no order is sent \
                         until it is renewed"
                    );
                } else {
                    tracing::warn!(epoch = inner.epoch, error = %why, "lease renewal failed");
                }
            }
        }
    }
}

/// The key's revision if it still holds this holder's own lease (same holder, same epoch).
async fn own_revision(lease: &Lease, inner: &Inner) -> Option<u64> {
    let entry = tokio::time::timeout(lease.request_timeout, lease.store.entry(lease.key))
        .await
        .ok()?
        .ok()??;
    if entry.operation != Operation::Put {
        return None;
    }
    let value: LeaseValue = serde_json::from_slice(&entry.value).ok()?;
    (value.holder == inner.holder && value.epoch == Some(inner.epoch)).then_some(entry.revision)
}
