//! The crate's one error type, shaped by what the caller must decide (SPEC R-REST-6,
//! REFERENCE.md §12): was the request refused for good, might it have executed, is the key
//! unusable, must the caller slow down. Callers use the predicates, not the variants.

use std::fmt;
use std::time::{Duration, SystemTime};

/// Bybit retCodes this crate acts on (docs/v5/error.mdx, REFERENCE.md §12).
pub mod codes {
    /// Server timeout: a write's outcome is unknown.
    pub const SERVER_TIMEOUT: i64 = 10000;
    /// Request parameter error.
    pub const PARAMS: i64 = 10001;
    /// Request timestamp outside `recv_window`.
    pub const TIMESTAMP: i64 = 10002;
    /// API key invalid (or used on the wrong environment).
    pub const INVALID_API_KEY: i64 = 10003;
    /// Signature error.
    pub const SIGNATURE: i64 = 10004;
    /// Permission denied for this key.
    pub const PERMISSION_DENIED: i64 = 10005;
    /// Too many visits: the per-UID rate limit.
    pub const RATE_LIMIT: i64 = 10006;
    /// The key's IP whitelist does not match.
    pub const UNMATCHED_IP: i64 = 10010;
    /// Server error: a write's outcome is unknown.
    pub const SERVER_ERROR: i64 = 10016;
    /// Trading service under high load (retCode 429).
    pub const HIGH_LOAD: i64 = 429;
    /// API key expired (derivatives).
    pub const KEY_EXPIRED: i64 = 33004;
    /// Order does not exist, or too late to cancel.
    pub const ORDER_NOT_FOUND: i64 = 110001;
    /// Wallet balance insufficient.
    pub const WALLET_INSUFFICIENT: i64 = 110004;
    /// Available balance insufficient.
    pub const AVAILABLE_INSUFFICIENT: i64 = 110007;
    /// Insufficient available balance.
    pub const INSUFFICIENT_AVAILABLE: i64 = 110012;
    /// Leverage not modified (benign).
    pub const LEVERAGE_NOT_MODIFIED: i64 = 110043;
    /// Available margin insufficient.
    pub const MARGIN_INSUFFICIENT: i64 = 110044;
    /// Wallet balance insufficient (margin).
    pub const WALLET_MARGIN_INSUFFICIENT: i64 = 110045;
    /// The orderLinkId is already used by an order.
    pub const DUPLICATE_ORDER_LINK_ID: i64 = 110072;
    /// Order is processing, retry later: not a refusal, the outcome is unknown.
    pub const ORDER_PROCESSING: i64 = 110079;
    /// User authentication failed.
    pub const AUTH_FAILED: i64 = 10007;
    /// TP/SL not modified (benign for trading-stop).
    pub const NOT_MODIFIED: i64 = 34040;
}

/// What was being done when an error happened: the endpoint and, when known, the symbol and
/// orderLinkId. It never holds credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorContext {
    /// `GET /v5/...` or `POST /v5/...`.
    pub endpoint: &'static str,
    /// The symbol the request was about.
    pub symbol: Option<Box<str>>,
    /// The client order id the request carried.
    pub order_link_id: Option<Box<str>>,
    /// Whether the request changes state on the exchange (a POST).
    pub write: bool,
}

impl ErrorContext {
    pub(crate) fn new(endpoint: &'static str, write: bool) -> Self {
        ErrorContext {
            endpoint,
            symbol: None,
            order_link_id: None,
            write,
        }
    }
}

impl fmt::Display for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.endpoint)?;
        match (&self.symbol, &self.order_link_id) {
            (Some(s), Some(l)) => write!(f, " [{s}, orderLinkId {l}]"),
            (Some(s), None) => write!(f, " [{s}]"),
            (None, Some(l)) => write!(f, " [orderLinkId {l}]"),
            (None, None) => Ok(()),
        }
    }
}

/// Which signal said "slow down".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitSignal {
    /// retCode 10006: the per-UID, per-endpoint limit.
    RetCode10006,
    /// HTTP 429: system-level frequency protection.
    Http429,
    /// Not sent: the local limiter knows the exchange would refuse it until the reset.
    Local,
}

/// Where a reply stopped making sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeStage {
    /// The body is not Bybit's envelope (an HTML error page, truncated JSON, nothing).
    Envelope,
    /// The envelope said success but `result` (or a batch's item list) is not what was expected.
    Result,
}

/// Why a REST call failed. Every variant carries an [`ErrorContext`]; none carries a secret or
/// a signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// The caller's request cannot be sent as asked (refused before anything left).
    #[error("{ctx}: invalid request: {reason}")]
    InvalidRequest {
        /// What was being done.
        ctx: ErrorContext,
        /// What is wrong.
        reason: String,
    },
    /// The environment does not offer this endpoint (demo trading has no fee rate,
    /// REFERENCE.md §1): refused before anything was sent
    /// ([`RestConfig::not_offered`](crate::RestConfig::not_offered)).
    #[error("{ctx}: {environment} does not offer this endpoint; nothing was sent")]
    NotOffered {
        /// What was being done.
        ctx: ErrorContext,
        /// The environment, as the configuration names it
        /// ([`RestConfig::environment`](crate::RestConfig::environment)).
        environment: String,
    },
    /// A private endpoint was called on a client built without credentials.
    #[error("{ctx}: this endpoint needs API credentials and the client has none")]
    MissingCredentials {
        /// What was being done.
        ctx: ErrorContext,
    },
    /// The request could not be signed or serialized.
    #[error("{ctx}: cannot sign the request: {source}")]
    Sign {
        /// What was being done.
        ctx: ErrorContext,
        /// Why.
        source: bybit_sign::SignError,
    },
    /// The connection failed. `sent` says whether the request may have reached the exchange.
    #[error("{ctx}: network error {}: {message}", if *sent { "after the request may have left" } else { "before sending" })]
    Network {
        /// What was being done.
        ctx: ErrorContext,
        /// Whether bytes may have left (false only for connect failures).
        sent: bool,
        /// The transport's description.
        message: String,
    },
    /// No reply within the HTTP timeout.
    #[error("{ctx}: no reply within {timeout:?}")]
    Timeout {
        /// What was being done.
        ctx: ErrorContext,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// Bybit answered with a non-zero retCode.
    #[error("{ctx}: retCode {code}: {message}")]
    Exchange {
        /// What was being done.
        ctx: ErrorContext,
        /// Bybit's retCode (REFERENCE.md §12; see [`codes`]).
        code: i64,
        /// Bybit's retMsg.
        message: String,
    },
    /// Bybit said to slow down, or the local limiter knows it would.
    #[error("{ctx}: rate limited ({signal:?}); the limit resets in {retry_after:?}")]
    RateLimited {
        /// What was being done.
        ctx: ErrorContext,
        /// Which signal.
        signal: RateLimitSignal,
        /// Time until the limit resets.
        retry_after: Duration,
    },
    /// HTTP 403: Bybit banned this IP for breaching its IP limit (600 requests per 5 s,
    /// docs/v5/rate-limit/rate-limit.mdx: "stop all sessions and wait at least 10 minutes",
    /// lifted automatically). The reply says nothing of when the ban ends, so `until` is the
    /// documented ban length after the 403: the earliest time worth trying again. Every
    /// request is refused locally until then (`sent` false), so the ban is not extended.
    ///
    /// A 403 whose reply says the IP's country is blocked (Bybit refuses IPs in the US and
    /// mainland China, docs/v5/guide.mdx; its CDN answers "…configured to block access from
    /// your country") is said so instead: no wait lifts it (`country_blocked`).
    #[error("{ctx}: {}{}", ip_ban_text(*until, *retry_window, *country_blocked), if *sent { "" } else { "; not sent" })]
    IpBanned {
        /// What was being done.
        ctx: ErrorContext,
        /// The earliest time worth trying again (wall clock).
        until: SystemTime,
        /// The ban length assumed from the 403 (`LimitConfig::ip_ban_backoff`, 10 minutes).
        retry_window: Duration,
        /// Time left until `until`.
        retry_after: Duration,
        /// Whether this request reached Bybit (the 403 itself) or was refused here.
        sent: bool,
        /// The 403's reply said this IP's country is blocked, not that it sent too much.
        country_blocked: bool,
    },
    /// The reply was not what Bybit sends. Says what arrived: the HTTP status and the first bytes.
    #[error("{ctx}: cannot decode the reply ({stage:?}, HTTP {status}, {len} bytes): {reason}; it starts {first_bytes:?}")]
    Decode {
        /// What was being done.
        ctx: ErrorContext,
        /// Envelope or result.
        stage: DecodeStage,
        /// HTTP status of the reply.
        status: u16,
        /// Body length in bytes.
        len: usize,
        /// The first bytes of the body (lossy UTF-8, at most 200 bytes).
        first_bytes: String,
        /// The parser's description.
        reason: String,
    },
    /// A blocking adapter was called where it cannot block (a current-thread runtime).
    #[error("{ctx}: {reason}")]
    Runtime {
        /// What was being done.
        ctx: ErrorContext,
        /// Why.
        reason: &'static str,
    },
}

/// `HH:MM:SS` of a wall-clock time, in UTC.
/// The text of [`RestError::IpBanned`] after its context.
fn ip_ban_text(until: SystemTime, window: Duration, country_blocked: bool) -> String {
    if country_blocked {
        format!(
            "IP refused by Bybit (HTTP 403): the reply says this IP's country is blocked (Bybit \
             refuses IPs in the US and mainland China); waiting does not lift it, run from \
             another country. Requests stay stopped here until {} UTC, then are tried again",
            clock_utc(until)
        )
    } else {
        format!(
            "IP banned by Bybit (HTTP 403) until {} UTC (the earliest retry: Bybit bans an IP for \
             at least {} minutes and does not say until when)",
            clock_utc(until),
            window.as_secs() / 60
        )
    }
}

/// Whether a 403 reply is Bybit's CDN refusing the IP's country (docs/v5/guide.mdx: US and
/// mainland China IPs get 403), rather than the IP-limit ban's "access too frequent".
pub(crate) fn says_country_blocked(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .to_ascii_lowercase()
        .contains("block access from your country")
}

fn clock_utc(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// How many bytes of an unexpected body an error keeps.
const FIRST_BYTES: usize = 200;

pub(crate) fn first_bytes(body: &[u8]) -> String {
    let cut = body.get(..FIRST_BYTES).unwrap_or(body);
    String::from_utf8_lossy(cut).into_owned()
}

impl RestError {
    /// What was being done.
    pub fn context(&self) -> &ErrorContext {
        match self {
            RestError::InvalidRequest { ctx, .. }
            | RestError::NotOffered { ctx, .. }
            | RestError::MissingCredentials { ctx }
            | RestError::Sign { ctx, .. }
            | RestError::Network { ctx, .. }
            | RestError::Timeout { ctx, .. }
            | RestError::Exchange { ctx, .. }
            | RestError::RateLimited { ctx, .. }
            | RestError::IpBanned { ctx, .. }
            | RestError::Decode { ctx, .. }
            | RestError::Runtime { ctx, .. } => ctx,
        }
    }

    /// Bybit's retCode, when the exchange answered with one (10006 included).
    pub fn ret_code(&self) -> Option<i64> {
        match self {
            RestError::Exchange { code, .. } => Some(*code),
            RestError::RateLimited {
                signal: RateLimitSignal::RetCode10006,
                ..
            } => Some(codes::RATE_LIMIT),
            _ => None,
        }
    }

    /// The HTTP status of a reply that was not Bybit's JSON.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            RestError::Decode { status, .. } => Some(*status),
            RestError::IpBanned { .. } => Some(403),
            RestError::RateLimited {
                signal: RateLimitSignal::Http429,
                ..
            } => Some(429),
            _ => None,
        }
    }

    /// A transient failure worth trying again (SPEC R-REST-2): network errors, timeouts,
    /// a body that is not Bybit's JSON (a 5xx page, a cut-off or empty 200; not a 4xx page),
    /// retCodes 10000, 10016, 429 and 110079 ("order is processing"),
    /// and rate limits other than the IP ban. Whether a *write* may be retried also depends on
    /// [`is_outcome_unknown`](Self::is_outcome_unknown); the client only re-sends an order
    /// create that carries an orderLinkId.
    pub fn is_retryable(&self) -> bool {
        match self {
            RestError::Network { .. } | RestError::Timeout { .. } => true,
            // A 5xx page, or a cut-off / empty 200: transient. A 4xx that is not JSON is not.
            RestError::Decode { stage, status, .. } => {
                *stage == DecodeStage::Envelope && (*status >= 500 || *status < 400)
            }
            RestError::Exchange { code, .. } => matches!(
                *code,
                codes::SERVER_TIMEOUT
                    | codes::SERVER_ERROR
                    | codes::HIGH_LOAD
                    | codes::ORDER_PROCESSING
            ),
            RestError::RateLimited { .. } => true,
            _ => false,
        }
    }

    /// The exchange (or the client, before sending) refused the request, so the order it
    /// would have created or changed does not exist / did not change. Safe to treat as final.
    pub fn is_definitive_reject(&self) -> bool {
        match self {
            RestError::InvalidRequest { .. }
            | RestError::NotOffered { .. }
            | RestError::MissingCredentials { .. }
            | RestError::Sign { .. }
            | RestError::Runtime { .. } => true,
            RestError::Network { sent, .. } => !sent,
            RestError::Exchange { code, .. } => {
                !matches!(
                    *code,
                    codes::SERVER_TIMEOUT
                        | codes::SERVER_ERROR
                        | codes::HIGH_LOAD
                        | codes::ORDER_PROCESSING
                ) && !self.is_duplicate_order_link_id()
            }
            RestError::RateLimited { signal, .. } => *signal == RateLimitSignal::Local,
            RestError::IpBanned { sent, .. } => !sent,
            // An HTTP 4xx page: refused at the door, nothing executed.
            RestError::Decode { status, .. } => (400..500).contains(status),
            RestError::Timeout { .. } => false,
        }
    }

    /// A write whose bytes may have left and whose outcome is not known: a timeout, a
    /// connection lost after sending, a 5xx or other non-JSON body, retCode 10000/10016/429/110079,
    /// or an exchange-side rate-limit answer (house policy, STYLE.md). Look the order up by
    /// its orderLinkId before sending anything else for it. Always `false` for reads.
    pub fn is_outcome_unknown(&self) -> bool {
        if !self.context().write {
            return false;
        }
        match self {
            RestError::Network { sent, .. } => *sent,
            RestError::Timeout { .. } => true,
            RestError::Decode { status, .. } => !(400..500).contains(status),
            RestError::Exchange { code, .. } => matches!(
                *code,
                codes::SERVER_TIMEOUT
                    | codes::SERVER_ERROR
                    | codes::HIGH_LOAD
                    | codes::ORDER_PROCESSING
            ),
            RestError::RateLimited { signal, .. } => *signal != RateLimitSignal::Local,
            RestError::IpBanned { sent, .. } => *sent,
            _ => false,
        }
    }

    /// The key cannot work as configured (10003, 10004, 10005, 10007, 10010, 33004, HTTP 401): stop
    /// and alert, do not retry (SPEC R-ERR-2).
    pub fn is_auth_fatal(&self) -> bool {
        match self {
            RestError::Exchange { code, .. } => matches!(
                *code,
                codes::INVALID_API_KEY
                    | codes::AUTH_FAILED
                    | codes::SIGNATURE
                    | codes::PERMISSION_DENIED
                    | codes::UNMATCHED_IP
                    | codes::KEY_EXPIRED
            ),
            RestError::Decode { status, .. } => *status == 401,
            RestError::MissingCredentials { .. } => true,
            _ => false,
        }
    }

    /// Bybit (or the local limiter) said to slow down.
    pub fn is_rate_limited(&self) -> bool {
        matches!(
            self,
            RestError::RateLimited { .. } | RestError::IpBanned { .. }
        )
    }

    /// Bybit banned this IP (HTTP 403); the error says until when.
    pub fn is_ip_banned(&self) -> bool {
        matches!(self, RestError::IpBanned { .. })
    }

    /// Time until the rate limit resets, for a rate-limit error.
    pub fn rate_limit_reset(&self) -> Option<Duration> {
        match self {
            RestError::RateLimited { retry_after, .. }
            | RestError::IpBanned { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Insufficient balance or margin (110004, 110007, 110012, 110044, 110045): abort the
    /// trade, do not retry (SPEC R-ERR-3).
    pub fn is_insufficient_balance(&self) -> bool {
        matches!(
            self.ret_code(),
            Some(
                codes::WALLET_INSUFFICIENT
                    | codes::AVAILABLE_INSUFFICIENT
                    | codes::INSUFFICIENT_AVAILABLE
                    | codes::MARGIN_INSUFFICIENT
                    | codes::WALLET_MARGIN_INSUFFICIENT
            )
        )
    }

    /// An order with this orderLinkId already exists (110072). Neither a reject of that order
    /// nor an unknown outcome: the order is there; look it up by its orderLinkId.
    /// [`RestClient::create_order`](crate::RestClient::create_order) does so itself and only
    /// returns this error when the existing order is a different one or could not be read.
    ///
    /// Matched on the text as well as the code: a real capture shows the same text under
    /// retCode 20094 (REFERENCE.md §9).
    pub fn is_duplicate_order_link_id(&self) -> bool {
        match self {
            RestError::Exchange { code, message, .. } => {
                *code == codes::DUPLICATE_ORDER_LINK_ID
                    || message
                        .to_ascii_lowercase()
                        .contains("orderlinkedid is duplicate")
            }
            _ => false,
        }
    }

    /// The request timestamp was outside the window (10002): the clock needs a resync.
    pub fn is_timestamp(&self) -> bool {
        self.ret_code() == Some(codes::TIMESTAMP)
    }

    /// Every value [`kind`](Self::kind) returns (a metric label: a bounded set).
    pub const KINDS: [&'static str; 16] = [
        "invalid_request",
        "not_offered",
        "missing_credentials",
        "sign",
        "network",
        "timeout",
        "rate_limited",
        "ip_banned",
        "decode",
        "runtime",
        "auth",
        "timestamp",
        "server",
        "insufficient_balance",
        "duplicate_link_id",
        "reject",
    ];

    /// A short, stable name for the kind of failure, for metrics and logs: `invalid_request`,
    /// `not_offered`, `missing_credentials`, `sign`, `network`, `timeout`, `rate_limited`, `ip_banned`,
    /// `decode`, `runtime`, or for an exchange answer its retCode class: `auth` (the key cannot
    /// work), `timestamp` (10002), `server` (10000/10016/429/110079: outcome unknown),
    /// `insufficient_balance`, `duplicate_link_id` (110072) or `reject` (any other definitive
    /// refusal). [`KINDS`](Self::KINDS) lists them.
    pub fn kind(&self) -> &'static str {
        match self {
            RestError::InvalidRequest { .. } => "invalid_request",
            RestError::NotOffered { .. } => "not_offered",
            RestError::MissingCredentials { .. } => "missing_credentials",
            RestError::Sign { .. } => "sign",
            RestError::Network { .. } => "network",
            RestError::Timeout { .. } => "timeout",
            RestError::RateLimited { .. } => "rate_limited",
            RestError::IpBanned { .. } => "ip_banned",
            RestError::Decode { .. } => "decode",
            RestError::Runtime { .. } => "runtime",
            RestError::Exchange { .. } if self.is_auth_fatal() => "auth",
            RestError::Exchange { .. } if self.is_timestamp() => "timestamp",
            RestError::Exchange { .. } if self.is_retryable() => "server",
            RestError::Exchange { .. } if self.is_insufficient_balance() => "insufficient_balance",
            RestError::Exchange { .. } if self.is_duplicate_order_link_id() => "duplicate_link_id",
            RestError::Exchange { .. } => "reject",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(write: bool) -> ErrorContext {
        ErrorContext::new(
            if write {
                "POST /v5/order/create"
            } else {
                "GET /v5/order/realtime"
            },
            write,
        )
    }

    fn exchange(code: i64) -> RestError {
        RestError::Exchange {
            ctx: ctx(true),
            code,
            message: String::new(),
        }
    }

    fn decode(status: u16) -> RestError {
        RestError::Decode {
            ctx: ctx(true),
            stage: DecodeStage::Envelope,
            status,
            len: 0,
            first_bytes: String::new(),
            reason: String::new(),
        }
    }

    /// The predicates of one error: retryable, definitive reject, outcome unknown, auth fatal.
    fn check(error: RestError, expected: [bool; 4]) {
        let got = [
            error.is_retryable(),
            error.is_definitive_reject(),
            error.is_outcome_unknown(),
            error.is_auth_fatal(),
        ];
        assert_eq!(got, expected, "{error}");
    }

    // docs/v5/error.mdx and REFERENCE.md §12: what each class means for the caller.
    #[test]
    fn each_error_class_answers_the_callers_questions() {
        const T: bool = true;
        const F: bool = false;
        check(exchange(codes::SERVER_TIMEOUT), [T, F, T, F]);
        check(exchange(codes::SERVER_ERROR), [T, F, T, F]);
        check(exchange(codes::HIGH_LOAD), [T, F, T, F]);
        check(exchange(codes::TIMESTAMP), [F, T, F, F]);
        check(exchange(codes::PARAMS), [F, T, F, F]);
        for code in [10003, 10004, 10005, 10010, 33004] {
            check(exchange(code), [F, T, F, T]);
        }
        check(exchange(codes::ORDER_NOT_FOUND), [F, T, F, F]);
        check(exchange(codes::DUPLICATE_ORDER_LINK_ID), [F, F, F, F]);
        for code in [110004, 110007, 110012, 110044, 110045] {
            assert!(exchange(code).is_insufficient_balance());
            check(exchange(code), [F, T, F, F]);
        }
        assert!(exchange(codes::TIMESTAMP).is_timestamp());
        check(decode(502), [T, F, T, F]);
        check(decode(200), [T, F, T, F]);
        check(decode(404), [F, T, F, F]);
        check(decode(401), [F, T, F, T]);
        let network = |sent| RestError::Network {
            ctx: ctx(true),
            sent,
            message: String::new(),
        };
        check(network(true), [T, F, T, F]);
        check(network(false), [T, T, F, F]);
        check(
            RestError::Timeout {
                ctx: ctx(true),
                timeout: Duration::from_secs(5),
            },
            [T, F, T, F],
        );
        // A read has no outcome to be unsure of.
        check(
            RestError::Timeout {
                ctx: ctx(false),
                timeout: Duration::from_secs(5),
            },
            [T, F, F, F],
        );
        let limited = |signal| RestError::RateLimited {
            ctx: ctx(true),
            signal,
            retry_after: Duration::from_millis(400),
        };
        check(limited(RateLimitSignal::RetCode10006), [T, F, T, F]);
        check(limited(RateLimitSignal::Http429), [T, F, T, F]);
        let banned = |sent| RestError::IpBanned {
            ctx: ctx(true),
            until: SystemTime::UNIX_EPOCH
                + Duration::from_secs(86_400 * 3 + 3600 * 23 + 60 * 45 + 7),
            retry_window: Duration::from_secs(600),
            retry_after: Duration::from_secs(600),
            sent,
            country_blocked: false,
        };
        check(banned(true), [F, F, T, F]);
        check(banned(false), [F, T, F, F]);
        assert!(banned(true).is_ip_banned() && banned(true).is_rate_limited());
        assert_eq!(banned(true).http_status(), Some(403));
        assert_eq!(banned(true).kind(), "ip_banned");
        // A ban says so and until when, never "rate limited".
        let text = banned(true).to_string();
        assert!(
            text.contains("IP banned by Bybit (HTTP 403) until 23:45:07 UTC"),
            "{text}"
        );
        assert!(text.contains("at least 10 minutes"), "{text}");
        assert!(!text.contains("rate limited"), "{text}");
        assert!(banned(false).to_string().ends_with("; not sent"));
        check(limited(RateLimitSignal::Local), [T, T, F, F]);
        assert_eq!(
            limited(RateLimitSignal::Local).rate_limit_reset(),
            Some(Duration::from_millis(400))
        );
        assert_eq!(
            limited(RateLimitSignal::RetCode10006).ret_code(),
            Some(10006)
        );
    }

    // docs/v5/error.mdx: the retCode classes metrics count errors by.
    #[test]
    fn each_error_has_a_kind_for_metrics() {
        let kinds = [
            (exchange(codes::PARAMS), "reject"),
            (exchange(codes::ORDER_NOT_FOUND), "reject"),
            (exchange(codes::SIGNATURE), "auth"),
            (exchange(codes::TIMESTAMP), "timestamp"),
            (exchange(codes::SERVER_ERROR), "server"),
            (exchange(codes::ORDER_PROCESSING), "server"),
            (exchange(codes::MARGIN_INSUFFICIENT), "insufficient_balance"),
            (
                exchange(codes::DUPLICATE_ORDER_LINK_ID),
                "duplicate_link_id",
            ),
            (decode(502), "decode"),
            (
                RestError::Timeout {
                    ctx: ctx(true),
                    timeout: Duration::from_secs(5),
                },
                "timeout",
            ),
        ];
        for (error, kind) in kinds {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }

    #[test]
    fn errors_name_what_was_being_done() {
        let mut context = ctx(true);
        context.symbol = Some("BTCUSDT".into());
        context.order_link_id = Some("abc-1".into());
        let error = RestError::Exchange {
            ctx: context,
            code: 110007,
            message: "ab not enough for new order".into(),
        };
        assert_eq!(
            error.to_string(),
            "POST /v5/order/create [BTCUSDT, orderLinkId abc-1]: retCode 110007: ab not enough for new order"
        );
    }
}
