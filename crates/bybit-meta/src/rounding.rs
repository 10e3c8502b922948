//! Rounding a decimal onto a grid of increments (a tick, a step), exactly and without panics.

use bybit_types::WireSide;
use rust_decimal::Decimal;

/// Which way [`round_to_increment`] (and the rules' `round_price`) moves a value that is not
/// already on the grid.
///
/// There is no default on purpose: which way a price may move depends on the order (a buy limit
/// rounded up pays more than asked), so every caller chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoundingMode {
    /// To the nearest multiple; an exact half goes **away from zero** (0.435 → 0.44 and
    /// 0.445 → 0.45 on a 0.01 tick). Half-away is chosen over half-even because it is what a
    /// person rounding by hand expects, and the bias half-even removes only matters when many
    /// rounded values are summed, which prices sent to an exchange are not.
    Nearest,
    /// To the multiple at or below the value (toward negative infinity).
    Down,
    /// To the multiple at or above the value (toward positive infinity).
    Up,
}

impl RoundingMode {
    /// The mode that never makes a limit price worse for its side: a buy rounds down (never
    /// pays more than asked), a sell rounds up (never receives less than asked). The order is
    /// then at most one tick more passive than asked.
    ///
    /// ```
    /// use bybit_meta::RoundingMode;
    /// use bybit_types::WireSide;
    /// assert_eq!(RoundingMode::passive(WireSide::Buy), RoundingMode::Down);
    /// assert_eq!(RoundingMode::passive(WireSide::Sell), RoundingMode::Up);
    /// ```
    pub const fn passive(side: WireSide) -> RoundingMode {
        match side {
            WireSide::Buy => RoundingMode::Down,
            WireSide::Sell => RoundingMode::Up,
        }
    }

    /// The mode that never makes a limit price less likely to fill: a buy rounds up, a sell
    /// rounds down. The order is then at most one tick more aggressive than asked.
    pub const fn aggressive(side: WireSide) -> RoundingMode {
        RoundingMode::passive(side.opposite())
    }
}

/// Rounds `value` to a multiple of `increment` in the given direction.
///
/// The result carries the increment's own scale (its decimal places as written), so a value
/// rounded to `0.010` prints as `100.120`, and one rounded to `100` prints as `12300`. It is
/// exact: the grid starts at zero and no binary floating point is involved.
///
/// Returns `None` when `increment` is not strictly positive, or when the result cannot be
/// represented exactly (only for values near the decimal limit of about 7.9e28).
///
/// ```
/// use bybit_meta::{round_to_increment, RoundingMode};
/// use rust_decimal_macros::dec;
///
/// let tick = dec!(0.00001);
/// assert_eq!(round_to_increment(dec!(0.43657321), tick, RoundingMode::Nearest), Some(dec!(0.43657)));
/// assert_eq!(round_to_increment(dec!(0.43657321), tick, RoundingMode::Up), Some(dec!(0.43658)));
/// let sol = round_to_increment(dec!(100.1234), dec!(0.010), RoundingMode::Down).unwrap();
/// assert_eq!(sol.to_string(), "100.120");
/// assert_eq!(round_to_increment(dec!(1), dec!(0), RoundingMode::Down), None);
/// ```
pub fn round_to_increment(
    value: Decimal,
    increment: Decimal,
    mode: RoundingMode,
) -> Option<Decimal> {
    if increment <= Decimal::ZERO {
        return None;
    }
    // The remainder is computed exactly and takes the sign of `value`, so `value - rem` is the
    // multiple next to `value` on the side of zero.
    let rem = value.checked_rem(increment)?;
    let mut rounded = if rem.is_zero() {
        value
    } else {
        let toward_zero = value.checked_sub(rem)?;
        let negative = value.is_sign_negative();
        let away_from_zero = match mode {
            RoundingMode::Down => negative,
            RoundingMode::Up => !negative,
            RoundingMode::Nearest => {
                let distance = rem.abs();
                // Comparing with `increment - distance` instead of doubling `distance` keeps
                // the arithmetic in range for any increment.
                distance >= increment.checked_sub(distance)?
            }
        };
        if !away_from_zero {
            toward_zero
        } else if negative {
            toward_zero.checked_sub(increment)?
        } else {
            toward_zero.checked_add(increment)?
        }
    };
    // A multiple of the increment has at most the increment's places, so this rescale only
    // adds or drops zeros; it never rounds.
    rounded.rescale(increment.scale());
    if rounded.is_zero() {
        // `-0.001` rounded toward zero would otherwise print as `-0.00`.
        rounded.set_sign_positive(true);
    }
    // Past 28 significant digits a subtraction above may have rounded; refuse rather than
    // hand back a value off the grid.
    if !rounded.checked_rem(increment)?.is_zero() {
        return None;
    }
    Some(rounded)
}

/// Whether `value` is an exact multiple of `increment`. `false` when `increment` is not
/// strictly positive.
pub fn is_multiple_of(value: Decimal, increment: Decimal) -> bool {
    increment > Decimal::ZERO
        && value
            .checked_rem(increment)
            .is_some_and(|rem| rem.is_zero())
}
