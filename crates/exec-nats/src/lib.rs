//! The bus adapter: the execution layer on NATS JetStream, for trading beyond one machine.
//!
//! One account (a Bybit UID traded by one gateway at a time) gets, on one NATS server or
//! cluster:
//!
//! - **commands in** ([`commands`]): the SPEC operations as JSON on the stream
//!   `BYBIT_EXEC_<ACCOUNT>_CMD` (subject `bybit.exec.<account>.cmd`), de-duplicated by their
//!   `Nats-Msg-Id` (tag + operation), acknowledged only once answered;
//! - **events out** ([`events`]): the event bus on `bybit.exec.<account>.evt.<tag>` in the
//!   stream `BYBIT_EXEC_<ACCOUNT>_EVT`, so a consumer that was away resumes from its sequence;
//! - **the journal replicated** ([`journal`]): every journal record appended, in order and
//!   fenced by the lease, to `BYBIT_EXEC_<ACCOUNT>_JOURNAL`, from which another host rebuilds
//!   the journal it never wrote;
//! - **the lease** ([`lease`]): the one key of the key-value bucket `BYBIT_EXEC_<ACCOUNT>_LEASE`,
//!   whose holder alone trades the account.
//!
//! [`Bus::connect`] connects and creates (or updates) the three streams and the bucket.
//! This crate depends on the gateway's ports and events, never the other way round, and on no
//! other adapter (`cargo xtask deps`); `bybit-exec serve --nats` wires it in.
//!
//! Client: `async-nats` without its default features (they assume a 2.10+ server; Debian ships
//! 2.9), with JetStream and the key-value store.

pub mod commands;
pub mod events;
pub mod journal;
pub mod lease;

use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// The default time a lease lives without a renewal.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// How long a JetStream request (a publish's acknowledgement, a stream lookup) may take before
/// it counts as failed: short, so a journal write fails fast while the server is away.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the bus could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// The account name cannot be a subject token or stream name.
    #[error("account name {0:?} must be 1 to 32 characters of A-Z, a-z, 0-9, '-' or '_'")]
    InvalidAccount(String),
    /// The lease settings do not fit together.
    #[error("lease settings: {0}")]
    InvalidLease(String),
    /// No connection to the server.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The server's address.
        url: String,
        /// The cause.
        reason: String,
    },
    /// A stream or bucket could not be created, read or written.
    #[error("JetStream {what}: {reason}")]
    JetStream {
        /// What was being done.
        what: String,
        /// The cause.
        reason: String,
    },
}

impl BusError {
    pub(crate) fn jetstream(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        BusError::JetStream {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// What the replicated journal asks of the lease before a write: the one gate between
/// "this process holds the account" and an order being sent. [`lease::Held`] implements it.
pub trait Holding: Send + Sync + std::fmt::Debug {
    /// `Ok` while this process may send orders: its lease is held and cannot expire before a
    /// send that follows now has gone out; otherwise why not, in words for the log.
    fn may_send(&self) -> Result<(), String>;
    /// The lease's epoch (its revision when taken): higher for every later holder.
    fn epoch(&self) -> u64;
    /// Told when the journal stream shows that another holder has written after this one:
    /// this process has lost the account and must stop trading at once.
    fn fenced(&self, why: &str);
}

/// An account's name on the bus: a subject token and part of stream names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Account(String);

impl Account {
    /// Checks `name`: 1 to 32 characters of `A-Z a-z 0-9 - _`.
    pub fn new(name: impl Into<String>) -> Result<Self, BusError> {
        let name = name.into();
        let ok = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Account(name))
        } else {
            Err(BusError::InvalidAccount(name))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The subjects, streams and bucket of one account: the one place they are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    account: Account,
}

impl Names {
    /// The names of `account`'s subjects and streams.
    pub fn new(account: Account) -> Self {
        Names { account }
    }

    /// The account.
    pub fn account(&self) -> &Account {
        &self.account
    }

    fn upper(&self) -> String {
        self.account.as_str().to_ascii_uppercase().replace('-', "_")
    }

    /// `bybit.exec.<account>.cmd`: where commands are published.
    pub fn command_subject(&self) -> String {
        format!("bybit.exec.{}.cmd", self.account)
    }

    /// `BYBIT_EXEC_<ACCOUNT>_CMD`.
    pub fn command_stream(&self) -> String {
        format!("BYBIT_EXEC_{}_CMD", self.upper())
    }

    /// The durable consumer the lease holder reads commands with.
    pub fn command_consumer(&self) -> &'static str {
        "gateway"
    }

    /// `bybit.exec.<account>.evt.<tag>`: one trade's events (`_account` for the account's own:
    /// wallet, health, positions of no trade).
    pub fn event_subject(&self, tag: Option<&str>) -> String {
        format!(
            "bybit.exec.{}.evt.{}",
            self.account,
            tag.unwrap_or("_account")
        )
    }

    /// `bybit.exec.<account>.evt.>`: every event of the account.
    pub fn event_subjects(&self) -> String {
        format!("bybit.exec.{}.evt.>", self.account)
    }

    /// `BYBIT_EXEC_<ACCOUNT>_EVT`.
    pub fn event_stream(&self) -> String {
        format!("BYBIT_EXEC_{}_EVT", self.upper())
    }

    /// `bybit.exec.<account>.journal`: the replicated journal's one subject.
    pub fn journal_subject(&self) -> String {
        format!("bybit.exec.{}.journal", self.account)
    }

    /// `BYBIT_EXEC_<ACCOUNT>_JOURNAL`.
    pub fn journal_stream(&self) -> String {
        format!("BYBIT_EXEC_{}_JOURNAL", self.upper())
    }

    /// `BYBIT_EXEC_<ACCOUNT>_LEASE`: the key-value bucket of the lease.
    pub fn lease_bucket(&self) -> String {
        format!("BYBIT_EXEC_{}_LEASE", self.upper())
    }

    /// The lease's key in its bucket.
    pub fn lease_key(&self) -> &'static str {
        "holder"
    }
}

/// How to reach the bus and how the lease behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusConfig {
    /// The server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The account traded.
    pub account: Account,
    /// This process's name in the lease (host and pid by default).
    pub holder: String,
    /// How long a lease lives without a renewal: the longest a dead holder blocks a standby.
    pub lease_ttl: Duration,
    /// How often the holder renews, and how often a standby looks.
    pub renew_every: Duration,
    /// How long a JetStream request may take.
    pub request_timeout: Duration,
}

impl BusConfig {
    /// Defaults for `account` on `url`: a 10 s lease renewed every 2 s.
    pub fn new(url: impl Into<String>, account: Account) -> Self {
        BusConfig {
            url: url.into(),
            account,
            holder: default_holder(),
            lease_ttl: DEFAULT_LEASE_TTL,
            renew_every: DEFAULT_LEASE_TTL / 5,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Refuses settings under which a holder could not renew in time.
    pub fn validate(&self) -> Result<(), BusError> {
        if self.lease_ttl < Duration::from_secs(1) {
            return Err(BusError::InvalidLease(format!(
                "the lease's TTL {:?} is under 1 s",
                self.lease_ttl
            )));
        }
        if self.renew_every.is_zero() || self.renew_every * 3 > self.lease_ttl {
            return Err(BusError::InvalidLease(format!(
                "renewing every {:?} leaves fewer than three renewals in the TTL {:?}",
                self.renew_every, self.lease_ttl
            )));
        }
        if self.request_timeout.is_zero() || self.request_timeout > self.lease_ttl {
            return Err(BusError::InvalidLease(format!(
                "the request timeout {:?} must be above zero and within the TTL {:?}",
                self.request_timeout, self.lease_ttl
            )));
        }
        Ok(())
    }
}

/// `<host>:<pid>`: who holds a lease, as an operator reads it.
pub fn default_holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{host}:{}", std::process::id())
}

/// A connection to the bus for one account, with its streams and bucket in place.
#[derive(Debug, Clone)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    names: Names,
    config: BusConfig,
}

impl Bus {
    /// Connects (the client reconnects by itself afterwards) and creates or updates the
    /// account's streams and lease bucket.
    pub async fn connect(config: BusConfig) -> Result<Bus, BusError> {
        config.validate()?;
        let client = async_nats::ConnectOptions::new()
            .name(format!("bybit-exec {} {}", config.account, config.holder))
            .connection_timeout(config.request_timeout)
            .request_timeout(Some(config.request_timeout))
            .event_callback(|event| async move {
                tracing::info!(%event, "NATS connection");
            })
            .connect(config.url.as_str())
            .await
            .map_err(|e| BusError::Connect {
                url: config.url.clone(),
                reason: e.to_string(),
            })?;
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(config.request_timeout)
            .build(client.clone());
        let bus = Bus {
            client,
            jetstream,
            names: Names::new(config.account.clone()),
            config,
        };
        bus.ensure().await?;
        Ok(bus)
    }

    async fn ensure(&self) -> Result<(), BusError> {
        let names = &self.names;
        let streams = [
            (names.command_stream(), names.command_subject(), "commands"),
            (names.event_stream(), names.event_subjects(), "events"),
            (names.journal_stream(), names.journal_subject(), "journal"),
        ];
        for (name, subject, what) in streams {
            let config = stream::Config {
                name: name.clone(),
                description: Some(format!("bybit-exec {what} of account {}", names.account())),
                subjects: vec![subject],
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::Limits,
                ..Default::default()
            };
            self.jetstream
                .create_or_update_stream(config)
                .await
                .map_err(|e| BusError::jetstream(format!("creating stream {name}"), e))?;
        }
        // The bucket's stream is made here rather than by `create_key_value`, which first reads
        // the account's JetStream limits in a form a 2.9 server does not answer with. A
        // key-value bucket is a stream of this shape (NATS ADR-8): `KV_<bucket>` on
        // `$KV.<bucket>.>`, one message per key, rollups allowed, deletes denied, discard new.
        let bucket = names.lease_bucket();
        let ttl = self.config.lease_ttl;
        let config = stream::Config {
            name: format!("KV_{bucket}"),
            description: Some(format!("bybit-exec lease of account {}", names.account())),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_age: ttl,
            duplicate_window: ttl.min(Duration::from_secs(120)),
            storage: stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            num_replicas: 1,
            ..Default::default()
        };
        // The TTL is the bucket's, set by whoever made it: a gateway started with another one
        // is refused rather than changing it under the others (which would then trust a lease
        // the server expires sooner than they think).
        match self.jetstream.get_stream(format!("KV_{bucket}")).await {
            Ok(mut existing) => {
                let max_age = existing
                    .info()
                    .await
                    .map_err(|e| BusError::jetstream(format!("reading bucket {bucket}"), e))?
                    .config
                    .max_age;
                if max_age != ttl {
                    return Err(BusError::InvalidLease(format!(
                        "the account's lease lives {max_age:?} on the bus (bucket {bucket}), this \
                         process was given {ttl:?}: give every gateway of the account the same \
                         TTL, or delete the bucket while no gateway runs"
                    )));
                }
            }
            Err(_) => {
                self.jetstream
                    .create_stream(config)
                    .await
                    .map_err(|e| BusError::jetstream(format!("creating bucket {bucket}"), e))?;
            }
        }
        Ok(())
    }

    /// The account's names.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The settings it was connected with.
    pub fn config(&self) -> &BusConfig {
        &self.config
    }

    /// The core NATS client (replies to commands go over it).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// The lease's key-value bucket.
    pub async fn lease_store(&self) -> Result<async_nats::jetstream::kv::Store, BusError> {
        let bucket = self.names.lease_bucket();
        self.jetstream
            .get_key_value(bucket.as_str())
            .await
            .map_err(|e| BusError::jetstream(format!("opening bucket {bucket}"), e))
    }

    /// Whether the connection is up now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}
