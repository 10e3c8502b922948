//! Bybit instrument rules and rounding.
