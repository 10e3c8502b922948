//! Bybit's timestamp acceptance rule, as a pure function both sides can share.

/// How far in the future (ms) a request timestamp may be: Bybit accepts
/// `server_time - recv_window <= timestamp < server_time + 1000` (REFERENCE.md §2).
pub const FUTURE_TOLERANCE_MS: u64 = 1000;

/// Why a timestamp falls outside the window. Either way Bybit answers retCode 10002.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampRejection {
    /// Older than `server_time - recv_window`: the client clock is behind or the request slow.
    TooOld,
    /// At or beyond `server_time + 1000`: the client clock is ahead.
    TooNew,
}

/// Applies Bybit's acceptance rule. Pure: the server time is an argument.
///
/// ```
/// use bybit_sign::{check_timestamp, TimestampRejection};
/// assert_eq!(check_timestamp(10_000, 5_000, 5_000), Ok(()));
/// assert_eq!(check_timestamp(10_000, 4_999, 5_000), Err(TimestampRejection::TooOld));
/// assert_eq!(check_timestamp(10_000, 11_000, 5_000), Err(TimestampRejection::TooNew));
/// ```
pub fn check_timestamp(
    server_time_ms: u64,
    timestamp_ms: u64,
    recv_window_ms: u64,
) -> Result<(), TimestampRejection> {
    if timestamp_ms < server_time_ms.saturating_sub(recv_window_ms) {
        Err(TimestampRejection::TooOld)
    } else if timestamp_ms >= server_time_ms.saturating_add(FUTURE_TOLERANCE_MS) {
        Err(TimestampRejection::TooNew)
    } else {
        Ok(())
    }
}
