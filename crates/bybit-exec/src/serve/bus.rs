//! `serve --nats URL --account NAME`: one active gateway per account, with hot standbys.
//!
//! The process connects to NATS (`exec-nats`), then **waits as a hot standby** until it holds
//! the account's lease: its journal file is a fresh one (the file it had is kept beside it as
//! `<journal>.before-<ms>`, the newest [`KEPT_ASIDE`] of those kept) that follows the replicated journal every renewal interval, and it
//! answers `/health` with who holds the account. Holding the lease, it **takes over**: appends
//! a takeover record to the replicated journal (after which any write of an older holder is
//! refused by the stream), catches its file up to that record, publishes the fills the event
//! stream lacks, and starts the usual server on that file, its journal replicated behind the
//! lease. `recover()` at start finishes whatever the last holder
//! left in flight (same plans, same orderLinkIds: a command both saw cannot place a second
//! order). Then it consumes the account's commands and publishes its events.
//!
//! It stops trading when its lease is lost (taken, expired while NATS was away, or fenced by
//! the journal stream): the lease's gate already refuses every journal write that precedes a
//! send, the commands stop, the server stops, and the process exits with an error for its
//! supervisor to restart it as a standby. A clean stop (SIGTERM) finishes the command in hand,
//! stops the server, then releases the lease so a standby takes over at once.
//!
//! `/health` and `/api/status` show the lease (holder, epoch, time to expiry) and the bus's
//! lag (journal records and events not yet in their streams) under `bus`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request};
use exec_gateway::Journal;
use exec_journal::SqliteJournal;
use exec_nats::commands::{
    Answer, Backlog, Command, CommandConsumer, CommandHandler, ConsumerConfig, Operation,
};
use exec_nats::events::{EventPublisher, PublisherConfig};
use exec_nats::journal::{replay_after, takeover, ReplicatedJournal};
use exec_nats::lease::{Held, Lease, LeaseInfo};
use exec_nats::{Account, Bus, BusConfig, Holding};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::app::ExtraStatus;
use super::server::{Attach, Server, StopSignals, STOP_WITHIN};
use super::standby::{Seen, Standby};
use crate::config::{JournalLocation, Settings};

/// `serve`'s bus options.
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    /// Trade one account over NATS JetStream at this server (e.g. nats://127.0.0.1:4222):
    /// commands in, events out, the journal replicated, one active gateway per account.
    #[arg(long, value_name = "URL", requires = "account")]
    pub nats: Option<String>,
    /// The account's name on the bus (1 to 32 of A-Z a-z 0-9 - _); every gateway of one
    /// Bybit account uses the same.
    #[arg(long, value_name = "NAME", requires = "nats")]
    pub account: Option<String>,
    /// How long the account's lease lives without a renewal: the longest a dead holder keeps
    /// a standby waiting. Renewed every fifth of it.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub lease_ttl: Duration,
    /// How long a command may stay unacknowledged (its holder died handling it) before it is
    /// delivered again, to whoever holds the lease then: longer than the slowest operation.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub command_ack_wait: Duration,
}

impl NatsArgs {
    /// The bus's settings, when `--nats` was given.
    pub fn config(&self) -> Result<Option<BusConfig>> {
        let (Some(url), Some(account)) = (&self.nats, &self.account) else {
            return Ok(None);
        };
        let mut config = BusConfig::new(url.clone(), Account::new(account.clone())?);
        config.lease_ttl = self.lease_ttl;
        config.renew_every = self.lease_ttl / 5;
        config.request_timeout = exec_nats::DEFAULT_REQUEST_TIMEOUT.min(self.lease_ttl / 5);
        config.validate()?;
        Ok(Some(config))
    }

    /// How commands are read.
    pub fn commands(&self) -> ConsumerConfig {
        ConsumerConfig {
            ack_wait: self.command_ack_wait,
            ..ConsumerConfig::default()
        }
    }
}

/// Runs `serve` on the bus until a stop signal or the lease is lost.
pub async fn run(
    settings: Settings,
    listen: SocketAddr,
    config: BusConfig,
    commands: ConsumerConfig,
    signals: &mut StopSignals,
) -> Result<()> {
    let JournalLocation::Sqlite(path) = settings.journal.clone() else {
        bail!(
            "serve --nats rebuilds its journal file from the bus: set a journal file, not memory"
        );
    };
    let account = config.account.clone();
    let url = config.url.clone();
    let bus = Bus::connect(config).await?;
    let lease = Lease::open(&bus).await?;
    // A hot standby: the journal file follows the stream while the lease is held elsewhere.
    let follower = Follower::spawn(
        bus.clone(),
        fresh_journal(&path).await?,
        bus.config().renew_every,
    );
    let seen = Arc::new(Seen::default());
    seen.set(json!({"role": "standby", "account": account.as_str(), "holder": null}));
    let front = Standby::start(listen, &settings, seen.clone()).await?;
    crate::print_line(&format!(
        "bybit-exec serve: standby for account {account} on {url} (holder {}); waiting for the \
         lease; health http://{addr}/health",
        bus.config().holder,
        addr = front.addr()
    ));
    let standby = CancellationToken::new();
    let watching = bus.clone();
    let view = move |info: Option<&LeaseInfo>| {
        seen.set(json!({
            "role": "standby",
            "account": watching.names().account().as_str(),
            "connected": watching.is_connected(),
            "holder": info.map(|i| i.holder.clone()),
            "epoch": info.map(|i| i.epoch),
            "leaseExpiresInMs": info.map(|i| u64::try_from(i.expires_in.as_millis()).unwrap_or(u64::MAX)),
        }));
    };
    let held = tokio::select! {
        held = lease.acquire(&standby, view) => held,
        signal = signals.recv() => {
            standby.cancel();
            front.stop().await;
            crate::print_line(&format!("{signal} while standing by: stopped"));
            return Ok(());
        }
    };
    // The holder's server takes the address over.
    front.stop().await;
    let held = held?;
    let epoch = held.epoch();
    crate::print_line(&format!(
        "bybit-exec serve: took the lease of account {account} (epoch {epoch}); catching the \
         journal up with the bus"
    ));
    // The command backlog, for /health once the consumer runs.
    let backlog: Slot<Backlog> = Arc::default();
    let started = tokio::select! {
        started = take_over(&bus, &held, settings, listen, follower, backlog.clone()) => started,
        signal = signals.recv() => {
            crate::print_line(&format!("{signal} while taking over: stopped"));
            held.release().await;
            return Ok(());
        }
    };
    let (server, journal, publisher) = match started {
        Ok(started) => started,
        Err(e) => {
            held.release().await;
            return Err(e);
        }
    };
    let consuming = CancellationToken::new();
    let handler = Arc::new(ApiHandler {
        router: server.router(),
        addr: server.addr(),
    });
    let consumer = match CommandConsumer::spawn(&bus, handler, commands, consuming.clone()).await {
        Ok(consumer) => consumer,
        Err(e) => {
            let _ = tokio::time::timeout(STOP_WITHIN, server.stop()).await;
            held.release().await;
            return Err(e.into());
        }
    };
    *backlog
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(consumer.backlog());
    crate::print_line(&format!(
        "bybit-exec serve: holds account {account} (epoch {epoch}); commands on {}, events on \
         {}; status page http://{addr}/ , health http://{addr}/health",
        bus.names().command_subject(),
        bus.names().event_subjects(),
        addr = server.addr()
    ));
    let lost = held.lost();
    let outcome = tokio::select! {
        signal = signals.recv() => {
            crate::print_line(&format!("{signal}: stopping"));
            Ok(())
        }
        () = lost.cancelled() => {
            let why = held.lost_reason().unwrap_or_default();
            crate::print_line(&format!(
                "lost the lease of account {account} ({why}): stopping; no order is sent from now on"
            ));
            Err(anyhow!("lost the lease of account {account}: {why}"))
        }
    };
    // One budget for the whole stop (SPEC: exit within 5 s). A command still being handled
    // gets a moment to be answered; if it is cut, it stays unacknowledged and the next holder
    // answers it. A holder that lost its lease abandons it at once.
    let deadline = tokio::time::Instant::now() + STOP_WITHIN;
    if outcome.is_ok() {
        let _ = tokio::time::timeout(COMMAND_GRACE, consumer.shutdown()).await;
    } else {
        drop(consumer);
    }
    let stopped = tokio::time::timeout_at(deadline, server.stop()).await;
    // The journal's last records reach the stream before the lease is given up, so the next
    // holder rebuilds them.
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let flushed = journal.flush(left).await;
    publisher.cancel();
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if tokio::time::timeout(left, held.release()).await.is_err() {
        tracing::warn!("the lease was not released in time; it expires by its TTL");
    }
    outcome?;
    match (stopped, flushed) {
        (Ok(true), true) => {
            crate::print_line("stopped");
            Ok(())
        }
        (Ok(true), _) => bail!("stopped, but journal records were left unreplicated"),
        (Ok(false), _) => bail!("the stop was cut short (see the warnings above); exiting"),
        (Err(_), _) => bail!("the stop took longer than {STOP_WITHIN:?}; exiting"),
    }
}

/// What is made after the status it feeds (the journal, the publisher, the consumer).
type Slot<T> = Arc<std::sync::Mutex<Option<T>>>;

/// How long a clean stop lets the command being handled finish.
const COMMAND_GRACE: Duration = Duration::from_secs(1);

/// The takeover: the fence record, the journal rebuilt, the server started behind the lease.
async fn take_over(
    bus: &Bus,
    held: &Held,
    settings: Settings,
    listen: SocketAddr,
    follower: Follower,
    backlog: Slot<Backlog>,
) -> Result<(Server, Arc<ReplicatedJournal>, CancellationToken)> {
    let epoch = held.epoch();
    let at_ms = now_ms();
    let fence = takeover(bus, held.holder(), epoch, at_ms)
        .await
        .context("appending the takeover record to the journal stream")?;
    let rebuilt = catch_up(bus, follower, fence).await?;
    let unpublished = unpublished_fills(bus, &rebuilt).await?;
    drop(rebuilt);
    // The bus's background tasks (the journal's flush, the event publisher) stop with it.
    let publisher = CancellationToken::new();
    let journal_slot: Slot<Arc<ReplicatedJournal>> = Arc::default();
    let slot = journal_slot.clone();
    let gate = held.gate();
    let journal_bus = bus.clone();
    let journal_cancel = publisher.clone();
    let wrap: crate::runtime::JournalWrap = Box::new(move |inner: Arc<dyn Journal>| {
        let replicated = Arc::new(ReplicatedJournal::new(
            &journal_bus,
            inner,
            gate,
            fence,
            &journal_cancel,
        ));
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(replicated.clone());
        replicated as Arc<dyn Journal>
    });
    let events_bus = bus.clone();
    let events_cancel = publisher.clone();
    let publisher_slot: Slot<EventPublisher> = Arc::default();
    let publisher_set = publisher_slot.clone();
    let on_bus =
        Box::new(move |events: &exec_events::EventBus| {
            match EventPublisher::spawn_after(
                &events_bus,
                events,
                PublisherConfig::default(),
                events_cancel,
                unpublished,
            ) {
                Ok(spawned) => {
                    *publisher_set
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(spawned);
                }
                Err(e) => tracing::error!(error = %e, "the event publisher did not start"),
            }
        });
    let status = status_of(
        held,
        journal_slot.clone(),
        publisher_slot,
        backlog,
        bus.clone(),
    );
    let attach = Attach {
        journal: Some(wrap),
        on_bus: Some(on_bus),
        status: Some(status),
    };
    let server = Server::start_attached(settings, listen, attach).await?;
    let journal = journal_slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .ok_or_else(|| anyhow!("the runtime opened no journal"))?;
    Ok((server, journal, publisher))
}

/// How many journal files moved aside (`<journal>.before-<ms>`) a host keeps: each start as a
/// standby moves one aside, and a supervisor that restarts the process for weeks would
/// otherwise fill the disk with copies nobody reads (the stream holds the journal).
const KEPT_ASIDE: usize = 3;

/// A fresh journal file at `path` for the standby to follow the stream into: the file this
/// host had is kept beside it as `<journal>.before-<ms>` (the stream, not a file that may
/// have missed records, is what a new holder trusts), and older copies beyond the newest
/// [`KEPT_ASIDE`] are removed.
async fn fresh_journal(path: &Path) -> Result<SqliteJournal> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the journal's directory {}", dir.display()))?;
    }
    if path.exists() {
        let aside = sibling(path, &format!(".before-{}", now_ms()));
        std::fs::rename(path, &aside)
            .with_context(|| format!("moving the old journal {} aside", path.display()))?;
        for suffix in ["-wal", "-shm"] {
            let side = sibling(path, suffix);
            if side.exists() {
                let _ = std::fs::rename(&side, sibling(&aside, suffix));
            }
        }
        tracing::info!(old = %aside.display(), "the journal this host had is kept aside");
        prune_aside(path, KEPT_ASIDE);
    }
    let file = path.to_path_buf();
    tokio::task::spawn_blocking(move || SqliteJournal::open(&file))
        .await
        .context("opening the journal file")?
        .map_err(Into::into)
}

/// The hot standby's journal: a task that applies the stream's new records to the local file
/// every renewal interval, so a takeover only catches up on the last few. Each step runs to
/// its end before a stop is seen: a record is never applied twice.
struct Follower {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<(SqliteJournal, u64, usize)>,
}

impl Follower {
    fn spawn(bus: Bus, journal: SqliteJournal, every: Duration) -> Follower {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let (mut applied, mut records) = (0, 0);
            let mut failing = false;
            loop {
                match replay_after(&bus, &journal, applied, u64::MAX).await {
                    Ok(step) => {
                        applied = step.last_sequence;
                        records += step.records;
                        failing = false;
                    }
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "standby: the journal stream cannot be read now");
                    }
                    Err(_) => {}
                }
                tokio::select! {
                    () = stopped.cancelled() => return (journal, applied, records),
                    () = tokio::time::sleep(every) => {}
                }
            }
        });
        Follower { stop, task }
    }

    /// Stops following (after the step in hand): the journal and the last sequence applied.
    async fn stop(self) -> Result<(SqliteJournal, u64, usize)> {
        self.stop.cancel();
        self.task
            .await
            .context("the standby's journal follower failed")
    }
}

/// Catches the followed journal up to the takeover record `upto`.
async fn catch_up(bus: &Bus, follower: Follower, upto: u64) -> Result<SqliteJournal> {
    let (journal, applied, followed) = follower.stop().await?;
    let report = replay_after(bus, &journal, applied, upto)
        .await
        .context("rebuilding the journal from the bus")?;
    tracing::info!(
        followed,
        records = report.records,
        last_sequence = report.last_sequence,
        "journal rebuilt from the bus"
    );
    crate::print_line(&format!(
        "journal rebuilt from the bus: {} records followed as a standby, {} more at the \
         takeover, up to sequence {}",
        followed, report.records, report.last_sequence
    ));
    Ok(journal)
}

/// The rebuilt journal's fills that the event stream does not hold, as events, oldest first.
async fn unpublished_fills(bus: &Bus, journal: &SqliteJournal) -> Result<Vec<exec_events::Event>> {
    let stored = exec_nats::events::stored_fill_ids(bus)
        .await
        .context("reading the fills of the event stream")?;
    let missing: Vec<exec_events::Event> = journal
        .fills("")
        .await?
        .into_iter()
        .filter(|fill| !stored.contains(&fill.exec_id))
        .map(exec_events::Event::Fill)
        .collect();
    if !missing.is_empty() {
        crate::print_line(&format!(
            "{} fills of the journal are not on the event stream yet: published first",
            missing.len()
        ));
    }
    Ok(missing)
}

/// Removes the journal copies moved aside from `path` (`<name>.before-<ms>` and their `-wal`
/// and `-shm`) but the newest `keep`, each removal logged. A copy that cannot be removed is
/// logged and left: it costs disk, never a start.
fn prune_aside(path: &Path, keep: usize) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.before-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut copies: Vec<(u64, PathBuf)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let file = entry.file_name();
            let ms = file.to_str()?.strip_prefix(&prefix)?.parse::<u64>().ok()?;
            Some((ms, entry.path()))
        })
        .collect();
    copies.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
    for (_, copy) in copies.into_iter().skip(keep) {
        for file in [copy.clone(), sibling(&copy, "-wal"), sibling(&copy, "-shm")] {
            match std::fs::remove_file(&file) {
                Ok(()) => tracing::info!(removed = %file.display(), "an old journal copy removed"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "an old journal copy could not be removed");
                }
            }
        }
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `bus` in `/health` and `/api/status`: unhealthy once the lease may not be used.
fn status_of(
    held: &Held,
    journal: Slot<Arc<ReplicatedJournal>>,
    publisher: Slot<EventPublisher>,
    backlog: Slot<Backlog>,
    bus: Bus,
) -> ExtraStatus {
    let view = held.view();
    ExtraStatus(Arc::new(move || {
        let lease = view.info();
        let may_send = view.may_send();
        let journal_pending = journal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|j| j.pending());
        let events_pending = publisher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(EventPublisher::pending);
        let commands_waiting = backlog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(Backlog::get);
        let ok = may_send.is_ok() && bus.is_connected();
        let held = if may_send.is_ok() { 1.0 } else { 0.0 };
        metrics::gauge!("bybit_exec_bus_lease_may_send").set(held);
        metrics::gauge!("bybit_exec_bus_lease_expires_in_seconds")
            .set(lease.expires_in.as_secs_f64());
        #[allow(
            clippy::cast_precision_loss,
            reason = "a count and an epoch, far below 2^52"
        )]
        {
            metrics::gauge!("bybit_exec_bus_lease_epoch").set(lease.epoch as f64);
            metrics::gauge!("bybit_exec_bus_journal_pending")
                .set(journal_pending.unwrap_or(0) as f64);
        }
        let body = json!({
            "ok": ok,
            "account": bus.names().account().as_str(),
            "connected": bus.is_connected(),
            "role": "leader",
            "holder": lease.holder,
            "epoch": lease.epoch,
            "leaseExpiresInMs": u64::try_from(lease.expires_in.as_millis()).unwrap_or(u64::MAX),
            "maySend": may_send.err(),
            "journalPending": journal_pending,
            "eventsPending": events_pending,
            "commandsWaiting": commands_waiting,
        });
        (body, ok)
    }))
}

/// The commands from the bus, answered by the control API itself (in-process, no socket):
/// one owner of what each operation means and of every check on its input.
#[derive(Debug)]
struct ApiHandler {
    router: axum::Router,
    addr: SocketAddr,
}

impl ApiHandler {
    fn request(&self, command: &Command) -> Result<Request<Body>, String> {
        let tail = match command.op {
            Operation::ExecuteEntry => None,
            Operation::SetupTps => Some("tps"),
            Operation::SetupDcas => Some("dcas"),
            Operation::MoveToBreakeven => Some("breakeven"),
            Operation::CloseAll => Some("close"),
        };
        let path = match (tail, command.tag.as_deref()) {
            (None, _) => "/api/trades".to_owned(),
            (Some(tail), Some(tag)) => {
                // The tag becomes a path segment: only a tag's own characters may.
                if !tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(format!("tag {tag:?} is not a trade tag"));
                }
                format!("/api/trades/{tag}/{tail}")
            }
            (Some(_), None) => return Err("the command names no trade tag".to_owned()),
        };
        let body = match command.op {
            Operation::ExecuteEntry => command.body.clone(),
            _ => json!({}),
        };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, self.addr.to_string())
            .header(header::CONTENT_TYPE, "application/json")
            .header(super::guard::CONTROL_HEADER, "1")
            .body(Body::from(body.to_string()))
            .map_err(|e| e.to_string())?;
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0))));
        Ok(request)
    }
}

#[async_trait]
impl CommandHandler for ApiHandler {
    async fn handle(&self, command: Command) -> Answer {
        let request = match self.request(&command) {
            Ok(request) => request,
            Err(why) => {
                return Answer {
                    status: 400,
                    body: json!({ "error": why }),
                }
            }
        };
        match self.router.clone().oneshot(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
                    .unwrap_or_else(|e| json!({ "error": e }));
                Answer { status, body }
            }
            Err(e) => Answer {
                status: 500,
                body: json!({ "error": e.to_string() }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_standby_start_keeps_the_newest_journal_copies_and_removes_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.db");
        for ms in [100, 200, 300, 400] {
            std::fs::write(sibling(&path, &format!(".before-{ms}")), b"old").expect("copy");
        }
        std::fs::write(sibling(&path, ".before-100-wal"), b"wal").expect("wal");
        // Another journal's copies and other files are never touched.
        std::fs::write(dir.path().join("other.db.before-1"), b"x").expect("other");
        std::fs::write(dir.path().join("journal.db.before-notes"), b"x").expect("notes");
        std::fs::write(&path, b"this host's journal").expect("journal");

        let journal = fresh_journal(&path).await.expect("fresh journal");
        drop(journal);

        let mut kept: Vec<u64> = names(dir.path())
            .iter()
            .filter_map(|n| n.strip_prefix("journal.db.before-")?.parse().ok())
            .collect();
        kept.sort_unstable_by_key(|k| std::cmp::Reverse(*k));
        assert_eq!(kept.len(), KEPT_ASIDE, "{kept:?}");
        assert!(kept[0] > 400, "the copy just moved aside is kept: {kept:?}");
        assert_eq!(kept[1..], [400, 300]);
        let all = names(dir.path());
        for gone in [
            "journal.db.before-100",
            "journal.db.before-100-wal",
            "journal.db.before-200",
        ] {
            assert!(
                !all.contains(&gone.to_owned()),
                "{gone} still there: {all:?}"
            );
        }
        assert!(all.contains(&"other.db.before-1".to_owned()));
        assert!(all.contains(&"journal.db.before-notes".to_owned()));
    }
}
