//! Bybit V5 request signing: REST (GET and POST) and WebSocket authentication.
//!
//! What it is: the HMAC-SHA256 signatures Bybit's V5 API checks (REFERENCE.md §2, §5), the
//! four `X-BAPI-*` header values, and the matching verification the local emulator uses.
//! The API is built so that the bytes signed are the bytes sent: [`Credentials::sign_post`]
//! serializes the body itself and hands back that exact text with its signature, and
//! [`Credentials::sign_get`] builds the query string it signs. Nothing can be changed between
//! signing and sending without going through a constructor that signs again.
//!
//! What it is not: it does no I/O and reads no clock. The timestamp and `recv_window` are
//! arguments, so callers (and tests) decide time. It knows nothing of endpoints, retries or
//! payload types beyond "something serde can serialize".
//!
//! Main types: [`Credentials`] (the key pair; the secret never appears in `Debug`, errors or
//! logs), [`SignedGet`], [`SignedPost`], [`AuthHeaders`], [`WsAuth`].

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
