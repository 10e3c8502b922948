//! Errors: what a port answered ([`PortError`], classified for the outcome policy) and what an
//! operation reports to the state machine ([`GatewayError`]).

use std::time::Duration;

use bybit_meta::MetaError;
use rust_decimal::Decimal;

use crate::journal::JournalError;

/// What a port call can fail with, classified by what the outcome policy must do.
///
/// Adapters map their transport's errors into this; Bybit's retCodes go through
/// `exec_wire::ret_code_error` (outside the gateway) so the mapping lives in one place. Messages never carry a
/// secret (adapters pass Bybit's `retMsg` or their own words, never a request's headers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The exchange definitively refused the request; nothing was done.
    #[error("rejected: retCode {code}: {message}")]
    Rejected {
        /// The exchange's code.
        code: i64,
        /// The exchange's text.
        message: String,
    },
    /// The request may or may not have been carried out: a timeout, a 5xx, retCode
    /// 10000/10016, or a connection dropped after sending. Look the order up before anything
    /// else is sent for it.
    #[error("outcome unknown: {reason}")]
    UnknownOutcome {
        /// What happened.
        reason: String,
    },
    /// The orderLinkId is already in use (110072): the order exists, so look it up and treat
    /// it as placed (SPEC R-ORD-5).
    #[error("duplicate orderLinkId: {message}")]
    DuplicateLinkId {
        /// The exchange's text.
        message: String,
    },
    /// Not enough balance or margin (110004, 110007, 110012, 110044, 110045): the trade is
    /// aborted, never retried (R-ERR-3).
    #[error("insufficient balance: retCode {code}: {message}")]
    InsufficientBalance {
        /// The exchange's code.
        code: i64,
        /// The exchange's text.
        message: String,
    },
    /// The key or signature was refused (10003, 10004, 10005, 10007, 10010, 33004): fatal
    /// (R-ERR-2).
    #[error("authentication failed: retCode {code}: {message}")]
    Auth {
        /// The exchange's code.
        code: i64,
        /// The exchange's text.
        message: String,
    },
    /// Slow down (10006, HTTP 403/429): wait `retry_after`, then carry on; for a write, the
    /// outcome is unknown (R-ERR-4).
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// The request was invalid before it reached the exchange.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An order refused for one of the instrument's price or quantity rules (a qty off the
    /// step, a price off the tick or out of range, below the minimum value): nothing was
    /// created, and the rules may have changed since they were loaded. The outcome policy
    /// reloads them, re-rounds and sends again (`policy.rs`); a router reports it only for an
    /// order create.
    #[error("refused for an instrument rule: retCode {code}: {message}")]
    RuleRefused {
        /// The exchange's code.
        code: i64,
        /// The exchange's text.
        message: String,
    },
}

/// A port call's result.
pub type PortResult<T> = Result<T, PortError>;

impl PortError {
    /// The exchange said no and nothing was done.
    pub fn is_definitive_reject(&self) -> bool {
        matches!(
            self,
            PortError::Rejected { .. }
                | PortError::RuleRefused { .. }
                | PortError::InsufficientBalance { .. }
                | PortError::Auth { .. }
                | PortError::InvalidInput(_)
        )
    }

    /// A write may or may not have happened: look it up by orderLinkId.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(
            self,
            PortError::UnknownOutcome { .. } | PortError::RateLimited { .. }
        )
    }

    /// Worth trying again (after waiting, for a rate limit).
    pub fn is_retryable(&self) -> bool {
        self.is_outcome_unknown()
    }

    /// Trading must stop.
    pub fn is_fatal(&self) -> bool {
        matches!(self, PortError::Auth { .. })
    }

    /// The exchange's retCode, when it gave one.
    pub fn ret_code(&self) -> Option<i64> {
        match self {
            PortError::Rejected { code, .. }
            | PortError::RuleRefused { code, .. }
            | PortError::InsufficientBalance { code, .. }
            | PortError::Auth { code, .. } => Some(*code),
            PortError::DuplicateLinkId { .. } => Some(110072),
            _ => None,
        }
    }
}

/// What an operation reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The plan cannot be traded as written.
    #[error("trade {tag}: invalid plan: {reason}")]
    InvalidPlan {
        /// The trade's tag.
        tag: String,
        /// What is wrong.
        reason: String,
    },
    /// The plan fails the whole-plan check (R-SAFE-1): nothing was sent. `field` names the
    /// part of the plan (`tp_levels[1].price`, `symbol`, `dca_levels[0].margin_usdt`), `rule`
    /// the rule it breaks.
    #[error("trade {tag}: plan refused: {field}: {rule}; nothing sent")]
    PlanRefused {
        /// The trade's tag.
        tag: String,
        /// The field, as a path into the plan.
        field: String,
        /// The rule broken, with the values involved.
        rule: String,
    },
    /// The plan conflicts with what is already open or done (R-SAFE-2): a second open trade
    /// on the symbol (one-way mode holds one position per symbol), a position on the symbol
    /// that no open trade owns (the plan did not ask to adopt it), or a tag that names a
    /// finished trade. Nothing was sent. The application answers HTTP 409.
    #[error("trade {tag}: conflict on {symbol}: {reason}; nothing sent")]
    Conflict {
        /// The trade's tag.
        tag: String,
        /// Symbol.
        symbol: String,
        /// What it conflicts with.
        reason: String,
    },
    /// The orderLinkId for a leg would be longer than 36 characters or use characters Bybit
    /// refuses.
    #[error("orderLinkId {id:?}: {reason} (at most 36 of A-Z a-z 0-9 _ -)")]
    LinkId {
        /// The id that would have been sent.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The order's value is above the configured maximum (SPEC R-GW-1).
    #[error("trade {tag}: notional {notional} USDT above the configured maximum {max}")]
    MaxNotional {
        /// The trade's tag.
        tag: String,
        /// The order's value.
        notional: Decimal,
        /// The configured maximum.
        max: Decimal,
    },
    /// Rounding or validation against the instrument's rules failed.
    #[error("trade {tag}: {source}")]
    Meta {
        /// The trade's tag.
        tag: String,
        /// The rule broken.
        source: MetaError,
    },
    /// The exchange refused a leg.
    #[error("{link_id}: rejected (retCode {code:?}): {message}")]
    Rejected {
        /// The orderLinkId.
        link_id: String,
        /// The exchange's code.
        code: Option<i64>,
        /// The exchange's text.
        message: String,
    },
    /// Not enough balance: the trade was aborted and is in ERROR (R-ERR-3).
    #[error("{link_id}: insufficient balance (retCode {code}): {message}; trade aborted")]
    InsufficientBalance {
        /// The orderLinkId.
        link_id: String,
        /// The exchange's code.
        code: i64,
        /// The exchange's text.
        message: String,
    },
    /// Authentication failed: the gateway has stopped trading (R-ERR-2).
    #[error("authentication failed (retCode {code}): {message}; trading stopped")]
    Auth {
        /// The exchange's code.
        code: i64,
        /// The exchange's text.
        message: String,
    },
    /// A leg's outcome could not be resolved; nothing more is sent for it until it is.
    #[error("{link_id}: outcome unknown: {reason}")]
    OutcomeUnknown {
        /// The orderLinkId.
        link_id: String,
        /// Why it stays unknown.
        reason: String,
    },
    /// The journal could not be written: no order was sent.
    #[error("journal: {0}; no order sent")]
    Journal(#[from] JournalError),
    /// Trading has stopped (after a fatal error).
    #[error("trading stopped: {reason}")]
    Halted {
        /// The fatal error that stopped it.
        reason: String,
    },
    /// The trade was aborted (ERROR); nothing more is sent for it but a close.
    #[error("trade {tag} was aborted: {reason}")]
    TradeAborted {
        /// The trade's tag.
        tag: String,
        /// Why it was aborted.
        reason: String,
    },
    /// The operation needs a position and there is none.
    #[error("{symbol}: no open position")]
    NoPosition {
        /// Symbol.
        symbol: String,
    },
    /// A market entry finished (IOC cancelled on a thin book, or refused after it was
    /// accepted) with nothing filled: a definitive answer, nothing to look up; the trade is
    /// aborted and owns nothing.
    #[error("{link_id}: finished with nothing filled ({detail})")]
    EntryUnfilled {
        /// The orderLinkId.
        link_id: String,
        /// Its final status.
        detail: String,
    },
    /// A market order was not seen finished in time: it may still fill (look it up again).
    #[error("{link_id}: not filled ({detail})")]
    NotFilled {
        /// The orderLinkId.
        link_id: String,
        /// Its last known state.
        detail: String,
    },
    /// The position was not flat after closing.
    #[error("{symbol}: position still {size} after closing")]
    NotFlat {
        /// Symbol.
        symbol: String,
        /// Size left.
        size: Decimal,
    },
    /// A port failed outside an order leg (a query, leverage, a stop).
    #[error("{context}: {source}")]
    Port {
        /// What was being done.
        context: String,
        /// The port's error.
        source: PortError,
    },
}

impl GatewayError {
    /// The exchange refused definitively (including insufficient balance and auth).
    pub fn is_definitive_reject(&self) -> bool {
        matches!(
            self,
            GatewayError::Rejected { .. }
                | GatewayError::InsufficientBalance { .. }
                | GatewayError::Auth { .. }
                | GatewayError::EntryUnfilled { .. }
        )
    }

    /// Something may have been done that is not known yet: calling the operation again is
    /// the way to resolve it.
    pub fn is_outcome_unknown(&self) -> bool {
        match self {
            GatewayError::OutcomeUnknown { .. } | GatewayError::NotFilled { .. } => true,
            GatewayError::Port { source, .. } => source.is_outcome_unknown(),
            _ => false,
        }
    }

    /// The plan was refused before anything was sent (R-SAFE-1): a field breaks a rule, or
    /// the plan is malformed.
    pub fn is_plan_refused(&self) -> bool {
        matches!(
            self,
            GatewayError::PlanRefused { .. }
                | GatewayError::InvalidPlan { .. }
                | GatewayError::MaxNotional { .. }
                | GatewayError::Meta { .. }
                | GatewayError::LinkId { .. }
        )
    }

    /// The plan conflicts with an open trade, a position no trade owns, or a finished trade's
    /// tag (R-SAFE-2); nothing was sent (HTTP 409).
    pub fn is_conflict(&self) -> bool {
        matches!(self, GatewayError::Conflict { .. })
    }

    /// Trading has stopped; a person must act.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            GatewayError::Auth { .. } | GatewayError::Halted { .. } | GatewayError::Journal(_)
        )
    }

    /// The trade was aborted and is in ERROR.
    pub fn aborts_trade(&self) -> bool {
        matches!(
            self,
            GatewayError::InsufficientBalance { .. } | GatewayError::Auth { .. }
        )
    }
}
