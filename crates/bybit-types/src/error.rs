//! The crate's one error type: a value that breaks a newtype's invariant, or a payload that
//! does not decode.

use rust_decimal::Decimal;

/// Why a value was refused or a payload could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A symbol that is empty, too long, or has characters Bybit never uses.
    #[error("invalid symbol {value:?}: {reason}")]
    InvalidSymbol {
        /// The refused text.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An `orderLinkId` Bybit would refuse: empty, over 36 characters, or outside `[A-Za-z0-9_-]`.
    #[error("invalid orderLinkId {value:?}: {reason}")]
    InvalidOrderLinkId {
        /// The refused text.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An empty order id.
    #[error("invalid orderId: must not be empty")]
    EmptyOrderId,
    /// A side other than `Buy` or `Sell`.
    #[error("invalid side {0:?}: expected Buy or Sell")]
    InvalidSide(String),
    /// A price or quantity that must be strictly positive and is not.
    #[error("{field} must be positive, got {value}")]
    NotPositive {
        /// `price` or `qty`.
        field: &'static str,
        /// The refused value.
        value: Decimal,
    },
    /// A decimal that could not be parsed from its text (see [`crate::parse_decimal`]).
    #[error("invalid decimal {value:?} for {field}: {reason}")]
    InvalidDecimal {
        /// What it was meant to be.
        field: &'static str,
        /// The refused text.
        value: String,
        /// Why, from [`crate::DecimalError::reason`].
        reason: &'static str,
    },
    /// A payload that is not the JSON we expect. `what` names the payload.
    #[error("cannot decode {what}: {message}")]
    Decode {
        /// Which payload (e.g. `order/realtime result`).
        what: &'static str,
        /// serde's description, with line and column.
        message: String,
    },
}

impl Error {
    pub(crate) fn decode(what: &'static str, err: &serde_json::Error) -> Self {
        Error::Decode {
            what,
            message: err.to_string(),
        }
    }
}
