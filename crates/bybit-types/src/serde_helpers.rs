//! Serde helpers for Bybit's number conventions, and the macro behind every wire enum (a
//! string enum as Bybit writes it: "wire" in this workspace always means Bybit's format).
//!
//! Bybit sends prices, quantities and most timestamps as JSON strings, and uses `""` where it
//! means "no value" (REFERENCE.md §13). Fields use these modules through
//! `#[serde(with = "...")]`; serialization writes Bybit's own shape back (a string, `""` for
//! none), so the emulator produces what the exchange produces.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

use crate::number::{parse_decimal, parse_exchange_decimal};

pub use crate::primitives::opt_side;

/// A decimal written as a string (`"0.10"`) or, leniently, as a JSON number. Text goes through
/// [`parse_exchange_decimal`] (the plain grammar or an exponent form) or, for what a caller
/// wrote (`caller`), [`parse_decimal`] alone; never `rust_decimal`'s looser reading (`"1_0"`,
/// `"+1"`, `".5"`, whitespace).
struct DecimalVisitor {
    /// Caller input: the strict grammar only, and no JSON float (its text is already lost).
    caller: bool,
}

impl<'de> Visitor<'de> for DecimalVisitor {
    type Value = Option<Decimal>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.caller {
            f.write_str("a plain decimal string (-?[0-9]+(.[0-9]+)?), or \"\" for none")
        } else {
            f.write_str("a decimal as a string or number, or \"\" for none")
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Ok(None);
        }
        let parsed = if self.caller {
            parse_decimal(v)
        } else {
            parse_exchange_decimal(v)
        };
        parsed
            .map(Some)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Decimal::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Decimal::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if self.caller {
            return Err(E::invalid_type(de::Unexpected::Float(v), &self));
        }
        // Only reached when Bybit sends a bare JSON float where it documents a string. The
        // shortest representation that round-trips is exactly what was written on the wire.
        // (Rust writes an f64 without an exponent, so the strict grammar applies.)
        parse_exchange_decimal(&v.to_string())
            .map(Some)
            .map_err(|_| E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D>(self, d: D) -> Result<Self::Value, D::Error>
    where
        D: Deserializer<'de>,
    {
        d.deserialize_any(self)
    }
}

/// The visitor for exchange payloads.
const EXCHANGE: DecimalVisitor = DecimalVisitor { caller: false };
/// The visitor for request bodies, which a caller wrote.
const CALLER: DecimalVisitor = DecimalVisitor { caller: true };

/// A required decimal: `"0.10"` (or a number). `""` is an error here; use [`opt_decimal`]
/// where Bybit may send it.
pub mod decimal {
    use super::*;

    /// Deserializes a required decimal.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        d.deserialize_any(EXCHANGE)?
            .ok_or_else(|| de::Error::custom("expected a decimal, got an empty value"))
    }

    /// Serializes as Bybit does: a string.
    pub fn serialize<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
}

/// An optional decimal: `""`, `null` or a missing field (with `#[serde(default)]`) are `None`.
/// `None` is written back as `""`, Bybit's own "no value".
pub mod opt_decimal {
    use super::*;

    /// Deserializes an optional decimal.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        d.deserialize_any(EXCHANGE)
    }

    /// Serializes `None` as `""` and a value as a string.
    pub fn serialize<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_str(""),
        }
    }
}

/// [`decimal`] for request bodies (`CreateOrderRequest` and the like): what a caller wrote, read
/// with [`parse_decimal`]'s strict grammar only, a JSON integer, or nothing else. A server
/// reading a client's order (the emulator, a test double) refuses `"1_0"` or `"1e3"` here.
pub mod caller_decimal {
    use super::*;

    /// Deserializes a required decimal strictly.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        d.deserialize_any(CALLER)?
            .ok_or_else(|| de::Error::custom("expected a decimal, got an empty value"))
    }

    /// Serializes as Bybit does: a string.
    pub fn serialize<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
}

/// [`opt_decimal`] for request bodies: strict like [`caller_decimal`]; `""`, `null` or missing
/// are `None`.
pub mod opt_caller_decimal {
    use super::*;

    /// Deserializes an optional decimal strictly.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        d.deserialize_any(CALLER)
    }

    /// Serializes `None` as `""` and a value as a string.
    pub fn serialize<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        opt_decimal::serialize(v, s)
    }
}

/// An integer Bybit writes as a string (`"1684738540559"`) or as a number.
struct IntVisitor;

impl<'de> Visitor<'de> for IntVisitor {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer as a string or number, or \"\" for none")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Ok(None);
        }
        v.parse()
            .map(Some)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D>(self, d: D) -> Result<Self::Value, D::Error>
    where
        D: Deserializer<'de>,
    {
        d.deserialize_any(IntVisitor)
    }
}

/// An optional integer written as a string (timestamps such as `createdTime`): `""`, `null`
/// or missing are `None`; written back as a string, `None` as `""`.
pub mod opt_int_str {
    use super::*;

    /// Deserializes from a string or a number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_any(IntVisitor)
    }

    /// Serializes as a string.
    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_str(""),
        }
    }
}

/// A required integer Bybit writes as a string (`"1688639403"`); accepts a number too.
pub mod int_str {
    use super::*;

    /// Deserializes from a string or a number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_any(IntVisitor)?
            .ok_or_else(|| de::Error::custom("expected an integer, got an empty value"))
    }

    /// Serializes as a string.
    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
}

/// A Bybit string enum: known values are variants, anything else is kept as `Unknown(text)`
/// so that a value Bybit adds tomorrow does not break parsing today.
pub trait WireEnum: Sized {
    /// Maps the wire text to a variant (`Unknown` for text we don't know).
    fn from_wire(text: &str) -> Self;
    /// The wire text.
    fn as_wire(&self) -> &str;
}

/// An optional wire enum: `""`, `null` or missing are `None`; `None` is written back as `""`.
pub mod opt_enum {
    use super::*;

    /// Deserializes an optional wire enum.
    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: WireEnum,
    {
        let text: Option<std::borrow::Cow<'de, str>> = serde::Deserialize::deserialize(d)?;
        Ok(match text.as_deref() {
            None | Some("") => None,
            Some(other) => Some(T::from_wire(other)),
        })
    }

    /// Serializes `None` as `""`.
    pub fn serialize<S, T>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: WireEnum,
    {
        s.serialize_str(v.as_ref().map_or("", T::as_wire))
    }
}

/// Declares a wire enum with an `Unknown(String)` variant, its [`WireEnum`] impl, `Display`,
/// `FromStr` (infallible) and serde impls. Crate-private: the enums are the API, not the
/// macro that declares them.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not know yet, kept as sent.
            Unknown(String),
        }

        impl $name {
            /// The wire text.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(text) => text,
                }
            }

            /// Whether this is a value we know (not `Unknown`).
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl $crate::serde_helpers::WireEnum for $name {
            fn from_wire(text: &str) -> Self {
                match text {
                    $( $wire => $name::$variant, )+
                    other => $name::Unknown(other.to_owned()),
                }
            }

            fn as_wire(&self) -> &str {
                self.as_str()
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Ok(<$name as $crate::serde_helpers::WireEnum>::from_wire(text))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                Ok(<$name as $crate::serde_helpers::WireEnum>::from_wire(&text))
            }
        }
    };
}
pub(crate) use wire_enum;

/// Deserializes `null` as the type's default (some replies send `null` where they mean `{}`).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    let value: Option<T> = serde::Deserialize::deserialize(d)?;
    Ok(value.unwrap_or_default())
}

/// A map of coin to decimal amount, such as an order's `cumFeeDetail` (`{"USDT": "0.12"}`).
///
/// Lenient because the field is young and loosely specified: `null` reads as an empty map, a
/// value may be a string or a number, and an entry whose value is `""` is dropped rather than
/// failing the whole order. Written back as a map of strings.
pub mod decimal_map {
    use std::collections::BTreeMap;

    use super::*;

    /// One map value: a decimal, or `None` for `""`.
    struct Amount(Option<Decimal>);

    impl<'de> serde::Deserialize<'de> for Amount {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(EXCHANGE).map(Amount)
        }
    }

    /// Deserializes the map, dropping entries without a value.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Decimal>, D::Error> {
        let raw: Option<BTreeMap<String, Amount>> = serde::Deserialize::deserialize(d)?;
        Ok(raw
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(coin, amount)| amount.0.map(|amount| (coin, amount)))
            .collect())
    }

    /// Serializes as a map of strings.
    pub fn serialize<S: Serializer>(
        v: &BTreeMap<String, Decimal>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(v.iter().map(|(coin, amount)| (coin, amount.to_string())))
    }
}
