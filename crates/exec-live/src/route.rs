//! Which way an order goes: over Bybit's order-entry stream (`/v5/trade`) or over REST,
//! decided per request, and what the stream's answers mean to the outcome policy.
//!
//! - [`OrderPath::Auto`] (the default): the stream when it is connected and authenticated,
//!   otherwise REST. A request the stream did not write ([`TradeError::NotSent`]) goes over
//!   REST at once: nothing left, so nothing can be doubled.
//! - [`OrderPath::Rest`]: always REST. [`OrderPath::Ws`]: always the stream; a request it
//!   cannot write is a rate-limit-like refusal, for the policy to wait and send again.
//! - Creates and cancels go this way; amends stay on REST (the REST client's check that a
//!   re-sent amend was applied is the one owner of that question). A cancel the stream did
//!   not answer goes over REST at once: cancels are idempotent by orderLinkId.
//!
//! An unknown outcome on the stream (the socket died, the deadline passed) is
//! [`PortError::UnknownOutcome`], exactly as on REST: the gateway's outcome policy looks the
//! order up by orderLinkId before anything is sent again. Bybit's retCodes mean the same on
//! both paths (docs/v5/websocket/trade/guideline.mdx), so a refusal is classified by the REST
//! classification ([`crate::error::port_error`]), except the stream's own codes
//! ([`stream_refusal`]).

use std::time::Duration;

use bybit_rest::{ErrorContext, RestError};
use bybit_types::ws::op::TradeReply;
use bybit_ws::{TradeError, TradeOp};
use exec_gateway::PortError;

/// Counter: order requests sent, labels `path` (`ws` or `rest`) and `op` (`create`,
/// `cancel`; amends go over REST): which path each order took.
pub const ORDERS_BY_PATH_TOTAL: &str = "bybit_exec_orders_by_path_total";
/// Every value of the `path` label of [`ORDERS_BY_PATH_TOTAL`].
pub const PATHS: [&str; 2] = ["ws", "rest"];
/// Every value of the `op` label of [`ORDERS_BY_PATH_TOTAL`].
pub const OPS: [&str; 2] = ["create", "cancel"];

/// How orders are sent; see the module doc.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OrderPath {
    /// The trade stream when it is ready, else REST.
    #[default]
    Auto,
    /// REST only.
    Rest,
    /// The trade stream only.
    Ws,
}

impl OrderPath {
    /// The configuration's name: `auto`, `rest` or `ws`.
    pub fn name(self) -> &'static str {
        match self {
            OrderPath::Auto => "auto",
            OrderPath::Rest => "rest",
            OrderPath::Ws => "ws",
        }
    }
}

impl std::str::FromStr for OrderPath {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(OrderPath::Auto),
            "rest" => Ok(OrderPath::Rest),
            "ws" => Ok(OrderPath::Ws),
            other => Err(format!("order path {other:?}: expected auto, rest or ws")),
        }
    }
}

/// Counts one order sent over `path` (`ws` or `rest`).
pub(crate) fn count(path: &'static str, op: &'static str) {
    metrics::counter!(ORDERS_BY_PATH_TOTAL, "path" => path, "op" => op).increment(1);
}

/// "The trade service is restarting: open a new connection" (docs/v5/error.mdx, WS OE): not
/// taken; the stream reconnects, so the re-send goes over REST meanwhile.
const SERVICE_RESTARTING: i64 = 10019;
/// The stream's rate limits (docs/v5/error.mdx, WS OE): 10429 system frequency protection,
/// 10403 the IP's limit, 20003 too frequent on one session. Not executed.
const STREAM_RATE_LIMITS: [i64; 3] = [10429, 10403, 20003];
/// The stream's codes that do not mean what REST's do: 20006 a duplicate reqId (this layer
/// never repeats one), 10003 too many sessions for the UID (on REST: an invalid key).
const STREAM_OTHER: [i64; 2] = [20006, 10003];

/// Answers that say the request was not executed and that REST can carry at once, with
/// `auto` routing: 10002 (a timestamp outside the recv window: the REST client resyncs its
/// clock on it, which the stream's stamps then use) and 10019 (the stream's service is
/// restarting). Nothing landed, so nothing can be doubled; REST answers 110072 should it have.
pub(crate) fn reroute_to_rest(reply: &TradeReply) -> bool {
    matches!(reply.ret_code, TIMESTAMP | SERVICE_RESTARTING)
}

/// "Request timestamp outside the recv window" (docs/v5/error.mdx): not executed.
const TIMESTAMP: i64 = 10002;

/// What a stream's answer with a non-zero retCode means to the outcome policy; `create`
/// chooses the create classification (rule refusals re-rounded) over the generic one.
pub(crate) fn refusal(
    op: TradeOp,
    reply: &TradeReply,
    ctx: ErrorContext,
    create: bool,
) -> PortError {
    if let Some(e) = stream_refusal(op, reply) {
        return e;
    }
    let e = RestError::Exchange {
        ctx,
        code: reply.ret_code,
        message: reply.ret_msg.clone(),
    };
    if create {
        crate::error::create_error(e)
    } else {
        crate::error::port_error(e)
    }
}

/// The stream's own codes: not taken, send again (after the limit's reset for a rate limit).
pub(crate) fn stream_refusal(op: TradeOp, reply: &TradeReply) -> Option<PortError> {
    let code = reply.ret_code;
    if code == SERVICE_RESTARTING {
        return Some(PortError::RateLimited {
            retry_after: Duration::ZERO,
        });
    }
    if STREAM_RATE_LIMITS.contains(&code) {
        return Some(PortError::RateLimited {
            retry_after: reset_after(reply).unwrap_or(Duration::from_secs(1)),
        });
    }
    if STREAM_OTHER.contains(&code) {
        return Some(PortError::UnknownOutcome {
            reason: format!(
                "{} over the trade stream: {code} {}",
                op.name(),
                reply.ret_msg
            ),
        });
    }
    None
}

/// How long until the limit in the reply's header resets (its reset time minus its server
/// time), when both are there.
fn reset_after(reply: &TradeReply) -> Option<Duration> {
    let header = reply.header.as_ref()?;
    let wait = header.limit_reset_timestamp? - header.time_now?;
    Some(Duration::from_millis(u64::try_from(wait).unwrap_or(0)))
}

/// A stream failure (no answer) for the outcome policy.
pub(crate) fn failure(e: TradeError) -> PortError {
    match e {
        TradeError::OutcomeUnknown { .. } => PortError::UnknownOutcome {
            reason: e.to_string(),
        },
        TradeError::InvalidArgument(message) => PortError::InvalidInput(message),
        // Nothing left: wait a moment and send again (the policy's rule 7, then its lookup).
        other => {
            tracing::warn!(error = %other, "order not sent: the trade stream is not ready");
            PortError::RateLimited {
                retry_after: Duration::from_millis(500),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: i64, header: serde_json::Value) -> TradeReply {
        serde_json::from_value(serde_json::json!({
            "reqId": "r1", "retCode": code, "retMsg": "m", "op": "order.create",
            "data": {}, "header": header
        }))
        .unwrap()
    }

    fn classify(code: i64) -> PortError {
        let ctx = ErrorContext {
            endpoint: "order.create",
            symbol: Some("BTCUSDT".into()),
            order_link_id: Some("andre_E_T1".into()),
            write: true,
        };
        refusal(
            TradeOp::Create,
            &reply(code, serde_json::json!({})),
            ctx,
            true,
        )
    }

    /// Bybit's retCodes mean on the trade stream what they mean on REST
    /// (docs/v5/websocket/trade/guideline.mdx); the stream's own codes (docs/v5/error.mdx, WS
    /// OE) are "not taken, send again" — 10003 there is too many sessions, not a bad key.
    #[test]
    fn the_streams_codes_are_classified_as_rest_and_its_own_apart() {
        assert!(matches!(
            classify(10001),
            PortError::RuleRefused { code: 10001, .. }
        ));
        assert!(matches!(
            classify(110072),
            PortError::DuplicateLinkId { .. }
        ));
        assert!(matches!(
            classify(110007),
            PortError::InsufficientBalance { code: 110007, .. }
        ));
        assert!(matches!(classify(10004), PortError::Auth { .. }));
        assert!(matches!(classify(10016), PortError::UnknownOutcome { .. }));
        assert!(matches!(classify(10003), PortError::UnknownOutcome { .. }));
        assert!(matches!(classify(20006), PortError::UnknownOutcome { .. }));
        assert_eq!(
            classify(10019),
            PortError::RateLimited {
                retry_after: Duration::ZERO
            }
        );
        assert_eq!(
            classify(10429),
            PortError::RateLimited {
                retry_after: Duration::from_secs(1)
            }
        );
        let limited = reply(
            10403,
            serde_json::json!({"X-Bapi-Limit-Reset-Timestamp": "1711001595900", "Timenow": "1711001595200"}),
        );
        assert_eq!(
            stream_refusal(TradeOp::Create, &limited),
            Some(PortError::RateLimited {
                retry_after: Duration::from_millis(700)
            })
        );
    }

    #[test]
    fn a_stale_timestamp_or_a_restarting_service_goes_over_rest() {
        for code in [10002, 10019] {
            assert!(
                reroute_to_rest(&reply(code, serde_json::json!({}))),
                "{code}"
            );
        }
        for code in [0, 10001, 10016, 10429, 110072] {
            assert!(
                !reroute_to_rest(&reply(code, serde_json::json!({}))),
                "{code}"
            );
        }
    }

    #[test]
    fn no_answer_is_an_unknown_outcome_and_nothing_sent_is_a_wait() {
        let unknown = failure(TradeError::OutcomeUnknown {
            op: "order.create",
            reason: "the socket was lost".to_owned(),
        });
        assert!(matches!(unknown, PortError::UnknownOutcome { .. }));
        let not_sent = failure(TradeError::NotSent {
            reason: "not authenticated".to_owned(),
        });
        assert!(matches!(not_sent, PortError::RateLimited { .. }));
    }

    #[test]
    fn the_path_is_read_from_its_name() {
        for path in [OrderPath::Auto, OrderPath::Rest, OrderPath::Ws] {
            assert_eq!(path.name().parse::<OrderPath>(), Ok(path));
        }
        assert_eq!(" WS ".parse::<OrderPath>(), Ok(OrderPath::Ws));
        assert!("fix".parse::<OrderPath>().is_err());
    }
}
