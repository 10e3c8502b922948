//! The one strict decimal grammar for numbers a caller writes: `-?[0-9]+(\.[0-9]+)?`, held
//! exactly by a [`Decimal`] or refused.
//!
//! `rust_decimal`'s own `FromStr` is lenient in ways that turn typos into orders: it skips
//! underscores (`"1_0"` reads as 10), takes a leading `+`, `".5"` and `"5."`, and rounds away
//! fractional digits it cannot hold. Bybit documents prices and quantities as plain decimal
//! strings, so anything else is a mistake worth an error, not a guess. This parser is pure and
//! linear in the input's length.
//!
//! Where it is used: the `FromStr` of [`Price`](crate::Price) and [`Qty`](crate::Qty), the
//! decimals of request bodies ([`serde_helpers::caller_decimal`](crate::serde_helpers::caller_decimal)), the
//! emulator's request parameters, and (through [`parse_exchange_decimal`]) every decimal the
//! [`serde_helpers`](crate::serde_helpers) helpers read from an exchange payload. The exchange path adds exactly
//! one form to the grammar, an exponent (`"1E-8"`), because a reader of the exchange's replies
//! must not fail on a number the exchange might legitimately write; it still refuses the
//! `rust_decimal` quirks above, since a payload carrying them is malformed, not merely unusual.

use std::fmt;

use rust_decimal::Decimal;

/// The most fractional digits a [`Decimal`] holds.
pub const MAX_FRACTION_DIGITS: usize = 28;

/// Why a text is not a strict decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecimalError {
    /// The text is empty.
    Empty,
    /// Not `-?[0-9]+(\.[0-9]+)?`: a sign other than a leading `-`, a missing digit before or
    /// after the point, whitespace, `_`, an exponent, or any other character.
    Syntax,
    /// More than [`MAX_FRACTION_DIGITS`] digits after the point.
    TooPrecise,
    /// The digits as written need more than the 96 bits of a [`Decimal`]'s mantissa.
    OutOfRange,
}

impl DecimalError {
    /// A short phrase for error messages.
    pub const fn reason(self) -> &'static str {
        match self {
            DecimalError::Empty => "empty",
            DecimalError::Syntax => {
                "not a plain decimal (digits, one optional '.', optional leading '-')"
            }
            DecimalError::TooPrecise => "more than 28 fractional digits",
            DecimalError::OutOfRange => "too many digits for a 96-bit decimal",
        }
    }
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for DecimalError {}

/// Parses `-?[0-9]+(\.[0-9]+)?` exactly, keeping the written scale (`"1.50"` has scale 2).
///
/// Refused: `""`, `"+1"`, `".5"`, `"5."`, `" 1"`, `"1 "`, `"1_000"`, `"1e3"`, `"0x10"`, more
/// than 28 fractional digits, and digits whose integer value (point removed) exceeds
/// 2^96 − 1. Leading zeros are allowed (`"007"` is 7); `"-0"` is zero, so a caller that needs
/// a positive value checks the sign afterwards.
///
/// ```
/// use bybit_types::{parse_decimal, DecimalError};
/// use rust_decimal_macros::dec;
/// assert_eq!(parse_decimal("-12.50"), Ok(dec!(-12.50)));
/// assert_eq!(parse_decimal("1_0"), Err(DecimalError::Syntax));
/// assert_eq!(parse_decimal(".5"), Err(DecimalError::Syntax));
/// assert_eq!(parse_decimal(""), Err(DecimalError::Empty));
/// ```
pub fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    // Nearly every price and size on the wire is short: one pass with a u64 reads it; anything
    // else (an error, or more than 19 digits) takes the checked path, which alone says why.
    match parse_short(text.as_bytes()) {
        Some(value) => Ok(value),
        None => parse_checked(text),
    }
}

/// [`parse_decimal`] for text of at most 19 digits (`10^19 − 1 < 2^64`, so a `u64` holds the
/// mantissa without a check per digit); `None` for anything else, valid or not, which
/// [`parse_checked`] then reads. Gives the same `Decimal`, scale and sign included, as
/// [`parse_checked`] for every text it accepts (a property test compares the two).
fn parse_short(text: &[u8]) -> Option<Decimal> {
    let (negative, body) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if body.is_empty() || body.len() > 20 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut dot: Option<usize> = None;
    for (i, &b) in body.iter().enumerate() {
        let digit = b.wrapping_sub(b'0');
        if digit < 10 {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
        } else if b == b'.' && dot.is_none() {
            dot = Some(i);
        } else {
            return None;
        }
    }
    let digits = body.len() - usize::from(dot.is_some());
    let scale = match dot {
        // A digit on each side of the point.
        Some(i) if i == 0 || i + 1 == body.len() => return None,
        Some(i) => body.len() - i - 1,
        None => 0,
    };
    if digits > 19 {
        return None;
    }
    let scale = u32::try_from(scale).ok()?;
    let lo = u32::try_from(mantissa & 0xFFFF_FFFF).ok()?;
    let mid = u32::try_from(mantissa >> 32).ok()?;
    // Like the checked path, the sign is set afterwards, so "-0" stays a negative zero
    // (`from_parts` would drop the sign of a zero).
    let mut value = Decimal::from_parts(lo, mid, 0, false, scale);
    value.set_sign_negative(negative);
    Some(value)
}

/// The checked reading behind [`parse_decimal`]: any length, and the reason for a refusal.
fn parse_checked(text: &str) -> Result<Decimal, DecimalError> {
    if text.is_empty() {
        return Err(DecimalError::Empty);
    }
    let (negative, body) = match text.as_bytes().split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text.as_bytes()),
    };
    let (whole, fraction) = match body.iter().position(|&b| b == b'.') {
        Some(dot) => (&body[..dot], Some(&body[dot + 1..])),
        None => (body, None),
    };
    let digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return Err(DecimalError::Syntax);
    }
    let fraction = fraction.unwrap_or_default();
    if fraction.len() > MAX_FRACTION_DIGITS {
        return Err(DecimalError::TooPrecise);
    }
    // 2^96 − 1 has 29 digits and i128 holds 38, so any overflow here is out of range anyway.
    let mut mantissa: i128 = 0;
    for &digit in whole.iter().chain(fraction) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(digit - b'0')))
            .ok_or(DecimalError::OutOfRange)?;
    }
    let scale = u32::try_from(fraction.len()).map_err(|_| DecimalError::TooPrecise)?;
    let mut value =
        Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| DecimalError::OutOfRange)?;
    // Set the sign afterwards so "-0" stays the negative zero Decimal writes as "-0".
    value.set_sign_negative(negative);
    Ok(value)
}

/// [`parse_decimal`], plus an exponent form (`"1E-8"`, `"-2.5e3"`) for numbers the exchange
/// writes. The exponent form is `<strict decimal>[eE][+-]?[0-9]+` and must be held exactly.
pub fn parse_exchange_decimal(text: &str) -> Result<Decimal, DecimalError> {
    // The plain form first: it is what the exchange writes, and a text with an exponent is
    // refused by the fast path (an `e` is not a digit), so this costs one extra pass only there.
    if let Some(value) = parse_short(text.as_bytes()) {
        return Ok(value);
    }
    let Some(e) = text.bytes().position(|b| b == b'e' || b == b'E') else {
        return parse_checked(text);
    };
    let mantissa = parse_decimal(&text[..e])?;
    let exponent = &text[e + 1..];
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecimalError::Syntax);
    }
    // Anything beyond a few dozen places is out of a Decimal's range either way.
    let places: i64 = exponent.parse().map_err(|_| DecimalError::OutOfRange)?;
    if places.unsigned_abs() > 64 {
        return Err(DecimalError::OutOfRange);
    }
    let scale = i64::from(mantissa.scale()) - places;
    if scale >= 0 {
        let scale = u32::try_from(scale).map_err(|_| DecimalError::TooPrecise)?;
        Decimal::try_from_i128_with_scale(mantissa.mantissa(), scale)
            .map_err(|_| DecimalError::TooPrecise)
    } else {
        let mut value = mantissa.mantissa();
        for _ in 0..scale.unsigned_abs() {
            value = value.checked_mul(10).ok_or(DecimalError::OutOfRange)?;
        }
        Decimal::try_from_i128_with_scale(value, 0).map_err(|_| DecimalError::OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn same(text: &str) -> Result<(), TestCaseError> {
        if let Some(fast) = parse_short(text.as_bytes()) {
            let checked = parse_checked(text);
            prop_assert_eq!(Ok(fast), checked, "{}", text);
            let checked = checked.unwrap_or_default();
            // `==` on Decimal ignores scale and the sign of zero; the parts do not.
            prop_assert_eq!(fast.serialize(), checked.serialize(), "{}", text);
            prop_assert_eq!(fast.to_string(), checked.to_string(), "{}", text);
        }
        Ok(())
    }

    #[test]
    fn the_short_path_reads_the_edges_as_the_checked_one() {
        for text in [
            "0",
            "-0",
            "0.0",
            "-0.00",
            "007",
            "1.50",
            "9999999999999999999",
            "18446744073709551615",
            "1.8446744073709551615",
            "0.0000000000000000001",
            "-999999999.9999999999",
            "12345678901234567890",
        ] {
            same(text).unwrap();
        }
        assert_eq!(
            parse_short(b"9999999999999999999").map(|d| d.to_string()),
            Some("9999999999999999999".to_owned())
        );
        // 20 digits: the checked path's.
        assert_eq!(parse_short(b"12345678901234567890"), None);
        for refused in [
            "", "-", ".", "1.", ".5", "1..2", "1.2.3", "+1", "1e3", " 1", "1_0", "--1",
        ] {
            assert_eq!(parse_short(refused.as_bytes()), None, "{refused}");
        }
    }

    proptest! {
        #[test]
        fn the_short_path_agrees_with_the_checked_one(
            text in "-?[0-9]{0,21}(\\.[0-9]{0,21})?",
        ) {
            same(&text)?;
        }

        #[test]
        fn the_short_path_agrees_on_any_text(text in "[-+.0-9eE_ ]{0,24}") {
            same(&text)?;
        }

        #[test]
        fn plain_text_of_19_digits_takes_the_short_path(
            negative in any::<bool>(),
            mantissa in 0u64..=9_999_999_999_999_999_999,
            scale in 0usize..=18,
        ) {
            let digits = format!("{mantissa:019}");
            let text = format!(
                "{}{}.{}",
                if negative { "-" } else { "" },
                &digits[..19 - scale.max(1)],
                &digits[19 - scale.max(1)..]
            );
            prop_assert!(parse_short(text.as_bytes()).is_some(), "{}", text);
            same(&text)?;
        }
    }
}
