//! The crate's errors, shaped by what the caller must decide.

use std::fmt;

/// Why private authentication failed, as far as Bybit's reply tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The API key is unknown: fix the configuration; retrying will not help.
    BadKey,
    /// The signature did not verify (wrong secret): fix the configuration.
    BadSignature,
    /// `Params Error`: Bybit's answer to an `expires` already past (clock skew) or malformed
    /// arguments; a retry with a fresh timestamp (and a clock offset) may succeed.
    Expired,
    /// Anything else Bybit said.
    Other,
}

impl AuthFailure {
    /// Classifies an auth reply's `ret_msg`. Bybit documents only `Params Error` (expiry);
    /// the other texts are the emulator's and observed ones, matched loosely.
    pub fn classify(message: &str) -> Self {
        let lower = message.to_ascii_lowercase();
        if lower.contains("params error") || lower.contains("expire") {
            AuthFailure::Expired
        } else if lower.contains("apikey") || lower.contains("api key") {
            AuthFailure::BadKey
        } else if lower.contains("sign") {
            AuthFailure::BadSignature
        } else {
            AuthFailure::Other
        }
    }

    /// Whether the same credentials can succeed later (only an expiry problem can).
    pub fn is_retryable(self) -> bool {
        matches!(self, AuthFailure::Expired | AuthFailure::Other)
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthFailure::BadKey => "bad API key",
            AuthFailure::BadSignature => "bad signature (wrong secret)",
            AuthFailure::Expired => "expired timestamp or bad parameters (check the clock)",
            AuthFailure::Other => "refused",
        })
    }
}

/// An error of a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WsError {
    /// Private authentication was refused.
    #[error("authentication failed: {kind}: {message:?}")]
    Auth {
        /// Which kind of failure.
        kind: AuthFailure,
        /// Bybit's `ret_msg`.
        message: String,
    },
    /// Bybit refused a subscription; it is not retried.
    #[error("subscription to {topic} refused: {reason}")]
    SubscribeRefused {
        /// The topic.
        topic: String,
        /// Bybit's `ret_msg`.
        reason: String,
    },
    /// A caller's argument cannot be sent (an order-book depth Bybit does not serve, an empty
    /// symbol list).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The stream's task has stopped (closed, or ended by a fatal error).
    #[error("the stream is closed")]
    Closed,
    /// The stream could not be set up (TLS configuration).
    #[error("setup: {0}")]
    Setup(String),
}

impl WsError {
    /// Whether this is an authentication failure that configuration must fix.
    pub fn is_auth_fatal(&self) -> bool {
        matches!(self, WsError::Auth { kind, .. } if !kind.is_retryable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_replies_are_classified() {
        assert_eq!(AuthFailure::classify("Params Error"), AuthFailure::Expired);
        assert_eq!(AuthFailure::classify("Invalid apikey"), AuthFailure::BadKey);
        assert_eq!(
            AuthFailure::classify("Signature verification failed"),
            AuthFailure::BadSignature
        );
        assert_eq!(AuthFailure::classify("nope"), AuthFailure::Other);
        assert!(!AuthFailure::BadKey.is_retryable());
    }
}
