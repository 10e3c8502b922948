//! Signed requests: the payload text together with the headers that sign it. Fields are
//! private, so the payload cannot be changed after signing.

use std::fmt;
use std::sync::Arc;

use crate::{HEADER_API_KEY, HEADER_RECV_WINDOW, HEADER_SIGN, HEADER_TIMESTAMP};

/// The four `X-BAPI-*` header values of a signed REST request.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthHeaders {
    /// Shared with the [`Credentials`](crate::Credentials) that signed.
    api_key: Arc<str>,
    timestamp: String,
    sign: String,
    recv_window: String,
}

impl AuthHeaders {
    pub(crate) fn new(
        api_key: Arc<str>,
        timestamp: String,
        sign: String,
        recv_window: String,
    ) -> Self {
        AuthHeaders {
            api_key,
            timestamp,
            sign,
            recv_window,
        }
    }

    /// `X-BAPI-API-KEY`.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// `X-BAPI-TIMESTAMP` (ms).
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// `X-BAPI-SIGN` (lowercase hex).
    pub fn sign(&self) -> &str {
        &self.sign
    }

    /// `X-BAPI-RECV-WINDOW` (ms).
    pub fn recv_window(&self) -> &str {
        &self.recv_window
    }

    /// The four headers as `(name, value)` pairs, ready to put on a request.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            (HEADER_API_KEY, &*self.api_key),
            (HEADER_TIMESTAMP, self.timestamp.as_str()),
            (HEADER_SIGN, self.sign.as_str()),
            (HEADER_RECV_WINDOW, self.recv_window.as_str()),
        ]
        .into_iter()
    }
}

impl fmt::Debug for AuthHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signature is single-use and useless after recv_window, but there is no reason to
        // spread it through logs either.
        f.debug_struct("AuthHeaders")
            .field("api_key", &&*self.api_key)
            .field("timestamp", &self.timestamp)
            .field("recv_window", &self.recv_window)
            .finish_non_exhaustive()
    }
}

/// A signed GET: the query string (without `?`) that was signed, and its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedGet {
    query: String,
    headers: AuthHeaders,
}

impl SignedGet {
    pub(crate) fn new(query: String, headers: AuthHeaders) -> Self {
        SignedGet { query, headers }
    }

    /// The query string to send, exactly as signed (may be empty).
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The headers to send.
    pub fn headers(&self) -> &AuthHeaders {
        &self.headers
    }

    /// Both parts, by value.
    pub fn into_parts(self) -> (String, AuthHeaders) {
        (self.query, self.headers)
    }
}

/// A signed POST: the JSON body that was signed, and its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPost {
    body: String,
    headers: AuthHeaders,
}

impl SignedPost {
    pub(crate) fn new(body: String, headers: AuthHeaders) -> Self {
        SignedPost { body, headers }
    }

    /// The body to send, exactly as signed.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The headers to send.
    pub fn headers(&self) -> &AuthHeaders {
        &self.headers
    }

    /// Both parts, by value.
    pub fn into_parts(self) -> (String, AuthHeaders) {
        (self.body, self.headers)
    }
}

/// The arguments of a WebSocket `auth` operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsAuth {
    api_key: String,
    expires_ms: u64,
    signature: String,
}

impl WsAuth {
    pub(crate) fn new(api_key: String, expires_ms: u64, signature: String) -> Self {
        WsAuth {
            api_key,
            expires_ms,
            signature,
        }
    }

    /// The API key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// When the authentication expires (Unix ms).
    pub fn expires_ms(&self) -> u64 {
        self.expires_ms
    }

    /// Lowercase hex HMAC-SHA256 of `GET/realtime{expires}`.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The request frame: `{"req_id":…,"op":"auth","args":[key, expires, signature]}`.
    /// `expires` is sent as a JSON integer, as Bybit documents.
    ///
    /// ```
    /// let creds = bybit_sign::Credentials::new("k", "s").unwrap();
    /// let frame = creds.ws_auth(1700000000000).unwrap().to_request("1");
    /// assert!(frame.starts_with(r#"{"req_id":"1","op":"auth","args":["k",1700000000000,""#));
    /// ```
    pub fn to_request(&self, req_id: &str) -> String {
        #[derive(serde::Serialize)]
        struct Frame<'a> {
            req_id: &'a str,
            op: &'a str,
            args: (&'a str, u64, &'a str),
        }
        let frame = Frame {
            req_id,
            op: "auth",
            args: (&self.api_key, self.expires_ms, &self.signature),
        };
        // Serializing strings and an integer cannot fail; the fallback keeps this total.
        serde_json::to_string(&frame).unwrap_or_default()
    }
}
