//! Stream configuration: plain structs passed explicitly.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bybit_sign::Credentials;

use crate::BackoffConfig;

/// How a stream connects and keeps itself alive. Build with [`WsConfig::new`] (the URL is the
/// caller's choice: mainnet, testnet or an emulator) and change what you need.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// `wss://stream.bybit.com/v5/public/linear`, `wss://stream.bybit.com/v5/private`, ...
    pub url: String,
    /// How often `{"op":"ping"}` is sent (Bybit recommends 20 s, docs v5/ws/connect).
    pub ping_interval: Duration,
    /// A ping unanswered for this long means the socket is dead: reconnect.
    pub pong_timeout: Duration,
    /// No frame at all for this long means the socket is dead: reconnect.
    pub idle_timeout: Duration,
    /// Connecting (TCP, TLS, upgrade) must finish within this time.
    pub connect_timeout: Duration,
    /// An auth reply must arrive within this time; a frame must be written within it.
    pub reply_timeout: Duration,
    /// Reconnect spacing.
    pub backoff: BackoffConfig,
    /// Most topics per subscribe request. Bybit sets no per-request limit on linear streams
    /// but 10 on spot and 21,000 characters of args per connection (REFERENCE.md §5); small
    /// batches also keep a refused topic from taking many others with it.
    pub subscribe_batch: usize,
    /// Capacity of the event channel; see [`crate::WsEvent::Lagged`] for what happens when it
    /// is full.
    pub event_capacity: usize,
    /// The trade stream's `X-BAPI-RECV-WINDOW`: how long after its timestamp Bybit still takes
    /// a request (5 s, as REST; REFERENCE.md §2).
    pub recv_window: Duration,
}

impl WsConfig {
    /// Bybit's recommended heartbeat (20 s ping, 10 s to answer) and a 30 s reconnect cap.
    pub fn new(url: impl Into<String>) -> Self {
        WsConfig {
            url: url.into(),
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            reply_timeout: Duration::from_secs(10),
            backoff: BackoffConfig::default(),
            subscribe_batch: 10,
            event_capacity: 4096,
            recv_window: Duration::from_secs(5),
        }
    }
}

/// A clock offset source: server time minus local time, in ms (e.g. from `bybit-rest`'s
/// clock sync), read at each authentication.
pub type ClockOffset = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What a private stream authenticates with.
#[derive(Clone)]
pub struct PrivateAuth {
    /// The API key pair.
    pub credentials: Credentials,
    /// How far in the future `expires` is set. Bybit's sample uses 1 s, which fails under
    /// clock skew (pybit issues #152, #300); several seconds is safe.
    pub expiry_slack: Duration,
    /// Server minus local time, ms, when known.
    pub clock_offset: Option<ClockOffset>,
}

impl PrivateAuth {
    /// 5 s of expiry slack and no clock offset.
    pub fn new(credentials: Credentials) -> Self {
        PrivateAuth {
            credentials,
            expiry_slack: Duration::from_secs(5),
            clock_offset: None,
        }
    }

    /// The `expires` of an auth sent at local time `now_ms`.
    pub(crate) fn expires_ms(&self, now_ms: i64) -> u64 {
        let offset = self.clock_offset.as_ref().map_or(0, |f| f());
        let slack = i64::try_from(self.expiry_slack.as_millis()).unwrap_or(i64::MAX);
        u64::try_from(now_ms.saturating_add(offset).saturating_add(slack)).unwrap_or(0)
    }
}

impl fmt::Debug for PrivateAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials print their own redacted form.
        f.debug_struct("PrivateAuth")
            .field("credentials", &self.credentials)
            .field("expiry_slack", &self.expiry_slack)
            .field("clock_offset", &self.clock_offset.as_ref().map(|f| f()))
            .finish()
    }
}
