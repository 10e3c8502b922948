//! One process of the layer, built from the settings: REST client, streams, router, journal
//! and gateway.
//!
//! [`Runtime::start`] wires what [`Settings::routing`] asks for:
//! - **Live**: [`LiveExchange`] over one [`RestClient`] routed for the environment
//!   (`trading_client`: trading calls on its host, market data where it takes it from,
//!   endpoints it lacks refused unsent) and both streams; the journal's fills are
//!   remembered before tracking starts (a restart publishes none again), then the start
//!   catch-up and the private topics.
//! - **DryRun**: [`DryRunRouter`] with instrument rules and prices from the environment's
//!   public data (a [`LiveExchange`] without a private stream or tracking; no keys needed).
//! - **Paper**: [`PaperRouter`] over a [`sim_engine::Engine`] built from the environment's
//!   instruments-info and opening tickers (public, no keys) and fed every ticker price the
//!   public stream brings, so a person paper-trades on real prices without an account. The
//!   account (balance, positions, orders, fills) is kept in the journal file and continued
//!   by the next start on it (`EXECUTION_PAPER_USDT` only sets a new journal's balance).
//!
//! [`Runtime::status`] is SPEC R-HEALTH-1's `{rest, wsPublic, wsPrivate}`.
//!
//! The routing's parts are one [`Router`] (live, dry-run or paper), never three optional ones.
//! Its long-running tasks (the order follower, the public stream's drain, and a caller's own,
//! e.g. `serve`'s) run under one root cancellation token with a task tracker ([`Tasks`],
//! `tasks.rs`).
//!
//! [`Runtime::shutdown`] stops tracking, cancels the tasks' root and waits for them (bounded),
//! closes the streams and drops the journal (every journal write is durable when it returns)
//! within [`SHUTDOWN_GRACE`].

pub mod lock;
mod tasks;

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::Path;

use crate::config::{BybitEnv, Feature, JournalLocation, Routing, Settings, WsTuning};
use anyhow::{anyhow, bail, Context, Result};
use bybit_rest::{routes, BybitRest, RestClient, RestConfig};
use bybit_types::Category;
use bybit_ws::{
    BackoffConfig, EventReceiver, PrivateAuth, TradeStream, WsConfig, WsEvent, WsStream,
};
use exec_events::{ErrorLog, EventBus};
use exec_gateway::{
    Balance, Gateway, GatewayConfig, Journal, MemoryJournal, Ports, SystemClock,
    DEFAULT_LINK_PREFIX,
};
use exec_journal::SqliteJournal;
use exec_live::{LiveConfig, LiveExchange, OrderPath, Preflight};
use exec_sim::{DryRunRouter, PaperRouter};
use serde::{Deserialize, Serialize};

pub use tasks::Tasks;

/// The router a runtime trades through: one per [`Routing`], holding what that routing
/// built and nothing else.
#[derive(Clone)]
pub enum Router {
    /// Live: the live adapters, tracking the private stream.
    Live {
        /// The live adapters.
        exchange: Arc<LiveExchange>,
        /// The private stream they track.
        private: Arc<WsStream>,
    },
    /// Dry-run: nothing is sent; the live adapters serve instrument rules and prices only.
    DryRun {
        /// The dry-run router.
        router: Arc<DryRunRouter>,
        /// The live adapters it reads rules and prices from (no private stream, no tracking).
        exchange: Arc<LiveExchange>,
    },
    /// Paper: the in-process exchange.
    Paper(Arc<PaperRouter>),
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Router::Live { .. } => "Router::Live",
            Router::DryRun { .. } => "Router::DryRun",
            Router::Paper(_) => "Router::Paper",
        })
    }
}

impl Router {
    /// The live adapters (live routing; in dry-run they serve rules and prices only).
    pub fn live(&self) -> Option<&Arc<LiveExchange>> {
        match self {
            Router::Live { exchange, .. } | Router::DryRun { exchange, .. } => Some(exchange),
            Router::Paper(_) => None,
        }
    }

    /// The private stream (live routing only).
    pub fn private(&self) -> Option<&Arc<WsStream>> {
        match self {
            Router::Live { private, .. } => Some(private),
            Router::DryRun { .. } | Router::Paper(_) => None,
        }
    }

    /// The paper router (paper routing).
    pub fn paper(&self) -> Option<&Arc<PaperRouter>> {
        match self {
            Router::Paper(paper) => Some(paper),
            Router::Live { .. } | Router::DryRun { .. } => None,
        }
    }

    /// The dry-run router (dry-run routing).
    pub fn dry_run(&self) -> Option<&Arc<DryRunRouter>> {
        match self {
            Router::DryRun { router, .. } => Some(router),
            Router::Live { .. } | Router::Paper(_) => None,
        }
    }
}

/// How long [`Runtime::shutdown`] may take before it gives up waiting (the streams are
/// cancelled either way). 3 s, so `serve`'s whole stop (HTTP drained first) fits SPEC's 5 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// How long the start waits for the public stream to acknowledge the ticker topics before it
/// goes on without (the stream keeps trying; prices fall back to REST).
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(10);

/// How often a start step that has not finished says what it is still waiting for.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(2500);

/// Runs one start step; while it has not finished, logs "still waiting for `what` (Ns)" at
/// info every [`PROGRESS_EVERY`], so a slow start is never silent. The one place
/// a start step is awaited with progress: every step of [`Runtime::start`] goes through it.
pub async fn waiting_for<F: std::future::Future>(what: &str, step: F) -> F::Output {
    let started = Instant::now();
    let mut step = std::pin::pin!(step);
    let mut every =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        tokio::select! {
            out = &mut step => return out,
            _ = every.tick() => tracing::info!(
                waited_s = started.elapsed().as_secs(),
                "still waiting for {what} ({}s)",
                started.elapsed().as_secs()
            ),
        }
    }
}

/// REST health: `{ok, latencyMs}` (SPEC R-HEALTH-1), and `error` when it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestStatus {
    /// `/v5/market/time` answered.
    pub ok: bool,
    /// Its round trip, ms.
    pub latency_ms: u64,
    /// Why it failed (the client's error: "IP banned by Bybit (HTTP 403) until …", a
    /// timeout, …); absent when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Public stream health: `{ok, lastMsgAgoSec}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsPublicStatus {
    /// Connected.
    pub ok: bool,
    /// Seconds since the last frame (`null` before the first).
    pub last_msg_ago_sec: Option<u64>,
}

/// Private stream health: `{ok, lastMsgAgoSec, error}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsPrivateStatus {
    /// Connected and authenticated.
    pub ok: bool,
    /// Seconds since the last frame (`null` before the first).
    pub last_msg_ago_sec: Option<u64>,
    /// What is wrong, if anything (`not configured` without keys).
    pub error: Option<String>,
}

/// The order-entry stream (`/v5/trade`) and which way orders went:
/// `{ok, path, lastMsgAgoSec, error, ordersWs, ordersRest}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsTradeStatus {
    /// Connected and authenticated: the next order create goes over it (`auto`, `ws`).
    pub ok: bool,
    /// `EXECUTION_ORDER_PATH`: `auto`, `rest` or `ws`.
    pub path: String,
    /// Seconds since the last frame (`null` before the first, or without a stream).
    pub last_msg_ago_sec: Option<u64>,
    /// Why orders do not go over it now, if they do not.
    pub error: Option<String>,
    /// Order creates sent over the stream since the start.
    pub orders_ws: u64,
    /// Order creates sent over REST since the start.
    pub orders_rest: u64,
}

/// `{rest:{ok,latencyMs}, wsPublic:{ok,lastMsgAgoSec}, wsPrivate:{ok,lastMsgAgoSec,error}}`
/// (SPEC R-HEALTH-1), and with live routing `wsTrade` ([`WsTradeStatus`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitStatus {
    /// REST.
    pub rest: RestStatus,
    /// The public stream.
    pub ws_public: WsPublicStatus,
    /// The private stream.
    pub ws_private: WsPrivateStatus,
    /// The order-entry stream (live routing only). Not part of health: orders go over REST
    /// while it is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_trade: Option<WsTradeStatus>,
}

impl BybitStatus {
    /// Healthy: REST and the public stream are up, and the private stream too when
    /// `private_required` (live routing).
    pub fn is_healthy(&self, private_required: bool) -> bool {
        self.rest.ok && self.ws_public.ok && (self.ws_private.ok || !private_required)
    }
}

/// The environment-dependent features (REFERENCE.md §1) a routing uses, each checked with
/// [`Settings::require`] by [`Runtime::start`] so a missing one is refused at start.
///
/// Today none: the live adapters subscribe `order`, `execution`, `position` and `wallet` (not
/// `execution.fast`), do not read the fee rate (`trading_client` refuses it unsent on demo
/// should a caller ask), and send orders over the `/v5/trade` stream only where the
/// environment has one (`EXECUTION_ORDER_PATH=auto`; `ws` is checked apart, by
/// [`Settings::validate`]); paper and dry-run use public data only. So every routing starts on
/// every environment, demo included. A feature added to the adapters must be listed here.
pub fn features_used(routing: Routing) -> &'static [Feature] {
    match routing {
        Routing::Live | Routing::DryRun | Routing::Paper => &[],
    }
}

/// How long [`probe`] waits for a stream to connect (and authenticate) before it reports it
/// down.
pub const PROBE_WAIT: Duration = Duration::from_secs(5);

/// SPEC R-HEALTH-1 without starting the layer: REST's `/v5/market/time` (on the trading host
/// with keys, else where public data comes from), the public stream connected, and with keys
/// the private stream connected and authenticated. It always answers: what cannot be reached
/// is reported down with the reason. Healthy ([`BybitStatus::is_healthy`]) needs the private
/// stream only when keys are configured.
pub async fn probe(settings: &Settings) -> BybitStatus {
    let with_keys = settings.credentials.is_some();
    let url = if with_keys {
        &settings.rest_url
    } else {
        &settings.public_rest_url
    };
    let rest_probe = async {
        let started = Instant::now();
        let answer = match rest_client(settings, url, with_keys) {
            Ok(client) => client.server_time().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        RestStatus {
            ok: answer.is_ok(),
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            error: answer.err(),
        }
    };
    let public_probe = async {
        let h = match WsStream::public(ws_config(&settings.ws_public_url, &settings.ws)) {
            Ok((stream, _events)) => {
                let h = waiting_for(
                    "the public stream to connect",
                    wait_for(&stream, |h| h.connected),
                )
                .await;
                stream.close().await;
                Some(h)
            }
            Err(_) => None,
        };
        WsPublicStatus {
            ok: h.as_ref().is_some_and(|h| h.connected),
            last_msg_ago_sec: h.and_then(|h| h.since_last_message).map(|d| d.as_secs()),
        }
    };
    let private_probe = async {
        let Some(creds) = settings.credentials.clone() else {
            return WsPrivateStatus {
                ok: false,
                last_msg_ago_sec: None,
                error: Some("not configured (no API keys)".to_owned()),
            };
        };
        let config = ws_config(&settings.ws_private_url, &settings.ws);
        let mut auth = PrivateAuth::new(creds);
        // A skewed clock fails the auth's expiry: measure it as a start does.
        if let Ok(client) = rest_client(settings, &settings.rest_url, true) {
            if client.sync_clock().await.is_ok() {
                let client = Arc::new(client);
                auth.clock_offset = Some(Arc::new(move || client.clock_status().offset_ms));
            }
        }
        match WsStream::private(config, auth) {
            Err(e) => WsPrivateStatus {
                ok: false,
                last_msg_ago_sec: None,
                error: Some(e.to_string()),
            },
            Ok((stream, _events)) => {
                let h = waiting_for(
                    "the private stream to connect and authenticate",
                    wait_for(&stream, |h| h.connected && h.authenticated),
                )
                .await;
                stream.close().await;
                let ok = h.connected && h.authenticated;
                WsPrivateStatus {
                    ok,
                    last_msg_ago_sec: h.since_last_message.map(|d| d.as_secs()),
                    error: (!ok).then(|| {
                        h.last_error.unwrap_or_else(|| {
                            if h.connected {
                                format!("not authenticated within {PROBE_WAIT:?}")
                            } else {
                                format!("not connected within {PROBE_WAIT:?}")
                            }
                        })
                    }),
                }
            }
        }
    };
    let (rest, ws_public, ws_private) = tokio::join!(rest_probe, public_probe, private_probe);
    BybitStatus {
        rest,
        ws_public,
        ws_private,
        ws_trade: None,
    }
}

/// Waits (at most [`PROBE_WAIT`]) until `ready` holds or the stream reports an error.
async fn wait_for(
    stream: &WsStream,
    ready: impl Fn(&bybit_ws::HealthSnapshot) -> bool,
) -> bybit_ws::HealthSnapshot {
    let deadline = Instant::now() + PROBE_WAIT;
    loop {
        let h = stream.health();
        if ready(&h) || h.last_error.is_some() || Instant::now() >= deadline {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One running process of the layer. What the application's modes (serve, ops, the demo, an
/// embedding program) call directly is public (settings, bus, journal, gateway, ports, REST
/// clients); the router of its routing ([`Router`]), the public stream and its tasks are reached
/// through methods; [`Runtime::shutdown`] ends it.
pub struct Runtime {
    /// What it was built from.
    pub settings: Settings,
    /// The bus every event is published on.
    pub bus: EventBus,
    /// The intent journal.
    pub journal: Arc<dyn Journal>,
    /// The gateway (SPEC §7).
    pub gateway: Arc<Gateway>,
    /// The ports the gateway was built with.
    pub ports: Ports,
    /// The REST client the live adapters use (`trading_client`): trading calls on
    /// [`Settings::rest_url`] with the keys, if any; market data from
    /// [`Settings::public_rest_url`]; endpoints the environment lacks refused unsent.
    pub rest: Arc<RestClient>,
    /// The REST client for public data ([`Settings::public_rest_url`], no keys).
    pub public_rest: Arc<RestClient>,
    /// The public stream (tickers of [`Settings::symbols`]).
    public: Arc<WsStream>,
    /// The router of [`Settings::routing`].
    router: Router,
    /// The long-running tasks, stopped by [`shutdown`](Self::shutdown).
    tasks: Tasks,
    /// The journal file and its lock (one process per journal): [`shutdown`](Self::shutdown)
    /// closes the file, then releases the lock; otherwise both go when the runtime is dropped
    /// or the process ends.
    journal_lock: Option<JournalFile>,
}

/// A journal file this runtime holds: its lock, and a handle to close it before the lock goes.
struct JournalFile {
    lock: lock::JournalLock,
    file: SqliteJournal,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("settings", &self.settings)
            .field("routing", &self.settings.routing)
            .finish_non_exhaustive()
    }
}

fn ws_config(url: &str, tuning: &WsTuning) -> WsConfig {
    let mut config = WsConfig::new(url);
    config.ping_interval = tuning.ping_interval;
    config.pong_timeout = tuning.pong_timeout;
    config.idle_timeout = tuning.idle_timeout;
    config.connect_timeout = tuning.connect_timeout;
    config.reply_timeout = tuning.connect_timeout;
    config.backoff = BackoffConfig {
        initial: tuning.backoff_initial,
        max: tuning.backoff_max,
        stable_after: Duration::from_secs(5),
    };
    config
}

/// The REST client of an environment: trading calls on [`Settings::rest_url`] with the keys,
/// public market data from [`Settings::public_rest_url`] (demo trading: mainnet's), and the
/// endpoints the environment lacks (demo: the fee rate) refused before anything is sent,
/// naming `BYBIT_ENV` (REFERENCE.md §1).
pub(crate) fn trading_client(settings: &Settings) -> Result<RestClient> {
    let mut config = rest_config(settings, &settings.rest_url, true)
        .public_data_url(settings.public_rest_url.as_str())
        .environment(format!("BYBIT_ENV={}", settings.env));
    if !settings.capabilities().has(Feature::FeeRate) {
        config = config.not_offered(&routes::FEE_RATE);
    }
    RestClient::new(config).with_context(|| format!("REST client for {}", settings.rest_url))
}

/// A REST client for `url` alone: every endpoint there, the keys if `with_keys`.
pub(crate) fn rest_client(settings: &Settings, url: &str, with_keys: bool) -> Result<RestClient> {
    RestClient::new(rest_config(settings, url, with_keys))
        .with_context(|| format!("REST client for {url}"))
}

fn rest_config(settings: &Settings, url: &str, with_keys: bool) -> RestConfig {
    let mut config = RestConfig::with_base_url(url);
    config.recv_window = settings.recv_window;
    config.timeout = settings.http_timeout;
    if with_keys {
        if let Some(c) = &settings.credentials {
            config = config.credentials(c.clone());
        }
    }
    // The gateway's outcome policy owns every create's re-send.
    exec_live::gateway_rest_config(config)
}

/// The table where a journal file records which environment and routing it belongs to.
const OWNER_TABLE: &str = "CREATE TABLE IF NOT EXISTS bybit_exec_owner (
    key TEXT PRIMARY KEY, value TEXT NOT NULL)";

/// Records in the journal file at `path` the environment and routing that first opened it,
/// and refuses it to any other: `recover()` marks a trade whose position is flat as closed,
/// and a paper or dry-run exchange is always flat, so it must never see the live journal.
pub fn claim_journal(path: &Path, env: BybitEnv, routing: Routing) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the journal's directory {}", dir.display()))?;
    }
    let shown = path.display();
    let conn =
        rusqlite::Connection::open(path).with_context(|| format!("opening the journal {shown}"))?;
    let owner = |key: &str| -> rusqlite::Result<String> {
        conn.query_row(
            "SELECT value FROM bybit_exec_owner WHERE key = ?1",
            [key],
            |r| r.get(0),
        )
    };
    let (found_env, found_routing) = conn
        .execute_batch(OWNER_TABLE)
        .and_then(|()| {
            conn.execute(
                "INSERT OR IGNORE INTO bybit_exec_owner (key, value) VALUES ('env', ?1), ('routing', ?2)",
                [env.as_str(), routing.as_str()],
            )
        })
        .and_then(|_| Ok((owner("env")?, owner("routing")?)))
        .with_context(|| format!("reading the journal {shown}'s owner"))?;
    if found_env != env.as_str() || found_routing != routing.as_str() {
        bail!(
            "the journal {shown} belongs to {} with {found_routing} routing, not {} with \
             {routing} routing; each has its own journal (EXECUTION_JOURNAL, default \
             data/journal-<env>-<routing>.sqlite) so that one never rewrites another's trades",
            env_named(&found_env),
            env_named(env.as_str()),
        );
    }
    Ok(())
}

/// How a journal's owner environment is named to the operator: a Bybit environment by its
/// `BYBIT_ENV` value, the local emulator as such (it is no `BYBIT_ENV` value, but loopback URLs).
fn env_named(word: &str) -> String {
    if word == BybitEnv::Emulator.as_str() {
        "the local emulator (loopback URLs)".to_owned()
    } else {
        format!("BYBIT_ENV={word}")
    }
}

/// What this process is, for the journal's lock file: the subcommand it runs.
fn process_name() -> String {
    std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| format!("bybit-exec {a}"))
        .unwrap_or_else(|| "bybit-exec".to_owned())
}

/// Opens the journal; for a file, first takes its lock ([`lock::JournalLock`]: one process
/// per journal) and claims it ([`claim_journal`]). Blocking, so it runs on tokio's blocking
/// pool.
/// What [`Runtime::start_full`] passes the journal through.
pub type JournalWrap = Box<dyn FnOnce(Arc<dyn Journal>) -> Arc<dyn Journal> + Send>;

async fn open_journal(settings: &Settings) -> Result<(Arc<dyn Journal>, Option<JournalFile>)> {
    let location = settings.journal.clone();
    let (env, routing) = (settings.env, settings.routing);
    tokio::task::spawn_blocking(move || -> Result<(Arc<dyn Journal>, Option<JournalFile>)> {
        Ok(match location {
            JournalLocation::Memory => (Arc::new(MemoryJournal::new()), None),
            JournalLocation::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| {
                        format!("creating the journal's directory {}", dir.display())
                    })?;
                }
                let lock = lock::JournalLock::acquire(&path, &process_name())?;
                claim_journal(&path, env, routing)?;
                let file = SqliteJournal::open(&path)?;
                (Arc::new(file.clone()), Some(JournalFile { lock, file }))
            }
        })
    })
    .await
    .context("opening the journal")?
}

impl Runtime {
    /// Builds and starts one process of the layer from `settings` (see the module docs).
    pub async fn start(settings: Settings) -> Result<Runtime> {
        Self::start_on_bus(settings, EventBus::new(exec_events::DEFAULT_CAPACITY)).await
    }

    /// [`start`](Self::start) publishing on `bus`: subscribe to it first to see every event
    /// of the start (the catch-up's order and position updates).
    pub async fn start_on_bus(settings: Settings, bus: EventBus) -> Result<Runtime> {
        Self::start_with(settings, bus, Tasks::new()).await
    }

    /// [`start_on_bus`](Self::start_on_bus) with its long-running tasks under `tasks` (the
    /// caller's own tasks, e.g. `serve`'s, share the root and are stopped with the runtime's).
    pub async fn start_with(settings: Settings, bus: EventBus, tasks: Tasks) -> Result<Runtime> {
        Self::start_full(settings, bus, tasks, None).await
    }

    /// [`start_with`](Self::start_with), the journal it opens passed through `wrap` first
    /// (`serve --nats`: the journal replicated on the bus, behind the account's lease). Every
    /// component gets the wrapped journal; the file underneath is still flushed at shutdown.
    pub async fn start_full(
        settings: Settings,
        bus: EventBus,
        tasks: Tasks,
        wrap: Option<JournalWrap>,
    ) -> Result<Runtime> {
        settings.validate()?;
        for feature in features_used(settings.routing) {
            settings.require(*feature)?;
        }
        for notice in settings.notices() {
            tracing::warn!("{notice}");
        }
        let (journal, journal_lock) = open_journal(&settings).await?;
        let journal = match wrap {
            Some(wrap) => wrap(journal),
            None => journal,
        };
        let error_log = match settings.error_log.clone() {
            Some(path) => Some(Arc::new(
                tokio::task::spawn_blocking(move || ErrorLog::open(path)).await??,
            )),
            None => None,
        };
        let rest = Arc::new(trading_client(&settings)?);
        let public_rest = Arc::new(rest_client(&settings, &settings.public_rest_url, false)?);

        let (public, public_events) =
            WsStream::public(ws_config(&settings.ws_public_url, &settings.ws))?;
        let public = Arc::new(public);
        let symbols: Vec<String> = settings
            .symbols
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        // On an early return the tasks are cancelled (the root's drop guard, once the caller's
        // handle goes too), so a failed start leaves nothing running.

        let clock = Arc::new(SystemClock);
        let (ports, router) = match settings.routing {
            Routing::Live => {
                let creds = settings.require_credentials("live routing")?.clone();
                // A skewed clock fails every signed request (10002): measure it first.
                if let Err(e) =
                    waiting_for("the server clock (/v5/market/time)", rest.sync_clock()).await
                {
                    tracing::warn!(error = %e, "server clock not measured");
                }
                let mut auth = PrivateAuth::new(creds);
                let clock_rest = rest.clone();
                auth.clock_offset = Some(Arc::new(move || clock_rest.clock_status().offset_ms));
                // The order-entry stream, unless orders go over REST only or the environment
                // has none (auto then uses REST; `ws` without one was refused by validate()).
                let trade = match (&settings.ws_trade_url, settings.order_path) {
                    (Some(url), OrderPath::Auto | OrderPath::Ws) => {
                        let mut config = ws_config(url, &settings.ws);
                        config.recv_window = settings.recv_window;
                        let (trade, trade_events) = TradeStream::connect(config, auth.clone())?;
                        tasks.spawn(drain(trade_events, None));
                        Some(Arc::new(trade))
                    }
                    _ => None,
                };
                let (private, private_events) =
                    WsStream::private(ws_config(&settings.ws_private_url, &settings.ws), auth)?;
                let private = Arc::new(private);
                subscribe_public(&public, &symbols, settings.book_depth).await;
                let config = LiveConfig {
                    poll_interval: settings.poll_interval,
                    silence_threshold: settings.silence_threshold,
                    order_path: settings.order_path,
                    ..LiveConfig::default()
                };
                let mut exchange = LiveExchange::new(
                    rest.clone() as Arc<dyn BybitRest>,
                    bus.clone(),
                    journal.clone(),
                    config,
                    Some(private.clone()),
                    Some(public.clone()),
                );
                if let Some(trade) = trade {
                    exchange = exchange.with_trade_stream(trade);
                }
                let exchange = Arc::new(exchange);
                // Fills already journaled are not published again after a restart.
                let known = journal.fills(DEFAULT_LINK_PREFIX).await?;
                exchange.tracker().remember_fills(&known);
                // No fill recorder: the tracker journals each fill before it publishes it.
                waiting_for(
                    "the instruments and the account's orders, executions and positions (REST catch-up)",
                    exchange.start_tracking(Some(private_events)),
                )
                .await
                    .map_err(|e| {
                        anyhow!("starting order tracking on {}: {e}", settings.rest_url)
                    })?;
                tasks.spawn(drain(public_events, None));
                let ports = exchange.ports(journal.clone(), clock.clone());
                (ports, Router::Live { exchange, private })
            }
            Routing::DryRun => {
                subscribe_public(&public, &symbols, settings.book_depth).await;
                // Rules and prices only: no private stream, no tracking, no keys.
                let exchange = Arc::new(LiveExchange::new(
                    public_rest.clone() as Arc<dyn BybitRest>,
                    bus.clone(),
                    journal.clone(),
                    LiveConfig::default(),
                    None,
                    Some(public.clone()),
                ));
                waiting_for(
                    "the instruments (REST)",
                    exec_gateway::SymbolMetaService::refresh_symbol_meta(exchange.as_ref()),
                )
                .await
                .map_err(|e| {
                    anyhow!("loading instruments from {}: {e}", settings.public_rest_url)
                })?;
                let balance = Balance {
                    wallet: settings.paper_usdt,
                    available: settings.paper_usdt,
                    equity: Some(settings.paper_usdt),
                };
                let dry = Arc::new(DryRunRouter::new(
                    exchange.clone(),
                    exchange.clone(),
                    bus.clone(),
                    clock.clone(),
                    journal.clone(),
                    balance,
                ));
                tasks.spawn(drain(public_events, None));
                let ports = Ports {
                    router: dry.clone(),
                    positions: dry.clone(),
                    account: dry.clone(),
                    meta: exchange.clone(),
                    prices: exchange.clone(),
                    journal: journal.clone(),
                    clock: clock.clone(),
                };
                (
                    ports,
                    Router::DryRun {
                        router: dry,
                        exchange,
                    },
                )
            }
            Routing::Paper => {
                let engine = waiting_for(
                    "the instruments and prices for paper trading (REST)",
                    paper_engine(&settings, public_rest.as_ref()),
                )
                .await?;
                // The account the journal holds (an earlier paper process) is continued.
                let paper = PaperRouter::new(engine, bus.clone(), clock.clone(), journal.clone())
                    .await
                    .context("opening the paper account")?;
                let paper = Arc::new(paper);
                tasks.spawn(drain(public_events, Some(paper.clone())));
                subscribe_public(&public, &symbols, settings.book_depth).await;
                let ports = Ports {
                    router: paper.clone(),
                    positions: paper.clone(),
                    account: paper.clone(),
                    meta: paper.clone(),
                    prices: paper.clone(),
                    journal: journal.clone(),
                    clock: clock.clone(),
                };
                (ports, Router::Paper(paper))
            }
        };

        let mut config = GatewayConfig::new(settings.max_notional_usdt);
        // A plan on another symbol is refused before anything is sent (R-SAFE-1).
        config.symbols = Some(settings.symbols.iter().cloned().collect());
        config.on_tp_failure = settings.on_tp_failure;
        let gateway = match Gateway::new(ports.clone(), config, bus.clone(), error_log.clone()) {
            Ok(gateway) => Arc::new(gateway),
            Err(e) => {
                if let Some(live) = router.live() {
                    live.shutdown().await;
                }
                return Err(e.into());
            }
        };
        // Each leg's status as the exchange last reported it (answers, pages, the manager).
        tasks.adopt(gateway.follow_orders());
        Ok(Runtime {
            settings,
            bus,
            journal,
            gateway,
            ports,
            rest,
            public_rest,
            public,
            router,
            tasks,
            journal_lock,
        })
    }

    /// The settings it was built from.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The router of [`Settings::routing`].
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The live adapters (live routing; in dry-run they serve rules and prices only).
    pub fn live(&self) -> Option<&Arc<LiveExchange>> {
        self.router.live()
    }

    /// The private stream (live routing only).
    pub fn private(&self) -> Option<&Arc<WsStream>> {
        self.router.private()
    }

    /// The paper router (paper routing).
    pub fn paper(&self) -> Option<&Arc<PaperRouter>> {
        self.router.paper()
    }

    /// The public stream (tickers of [`Settings::symbols`]).
    pub fn public(&self) -> &Arc<WsStream> {
        &self.public
    }

    /// The long-running tasks (a caller's own tasks join them to be stopped with the runtime).
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// The pre-flight of [`Settings`]' symbols, leverage and minimum margin (SPEC R-ACC-2);
    /// live routing only.
    pub fn preflight_plan(&self) -> Preflight {
        Preflight {
            symbols: self.settings.symbols.clone(),
            leverage: self.settings.leverage,
            min_available_usdt: self.settings.min_available_usdt,
        }
    }

    /// SPEC R-HEALTH-1: REST's `/v5/market/time` round trip (on the trading host with live
    /// routing, else where public data comes from) and both streams' health.
    pub async fn status(&self) -> BybitStatus {
        let rest = self.rest_status().await;
        self.status_with(rest)
    }

    /// R-HEALTH-1's REST part alone: the `/v5/market/time` round trip.
    pub async fn rest_status(&self) -> RestStatus {
        let rest = if self.settings.routing == Routing::Live {
            &self.rest
        } else {
            &self.public_rest
        };
        let started = Instant::now();
        let answer = rest.server_time().await;
        RestStatus {
            ok: answer.is_ok(),
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            error: answer.err().map(|e| e.to_string()),
        }
    }

    /// R-HEALTH-1 with a REST part measured elsewhere (`serve` caches it) and both streams'
    /// health read now (no I/O).
    pub fn status_with(&self, rest: RestStatus) -> BybitStatus {
        let h = self.public.health();
        let ws_public = WsPublicStatus {
            ok: h.connected,
            last_msg_ago_sec: h.since_last_message.map(|d| d.as_secs()),
        };
        let ws_private = match self.router.private() {
            None => WsPrivateStatus {
                ok: false,
                last_msg_ago_sec: None,
                error: Some(format!(
                    "not configured ({} routing has no private stream)",
                    self.settings.routing
                )),
            },
            Some(p) => {
                let h = p.health();
                let ok = h.connected && h.authenticated;
                WsPrivateStatus {
                    ok,
                    last_msg_ago_sec: h.since_last_message.map(|d| d.as_secs()),
                    error: if ok {
                        None
                    } else {
                        Some(h.last_error.unwrap_or_else(|| {
                            if h.connected {
                                "not authenticated yet".to_owned()
                            } else {
                                "not connected".to_owned()
                            }
                        }))
                    },
                }
            }
        };
        BybitStatus {
            rest,
            ws_public,
            ws_private,
            ws_trade: self.trade_status(),
        }
    }

    /// The order-entry stream's part of the status (live routing only).
    fn trade_status(&self) -> Option<WsTradeStatus> {
        let Router::Live { exchange, .. } = &self.router else {
            return None;
        };
        let counts = exchange.order_paths();
        let path = self.settings.order_path;
        let (ok, last, error) = match exchange.trade_stream() {
            None => (
                false,
                None,
                Some(match self.settings.ws_trade_url {
                    None => format!("not used: {} has no order-entry stream", self.settings.env),
                    Some(_) => format!("not used (EXECUTION_ORDER_PATH={})", path.name()),
                }),
            ),
            Some(stream) => {
                let h = stream.health();
                let ok = stream.is_ready();
                let error = (!ok).then(|| {
                    let why = h.last_error.unwrap_or_else(|| {
                        if h.connected {
                            "not authenticated yet".to_owned()
                        } else {
                            "not connected".to_owned()
                        }
                    });
                    if path == OrderPath::Auto {
                        format!("{why}: orders go over REST meanwhile")
                    } else {
                        why
                    }
                });
                (ok, h.since_last_message.map(|d| d.as_secs()), error)
            }
        };
        Some(WsTradeStatus {
            ok,
            path: path.name().to_owned(),
            last_msg_ago_sec: last,
            error,
            orders_ws: counts.ws,
            orders_rest: counts.rest,
        })
    }

    /// Whether `status` is healthy for this routing (the private stream counts only live).
    pub fn is_healthy(&self, status: &BybitStatus) -> bool {
        status.is_healthy(self.settings.routing == Routing::Live)
    }

    /// Stops tracking (nothing is published after it; every router journals a fill before it
    /// publishes it), stops the background tasks, closes the
    /// streams and drops the journal, waiting at most [`SHUTDOWN_GRACE`]. Returns whether all
    /// of it finished in time.
    pub async fn shutdown(self) -> bool {
        let work = async move {
            let clean = self.stop_work().await;
            let Runtime {
                gateway,
                ports,
                public,
                router,
                journal,
                journal_lock,
                ..
            } = self;
            let private = router.private().cloned();
            drop((gateway, ports, router, journal));
            // The file closed (what is queued committed, the connection gone: a handle still
            // held elsewhere gets errors from now on), then its lock released.
            if let Some(JournalFile { lock, file }) = journal_lock {
                file.close().await;
                drop(lock);
            }
            // The streams close when their last handle goes; close them here when this is it.
            for stream in [Some(public), private].into_iter().flatten() {
                match Arc::try_unwrap(stream) {
                    Ok(stream) => stream.close().await,
                    Err(shared) => drop(shared),
                }
            }
            clean
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, work).await {
            Ok(clean) => clean,
            Err(_) => {
                tracing::warn!("shutdown took longer than {SHUTDOWN_GRACE:?}; streams cancelled");
                false
            }
        }
    }

    /// [`shutdown`](Self::shutdown) for a runtime still shared (e.g. a request in flight
    /// holds it): tracking stopped, fills journaled, tasks stopped; the streams close when the
    /// last handle goes. Returns whether it finished within [`SHUTDOWN_GRACE`].
    pub async fn shutdown_shared(&self) -> bool {
        tokio::time::timeout(SHUTDOWN_GRACE, self.stop_work())
            .await
            .unwrap_or(false)
    }

    async fn stop_work(&self) -> bool {
        if let Some(live) = self.router.live() {
            live.shutdown().await;
        }
        // The root's cancellation ends every task (the order follower, the drains, a caller's
        // own); each ends at its next `.await`, so this wait is short. Every router journals a
        // fill before it publishes it: nothing is left to drain.
        self.tasks.shutdown(SHUTDOWN_GRACE).await
    }
}

/// Subscribes the ticker topics, and the order books when `book_depth` is not 0, waiting a
/// bounded time for each acknowledgement.
async fn subscribe_public(public: &WsStream, symbols: &[String], book_depth: u32) {
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let acked = tokio::time::timeout(SUBSCRIBE_WAIT, public.subscribe_tickers(&refs));
    match waiting_for("the public stream to acknowledge the ticker topics", acked).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "ticker topics not subscribed"),
        Err(_) => tracing::warn!("ticker topics not acknowledged yet; the stream keeps trying"),
    }
    if book_depth == 0 {
        return;
    }
    let acked = tokio::time::timeout(
        SUBSCRIBE_WAIT,
        public.subscribe_orderbook(&refs, book_depth),
    );
    match waiting_for(
        "the public stream to acknowledge the order-book topics",
        acked,
    )
    .await
    {
        Ok(Ok(())) => tracing::info!(
            symbols = refs.len(),
            depth = book_depth,
            "order books subscribed"
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "order-book topics not subscribed"),
        Err(_) => tracing::warn!("order-book topics not acknowledged yet; the stream keeps trying"),
    }
}

/// Reads the public stream's events; with a paper router, every ticker's last price is
/// printed on its engine (its resting orders fill as the real market moves).
async fn drain(mut events: EventReceiver, paper: Option<Arc<PaperRouter>>) {
    // A ticker comes several times a second: a failure that lasts (the paper account could
    // not be saved, which refuses every later call) is logged once, not with every tick.
    let mut failing = Repeats::default();
    while let Some(event) = events.recv().await {
        match event {
            WsEvent::Ticker(t) => {
                if let (Some(paper), Some(price)) = (&paper, t.last_price) {
                    match paper.set_price(&t.symbol, price).await {
                        Err(e) => {
                            if failing.failed(&e.to_string()) {
                                tracing::warn!(symbol = %t.symbol, error = %e, "paper price not applied (said once while it lasts)");
                            }
                        }
                        Ok(()) => {
                            if failing.ok() {
                                tracing::info!(symbol = %t.symbol, "paper prices applied again");
                            }
                        }
                    }
                }
            }
            WsEvent::Closed { .. } => break,
            _ => {}
        }
    }
}

/// The last failure of a repeated call, so a lasting one is told once.
#[derive(Debug, Default)]
struct Repeats {
    last: Option<String>,
}

impl Repeats {
    /// A failure: whether it is new (the first, or another than the last).
    fn failed(&mut self, why: &str) -> bool {
        let new = self.last.as_deref() != Some(why);
        if new {
            self.last = Some(why.to_owned());
        }
        new
    }

    /// A success: whether it ends a run of failures.
    fn ok(&mut self) -> bool {
        self.last.take().is_some()
    }
}

/// The paper exchange: the environment's instruments for the traded symbols, opening at their
/// current last price, a still market that moves only with the public ticker.
/// The executions the paper engine keeps. Its account is saved whole in the journal with every
/// change (about 0.5 KB an execution), and the journal's `fills` table already holds every
/// fill for good; the engine's own list only answers recent lookups. Bybit's default (100 000)
/// would make each save of a weeks-long paper session tens of megabytes.
pub const PAPER_EXECUTIONS_KEPT: usize = 1_000;

async fn paper_engine(settings: &Settings, public: &RestClient) -> Result<sim_engine::Engine> {
    let url = &settings.public_rest_url;
    let all = public
        .instruments(Category::Linear)
        .await
        .with_context(|| format!("reading instruments-info from {url}"))?;
    let wanted: Vec<_> = all
        .into_iter()
        .filter(|i| settings.symbols.iter().any(|s| s.as_str() == i.symbol))
        .collect();
    for s in &settings.symbols {
        if !wanted.iter().any(|i| i.symbol == s.as_str()) {
            return Err(anyhow!(
                "{} is not a linear instrument on {url}",
                s.as_str()
            ));
        }
    }
    // The seed makes the engine's order ids and execIds. A fresh account's must not repeat
    // those of fills already in the journal (an earlier account whose row is gone, a journal
    // of a binary that did not keep the account): the journal keeps a fill once per execId,
    // so a repeated one would be dropped. A restored account continues its saved generator.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            d.as_secs().rotate_left(32) ^ u64::from(d.subsec_nanos())
        })
        ^ u64::from(std::process::id()).rotate_left(48);
    let mut config = sim_engine::EngineConfig::new(wanted, settings.paper_usdt, seed);
    config.static_prices = true;
    config.limits.executions_kept = PAPER_EXECUTIONS_KEPT;
    for s in &settings.symbols {
        let tickers = public
            .tickers(Category::Linear, Some(s.clone()))
            .await
            .with_context(|| format!("reading the {} ticker from {url}", s.as_str()))?;
        let price = tickers
            .list
            .iter()
            .find(|t| t.symbol == s.as_str())
            .and_then(|t| t.last_price)
            .ok_or_else(|| anyhow!("{url} has no last price for {}", s.as_str()))?;
        config = config.with_price(s.as_str(), price);
    }
    sim_engine::Engine::new(config).map_err(|e| anyhow!("paper engine: {e:?}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_lasting_failure_is_told_once() {
        let mut r = Repeats::default();
        assert!(r.failed("unsaved"));
        assert!(!r.failed("unsaved"), "the same failure again: not told");
        assert!(r.failed("unknown symbol"), "another failure: told");
        assert!(r.ok(), "the run of failures ended");
        assert!(!r.ok());
        assert!(r.failed("unsaved"), "a new run: told again");
    }

    #[test]
    fn every_environment_offers_what_every_routing_uses() {
        // REFERENCE.md §1 (docs/v5/demo.mdx): demo lacks WS order entry, fee rate and
        // execution.fast; nothing a routing uses may be among them.
        for env in [
            BybitEnv::Testnet,
            BybitEnv::Mainnet,
            BybitEnv::Demo,
            BybitEnv::Emulator,
        ] {
            for routing in [Routing::Live, Routing::DryRun, Routing::Paper] {
                for feature in features_used(routing) {
                    assert!(
                        env.capabilities().has(*feature),
                        "{env} lacks {feature:?} used by {routing}"
                    );
                }
            }
        }
    }
}
