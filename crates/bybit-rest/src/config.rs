//! The client's configuration: a plain struct passed explicitly. There is no `Default`: the
//! caller must choose testnet, mainnet or demo (SPEC R-CFG-2, R-CFG-5).
//!
//! The environment's routing is part of it: the trading host (`base_url`), the host public
//! market data is read from when that is another one (`public_data_url`; which endpoints are
//! public data is `routes.rs`), and the endpoints the environment does not offer
//! (`not_offered`), refused with [`RestError::NotOffered`](crate::RestError::NotOffered)
//! before anything is sent. So one client serves an environment whatever its hosts.

use std::time::Duration;

use bybit_sign::Credentials;

use crate::limiter::LimitConfig;
use crate::retry::RetryConfig;
use crate::routes::Endpoint;

/// The default bound on a reply body: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Which Bybit environment (REFERENCE.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Environment {
    /// `https://api-testnet.bybit.com`.
    Testnet,
    /// `https://api.bybit.com`. Real money.
    Mainnet,
    /// `https://api-demo.bybit.com` (mainnet demo trading; keys made in Demo Trading mode).
    Demo,
}

impl Environment {
    /// Bybit's REST base URL for this environment.
    pub fn rest_url(self) -> &'static str {
        match self {
            Environment::Testnet => "https://api-testnet.bybit.com",
            Environment::Mainnet => "https://api.bybit.com",
            Environment::Demo => "https://api-demo.bybit.com",
        }
    }
}

/// Everything the client needs. Build it with [`RestConfig::new`] (an environment) or
/// [`RestConfig::with_base_url`] (an emulator, a regional host), then adjust fields.
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// The trading host: scheme and host, no trailing slash, e.g.
    /// `https://api-testnet.bybit.com`. Every endpoint goes here unless said otherwise below.
    pub base_url: String,
    /// The host public market data (instruments, tickers, price limits:
    /// [`Served::PublicData`](crate::routes::Served::PublicData)) is read from, when it is not
    /// `base_url`: demo trading reads mainnet's (REFERENCE.md §1). It gets its own rate
    /// limiter (Bybit limits each host's IP budget apart); no request to it is signed.
    pub public_data_url: Option<String>,
    /// Endpoints the environment does not offer (demo trading: the fee rate). A call to one
    /// answers [`RestError::NotOffered`](crate::RestError::NotOffered) and sends nothing.
    pub not_offered: Vec<&'static Endpoint>,
    /// How a [`RestError::NotOffered`](crate::RestError::NotOffered) names the environment
    /// (`BYBIT_ENV=demo`); the base URL unless set.
    pub environment: String,
    /// `X-BAPI-RECV-WINDOW`. Bybit's default, 5000 ms. A 10002 is fixed by resyncing the
    /// clock, never by widening this.
    pub recv_window: Duration,
    /// HTTP timeout for one attempt, 5000 ms by default.
    pub timeout: Duration,
    /// The API key pair; `None` for a public-data-only client.
    pub credentials: Option<Credentials>,
    /// Retry schedule.
    pub retry: RetryConfig,
    /// Local rate limits (Bybit's documented defaults).
    pub limits: LimitConfig,
    /// The largest reply body read, 16 MiB by default (a page of 1,000 instruments is about
    /// 1.5 MB). A longer body is cut off there and reported as a decode error, so a broken or
    /// hostile server cannot make the client hold an unbounded body in memory.
    pub max_body_bytes: usize,
}

impl RestConfig {
    /// A configuration for one of Bybit's environments, without credentials.
    pub fn new(environment: Environment) -> Self {
        Self::with_base_url(environment.rest_url())
    }

    /// A configuration for any base URL (a local emulator in tests, a regional host).
    pub fn with_base_url(base_url: impl Into<String>) -> Self {
        let base_url = trim_slashes(base_url.into());
        RestConfig {
            environment: base_url.clone(),
            base_url,
            public_data_url: None,
            not_offered: Vec::new(),
            recv_window: Duration::from_millis(bybit_sign::DEFAULT_RECV_WINDOW_MS),
            timeout: Duration::from_millis(5000),
            credentials: None,
            retry: RetryConfig::default(),
            limits: LimitConfig::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Reads public market data from `url` instead of the trading host.
    pub fn public_data_url(mut self, url: impl Into<String>) -> Self {
        self.public_data_url = Some(trim_slashes(url.into()));
        self
    }

    /// Refuses `endpoint` unsent: calls to it answer [`RestError::NotOffered`](crate::RestError::NotOffered).
    pub fn not_offered(mut self, endpoint: &'static Endpoint) -> Self {
        self.not_offered.push(endpoint);
        self
    }

    /// Names the environment in errors (`BYBIT_ENV=demo`).
    pub fn environment(mut self, name: impl Into<String>) -> Self {
        self.environment = name.into();
        self
    }

    /// Sets the API key pair.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
}

fn trim_slashes(mut url: String) -> String {
    while url.ends_with('/') {
        url.pop();
    }
    url
}
