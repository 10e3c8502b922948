//! Why credentials or a payload could not be signed. Never carries the secret.

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The API key is empty.
    #[error("API key is empty")]
    EmptyApiKey,
    /// The API key has characters that cannot go in an HTTP header.
    #[error("API key contains characters that are not printable ASCII")]
    InvalidApiKey,
    /// The secret is empty.
    #[error("API secret is empty")]
    EmptySecret,
    /// The HMAC could not be keyed (not expected for HMAC, which takes keys of any length).
    #[error("API secret cannot key HMAC-SHA256")]
    InvalidSecret,
    /// The POST body could not be serialized to JSON.
    #[error("cannot serialize the request body: {0}")]
    Body(#[from] serde_json::Error),
}
