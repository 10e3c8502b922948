//! `bybit-rest`'s errors as the gateway's [`PortError`]: the one place the live adapters
//! classify a failure for the outcome policy (`exec_gateway::policy`).

use bybit_rest::RestError;
use exec_gateway::PortError;

/// Classifies a REST failure, in this order:
///
/// 1. auth fatal (10003/10004/10005/10007/10010/33004, HTTP 401, no key) → [`PortError::Auth`];
///    so are 110123 / 110125, the trading terms not agreed (docs/changelog/v5.mdx): nothing
///    can trade until someone accepts them on Bybit's site, so the gateway halts and says so;
/// 2. duplicate orderLinkId (110072) → [`PortError::DuplicateLinkId`] (the order exists);
/// 3. insufficient balance (110004/110007/110012/110044/110045) →
///    [`PortError::InsufficientBalance`];
/// 4. the IP banned (HTTP 403) → [`PortError::UnknownOutcome`] for the 403 itself and for a
///    read refused here meanwhile, a reject for a write refused here (nothing left), with
///    the client's "IP banned by Bybit (HTTP 403) until HH:MM:SS UTC" text: not a rate limit
///    to wait out (the gateway would sleep ten minutes per try); rate limited by the exchange
///    (10006, HTTP 429) → [`PortError::RateLimited`] with the reset time (a write's outcome
///    is then unknown: the policy looks it up);
/// 5. outcome unknown (a write's timeout, reset after sending, 5xx, 10000/10016) or a
///    transient read failure → [`PortError::UnknownOutcome`]; so is 10002 (a timestamp
///    outside recv_window: not executed, the clock resynced, for the policy to send again);
/// 6. any other retCode → [`exec_wire::ret_code_error`] (definitive reject);
/// 7. refused before sending (invalid request, an endpoint the environment does not offer,
///    local rate limit, connect failure) →
///    [`PortError::InvalidInput`] or a reject without a code.
///
/// Messages are the client's own (`RestError`'s Display carries no secret or signature).
pub fn port_error(e: RestError) -> PortError {
    let message = e.to_string();
    if let Some(code @ (110123 | 110125)) = e.ret_code() {
        return PortError::Auth {
            code,
            message: format!(
                "the account has not agreed to Bybit's trading terms for this product: log in \
                 on bybit.com and accept them, then restart ({message})"
            ),
        };
    }
    if e.is_auth_fatal() {
        return PortError::Auth {
            code: e.ret_code().or(e.http_status().map(i64::from)).unwrap_or(0),
            message,
        };
    }
    if e.is_duplicate_order_link_id() {
        return PortError::DuplicateLinkId { message };
    }
    if e.is_insufficient_balance() {
        return PortError::InsufficientBalance {
            code: e.ret_code().unwrap_or(0),
            message,
        };
    }
    if e.is_ip_banned() {
        return if e.is_definitive_reject() && e.context().write {
            PortError::Rejected { code: 0, message }
        } else {
            PortError::UnknownOutcome { reason: message }
        };
    }
    if e.is_rate_limited() && !e.is_definitive_reject() {
        return PortError::RateLimited {
            retry_after: e
                .rate_limit_reset()
                .unwrap_or(std::time::Duration::from_secs(1)),
        };
    }
    if e.is_outcome_unknown() || e.is_retryable() {
        return PortError::UnknownOutcome { reason: message };
    }
    if e.is_timestamp() {
        // 10002: the request's timestamp was outside recv_window, so it was not executed, and
        // the client has resynced its clock. Not a refusal of the order: the policy looks it
        // up and sends it again (the client itself does not re-send a create).
        return PortError::UnknownOutcome { reason: message };
    }
    match &e {
        RestError::Exchange { code, message, .. } => {
            exec_wire::ret_code_error(*code, message.clone())
        }
        RestError::InvalidRequest { .. } | RestError::NotOffered { .. } => {
            PortError::InvalidInput(message)
        }
        _ => PortError::Rejected { code: 0, message },
    }
}

/// retCodes that refuse an order for a price or quantity rule (docs/v5/error.mdx): 10001
/// (parameter error, e.g. qty not on the step), 110094 (below the minimum notional), 110003
/// (price out of range).
pub const RULE_REFUSALS: [i64; 3] = [10001, 110094, 110003];

/// A create's failure as the outcome policy reads it: a refusal for a price or quantity
/// rule ([`RULE_REFUSALS`]) is [`PortError::RuleRefused`]; anything else as [`port_error`].
pub(crate) fn create_error(e: RestError) -> PortError {
    match &e {
        RestError::Exchange { code, message, .. } if RULE_REFUSALS.contains(code) => {
            PortError::RuleRefused {
                code: *code,
                message: message.clone(),
            }
        }
        _ => port_error(e),
    }
}
