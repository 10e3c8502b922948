//! Settings from environment variables and an optional TOML file (SPEC §2, R-CFG-1..5).
//!
//! Every key is read the same way from both sources: the file first, then the environment,
//! which wins (R-CFG-1). The file holds the same keys as the environment (`BYBIT_ENV =
//! "testnet"`; lower case is accepted too) and nothing else: an unknown key in it is an
//! error, so a typo cannot silently leave a default in force. A bad or missing value fails
//! [`Settings::load`] with a [`ConfigError`] naming the key and the expected form; a secret's
//! value is never part of an error, and [`Settings`]' `Debug` prints only whether keys are set
//! (R-CFG-4). Mainnet needs `BYBIT_MAINNET_CONFIRM=yes` or `--confirm-mainnet` (R-CFG-5).
//!
//! Each environment's [`Capabilities`] (REFERENCE.md §1) are known here, so a feature the
//! chosen environment lacks is refused at start ([`Settings::require`]) rather than found out
//! as a failure in the middle of a trade.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use bybit_sign::Credentials;
use bybit_types::Symbol;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// Options every subcommand takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// A TOML file with the same keys as the environment (the environment wins).
    #[arg(long, global = true, env = "BYBIT_EXEC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Allow BYBIT_ENV=mainnet (the same as BYBIT_MAINNET_CONFIRM=yes): real money.
    #[arg(long, global = true)]
    pub confirm_mainnet: bool,
}

/// Which Bybit the layer talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BybitEnv {
    /// `api-testnet.bybit.com`: test money, a thin market.
    Testnet,
    /// `api.bybit.com`: real money (needs the opt-in, R-CFG-5).
    Mainnet,
    /// Demo trading (`api-demo.bybit.com`): mainnet prices, test money, fewer features.
    Demo,
    /// A local emulator: the trading REST URL is on loopback (`BYBIT_REST_URL=http://127.0.0.1:…`,
    /// or [`Settings::for_emulator`]), whatever `BYBIT_ENV` says; not a `BYBIT_ENV` value.
    /// Shown as "local emulator", with its own default journal.
    Emulator,
}

impl BybitEnv {
    /// The `BYBIT_ENV` word (`emulator` for a local emulator): the name in file names, the
    /// journal's owner record and JSON. [`Display`](fmt::Display) is the name for people.
    pub fn as_str(self) -> &'static str {
        match self {
            BybitEnv::Testnet => "testnet",
            BybitEnv::Mainnet => "mainnet",
            BybitEnv::Demo => "demo",
            BybitEnv::Emulator => "emulator",
        }
    }

    /// What this environment offers (REFERENCE.md §1).
    pub fn capabilities(self) -> Capabilities {
        match self {
            BybitEnv::Testnet => Capabilities {
                ws_order_entry: true,
                fee_rate: true,
                execution_fast: true,
                public_data_from_mainnet: false,
                thin_market: true,
            },
            BybitEnv::Mainnet | BybitEnv::Emulator => Capabilities {
                ws_order_entry: true,
                fee_rate: true,
                execution_fast: true,
                public_data_from_mainnet: false,
                thin_market: false,
            },
            BybitEnv::Demo => Capabilities {
                ws_order_entry: false,
                fee_rate: false,
                execution_fast: false,
                public_data_from_mainnet: true,
                thin_market: false,
            },
        }
    }

    /// Bybit's REST base URL (R-CFG-2, REFERENCE.md §1).
    pub fn rest_url(self) -> &'static str {
        match self {
            BybitEnv::Testnet => "https://api-testnet.bybit.com",
            BybitEnv::Mainnet | BybitEnv::Emulator => "https://api.bybit.com",
            BybitEnv::Demo => "https://api-demo.bybit.com",
        }
    }

    /// The REST URL public market data (instruments, tickers) comes from: demo trading takes
    /// its public data from mainnet.
    pub fn public_rest_url(self) -> &'static str {
        match self {
            BybitEnv::Demo => BybitEnv::Mainnet.rest_url(),
            other => other.rest_url(),
        }
    }

    /// The public linear stream (demo: mainnet's).
    pub fn ws_public_url(self) -> &'static str {
        match self {
            BybitEnv::Testnet => "wss://stream-testnet.bybit.com/v5/public/linear",
            BybitEnv::Mainnet | BybitEnv::Demo | BybitEnv::Emulator => {
                "wss://stream.bybit.com/v5/public/linear"
            }
        }
    }

    /// The private stream.
    pub fn ws_private_url(self) -> &'static str {
        match self {
            BybitEnv::Testnet => "wss://stream-testnet.bybit.com/v5/private",
            BybitEnv::Mainnet | BybitEnv::Emulator => "wss://stream.bybit.com/v5/private",
            BybitEnv::Demo => "wss://stream-demo.bybit.com/v5/private",
        }
    }
}

impl fmt::Display for BybitEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BybitEnv::Emulator => f.write_str("local emulator"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// What an environment offers beyond REST trading and the private order / execution /
/// position / wallet topics, which all have (REFERENCE.md §1, docs/v5/demo.mdx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Order entry over the `/v5/trade` WebSocket.
    pub ws_order_entry: bool,
    /// `GET /v5/account/fee-rate`.
    pub fee_rate: bool,
    /// The `execution.fast` private topic.
    pub execution_fast: bool,
    /// Public market data (REST and stream) comes from mainnet, not from this environment.
    pub public_data_from_mainnet: bool,
    /// The order books are thin: market orders may slip far and prices may look odd.
    pub thin_market: bool,
}

/// A feature that only some environments offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Order entry over the `/v5/trade` WebSocket.
    WsOrderEntry,
    /// `GET /v5/account/fee-rate`.
    FeeRate,
    /// The `execution.fast` private topic.
    ExecutionFast,
}

impl Feature {
    /// How Bybit names it.
    pub fn describe(self) -> &'static str {
        match self {
            Feature::WsOrderEntry => "order entry over the WebSocket (/v5/trade)",
            Feature::FeeRate => "the fee-rate endpoint (GET /v5/account/fee-rate)",
            Feature::ExecutionFast => "the execution.fast private topic",
        }
    }
}

impl Capabilities {
    /// Whether `feature` is offered.
    pub fn has(&self, feature: Feature) -> bool {
        match feature {
            Feature::WsOrderEntry => self.ws_order_entry,
            Feature::FeeRate => self.fee_rate,
            Feature::ExecutionFast => self.execution_fast,
        }
    }
}

/// How orders are routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Real orders on the configured environment (needs API keys).
    Live,
    /// Nothing is sent: orders are checked and answered as if taken (`EXECUTION_DRY_RUN`).
    DryRun,
    /// An in-process exchange fed the environment's public prices (no keys needed).
    Paper,
}

impl Routing {
    /// The `EXECUTION_ROUTING` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Routing::Live => "live",
            Routing::DryRun => "dry-run",
            Routing::Paper => "paper",
        }
    }
}

impl fmt::Display for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the intent journal lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalLocation {
    /// An SQLite file (created with its directory).
    Sqlite(PathBuf),
    /// In memory: gone when the process ends (demo, tests; `EXECUTION_JOURNAL=:memory:`).
    Memory,
}

/// WebSocket heartbeat and reconnect timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsTuning {
    /// How often a ping is sent.
    pub ping_interval: Duration,
    /// A ping unanswered this long: reconnect.
    pub pong_timeout: Duration,
    /// No frame at all this long: reconnect.
    pub idle_timeout: Duration,
    /// Connecting must finish within this.
    pub connect_timeout: Duration,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
}

impl WsTuning {
    /// Bybit's recommended heartbeat: 20 s ping, 10 s to answer (docs/v5/ws/connect).
    pub fn bybit() -> Self {
        WsTuning {
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }

    /// Short timings for a loopback emulator, so a killed socket is noticed in well under a
    /// second.
    pub fn local() -> Self {
        WsTuning {
            ping_interval: Duration::from_millis(300),
            pong_timeout: Duration::from_millis(700),
            idle_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_millis(400),
        }
    }
}

/// `serve`'s HTTP server limits (see [`Settings::serve_http`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeHttp {
    /// A request head must arrive within this; also the idle keep-alive limit.
    pub header_timeout: Duration,
    /// A request body must arrive within this of its head.
    pub body_timeout: Duration,
    /// The most connections held at once.
    pub max_connections: usize,
}

impl Default for ServeHttp {
    fn default() -> Self {
        ServeHttp {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 256,
        }
    }
}

/// Everything one process of the layer is configured with. Build it with [`Settings::load`]
/// (environment and file) or [`Settings::for_emulator`]; every field is public so a caller
/// can adjust one (e.g. the routing) after loading.
#[derive(Clone)]
pub struct Settings {
    /// `BYBIT_ENV`.
    pub env: BybitEnv,
    /// `BYBIT_API_KEY` + `BYBIT_API_SECRET`, if both are set.
    pub credentials: Option<Credentials>,
    /// `EXECUTION_ROUTING` / `EXECUTION_DRY_RUN`.
    pub routing: Routing,
    /// `EXECUTION_DRY_RUN=true`: nothing may be sent, so [`validate`](Self::validate) refuses
    /// any routing but dry-run (also one set after loading, e.g. `serve --routing live`).
    pub dry_run: bool,
    /// `BYBIT_REST_URL`.
    pub rest_url: String,
    /// `BYBIT_PUBLIC_REST_URL`: where instruments and tickers are read (demo: mainnet).
    pub public_rest_url: String,
    /// `BYBIT_WS_PUBLIC_URL`.
    pub ws_public_url: String,
    /// `BYBIT_WS_PRIVATE_URL`.
    pub ws_private_url: String,
    /// `EXECUTION_JOURNAL` (default [`default_journal_path`]: one file per environment and
    /// routing, so a paper or dry-run process never opens the live journal).
    pub journal: JournalLocation,
    /// `EXECUTION_ERROR_LOG` (default `data/logs/execution-error.log`; `none`: none).
    pub error_log: Option<PathBuf>,
    /// `EXECUTION_SYMBOLS`: the traded symbols (comma-separated; default `BTCUSDT`).
    pub symbols: Vec<Symbol>,
    /// `EXECUTION_LEVERAGE` (default 25, R-CFG-3).
    pub leverage: Decimal,
    /// `EXECUTION_MIN_AVAILABLE_USDT`: pre-flight's minimum available margin (default 100).
    pub min_available_usdt: Decimal,
    /// `EXECUTION_MAX_NOTIONAL_USDT`: the largest entry or DCA value (default 5000).
    pub max_notional_usdt: Decimal,
    /// `EXECUTION_ON_TP_FAILURE`: when take-profits cannot be placed after the entry filled,
    /// `keep` the position flagged unprotected (default) or `close` it (R-SAFE-3).
    pub on_tp_failure: exec_gateway::TpFailurePolicy,
    /// `EXECUTION_POLL_INTERVAL_MS`: REST polling while the private stream is quiet (3000).
    pub poll_interval: Duration,
    /// `EXECUTION_SILENCE_MS`: the private stream counts as quiet after this (30000).
    pub silence_threshold: Duration,
    /// `EXECUTION_RECONCILE_MS`: how often `serve`'s background reconciler runs a pass while
    /// passes succeed (3000; doubled up to 8× while they fail).
    pub reconcile_every: Duration,
    /// `BYBIT_RECV_WINDOW_MS` (5000, R-CFG-2).
    pub recv_window: Duration,
    /// `BYBIT_HTTP_TIMEOUT_MS` (5000, R-CFG-2).
    pub http_timeout: Duration,
    /// `PAPER_USDT`: the paper account's opening balance (10000).
    pub paper_usdt: Decimal,
    /// Stream timings (Bybit's; short ones for the emulator).
    pub ws: WsTuning,
    /// `serve`'s HTTP server: `SERVE_HEADER_TIMEOUT_MS` (a request head, and an idle
    /// keep-alive connection's next one, must arrive within it; 10000),
    /// `SERVE_BODY_TIMEOUT_MS` (a request body within this of its head; 10000) and
    /// `SERVE_MAX_CONNECTIONS` (256; beyond it the longest-idle connection is closed: keep it
    /// well under the process's file-descriptor limit).
    pub serve_http: ServeHttp,
    /// Whether mainnet was confirmed (`BYBIT_MAINNET_CONFIRM=yes` / `--confirm-mainnet`).
    pub mainnet_confirmed: bool,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // R-CFG-4: neither the key nor the secret is printed, only whether they are set.
        f.debug_struct("Settings")
            .field("env", &self.env)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[REDACTED]"),
            )
            .field("routing", &self.routing)
            .field("dry_run", &self.dry_run)
            .field("rest_url", &self.rest_url)
            .field("public_rest_url", &self.public_rest_url)
            .field("ws_public_url", &self.ws_public_url)
            .field("ws_private_url", &self.ws_private_url)
            .field("journal", &self.journal)
            .field("error_log", &self.error_log)
            .field("symbols", &self.symbols)
            .field("leverage", &self.leverage)
            .field("min_available_usdt", &self.min_available_usdt)
            .field("max_notional_usdt", &self.max_notional_usdt)
            .field("on_tp_failure", &self.on_tp_failure)
            .field("poll_interval", &self.poll_interval)
            .field("silence_threshold", &self.silence_threshold)
            .field("reconcile_every", &self.reconcile_every)
            .field("recv_window", &self.recv_window)
            .field("http_timeout", &self.http_timeout)
            .field("paper_usdt", &self.paper_usdt)
            .field("ws", &self.ws)
            .field("serve_http", &self.serve_http)
            .field("mainnet_confirmed", &self.mainnet_confirmed)
            .finish()
    }
}

/// Why the settings could not be built. The message names the key and the expected form and
/// never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value is not of the expected form.
    #[error("{key}{origin}: {shown} is not valid; expected {expected}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Where it came from (`" (from the environment)"`, `" (from FILE)"`).
        origin: String,
        /// The value as shown (`"…"`, or `a value` for a secret).
        shown: String,
        /// The expected form.
        expected: String,
    },
    /// A value is needed but not set.
    #[error("{key} is not set: {why}; expected {expected}")]
    Missing {
        /// The key.
        key: &'static str,
        /// Why it is needed.
        why: String,
        /// The expected form.
        expected: &'static str,
    },
    /// Mainnet without the opt-in (R-CFG-5).
    #[error(
        "BYBIT_ENV=mainnet trades real money and needs an explicit opt-in: set \
         BYBIT_MAINNET_CONFIRM=yes or pass --confirm-mainnet"
    )]
    MainnetNotConfirmed,
    /// The TOML file could not be read or parsed, or holds an unknown key.
    #[error("config file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The environment lacks a feature that was asked for.
    #[error(
        "BYBIT_ENV={env} does not offer {feature} (REFERENCE.md §1); use {alternative} for it"
    )]
    Unsupported {
        /// The environment.
        env: BybitEnv,
        /// The feature, described.
        feature: &'static str,
        /// Where it is offered.
        alternative: &'static str,
    },
}

/// A key this module reads: its name, expected form, the TOML type its value must have in
/// the file, and whether its value is secret.
struct Key {
    name: &'static str,
    expected: &'static str,
    toml: TomlForm,
    secret: bool,
}

/// The TOML type a key's value must have in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TomlForm {
    /// A string.
    Text,
    /// A boolean.
    Bool,
    /// An integer.
    Int,
    /// A decimal: a string (so no float rounds it) or an integer.
    Decimal,
    /// A string, or an array of strings (joined with commas).
    List,
}

impl TomlForm {
    fn describe(self) -> &'static str {
        match self {
            TomlForm::Text => "a TOML string",
            TomlForm::Bool => "a TOML boolean (true or false, unquoted)",
            TomlForm::Int => "a TOML integer (unquoted)",
            TomlForm::Decimal => {
                "a TOML string such as \"0.5\" (or an integer), so no float rounds it"
            }
            TomlForm::List => "a TOML string or an array of strings",
        }
    }
}

const fn key(name: &'static str, expected: &'static str) -> Key {
    Key {
        name,
        expected,
        toml: TomlForm::Text,
        secret: false,
    }
}

const fn typed(name: &'static str, expected: &'static str, toml: TomlForm) -> Key {
    Key {
        name,
        expected,
        toml,
        secret: false,
    }
}

const KEYS: &[Key] = &[
    key("BYBIT_ENV", "one of testnet, mainnet, demo"),
    Key {
        name: "BYBIT_API_KEY",
        expected: "the API key: printable ASCII, no spaces",
        toml: TomlForm::Text,
        secret: true,
    },
    Key {
        name: "BYBIT_API_SECRET",
        expected: "the API secret (non-empty)",
        toml: TomlForm::Text,
        secret: true,
    },
    key("BYBIT_MAINNET_CONFIRM", "yes (to allow mainnet)"),
    typed("EXECUTION_DRY_RUN", "true or false", TomlForm::Bool),
    key("EXECUTION_ROUTING", "one of live, dry-run, paper"),
    key("BYBIT_REST_URL", "an http:// or https:// URL"),
    key("BYBIT_PUBLIC_REST_URL", "an http:// or https:// URL"),
    key("BYBIT_WS_PUBLIC_URL", "a ws:// or wss:// URL"),
    key("BYBIT_WS_PRIVATE_URL", "a ws:// or wss:// URL"),
    key(
        "EXECUTION_JOURNAL",
        "a file path for the SQLite journal, or :memory:",
    ),
    key(
        "EXECUTION_ERROR_LOG",
        "a file path for the error log, or none",
    ),
    typed(
        "EXECUTION_SYMBOLS",
        "comma-separated symbols such as BTCUSDT,ETHUSDT",
        TomlForm::List,
    ),
    typed(
        "EXECUTION_LEVERAGE",
        "a decimal number from 1 to 200",
        TomlForm::Decimal,
    ),
    typed(
        "EXECUTION_MIN_AVAILABLE_USDT",
        "a decimal number of USDT, 0 or more",
        TomlForm::Decimal,
    ),
    typed(
        "EXECUTION_MAX_NOTIONAL_USDT",
        "a decimal number of USDT above 0",
        TomlForm::Decimal,
    ),
    key("EXECUTION_ON_TP_FAILURE", "keep or close"),
    typed(
        "EXECUTION_POLL_INTERVAL_MS",
        "a whole number of milliseconds from 100 to 60000",
        TomlForm::Int,
    ),
    typed(
        "EXECUTION_SILENCE_MS",
        "a whole number of milliseconds from 100 to 600000",
        TomlForm::Int,
    ),
    typed(
        "EXECUTION_RECONCILE_MS",
        "a whole number of milliseconds from 100 to 600000",
        TomlForm::Int,
    ),
    typed(
        "BYBIT_RECV_WINDOW_MS",
        "a whole number of milliseconds from 1 to 60000",
        TomlForm::Int,
    ),
    typed(
        "BYBIT_HTTP_TIMEOUT_MS",
        "a whole number of milliseconds from 100 to 120000",
        TomlForm::Int,
    ),
    typed(
        "PAPER_USDT",
        "a decimal number of USDT above 0",
        TomlForm::Decimal,
    ),
    typed(
        "SERVE_HEADER_TIMEOUT_MS",
        "a whole number of milliseconds from 100 to 600000",
        TomlForm::Int,
    ),
    typed(
        "SERVE_BODY_TIMEOUT_MS",
        "a whole number of milliseconds from 100 to 600000",
        TomlForm::Int,
    ),
    typed(
        "SERVE_MAX_CONNECTIONS",
        "a whole number from 4 to 4096",
        TomlForm::Int,
    ),
];

fn spec(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The domains of Bybit's mainnet hosts (REFERENCE.md §1: `api.bybit.com`, `api.bytick.com`,
/// `stream.bybit.com` and the regional sites' `api.*` / `stream.*` hosts). Every host under
/// one of them is taken for mainnet except the testnet and demo ones.
const MAINNET_DOMAINS: &[&str] = &[
    "bybit.com",
    "bytick.com",
    "bybit.nl",
    "bybit.tr",
    "bybit.kz",
    "bybitgeorgia.ge",
    "bybit.ae",
    "bybit.eu",
    "bybit.id",
    "manepa.jp",
];

/// The host of `url` (`scheme://host[:port][/path]`), lower case, without brackets or port.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `host` is one of Bybit's mainnet hosts (real money).
pub fn is_mainnet_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let bybit = MAINNET_DOMAINS
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")));
    let first = host.split('.').next().unwrap_or("");
    bybit && !first.contains("testnet") && !first.contains("demo")
}

/// Whether `host` is this machine (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The names of every key [`Settings::load`] reads (for help texts and the README).
pub fn known_keys() -> impl Iterator<Item = (&'static str, &'static str)> {
    KEYS.iter().map(|k| (k.name, k.expected))
}

/// Where a raw value came from.
#[derive(Debug, Clone)]
enum Origin {
    Env,
    File(PathBuf),
}

/// The raw key → value map, before parsing.
struct Raw {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Raw {
    fn get(&self, name: &'static str) -> Option<&str> {
        self.values
            .get(name)
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// Whether the key is present at all (an empty value counts).
    fn present(&self, name: &'static str) -> bool {
        self.values.contains_key(name)
    }

    fn invalid(&self, name: &'static str) -> ConfigError {
        let k = spec(name);
        let (value, origin) = self
            .values
            .get(name)
            .cloned()
            .unwrap_or((String::new(), Origin::Env));
        let shown = if k.is_some_and(|k| k.secret) {
            "the value".to_owned()
        } else {
            format!("{value:?}")
        };
        ConfigError::Invalid {
            key: name,
            origin: match origin {
                Origin::Env => " (from the environment)".to_owned(),
                Origin::File(p) => format!(" (from {})", p.display()),
            },
            shown,
            expected: k.map_or("a valid value", |k| k.expected).to_owned(),
        }
    }

    fn parse<T: FromStr>(&self, name: &'static str) -> Result<Option<T>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| self.invalid(name)),
        }
    }

    fn bool(&self, name: &'static str) -> Result<Option<bool>, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) => match v.as_str() {
                "true" | "1" | "yes" => Ok(Some(true)),
                "false" | "0" | "no" => Ok(Some(false)),
                _ => Err(self.invalid(name)),
            },
        }
    }

    fn decimal(
        &self,
        name: &'static str,
        default: Decimal,
        ok: impl Fn(Decimal) -> bool,
    ) -> Result<Decimal, ConfigError> {
        let v = self.parse::<Decimal>(name)?.unwrap_or(default);
        if ok(v) {
            Ok(v)
        } else {
            Err(self.invalid(name))
        }
    }

    fn millis(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        let v = self.parse::<u64>(name)?.unwrap_or(default);
        if range.contains(&v) {
            Ok(Duration::from_millis(v))
        } else {
            Err(self.invalid(name))
        }
    }

    fn count(
        &self,
        name: &'static str,
        default: usize,
        range: std::ops::RangeInclusive<usize>,
    ) -> Result<usize, ConfigError> {
        let v = self.parse::<usize>(name)?.unwrap_or(default);
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(self.invalid(name))
        }
    }

    fn url(
        &self,
        name: &'static str,
        default: &str,
        schemes: &[&str],
    ) -> Result<String, ConfigError> {
        let Some(v) = self.get(name) else {
            return Ok(default.to_owned());
        };
        let v = v.trim();
        let ok = schemes.iter().any(|s| {
            v.strip_prefix(s)
                .and_then(|rest| rest.strip_prefix("://"))
                .is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace))
        });
        if ok {
            Ok(v.trim_end_matches('/').to_owned())
        } else {
            Err(self.invalid(name))
        }
    }
}

/// Reads a TOML file into raw values: the same keys as the environment, any case, each value
/// of the TOML type its key expects ([`TomlForm`]: a string for text, URLs and secrets, a
/// boolean, an integer, a decimal as a string so no float rounds it, a list as an array of
/// strings). A value of another type is refused naming the file, the key and the expected
/// type, never the value (it may be a secret).
fn read_file(path: &Path) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_error(e.message().to_owned()))?;
    let mut out = Vec::new();
    for (name, value) in table {
        let upper = name.to_ascii_uppercase();
        let Some(k) = spec(&upper) else {
            return Err(file_error(format!(
                "unknown key {name:?}; the keys are {}",
                KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
            )));
        };
        // TOML keys are case-sensitive, these are not: the same key in two cases would leave
        // which value counts to the table's order.
        if out.iter().any(|(seen, _)| *seen == k.name) {
            return Err(file_error(format!(
                "{} is given more than once (in different cases); keep one",
                k.name
            )));
        }
        let wrong = |found: &str| {
            file_error(format!(
                "{}: a TOML {found} is not accepted; expected {} ({})",
                k.name,
                k.toml.describe(),
                k.expected
            ))
        };
        let text = match (k.toml, value) {
            (TomlForm::Text | TomlForm::Decimal | TomlForm::List, toml::Value::String(s)) => s,
            (TomlForm::Bool, toml::Value::Boolean(b)) => b.to_string(),
            (TomlForm::Int | TomlForm::Decimal, toml::Value::Integer(i)) => i.to_string(),
            (TomlForm::List, toml::Value::Array(items)) => {
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        toml::Value::String(s) => parts.push(s),
                        other => return Err(wrong(&format!("array of {}s", other.type_str()))),
                    }
                }
                parts.join(",")
            }
            (TomlForm::Decimal, toml::Value::Float(_)) => {
                return Err(file_error(format!(
                    "{}: write decimal numbers as strings (e.g. \"0.5\") so no float rounds them; expected {}",
                    k.name, k.expected
                )))
            }
            (_, other) => return Err(wrong(other.type_str())),
        };
        out.push((k.name, text));
    }
    Ok(out)
}

/// The `export` lines that point the CLI and `serve` at a local emulator at `http_url`
/// (`http://127.0.0.1:PORT`) with API key `key` and, when it may be printed (the emulator's
/// published default), `secret`; otherwise a comment says to export the secret given to it.
/// `bybit-exec emulator` prints them; the README's recipe is the same lines. An emulator
/// listening on a wildcard address (`0.0.0.0`, `[::]`) is reached here at the loopback
/// address of its family, the one these settings take as a local emulator.
pub fn emulator_exports(http_url: &str, key: &str, secret: Option<&str>) -> String {
    let host = http_url.trim_start_matches("http://").trim_end_matches('/');
    let host = match host.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => {
            let loopback = match addr {
                std::net::SocketAddr::V4(_) => {
                    std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST)
                }
                std::net::SocketAddr::V6(_) => {
                    std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
                }
            };
            std::net::SocketAddr::new(loopback, addr.port()).to_string()
        }
        _ => host.to_owned(),
    };
    let http_url = format!("http://{host}");
    let quote = |v: &str| format!("'{}'", v.replace('\'', "'\\''"));
    let mut out = format!(
        "# point bybit-exec (the CLI and serve) at this emulator, in another shell:\n\
         export BYBIT_REST_URL={http_url}\n\
         export BYBIT_PUBLIC_REST_URL={http_url}\n\
         export BYBIT_WS_PUBLIC_URL=ws://{host}/v5/public/linear\n\
         export BYBIT_WS_PRIVATE_URL=ws://{host}/v5/private\n\
         export BYBIT_API_KEY={}\n",
        quote(key)
    );
    match secret {
        Some(secret) => out.push_str(&format!("export BYBIT_API_SECRET={}\n", quote(secret))),
        None => out.push_str(
            "# export BYBIT_API_SECRET=... (the secret given with --api-secret / \
             BYBIT_EMULATOR_API_SECRET; not printed)\n",
        ),
    }
    out
}

/// The journal a process uses unless `EXECUTION_JOURNAL` says otherwise:
/// `data/journal-<env>-<routing>.sqlite` (`data/journal-emulator-live.sqlite` for a local
/// emulator). Each environment and routing has its own, so a paper or dry-run process (whose
/// exchange is empty) can never take the live trades for closed, and an emulator's trades
/// never mix with testnet's.
pub fn default_journal_path(env: BybitEnv, routing: Routing) -> PathBuf {
    PathBuf::from(format!(
        "data/journal-{}-{}.sqlite",
        env.as_str(),
        routing.as_str()
    ))
}

impl Settings {
    /// Changes the routing (e.g. `serve --routing`); a journal left at its default moves to
    /// the new routing's own file ([`default_journal_path`]).
    pub fn set_routing(&mut self, routing: Routing) {
        if self.journal == JournalLocation::Sqlite(default_journal_path(self.env, self.routing)) {
            self.journal = JournalLocation::Sqlite(default_journal_path(self.env, routing));
        }
        self.routing = routing;
    }

    /// Reads the process environment and, if given, the TOML file (the environment wins).
    pub fn load(args: &ConfigArgs) -> Result<Settings, ConfigError> {
        Self::from_sources(std::env::vars(), args)
    }

    /// [`load`](Self::load) with the environment given (tests; a process embedding the layer).
    /// Variables that are not keys of this module are ignored.
    pub fn from_sources(
        env: impl IntoIterator<Item = (String, String)>,
        args: &ConfigArgs,
    ) -> Result<Settings, ConfigError> {
        let mut values = BTreeMap::new();
        if let Some(path) = &args.config {
            for (name, value) in read_file(path)? {
                values.insert(name, (value, Origin::File(path.clone())));
            }
        }
        for (name, value) in env {
            if let Some(k) = spec(&name) {
                values.insert(k.name, (value, Origin::Env));
            }
        }
        let raw = Raw { values };
        // An empty value (`EXECUTION_DRY_RUN=` from a compose file) would silently hide the
        // file's value or the default: it is refused, naming the key.
        for (name, (value, _)) in &raw.values {
            if value.trim().is_empty() {
                let mut e = raw.invalid(name);
                if let ConfigError::Invalid { expected, .. } = &mut e {
                    expected
                        .push_str(" (an empty value is refused: unset the key to use its default)");
                }
                return Err(e);
            }
        }
        Self::build(&raw, args.confirm_mainnet)
    }

    fn build(raw: &Raw, confirm_flag: bool) -> Result<Settings, ConfigError> {
        let env = match raw.get("BYBIT_ENV").map(|v| v.trim().to_ascii_lowercase()) {
            None => BybitEnv::Testnet,
            Some(v) => match v.as_str() {
                "testnet" => BybitEnv::Testnet,
                "mainnet" => BybitEnv::Mainnet,
                "demo" => BybitEnv::Demo,
                _ => return Err(raw.invalid("BYBIT_ENV")),
            },
        };
        let confirm = match raw
            .get("BYBIT_MAINNET_CONFIRM")
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => false,
            Some(v) if v == "yes" => true,
            Some(v) if v == "no" => false,
            Some(_) => return Err(raw.invalid("BYBIT_MAINNET_CONFIRM")),
        };
        let mainnet_confirmed = confirm || confirm_flag;
        if env == BybitEnv::Mainnet && !mainnet_confirmed {
            return Err(ConfigError::MainnetNotConfirmed);
        }

        let credentials = match (raw.get("BYBIT_API_KEY"), raw.get("BYBIT_API_SECRET")) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    key: "BYBIT_API_SECRET",
                    why: "BYBIT_API_KEY is set without its secret".to_owned(),
                    expected: "the API secret that belongs to the key",
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    key: "BYBIT_API_KEY",
                    why: "BYBIT_API_SECRET is set without its key".to_owned(),
                    expected: "the API key that belongs to the secret",
                })
            }
            (Some(k), Some(s)) => Some(Credentials::new(k.trim(), s.trim()).map_err(|e| {
                // Which half is wrong, never its value.
                let name = match e {
                    bybit_sign::SignError::EmptySecret | bybit_sign::SignError::InvalidSecret => {
                        "BYBIT_API_SECRET"
                    }
                    _ => "BYBIT_API_KEY",
                };
                raw.invalid(name)
            })?),
        };

        let dry_run = raw.bool("EXECUTION_DRY_RUN")?;
        let routing = match raw
            .get("EXECUTION_ROUTING")
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => {
                if dry_run == Some(true) {
                    Routing::DryRun
                } else {
                    Routing::Live
                }
            }
            Some(v) => {
                let r = match v.as_str() {
                    "live" => Routing::Live,
                    "dry-run" | "dry_run" | "dryrun" => Routing::DryRun,
                    "paper" => Routing::Paper,
                    _ => return Err(raw.invalid("EXECUTION_ROUTING")),
                };
                // EXECUTION_DRY_RUN=true must never be overridden into sending orders.
                if dry_run == Some(true) && r != Routing::DryRun {
                    return Err(ConfigError::Invalid {
                        key: "EXECUTION_ROUTING",
                        origin: String::new(),
                        shown: format!("{v:?} with EXECUTION_DRY_RUN=true"),
                        expected:
                            "dry-run (or leave EXECUTION_ROUTING unset) when EXECUTION_DRY_RUN=true"
                                .to_owned(),
                    });
                }
                r
            }
        };

        let http = ["http", "https"];
        let ws = ["ws", "wss"];
        let rest_url = raw.url("BYBIT_REST_URL", env.rest_url(), &http)?;
        // Overriding the REST URL (an emulator) moves public data with it unless it is set too.
        let public_default = if raw.present("BYBIT_REST_URL") {
            rest_url.clone()
        } else {
            env.public_rest_url().to_owned()
        };
        let public_rest_url = raw.url("BYBIT_PUBLIC_REST_URL", &public_default, &http)?;
        let ws_public_url = raw.url("BYBIT_WS_PUBLIC_URL", env.ws_public_url(), &ws)?;
        let ws_private_url = raw.url("BYBIT_WS_PRIVATE_URL", env.ws_private_url(), &ws)?;
        // Orders that go to this machine go to a local emulator, not to Bybit: named so in
        // every message, page and journal file, whatever BYBIT_ENV says.
        let env = if is_loopback_host(&host_of(&rest_url)) {
            BybitEnv::Emulator
        } else {
            env
        };

        let journal = match raw.get("EXECUTION_JOURNAL").map(str::trim) {
            None => JournalLocation::Sqlite(default_journal_path(env, routing)),
            Some(":memory:") => JournalLocation::Memory,
            Some(p) => JournalLocation::Sqlite(PathBuf::from(p)),
        };
        let error_log = match raw.get("EXECUTION_ERROR_LOG").map(str::trim) {
            None => Some(PathBuf::from(exec_events::DEFAULT_ERROR_LOG_PATH)),
            Some(v) if v.eq_ignore_ascii_case("none") => None,
            Some(p) => Some(PathBuf::from(p)),
        };

        let symbols = match raw.get("EXECUTION_SYMBOLS") {
            None => vec![Symbol::new("BTCUSDT").map_err(|_| raw.invalid("EXECUTION_SYMBOLS"))?],
            Some(list) => {
                let mut out = Vec::new();
                for s in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    out.push(
                        Symbol::new(s.to_ascii_uppercase())
                            .map_err(|_| raw.invalid("EXECUTION_SYMBOLS"))?,
                    );
                }
                if out.is_empty() {
                    return Err(raw.invalid("EXECUTION_SYMBOLS"));
                }
                out
            }
        };

        let settings = Settings {
            env,
            credentials,
            routing,
            dry_run: dry_run == Some(true),
            rest_url,
            public_rest_url,
            ws_public_url,
            ws_private_url,
            journal,
            error_log,
            symbols,
            leverage: raw.decimal("EXECUTION_LEVERAGE", dec!(25), |v| {
                v >= Decimal::ONE && v <= dec!(200)
            })?,
            min_available_usdt: raw.decimal("EXECUTION_MIN_AVAILABLE_USDT", dec!(100), |v| {
                v >= Decimal::ZERO
            })?,
            max_notional_usdt: raw.decimal("EXECUTION_MAX_NOTIONAL_USDT", dec!(5000), |v| {
                v > Decimal::ZERO
            })?,
            on_tp_failure: match raw
                .get("EXECUTION_ON_TP_FAILURE")
                .map(|v| v.trim().to_ascii_lowercase())
                .as_deref()
            {
                None | Some("keep") => exec_gateway::TpFailurePolicy::KeepFlagged,
                Some("close") => exec_gateway::TpFailurePolicy::Close,
                Some(_) => return Err(raw.invalid("EXECUTION_ON_TP_FAILURE")),
            },
            poll_interval: raw.millis("EXECUTION_POLL_INTERVAL_MS", 3000, 100..=60_000)?,
            silence_threshold: raw.millis("EXECUTION_SILENCE_MS", 30_000, 100..=600_000)?,
            reconcile_every: raw.millis("EXECUTION_RECONCILE_MS", 3000, 100..=600_000)?,
            recv_window: raw.millis("BYBIT_RECV_WINDOW_MS", 5000, 1..=60_000)?,
            http_timeout: raw.millis("BYBIT_HTTP_TIMEOUT_MS", 5000, 100..=120_000)?,
            paper_usdt: raw.decimal("PAPER_USDT", dec!(10000), |v| v > Decimal::ZERO)?,
            ws: WsTuning::bybit(),
            serve_http: ServeHttp {
                header_timeout: raw.millis("SERVE_HEADER_TIMEOUT_MS", 10_000, 100..=600_000)?,
                body_timeout: raw.millis("SERVE_BODY_TIMEOUT_MS", 10_000, 100..=600_000)?,
                max_connections: raw.count("SERVE_MAX_CONNECTIONS", 256, 4..=4096)?,
            },
            mainnet_confirmed,
        };
        settings.check_hosts()?;
        Ok(settings)
    }

    /// Settings for the embedded emulator at `http_url` (`http://127.0.0.1:PORT`): its
    /// stream URLs derived from it, live routing with `key` / `secret`, an in-memory journal,
    /// no error log, BTCUSDT, and short polling and stream timings for loopback.
    pub fn for_emulator(http_url: &str, key: &str, secret: &str) -> Result<Settings, ConfigError> {
        let http_url = http_url.trim_end_matches('/');
        let Some(host) = http_url
            .strip_prefix("http://")
            .filter(|_| is_loopback_host(&host_of(http_url)))
        else {
            return Err(ConfigError::Invalid {
                key: "BYBIT_REST_URL",
                origin: " (the emulator's)".to_owned(),
                shown: format!("{http_url:?}"),
                expected: "http://HOST:PORT with a loopback HOST (127.0.0.1, ::1, localhost)"
                    .to_owned(),
            });
        };
        let credentials = Credentials::new(key, secret).map_err(|_| ConfigError::Invalid {
            key: "BYBIT_API_KEY",
            origin: " (the emulator's)".to_owned(),
            shown: "the value".to_owned(),
            expected: "a non-empty key and secret".to_owned(),
        })?;
        Ok(Settings {
            env: BybitEnv::Emulator,
            credentials: Some(credentials),
            routing: Routing::Live,
            dry_run: false,
            rest_url: http_url.to_owned(),
            public_rest_url: http_url.to_owned(),
            ws_public_url: format!("ws://{host}/v5/public/linear"),
            ws_private_url: format!("ws://{host}/v5/private"),
            journal: JournalLocation::Memory,
            error_log: None,
            symbols: vec![Symbol::new("BTCUSDT").map_err(|_| ConfigError::Invalid {
                key: "EXECUTION_SYMBOLS",
                origin: String::new(),
                shown: "BTCUSDT".to_owned(),
                expected: "a symbol".to_owned(),
            })?],
            leverage: dec!(25),
            min_available_usdt: dec!(100),
            max_notional_usdt: dec!(5000),
            on_tp_failure: exec_gateway::TpFailurePolicy::KeepFlagged,
            poll_interval: Duration::from_millis(200),
            silence_threshold: Duration::from_secs(2),
            reconcile_every: Duration::from_secs(3),
            recv_window: Duration::from_millis(5000),
            http_timeout: Duration::from_millis(5000),
            paper_usdt: dec!(10000),
            ws: WsTuning::local(),
            serve_http: ServeHttp::default(),
            mainnet_confirmed: false,
        })
    }

    /// Checks what a start needs, for settings built or changed by hand (fields are public):
    /// mainnet still needs its opt-in (R-CFG-5), live routing needs the keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.env == BybitEnv::Mainnet && !self.mainnet_confirmed {
            return Err(ConfigError::MainnetNotConfirmed);
        }
        self.check_hosts()?;
        if self.dry_run && self.routing != Routing::DryRun {
            return Err(ConfigError::Invalid {
                key: "EXECUTION_DRY_RUN",
                origin: String::new(),
                shown: format!("true with {} routing", self.routing),
                expected: "dry-run routing whenever EXECUTION_DRY_RUN=true (nothing may be sent); \
                           unset it or set it to false for another routing"
                    .to_owned(),
            });
        }
        if self.routing == Routing::Live {
            self.require_credentials("live routing")?;
        }
        Ok(())
    }

    /// The URLs' hosts (R-CFG-5): orders and the private stream may go to a Bybit mainnet
    /// host only with `BYBIT_ENV=mainnet` confirmed (public data may: demo takes it from
    /// mainnet), every URL is https / wss unless its host is loopback (an emulator), and
    /// the four are all on loopback (a local emulator) or none is.
    fn check_hosts(&self) -> Result<(), ConfigError> {
        let mainnet_ok = self.env == BybitEnv::Mainnet && self.mainnet_confirmed;
        let urls = [
            ("BYBIT_REST_URL", &self.rest_url, "https", true),
            (
                "BYBIT_PUBLIC_REST_URL",
                &self.public_rest_url,
                "https",
                false,
            ),
            ("BYBIT_WS_PUBLIC_URL", &self.ws_public_url, "wss", false),
            ("BYBIT_WS_PRIVATE_URL", &self.ws_private_url, "wss", true),
        ];
        for (key, url, secure, trades) in urls {
            let host = host_of(url);
            if trades && is_mainnet_host(&host) && !mainnet_ok {
                return Err(ConfigError::Invalid {
                    key,
                    origin: String::new(),
                    shown: format!("{url:?} (a Bybit mainnet host, real money)"),
                    expected: format!(
                        "a {} host, or BYBIT_ENV=mainnet with BYBIT_MAINNET_CONFIRM=yes / \
                         --confirm-mainnet",
                        self.env
                    ),
                });
            }
            if !is_loopback_host(&host) && !url.starts_with(&format!("{secure}://")) {
                return Err(ConfigError::Invalid {
                    key,
                    origin: String::new(),
                    shown: format!("{url:?}"),
                    expected: format!(
                        "a {secure}:// URL (plain http / ws only to a loopback host such as \
                         127.0.0.1)"
                    ),
                });
            }
        }
        // One exchange: a local emulator serves all four, so either every URL is on this
        // machine or none is. A mix would place orders on one exchange and read fills or
        // prices from another, under a name that fits only half of it.
        let rest_local = is_loopback_host(&host_of(&self.rest_url));
        if let Some((key, url, ..)) = urls
            .iter()
            .find(|(_, url, ..)| is_loopback_host(&host_of(url)) != rest_local)
        {
            let (here, there) = if rest_local {
                ("on this machine", "elsewhere")
            } else {
                ("elsewhere", "on this machine")
            };
            return Err(ConfigError::Invalid {
                key,
                origin: String::new(),
                shown: format!("{url:?} ({there})"),
                expected: format!(
                    "a URL {here}, as BYBIT_REST_URL {:?} is: a local emulator is all four URLs \
                     (BYBIT_REST_URL, BYBIT_PUBLIC_REST_URL, BYBIT_WS_PUBLIC_URL, \
                     BYBIT_WS_PRIVATE_URL) on loopback, a Bybit environment none of them, so \
                     orders, fills and prices come from one exchange (`bybit-exec emulator` \
                     prints the four export lines)",
                    self.rest_url
                ),
            });
        }
        Ok(())
    }

    /// What the environment offers.
    pub fn capabilities(&self) -> Capabilities {
        self.env.capabilities()
    }

    /// Refuses `feature` with a clear message if the environment lacks it.
    pub fn require(&self, feature: Feature) -> Result<(), ConfigError> {
        if self.capabilities().has(feature) {
            Ok(())
        } else {
            Err(ConfigError::Unsupported {
                env: self.env,
                feature: feature.describe(),
                alternative: "testnet or mainnet",
            })
        }
    }

    /// The credentials, or an error naming the keys to set (for `why`, e.g. "live routing").
    pub fn require_credentials(&self, why: &str) -> Result<&Credentials, ConfigError> {
        self.credentials
            .as_ref()
            .ok_or_else(|| ConfigError::Missing {
                key: "BYBIT_API_KEY",
                why: format!("{why} needs an API key and secret (BYBIT_API_KEY, BYBIT_API_SECRET)"),
                expected: "the key and secret of an API key created for this environment",
            })
    }

    /// Notes worth printing at start: a thin testnet market, demo's public data source.
    pub fn notices(&self) -> Vec<String> {
        let caps = self.capabilities();
        let mut out = Vec::new();
        if caps.thin_market {
            out.push(format!(
                "{}: the market is thin; market orders may slip far and prices may look odd",
                self.env
            ));
        }
        if caps.public_data_from_mainnet {
            out.push(format!(
                "{}: public market data comes from mainnet ({})",
                self.env, self.ws_public_url
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::io::Write;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_sources(env(pairs), &ConfigArgs::default())
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn with_file(
        f: &tempfile::NamedTempFile,
        pairs: &[(&str, &str)],
    ) -> Result<Settings, ConfigError> {
        let args = ConfigArgs {
            config: Some(f.path().to_owned()),
            confirm_mainnet: false,
        };
        Settings::from_sources(env(pairs), &args)
    }

    /// Checks that loading `pairs` fails and the message contains every `words`.
    fn check_error(pairs: &[(&str, &str)], words: &[&str]) {
        let message = load(pairs).unwrap_err().to_string();
        for w in words {
            assert!(message.contains(w), "{message:?} lacks {w:?}");
        }
    }

    #[test]
    fn defaults_are_testnet_live_with_spec_values() {
        let s = load(&[]).unwrap();
        assert_eq!(s.env, BybitEnv::Testnet);
        assert_eq!(s.routing, Routing::Live);
        // SPEC R-CFG-2 base URLs.
        assert_eq!(s.rest_url, "https://api-testnet.bybit.com");
        assert_eq!(
            s.ws_public_url,
            "wss://stream-testnet.bybit.com/v5/public/linear"
        );
        assert_eq!(
            s.ws_private_url,
            "wss://stream-testnet.bybit.com/v5/private"
        );
        assert_eq!(
            s.journal,
            JournalLocation::Sqlite(PathBuf::from("data/journal-testnet-live.sqlite"))
        );
        assert_eq!(
            s.error_log,
            Some(PathBuf::from("data/logs/execution-error.log"))
        );
        assert_eq!(s.leverage, dec!(25));
        assert_eq!(s.min_available_usdt, dec!(100));
        assert_eq!(s.recv_window, Duration::from_millis(5000));
        assert!(s.credentials.is_none());
    }

    #[test]
    fn each_environment_and_routing_has_its_own_default_journal() {
        let path = |pairs: &[(&str, &str)]| match load(pairs).unwrap().journal {
            JournalLocation::Sqlite(p) => p,
            JournalLocation::Memory => panic!("memory"),
        };
        let live = path(&[]);
        let dry = path(&[("EXECUTION_DRY_RUN", "true")]);
        let paper = path(&[("EXECUTION_ROUTING", "paper")]);
        let demo = path(&[("BYBIT_ENV", "demo")]);
        assert_eq!(dry, PathBuf::from("data/journal-testnet-dry-run.sqlite"));
        assert_eq!(paper, PathBuf::from("data/journal-testnet-paper.sqlite"));
        assert_eq!(demo, PathBuf::from("data/journal-demo-live.sqlite"));
        assert!(live != dry && live != paper && live != demo);
        // serve --routing moves a default journal with it, but not one set by hand.
        let mut s = load(&[]).unwrap();
        s.set_routing(Routing::Paper);
        assert_eq!(s.journal, JournalLocation::Sqlite(paper));
        let mut s = load(&[("EXECUTION_JOURNAL", "x.sqlite")]).unwrap();
        s.set_routing(Routing::Paper);
        assert_eq!(
            s.journal,
            JournalLocation::Sqlite(PathBuf::from("x.sqlite"))
        );
    }

    // Issue 17 item 4: pointed at loopback, the environment is a local emulator in every
    // message, with its own journal and no thin-testnet note.
    #[test]
    fn loopback_urls_are_a_local_emulator_with_its_own_journal() {
        let local = [
            ("BYBIT_REST_URL", "http://127.0.0.1:9100"),
            (
                "BYBIT_WS_PUBLIC_URL",
                "ws://127.0.0.1:9100/v5/public/linear",
            ),
            ("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:9100/v5/private"),
        ];
        for extra in [
            None,
            Some(("BYBIT_ENV", "testnet")),
            Some(("BYBIT_ENV", "demo")),
        ] {
            let mut pairs = local.to_vec();
            pairs.extend(extra);
            let s = load(&pairs).unwrap();
            assert_eq!(s.env, BybitEnv::Emulator, "{pairs:?}");
            assert_eq!(s.env.to_string(), "local emulator");
            assert_eq!(
                s.journal,
                JournalLocation::Sqlite(PathBuf::from("data/journal-emulator-live.sqlite"))
            );
            let notes = s.notices().join("\n");
            assert!(
                !notes.contains("testnet") && !notes.contains("thin"),
                "{notes}"
            );
        }
        let mut s = load(&local).unwrap();
        s.set_routing(Routing::Paper);
        assert_eq!(
            s.journal,
            JournalLocation::Sqlite(PathBuf::from("data/journal-emulator-paper.sqlite"))
        );
        // Testnet itself keeps its name and its note.
        let t = load(&[]).unwrap();
        assert_eq!(t.env.to_string(), "testnet");
        assert!(t
            .notices()
            .join(" ")
            .contains("testnet: the market is thin"));
    }

    // Issue 17 item 4: a local emulator is all four URLs on this machine. Only some of them
    // on loopback is not an emulator named honestly but two exchanges at once (orders on one,
    // fills or prices from the other), so it is refused naming the odd URL. Before, setting
    // only BYBIT_REST_URL=http://127.0.0.1:… was taken as "local emulator" while the streams
    // stayed on testnet, and a loopback private stream beside testnet REST was "testnet".
    #[test]
    fn some_urls_on_loopback_and_some_not_is_refused_naming_the_odd_one() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (
                &[("BYBIT_REST_URL", "http://127.0.0.1:18088")],
                "BYBIT_WS_PUBLIC_URL",
            ),
            (
                &[
                    ("BYBIT_REST_URL", "http://localhost:18088"),
                    ("BYBIT_WS_PUBLIC_URL", "ws://[::1]:18088/v5/public/linear"),
                ],
                "BYBIT_WS_PRIVATE_URL",
            ),
            (
                &[("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:18088/v5/private")],
                "BYBIT_WS_PRIVATE_URL",
            ),
            (
                &[("BYBIT_PUBLIC_REST_URL", "http://127.0.0.1:18088")],
                "BYBIT_PUBLIC_REST_URL",
            ),
            (
                &[
                    ("BYBIT_REST_URL", "http://127.0.0.1:18088"),
                    ("BYBIT_PUBLIC_REST_URL", "https://api-testnet.bybit.com"),
                    (
                        "BYBIT_WS_PUBLIC_URL",
                        "ws://127.0.0.1:18088/v5/public/linear",
                    ),
                    ("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:18088/v5/private"),
                ],
                "BYBIT_PUBLIC_REST_URL",
            ),
        ];
        for (pairs, odd) in cases {
            let m = load(pairs).map(|s| s.env).unwrap_err().to_string();
            assert!(
                m.starts_with(odd) && m.contains("bybit-exec emulator"),
                "{pairs:?}: {m}"
            );
        }
        // All four on loopback, spelt any loopback way: the local emulator.
        let s = load(&[
            ("BYBIT_REST_URL", "http://localhost:18088"),
            ("BYBIT_WS_PUBLIC_URL", "ws://[::1]:18088/v5/public/linear"),
            ("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:18088/v5/private"),
        ])
        .unwrap();
        assert_eq!(s.env, BybitEnv::Emulator);
    }

    // `bybit-exec emulator --listen 0.0.0.0:PORT --api-secret …` (allowed with a secret of
    // one's own) printed `export BYBIT_REST_URL=http://0.0.0.0:PORT`, which these settings
    // refuse (plain http to a host that is not loopback): the printed lines must work as
    // printed, so a wildcard address is named by the loopback address of its family.
    #[test]
    fn the_emulator_export_lines_load_as_the_local_emulator_whatever_the_listen_address() {
        for (url, rest) in [
            ("http://127.0.0.1:18088", "http://127.0.0.1:18088"),
            ("http://0.0.0.0:18088", "http://127.0.0.1:18088"),
            ("http://[::]:18088", "http://[::1]:18088"),
            ("http://[::1]:18088", "http://[::1]:18088"),
        ] {
            let text = emulator_exports(url, "k", Some("s"));
            let pairs: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.strip_prefix("export "))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
                .collect();
            assert_eq!(pairs.len(), 6, "{text}");
            let s = Settings::from_sources(pairs, &ConfigArgs::default())
                .unwrap_or_else(|e| panic!("{url}: {e}\n{text}"));
            assert_eq!(s.env, BybitEnv::Emulator, "{url}");
            assert_eq!(s.rest_url, rest, "{url}");
        }
    }

    #[test]
    fn demo_takes_public_data_from_mainnet() {
        // REFERENCE.md §1 (docs/v5/demo.mdx): demo REST and private stream, mainnet public.
        let s = load(&[("BYBIT_ENV", "demo")]).unwrap();
        assert_eq!(s.rest_url, "https://api-demo.bybit.com");
        assert_eq!(s.public_rest_url, "https://api.bybit.com");
        assert_eq!(s.ws_public_url, "wss://stream.bybit.com/v5/public/linear");
        assert_eq!(s.ws_private_url, "wss://stream-demo.bybit.com/v5/private");
        assert!(s.capabilities().public_data_from_mainnet);
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let f = file(
            "BYBIT_ENV = \"demo\"\nexecution_leverage = 10\nEXECUTION_SYMBOLS = [\"ethusdt\", \"SOLUSDT\"]\nEXECUTION_MAX_NOTIONAL_USDT = \"1234.5\"\n",
        );
        let s = with_file(&f, &[("EXECUTION_LEVERAGE", "20"), ("UNRELATED", "x")]).unwrap();
        assert_eq!(s.env, BybitEnv::Demo, "from the file");
        assert_eq!(s.leverage, dec!(20), "the environment wins");
        assert_eq!(s.max_notional_usdt, dec!(1234.5));
        let symbols: Vec<_> = s.symbols.iter().map(|s| s.as_str().to_owned()).collect();
        assert_eq!(symbols, ["ETHUSDT", "SOLUSDT"]);
    }

    // A key given twice in the file, spelt in two cases, is refused: which one counts would be
    // a guess. Before, the later in the table's order won silently, so `EXECUTION_DRY_RUN =
    // true` beside `execution_dry_run = false` routed live.
    #[test]
    fn a_key_given_twice_in_the_file_in_two_cases_is_refused() {
        let f = file("EXECUTION_DRY_RUN = true\nexecution_dry_run = false\n");
        let m = with_file(&f, &[])
            .map(|s| s.routing)
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("EXECUTION_DRY_RUN")
                && m.contains("more than once")
                && m.contains(&f.path().display().to_string()),
            "{m}"
        );
        let f = file("BYBIT_API_KEY = \"k\"\nBYBIT_API_SECRET = \"s3cr3t-a\"\nbybit_api_secret = \"s3cr3t-b\"\n");
        let m = with_file(&f, &[])
            .map(|s| s.routing)
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("BYBIT_API_SECRET") && !m.contains("s3cr3t"),
            "{m}"
        );
    }

    #[test]
    fn file_errors_name_the_file_and_the_key() {
        let f = file("BYBIT_ENVV = \"demo\"\n");
        let m = with_file(&f, &[]).unwrap_err().to_string();
        assert!(
            m.contains("unknown key \"BYBIT_ENVV\"") && m.contains("BYBIT_ENV"),
            "{m}"
        );
        let f = file("EXECUTION_LEVERAGE = 2.5\n");
        let m = with_file(&f, &[]).unwrap_err().to_string();
        assert!(
            m.contains("EXECUTION_LEVERAGE") && m.contains("as strings"),
            "{m}"
        );
        let f = file("EXECUTION_LEVERAGE = \"lots\"\n");
        let m = with_file(&f, &[]).unwrap_err().to_string();
        assert!(
            m.contains("EXECUTION_LEVERAGE") && m.contains(&f.path().display().to_string()),
            "{m}"
        );
        let m = with_file(&file("not toml ="), &[]).unwrap_err().to_string();
        assert!(m.starts_with("config file"), "{m}");
    }

    // Issue 17: every key's value in the file must be the TOML type it expects; the refusal
    // names the file, the key and the type, and never echoes the value (a secret).
    #[test]
    fn a_value_of_the_wrong_toml_type_is_refused_naming_file_and_key() {
        let cases = [
            (
                "BYBIT_API_KEY = \"k\"\nBYBIT_API_SECRET = [\"s3cr3t-a\", \"s3cr3t-b\"]\n",
                "BYBIT_API_SECRET",
                "a TOML string",
            ),
            (
                "BYBIT_API_KEY = 123456789\nBYBIT_API_SECRET = \"s\"\n",
                "BYBIT_API_KEY",
                "a TOML string",
            ),
            ("BYBIT_REST_URL = 8080\n", "BYBIT_REST_URL", "a TOML string"),
            (
                "BYBIT_WS_PUBLIC_URL = { host = \"x\" }\n",
                "BYBIT_WS_PUBLIC_URL",
                "a TOML string",
            ),
            ("BYBIT_ENV = true\n", "BYBIT_ENV", "a TOML string"),
            (
                "EXECUTION_DRY_RUN = \"true\"\n",
                "EXECUTION_DRY_RUN",
                "a TOML boolean",
            ),
            (
                "EXECUTION_DRY_RUN = 1\n",
                "EXECUTION_DRY_RUN",
                "a TOML boolean",
            ),
            (
                "EXECUTION_POLL_INTERVAL_MS = \"3000\"\n",
                "EXECUTION_POLL_INTERVAL_MS",
                "a TOML integer",
            ),
            (
                "BYBIT_HTTP_TIMEOUT_MS = 5000.0\n",
                "BYBIT_HTTP_TIMEOUT_MS",
                "a TOML integer",
            ),
            (
                "SERVE_MAX_CONNECTIONS = [256]\n",
                "SERVE_MAX_CONNECTIONS",
                "a TOML integer",
            ),
            (
                "EXECUTION_LEVERAGE = true\n",
                "EXECUTION_LEVERAGE",
                "a TOML string",
            ),
            (
                "EXECUTION_SYMBOLS = [\"BTCUSDT\", 5]\n",
                "EXECUTION_SYMBOLS",
                "array of strings",
            ),
            (
                "EXECUTION_SYMBOLS = 5\n",
                "EXECUTION_SYMBOLS",
                "array of strings",
            ),
        ];
        for (text, key, form) in cases {
            let f = file(text);
            let m = with_file(&f, &[]).unwrap_err().to_string();
            assert!(
                m.contains(key) && m.contains(form) && m.contains(&f.path().display().to_string()),
                "{text:?}: {m}"
            );
            assert!(!m.contains("s3cr3t") && !m.contains("123456789"), "{m}");
        }
        // The forms each key does take.
        let f = file(
            "BYBIT_API_KEY = \"k\"\nBYBIT_API_SECRET = \"s\"\nEXECUTION_DRY_RUN = false\n\
             EXECUTION_POLL_INTERVAL_MS = 2500\nEXECUTION_LEVERAGE = 10\nPAPER_USDT = \"250.5\"\n\
             EXECUTION_SYMBOLS = \"BTCUSDT,ETHUSDT\"\nSERVE_MAX_CONNECTIONS = 64\n",
        );
        let s = with_file(&f, &[]).unwrap();
        assert!(s.credentials.is_some() && !s.dry_run);
        assert_eq!(s.poll_interval, Duration::from_millis(2500));
        assert_eq!(s.leverage, dec!(10));
        assert_eq!(s.paper_usdt, dec!(250.5));
        assert_eq!(s.symbols.len(), 2);
        assert_eq!(s.serve_http.max_connections, 64);
    }

    #[test]
    fn every_bad_value_names_its_key_and_the_expected_form() {
        check_error(
            &[("BYBIT_ENV", "prod")],
            &["BYBIT_ENV", "\"prod\"", "testnet, mainnet, demo"],
        );
        check_error(
            &[("EXECUTION_DRY_RUN", "maybe")],
            &["EXECUTION_DRY_RUN", "true or false"],
        );
        check_error(
            &[("EXECUTION_ROUTING", "yolo")],
            &["EXECUTION_ROUTING", "live, dry-run, paper"],
        );
        check_error(
            &[("EXECUTION_ROUTING", "live"), ("EXECUTION_DRY_RUN", "true")],
            &["EXECUTION_ROUTING", "EXECUTION_DRY_RUN=true"],
        );
        check_error(
            &[("BYBIT_REST_URL", "api.bybit.com")],
            &["BYBIT_REST_URL", "http://"],
        );
        check_error(
            &[("BYBIT_WS_PUBLIC_URL", "https://x")],
            &["BYBIT_WS_PUBLIC_URL", "ws://"],
        );
        check_error(
            &[("BYBIT_WS_PRIVATE_URL", "ws://")],
            &["BYBIT_WS_PRIVATE_URL"],
        );
        check_error(
            &[("EXECUTION_SYMBOLS", "BTC USDT")],
            &["EXECUTION_SYMBOLS", "comma-separated"],
        );
        check_error(&[("EXECUTION_SYMBOLS", " , ")], &["EXECUTION_SYMBOLS"]);
        check_error(
            &[("EXECUTION_LEVERAGE", "0")],
            &["EXECUTION_LEVERAGE", "1 to 200"],
        );
        check_error(
            &[("EXECUTION_MIN_AVAILABLE_USDT", "-1")],
            &["EXECUTION_MIN_AVAILABLE_USDT"],
        );
        check_error(
            &[("EXECUTION_MAX_NOTIONAL_USDT", "0")],
            &["EXECUTION_MAX_NOTIONAL_USDT"],
        );
        check_error(
            &[("EXECUTION_POLL_INTERVAL_MS", "2s")],
            &["EXECUTION_POLL_INTERVAL_MS", "milliseconds"],
        );
        check_error(&[("EXECUTION_SILENCE_MS", "5")], &["EXECUTION_SILENCE_MS"]);
        check_error(&[("BYBIT_RECV_WINDOW_MS", "0")], &["BYBIT_RECV_WINDOW_MS"]);
        check_error(
            &[("BYBIT_HTTP_TIMEOUT_MS", "x")],
            &["BYBIT_HTTP_TIMEOUT_MS"],
        );
        check_error(&[("PAPER_USDT", "0")], &["PAPER_USDT"]);
        check_error(
            &[("BYBIT_MAINNET_CONFIRM", "sure")],
            &["BYBIT_MAINNET_CONFIRM", "yes"],
        );
        check_error(&[("BYBIT_API_KEY", "k")], &["BYBIT_API_SECRET is not set"]);
        check_error(&[("BYBIT_API_SECRET", "s")], &["BYBIT_API_KEY is not set"]);
    }

    #[test]
    fn an_empty_value_is_refused_not_taken_for_unset() {
        // EXECUTION_DRY_RUN= (empty, from a compose file) must not hide the file's `true`.
        let f = file("EXECUTION_DRY_RUN = true\n");
        let m = with_file(&f, &[("EXECUTION_DRY_RUN", "")])
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("EXECUTION_DRY_RUN") && m.contains("empty value is refused"),
            "{m}"
        );
        for key in ["BYBIT_ENV", "EXECUTION_ERROR_LOG", "BYBIT_API_SECRET"] {
            let m = load(&[(key, "  ")]).unwrap_err().to_string();
            assert!(m.contains(key) && m.contains("empty"), "{m}");
        }
        let f = file("EXECUTION_JOURNAL = \"\"\n");
        let m = with_file(&f, &[]).unwrap_err().to_string();
        assert!(m.contains("EXECUTION_JOURNAL"), "{m}");
        // Unrelated variables may be empty.
        assert!(load(&[("UNRELATED", "")]).is_ok());
    }

    #[test]
    fn dry_run_cannot_be_overridden_after_loading() {
        let mut s = load(&[("EXECUTION_DRY_RUN", "true")]).unwrap();
        assert!(s.dry_run && s.validate().is_ok());
        for routing in [Routing::Live, Routing::Paper] {
            s.set_routing(routing);
            let m = s.validate().unwrap_err().to_string();
            assert!(
                m.contains("EXECUTION_DRY_RUN") && m.contains(routing.as_str()),
                "{m}"
            );
        }
        let mut s = load(&[("EXECUTION_DRY_RUN", "false")]).unwrap();
        s.set_routing(Routing::Paper);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn mainnet_needs_the_opt_in() {
        assert_eq!(
            load(&[("BYBIT_ENV", "mainnet")]).unwrap_err(),
            ConfigError::MainnetNotConfirmed
        );
        assert_eq!(
            load(&[("BYBIT_ENV", "mainnet"), ("BYBIT_MAINNET_CONFIRM", "no")]).unwrap_err(),
            ConfigError::MainnetNotConfirmed
        );
        let s = load(&[("BYBIT_ENV", "MAINNET"), ("BYBIT_MAINNET_CONFIRM", "yes")]).unwrap();
        assert_eq!(s.env, BybitEnv::Mainnet);
        assert_eq!(s.rest_url, "https://api.bybit.com");
        let args = ConfigArgs {
            config: None,
            confirm_mainnet: true,
        };
        let s = Settings::from_sources(env(&[("BYBIT_ENV", "mainnet")]), &args).unwrap();
        assert!(s.mainnet_confirmed);
    }

    #[test]
    fn mainnet_hosts_need_mainnet_confirmed_and_real_hosts_need_tls() {
        // R-CFG-5: BYBIT_ENV unset (testnet) but the URL on mainnet is refused.
        for (key, url) in [
            ("BYBIT_REST_URL", "https://api.bybit.com"),
            ("BYBIT_REST_URL", "https://API.BYTICK.COM/"),
            ("BYBIT_REST_URL", "https://api.bybit.eu"),
            ("BYBIT_WS_PRIVATE_URL", "wss://stream.bybit.com/v5/private"),
        ] {
            let m = load(&[(key, url)]).unwrap_err().to_string();
            assert!(m.contains(key) && m.contains("mainnet"), "{m}");
            let m = load(&[("BYBIT_ENV", "demo"), (key, url)])
                .unwrap_err()
                .to_string();
            assert!(m.contains(key), "{m}");
        }
        // Confirmed mainnet may; testnet and demo hosts are not mainnet.
        assert!(load(&[
            ("BYBIT_ENV", "mainnet"),
            ("BYBIT_MAINNET_CONFIRM", "yes"),
            ("BYBIT_REST_URL", "https://api.bytick.com"),
        ])
        .is_ok());
        assert!(!is_mainnet_host("api-testnet.bybit.com"));
        assert!(!is_mainnet_host("stream-demo.bybit.com"));
        assert!(!is_mainnet_host("notbybit.com"));
        // Plain http / ws only to loopback.
        let m = load(&[("BYBIT_REST_URL", "http://api-testnet.bybit.com")])
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("BYBIT_REST_URL") && m.contains("https://"),
            "{m}"
        );
        let m = load(&[("BYBIT_WS_PUBLIC_URL", "ws://example.org/v5/public/linear")])
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("BYBIT_WS_PUBLIC_URL") && m.contains("wss://"),
            "{m}"
        );
        for rest in ["http://localhost:9", "http://[::1]:9"] {
            assert!(load(&[
                ("BYBIT_REST_URL", rest),
                ("BYBIT_WS_PUBLIC_URL", "ws://localhost:9/v5/public/linear"),
                ("BYBIT_WS_PRIVATE_URL", "ws://[::1]:9/v5/private"),
            ])
            .is_ok());
        }
        // Hand-built settings are held to the same rules.
        let mut s = Settings::for_emulator("http://127.0.0.1:1", "k", "s").unwrap();
        s.rest_url = "https://api.bybit.com".to_owned();
        assert!(s.validate().unwrap_err().to_string().contains("mainnet"));
        // The emulator is on loopback only.
        assert!(Settings::for_emulator("http://api.bybit.com", "k", "s").is_err());
        assert!(Settings::for_emulator("http://10.0.0.5:80", "k", "s").is_err());
        assert!(Settings::for_emulator("http://localhost:80", "k", "s").is_ok());
    }

    #[test]
    fn validate_holds_hand_built_settings_to_the_same_rules() {
        let mut s = Settings::for_emulator("http://127.0.0.1:1", "k", "s").unwrap();
        assert!(s.validate().is_ok());
        s.env = BybitEnv::Mainnet;
        assert_eq!(s.validate().unwrap_err(), ConfigError::MainnetNotConfirmed);
        s.mainnet_confirmed = true;
        assert!(s.validate().is_ok());
        s.credentials = None;
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("BYBIT_API_KEY"));
        s.routing = Routing::Paper;
        assert!(s.validate().is_ok());
    }

    #[test]
    fn secrets_are_never_printed() {
        let key = "KEY1234567890ABCD";
        let secret = "SECRET0987654321xyz";
        let s = load(&[("BYBIT_API_KEY", key), ("BYBIT_API_SECRET", secret)]).unwrap();
        assert!(s.credentials.is_some());
        let debug = format!("{s:?}");
        assert!(!debug.contains(key) && !debug.contains(secret), "{debug}");
        assert!(debug.contains("[REDACTED]"));
        // A bad key's error names the key, not its value.
        let m = load(&[("BYBIT_API_KEY", "bad key"), ("BYBIT_API_SECRET", secret)])
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("BYBIT_API_KEY") && !m.contains("bad key") && !m.contains(secret),
            "{m}"
        );
        let e = Settings::for_emulator("http://127.0.0.1:1", key, secret).unwrap();
        let debug = format!("{e:?}");
        assert!(!debug.contains(key) && !debug.contains(secret), "{debug}");
    }

    #[test]
    fn routing_from_dry_run_and_routing_keys() {
        assert_eq!(
            load(&[("EXECUTION_DRY_RUN", "true")]).unwrap().routing,
            Routing::DryRun
        );
        assert_eq!(
            load(&[("EXECUTION_DRY_RUN", "false")]).unwrap().routing,
            Routing::Live
        );
        assert_eq!(
            load(&[("EXECUTION_ROUTING", "paper")]).unwrap().routing,
            Routing::Paper
        );
        assert_eq!(
            load(&[("EXECUTION_JOURNAL", ":memory:")]).unwrap().journal,
            JournalLocation::Memory
        );
        assert_eq!(
            load(&[("EXECUTION_ERROR_LOG", "none")]).unwrap().error_log,
            None
        );
    }

    #[test]
    fn url_overrides_carry_public_data_with_them() {
        let s = load(&[
            ("BYBIT_ENV", "demo"),
            ("BYBIT_REST_URL", "http://127.0.0.1:9/"),
            ("BYBIT_WS_PUBLIC_URL", "ws://127.0.0.1:9/v5/public/linear"),
            ("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:9/v5/private"),
        ])
        .unwrap();
        assert_eq!(s.rest_url, "http://127.0.0.1:9");
        assert_eq!(s.public_rest_url, "http://127.0.0.1:9");
    }

    #[test]
    fn demo_refuses_what_it_lacks() {
        // REFERENCE.md §1 (docs/v5/demo.mdx): no WS order entry, fee rate or execution.fast.
        let demo = load(&[("BYBIT_ENV", "demo")]).unwrap();
        for f in [
            Feature::WsOrderEntry,
            Feature::FeeRate,
            Feature::ExecutionFast,
        ] {
            let m = demo.require(f).unwrap_err().to_string();
            assert!(
                m.contains("BYBIT_ENV=demo") && m.contains(f.describe()),
                "{m}"
            );
        }
        let testnet = load(&[]).unwrap();
        assert!(testnet.require(Feature::FeeRate).is_ok());
        assert!(testnet.notices()[0].contains("thin"));
        assert!(demo.notices()[0].contains("mainnet"));
    }

    #[test]
    fn emulator_settings_derive_the_stream_urls() {
        let s = Settings::for_emulator("http://127.0.0.1:4567/", "k", "s").unwrap();
        assert_eq!(s.rest_url, "http://127.0.0.1:4567");
        assert_eq!(s.ws_public_url, "ws://127.0.0.1:4567/v5/public/linear");
        assert_eq!(s.ws_private_url, "ws://127.0.0.1:4567/v5/private");
        assert_eq!(s.journal, JournalLocation::Memory);
        assert!(Settings::for_emulator("https://x", "k", "s").is_err());
        assert!(s.require_credentials("live routing").is_ok());
        let m = load(&[])
            .unwrap()
            .require_credentials("live routing")
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("BYBIT_API_KEY") && m.contains("live routing"),
            "{m}"
        );
    }
}
