//! [`Settings`]: everything one process is configured with, built from the raw values
//! ([`Settings::load`], [`Settings::from_sources`]) or for a local emulator
//! ([`Settings::for_emulator`]), and checked as a whole ([`Settings::validate`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bybit_sign::Credentials;
use bybit_types::Symbol;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::environment::{
    host_of, is_loopback_host, is_mainnet_host, BybitEnv, Capabilities, Feature,
};
use super::error::ConfigError;
use super::keys::spec;
use super::source::{read_file, ConfigArgs, Origin, Raw};

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
    /// `BYBIT_WS_TRADE_URL`: the order-entry stream (default: beside the private stream,
    /// `…/v5/trade`); `None` where the environment has none (demo, REFERENCE.md §1) and it is
    /// not set.
    pub ws_trade_url: Option<String>,
    /// `EXECUTION_ORDER_PATH`: `auto` (default: the order-entry stream when it is connected
    /// and authenticated, else REST), `rest` or `ws`.
    pub order_path: exec_live::OrderPath,
    /// `EXECUTION_JOURNAL` (default [`default_journal_path`]: one file per environment and
    /// routing, so a paper or dry-run process never opens the live journal).
    pub journal: JournalLocation,
    /// `EXECUTION_ERROR_LOG` (default `data/logs/execution-error.log`; `none`: none).
    pub error_log: Option<PathBuf>,
    /// `EXECUTION_SYMBOLS`: the traded symbols (comma-separated; default `BTCUSDT`).
    pub symbols: Vec<Symbol>,
    /// `EXECUTION_BOOK_DEPTH`: the public stream also keeps each symbol's order book at this
    /// depth (default 0: tickers only). Nothing trades on the books yet; the setting lets a
    /// benchmark measure what holding them costs.
    pub book_depth: u32,
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
            .field("ws_trade_url", &self.ws_trade_url)
            .field("order_path", &self.order_path)
            .field("journal", &self.journal)
            .field("error_log", &self.error_log)
            .field("symbols", &self.symbols)
            .field("book_depth", &self.book_depth)
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
        // The order-entry stream sits beside the private one on every Bybit host (and on the
        // emulator), so moving the private stream moves it too unless it is set.
        let trade_default = ws_private_url
            .strip_suffix("/v5/private")
            .map(|base| format!("{base}/v5/trade"));
        // Orders that go to this machine go to a local emulator, not to Bybit: named so in
        // every message, page and journal file, whatever BYBIT_ENV says.
        let env = if is_loopback_host(&host_of(&rest_url)) {
            BybitEnv::Emulator
        } else {
            env
        };

        let ws_trade_url = match trade_default {
            Some(default) if env.capabilities().ws_order_entry => {
                Some(raw.url("BYBIT_WS_TRADE_URL", &default, &ws)?)
            }
            _ if raw.present("BYBIT_WS_TRADE_URL") => {
                Some(raw.url("BYBIT_WS_TRADE_URL", "", &ws)?)
            }
            _ => None,
        };
        let order_path = match raw.get("EXECUTION_ORDER_PATH") {
            None => exec_live::OrderPath::Auto,
            Some(v) => v.parse().map_err(|_| raw.invalid("EXECUTION_ORDER_PATH"))?,
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
            ws_trade_url,
            order_path,
            journal,
            error_log,
            symbols,
            book_depth: {
                let depth = u32::try_from(raw.count("EXECUTION_BOOK_DEPTH", 0, 0..=1000)?)
                    .map_err(|_| raw.invalid("EXECUTION_BOOK_DEPTH"))?;
                if depth != 0 && !bybit_ws::LINEAR_BOOK_DEPTHS.contains(&depth) {
                    return Err(raw.invalid("EXECUTION_BOOK_DEPTH"));
                }
                depth
            },
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
            ws_trade_url: Some(format!("ws://{host}/v5/trade")),
            order_path: exec_live::OrderPath::Auto,
            journal: JournalLocation::Memory,
            error_log: None,
            symbols: vec![Symbol::new("BTCUSDT").map_err(|_| ConfigError::Invalid {
                key: "EXECUTION_SYMBOLS",
                origin: String::new(),
                shown: "BTCUSDT".to_owned(),
                expected: "a symbol".to_owned(),
            })?],
            book_depth: 0,
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
        if self.routing == Routing::Live && self.order_path == exec_live::OrderPath::Ws {
            self.require(Feature::WsOrderEntry)?;
            if self.ws_trade_url.is_none() {
                return Err(ConfigError::Missing {
                    key: "BYBIT_WS_TRADE_URL",
                    why: "EXECUTION_ORDER_PATH=ws sends every order over the order-entry stream"
                        .to_owned(),
                    expected: "the /v5/trade stream's ws:// or wss:// URL",
                });
            }
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
        ]
        .into_iter()
        .chain(
            self.ws_trade_url
                .as_ref()
                .map(|url| ("BYBIT_WS_TRADE_URL", url, "wss", true)),
        )
        .collect::<Vec<_>>();
        for &(key, url, secure, trades) in &urls {
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
        // One exchange: a local emulator serves them all, so either every URL is on this
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
                    "a URL {here}, as BYBIT_REST_URL {:?} is: a local emulator is all its URLs \
                     (BYBIT_REST_URL, BYBIT_PUBLIC_REST_URL, BYBIT_WS_PUBLIC_URL, \
                     BYBIT_WS_PRIVATE_URL, and BYBIT_WS_TRADE_URL, which follows the private \
                     one) on loopback, a Bybit environment none of them, so \
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
