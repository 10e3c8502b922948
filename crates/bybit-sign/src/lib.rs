#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod credentials;
mod error;
mod signed;
mod time_window;

pub use credentials::{encode_query, Credentials};
pub use error::SignError;
pub use signed::{AuthHeaders, SignedGet, SignedPost, WsAuth};
pub use time_window::{check_timestamp, TimestampRejection, FUTURE_TOLERANCE_MS};

/// Header carrying the API key.
pub const HEADER_API_KEY: &str = "X-BAPI-API-KEY";
/// Header carrying the request timestamp in milliseconds.
pub const HEADER_TIMESTAMP: &str = "X-BAPI-TIMESTAMP";
/// Header carrying the signature.
pub const HEADER_SIGN: &str = "X-BAPI-SIGN";
/// Header carrying the receive window in milliseconds.
pub const HEADER_RECV_WINDOW: &str = "X-BAPI-RECV-WINDOW";

/// Bybit's default receive window (ms) when a request sends none.
pub const DEFAULT_RECV_WINDOW_MS: u64 = 5000;
