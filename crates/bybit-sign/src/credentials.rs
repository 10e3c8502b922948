//! The API key pair. The secret arrives in a [`SecretString`] (zeroed on drop), keys
//! HMAC-SHA256 once, and is not kept: what is kept is the keyed HMAC state, cloned for each
//! signature (see `keyed` below, and the section below on why that state is not wiped on
//! drop). Nothing here is ever formatted: `Debug` prints a marker, and no error message
//! includes the secret.
//!
//! # The keyed state
//!
//! `Credentials` keys HMAC-SHA256 once and keeps the keyed state (the SHA-256 states after the
//! inner and outer padded keys), not the secret; each signature clones that state, which saves two
//! of the eight SHA-256 blocks of an order create (the prepare benchmark, `cargo bench -p
//! bybit-rest`, reads about 808 ns with the hex and integer texts written on the stack). The keyed state
//! is **secret-equivalent**: it cannot give the secret back (that would take a SHA-256 preimage),
//! but it signs like the secret for as long as the key is valid. hmac 0.12 and sha2 0.10 have no
//! `zeroize` support and the workspace forbids `unsafe`, so it is not wiped on drop. Accepted
//! because nothing is worse in kind than keying per signature, which builds the same two states on
//! the stack (and leaves the padded key there) without wiping them either: one copy lives per
//! `Credentials`, the raw secret is wiped as soon as it has keyed the HMAC (`SecretString` in
//! `Credentials::new`), and the state is never formatted (no `Debug`). A caller who must bound the
//! residue drops the `Credentials` with the process. Moving to hmac/sha2 releases with zeroize
//! support would let the state be wiped as well.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;

use crate::signed::{AuthHeaders, SignedGet, SignedPost, WsAuth};
use crate::SignError;

type HmacSha256 = Hmac<Sha256>;

/// A Bybit API key and its HMAC secret.
#[derive(Clone)]
pub struct Credentials {
    /// Shared with every [`AuthHeaders`] made here, so a signature does not copy it.
    api_key: Arc<str>,
    /// HMAC-SHA256 keyed with the secret: the two SHA-256 states after the inner and outer
    /// padded keys (not the secret itself, which they do not reveal). Keying costs two SHA-256
    /// blocks, about a quarter of signing an order, so it is done once here and the state
    /// cloned per signature. It signs like the secret, and hmac 0.12 / sha2 0.10 cannot wipe
    /// it on drop (see the module docs).
    keyed: HmacSha256,
}

impl Credentials {
    /// Wraps a key pair. Refuses an empty key or secret, and a key that cannot be sent in a
    /// header, so that the mistake shows here rather than as a 10003 from the exchange.
    pub fn new(api_key: impl Into<String>, secret: impl Into<String>) -> Result<Self, SignError> {
        let api_key = api_key.into();
        let secret = SecretString::from(secret.into());
        if api_key.is_empty() {
            return Err(SignError::EmptyApiKey);
        }
        if !api_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SignError::InvalidApiKey);
        }
        if secret.expose_secret().is_empty() {
            return Err(SignError::EmptySecret);
        }
        let keyed = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
            .map_err(|_| SignError::InvalidSecret)?;
        // `secret` is wiped here, as it goes out of scope.
        Ok(Credentials {
            api_key: api_key.into(),
            keyed,
        })
    }

    /// The API key (not secret: it travels in every request's headers).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// A fresh HMAC, already keyed.
    fn mac(&self) -> Result<HmacSha256, SignError> {
        Ok(self.keyed.clone())
    }

    /// The REST pre-sign MAC: `timestamp + api_key + recv_window + payload`.
    fn rest_mac(
        &self,
        timestamp: &str,
        recv_window: &str,
        payload: &[u8],
    ) -> Result<HmacSha256, SignError> {
        let mut mac = self.mac()?;
        mac.update(timestamp.as_bytes());
        mac.update(self.api_key.as_bytes());
        mac.update(recv_window.as_bytes());
        mac.update(payload);
        Ok(mac)
    }

    /// Lowercase-hex HMAC-SHA256 of an arbitrary message. The building block of every
    /// signature here; public so that tests can pin Bybit's documented vectors.
    ///
    /// ```
    /// let creds = bybit_sign::Credentials::new("test_api_key", "test_secret").unwrap();
    /// assert_eq!(
    ///     creds.sign_message(b"GET/realtime1700000000000").unwrap(),
    ///     "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"
    /// );
    /// ```
    pub fn sign_message(&self, message: &[u8]) -> Result<String, SignError> {
        let mut mac = self.mac()?;
        mac.update(message);
        Ok(hex_text(&mac.finalize().into_bytes()))
    }

    fn headers(
        &self,
        timestamp_ms: u64,
        recv_window_ms: u64,
        payload: &[u8],
    ) -> Result<AuthHeaders, SignError> {
        let mut timestamp = itoa::Buffer::new();
        let timestamp = timestamp.format(timestamp_ms);
        let mut recv_window = itoa::Buffer::new();
        let recv_window = recv_window.format(recv_window_ms);
        let mac = self.rest_mac(timestamp, recv_window, payload)?;
        Ok(AuthHeaders::new(
            Arc::clone(&self.api_key),
            timestamp.to_owned(),
            hex_text(&mac.finalize().into_bytes()),
            recv_window.to_owned(),
        ))
    }

    /// Signs a GET request. `params` are sent in the given order (Bybit signs the query string
    /// as sent, unsorted); keys and values are percent-encoded. Use the returned
    /// [`SignedGet::query`] as the URL's query: it is exactly the text that was signed.
    ///
    /// ```
    /// let creds = bybit_sign::Credentials::new("test_api_key", "test_secret").unwrap();
    /// let get = creds
    ///     .sign_get(1700000000000, 5000, &[("category", "linear"), ("symbol", "BTCUSDT")])
    ///     .unwrap();
    /// assert_eq!(get.query(), "category=linear&symbol=BTCUSDT");
    /// assert_eq!(
    ///     get.headers().sign(),
    ///     "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7"
    /// );
    /// ```
    pub fn sign_get(
        &self,
        timestamp_ms: u64,
        recv_window_ms: u64,
        params: &[(&str, &str)],
    ) -> Result<SignedGet, SignError> {
        self.sign_get_query(timestamp_ms, recv_window_ms, encode_query(params))
    }

    /// Signs a GET request whose query string the caller already built (without the `?`).
    /// The string is moved in and handed back in the result, so what is sent is what was signed.
    pub fn sign_get_query(
        &self,
        timestamp_ms: u64,
        recv_window_ms: u64,
        query: String,
    ) -> Result<SignedGet, SignError> {
        let headers = self.headers(timestamp_ms, recv_window_ms, query.as_bytes())?;
        Ok(SignedGet::new(query, headers))
    }

    /// Serializes `body` to JSON and signs exactly that text. Send [`SignedPost::body`] as the
    /// request body, unchanged.
    pub fn sign_post<T: Serialize + ?Sized>(
        &self,
        timestamp_ms: u64,
        recv_window_ms: u64,
        body: &T,
    ) -> Result<SignedPost, SignError> {
        let body = serde_json::to_string(body)?;
        self.sign_post_raw(timestamp_ms, recv_window_ms, body)
    }

    /// Signs a POST body the caller already serialized. The text is moved in and handed back.
    ///
    /// ```
    /// let creds = bybit_sign::Credentials::new("XXXXXXXXXX", "test_secret").unwrap();
    /// let post = creds
    ///     .sign_post_raw(1658385579423, 5000, r#"{"category": "option"}"#.to_owned())
    ///     .unwrap();
    /// assert_eq!(
    ///     post.headers().sign(),
    ///     "7fdd84061f25faa9566fa013c0dd25adcb78a0ab90cbb992c0f12427d82f7221"
    /// );
    /// ```
    pub fn sign_post_raw(
        &self,
        timestamp_ms: u64,
        recv_window_ms: u64,
        body: String,
    ) -> Result<SignedPost, SignError> {
        let headers = self.headers(timestamp_ms, recv_window_ms, body.as_bytes())?;
        Ok(SignedPost::new(body, headers))
    }

    /// Checks a REST signature over the raw request, as a server does: `timestamp` and
    /// `recv_window` are the header texts as received, `payload` the raw query string (GET) or
    /// body bytes (POST). Compares in constant time; a malformed signature is simply `false`.
    pub fn verify_rest(
        &self,
        timestamp: &str,
        recv_window: &str,
        payload: &[u8],
        signature_hex: &str,
    ) -> bool {
        let Ok(signature) = hex::decode(signature_hex) else {
            return false;
        };
        self.rest_mac(timestamp, recv_window, payload)
            .is_ok_and(|mac| mac.verify_slice(&signature).is_ok())
    }

    /// The WebSocket `auth` arguments for a connection that must authenticate before
    /// `expires_ms` (a future Unix time in ms; give several seconds of slack, REFERENCE.md §5).
    ///
    /// ```
    /// let creds = bybit_sign::Credentials::new("test_api_key", "test_secret").unwrap();
    /// let auth = creds.ws_auth(1700000000000).unwrap();
    /// assert_eq!(
    ///     auth.signature(),
    ///     "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"
    /// );
    /// ```
    pub fn ws_auth(&self, expires_ms: u64) -> Result<WsAuth, SignError> {
        let signature = self.sign_message(ws_auth_message(expires_ms).as_bytes())?;
        Ok(WsAuth::new(self.api_key.to_string(), expires_ms, signature))
    }

    /// Checks a WebSocket auth signature for `expires_ms`, in constant time.
    pub fn verify_ws_auth(&self, expires_ms: u64, signature_hex: &str) -> bool {
        let Ok(signature) = hex::decode(signature_hex) else {
            return false;
        };
        self.mac().is_ok_and(|mut mac| {
            mac.update(ws_auth_message(expires_ms).as_bytes());
            mac.verify_slice(&signature).is_ok()
        })
    }
}

/// Lowercase hex of an HMAC-SHA256 digest, encoded on the stack and copied once (the
/// character-by-character `hex::encode` took about a third as long as the HMAC itself).
fn hex_text(digest: &[u8]) -> String {
    let mut text = [0u8; 64];
    match hex::encode_to_slice(digest, &mut text) {
        Ok(()) => match std::str::from_utf8(&text) {
            Ok(text) => text.to_owned(),
            // Hex digits are ASCII: not reached.
            Err(_) => hex::encode(digest),
        },
        // Only a digest of another length lands here (never SHA-256's 32 bytes).
        Err(_) => hex::encode(digest),
    }
}

fn ws_auth_message(expires_ms: u64) -> String {
    format!("GET/realtime{expires_ms}")
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &&*self.api_key)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// Joins `key=value` pairs with `&`, in the order given, percent-encoding what would break the
/// query. Letters, digits, `-`, `.`, `_`, `~` pass through, and so do `,` (Bybit's list
/// separator, e.g. `coin=USDT,USDC`), `:` and `%`: Bybit's pagination cursors arrive already
/// percent-encoded and must go back exactly as received, as the official SDKs send them.
///
/// [`Credentials::sign_get`] signs this text; a client that builds its query first (to sign it
/// with [`Credentials::sign_get_query`]) uses this function, so both agree byte for byte.
///
/// ```
/// let query = bybit_sign::encode_query(&[("category", "linear"), ("orderLinkId", "a b")]);
/// assert_eq!(query, "category=linear&orderLinkId=a%20b");
/// ```
pub fn encode_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_component(&mut out, key.as_ref());
        out.push('=');
        encode_component(&mut out, value.as_ref());
    }
    out
}

fn encode_component(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~' | b',' | b':' | b'%')
        {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding_keeps_order_and_escapes_reserved_characters() {
        assert_eq!(
            encode_query(&[("symbol", "BTCUSDT"), ("category", "linear")]),
            "symbol=BTCUSDT&category=linear"
        );
        assert_eq!(
            encode_query(&[("orderLinkId", "a b&c=d+é"), ("coin", "USDT,USDC")]),
            "orderLinkId=a%20b%26c%3Dd%2B%C3%A9&coin=USDT,USDC"
        );
        // A cursor Bybit sent percent-encoded goes back unchanged.
        assert_eq!(
            encode_query(&[("cursor", "0%3A1657711949945%2C0%3A1657711949945")]),
            "cursor=0%3A1657711949945%2C0%3A1657711949945"
        );
        assert_eq!(encode_query::<&str, &str>(&[]), "");
    }
}
