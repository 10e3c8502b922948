//! Bybit's environments (REFERENCE.md §1): each one's hosts, what it offers
//! ([`Capabilities`], refused at start by [`Settings::require`](super::Settings::require)),
//! which hosts are mainnet's (real money, R-CFG-5) or this machine's, and the `export` lines
//! that point the layer at a local emulator.

use std::fmt;

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
pub(super) fn host_of(url: &str) -> String {
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
