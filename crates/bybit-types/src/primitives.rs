//! Newtypes that carry an invariant: a value of one of these types has already been checked,
//! so code that takes one need not check again.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// The longest `orderLinkId` Bybit accepts (REFERENCE.md §9).
pub const ORDER_LINK_ID_MAX_LEN: usize = 36;

/// The longest symbol we accept. Bybit's longest linear names are around 20 characters
/// (`1000000BABYDOGEUSDT`); options run to about 25 (`BTC-29JUL22-25000-C`).
pub const SYMBOL_MAX_LEN: usize = 32;

/// A Bybit instrument name such as `BTCUSDT`: 1 to 32 characters of `A-Z`, `0-9` and `-`.
///
/// Bybit's symbols are upper case; a lower-case symbol is refused rather than silently
/// changed, because the caller that wrote it has a bug worth seeing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(String);

impl Symbol {
    /// Checks and wraps a symbol.
    ///
    /// ```
    /// use bybit_types::Symbol;
    /// assert_eq!(Symbol::new("BTCUSDT").unwrap().as_str(), "BTCUSDT");
    /// assert!(Symbol::new("btcusdt").is_err());
    /// ```
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        let reason = if value.is_empty() {
            Some("must not be empty")
        } else if value.len() > SYMBOL_MAX_LEN {
            Some("longer than 32 characters")
        } else if !value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            Some("only upper-case letters, digits and '-' are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidSymbol { value, reason }),
            None => Ok(Symbol(value)),
        }
    }

    /// The symbol as Bybit spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client order id (`orderLinkId`): 1 to 36 characters of `[A-Za-z0-9_-]`.
///
/// This is the key that makes order placement idempotent (SPEC R-ORD-5), so an id Bybit would
/// refuse is refused here, before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderLinkId(String);

impl OrderLinkId {
    /// Checks and wraps an `orderLinkId`.
    ///
    /// ```
    /// use bybit_types::OrderLinkId;
    /// assert!(OrderLinkId::new("andre_ENTRY_RAD_20251122_130601").is_ok());
    /// assert!(OrderLinkId::new("x".repeat(37)).is_err());
    /// assert!(OrderLinkId::new("has space").is_err());
    /// ```
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        let reason = if value.is_empty() {
            Some("must not be empty")
        } else if value.len() > ORDER_LINK_ID_MAX_LEN {
            Some("longer than 36 characters")
        } else if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Some("only letters, digits, '-' and '_' are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidOrderLinkId { value, reason }),
            None => Ok(OrderLinkId(value)),
        }
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Bybit's own order id (`orderId`), as Bybit returned it. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(String);

impl OrderId {
    /// Wraps a non-empty order id.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        if value.is_empty() {
            return Err(Error::EmptyOrderId);
        }
        Ok(OrderId(value))
    }

    /// The id as Bybit spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The side of an order or a position as Bybit writes it (`"Buy"`, `"Sell"`). Named apart
/// from the gateway's own `exec_events::Side` (which knows no wire format); `exec-wire` maps
/// one to the other.
///
/// Unlike the other wire enums this one has no `Unknown` variant: a book has two sides, and a
/// third would force every caller to handle a case that cannot be traded. On the wire a flat
/// position's side is `""` (older payloads: `"None"`); those fields are `Option<WireSide>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WireSide {
    /// `Buy`: long, or closing a short.
    Buy,
    /// `Sell`: short, or closing a long.
    Sell,
}

impl WireSide {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            WireSide::Buy => "Buy",
            WireSide::Sell => "Sell",
        }
    }

    /// The other side: the side that closes a position of this side.
    #[must_use]
    pub const fn opposite(self) -> WireSide {
        match self {
            WireSide::Buy => WireSide::Sell,
            WireSide::Sell => WireSide::Buy,
        }
    }
}

impl FromStr for WireSide {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "Buy" => Ok(WireSide::Buy),
            "Sell" => Ok(WireSide::Sell),
            other => Err(Error::InvalidSide(other.to_owned())),
        }
    }
}

macro_rules! positive_decimal {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Decimal);

        impl $name {
            /// Wraps a strictly positive decimal.
            pub fn new(value: Decimal) -> Result<Self, Error> {
                if value > Decimal::ZERO {
                    Ok($name(value))
                } else {
                    Err(Error::NotPositive { field: $field, value })
                }
            }

            /// The decimal value.
            pub const fn get(self) -> Decimal {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                // The strict grammar: "1_0", "+1", ".5", "1e3" and the like are refused.
                let value = crate::parse_decimal(s).map_err(|e| Error::InvalidDecimal {
                    field: $field,
                    value: s.to_owned(),
                    reason: e.reason(),
                })?;
                $name::new(value)
            }
        }

        impl TryFrom<Decimal> for $name {
            type Error = Error;

            fn try_from(value: Decimal) -> Result<Self, Error> {
                $name::new(value)
            }
        }

        impl From<$name> for Decimal {
            fn from(value: $name) -> Decimal {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = crate::serde_helpers::decimal::deserialize(deserializer)?;
                $name::new(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

positive_decimal!(
    /// A strictly positive price. Whether it sits on the instrument's tick is `bybit-meta`'s
    /// business; this type only rules out zero and negative prices.
    Price,
    "price"
);
positive_decimal!(
    /// A strictly positive quantity in contracts (base coin for linear perpetuals). Whether it
    /// sits on the instrument's step is `bybit-meta`'s business.
    Qty,
    "qty"
);

/// Milliseconds since the Unix epoch, as Bybit stamps everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TimestampMs(pub i64);

impl TimestampMs {
    /// The raw millisecond count.
    pub const fn get(self) -> i64 {
        self.0
    }
}

macro_rules! string_newtype_impls {
    ($($name:ident),+) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                $name::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                $name::new(text.into_owned()).map_err(serde::de::Error::custom)
            }
        }
    )+};
}

string_newtype_impls!(Symbol, OrderLinkId, OrderId);

impl fmt::Display for WireSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WireSide {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WireSide {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An optional side: `""` (a flat position) and the older `"None"` are `None`.
pub mod opt_side {
    use serde::de;
    use serde::Deserializer;
    use serde::Serializer;

    use super::WireSide;

    /// Deserializes `"Buy"`, `"Sell"`, `""` or `"None"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<WireSide>, D::Error> {
        let text: Option<std::borrow::Cow<'de, str>> = serde::Deserialize::deserialize(d)?;
        match text.as_deref() {
            None | Some("") | Some("None") => Ok(None),
            Some(other) => other.parse().map(Some).map_err(de::Error::custom),
        }
    }

    /// Serializes `None` as `""`.
    pub fn serialize<S: Serializer>(v: &Option<WireSide>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.map_or("", WireSide::as_str))
    }
}
