//! Authentication of private REST requests, as Bybit checks it: the key (10003), the
//! timestamp window (10002) and the signature over the raw bytes received (10004).
//!
//! HTTP status (docs v5/error, "HTTP Code"): 401 "Invalid request. 1. Need to use the correct
//! key to access; 2. Need to put authentication params in the request header". So a missing
//! or unknown key is HTTP 401 carrying Bybit's envelope with retCode 10003 "API key is
//! invalid." (the body SDK users quote from Bybit); a bad timestamp (10002) or signature (10004) is
//! a business error in an HTTP 200, as pybit and the SDKs expect.

use axum::http::{HeaderMap, StatusCode};
use bybit_sign::{check_timestamp, DEFAULT_RECV_WINDOW_MS};
use sim_engine::Reject;

use crate::AppState;

/// Bybit's retCode for a missing or unknown API key.
pub(crate) const INVALID_KEY: i64 = 10003;

/// The HTTP status Bybit answers an authentication failure with: 401 for the key, 200 else.
pub(crate) fn status_of(reject: &Reject) -> StatusCode {
    if reject.ret_code == INVALID_KEY {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks a private request. `payload` is the raw query string (GET) or body (POST) exactly
/// as received. Returns the API key.
pub(crate) fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    payload: &[u8],
    now: i64,
) -> Result<String, Reject> {
    let key = header(headers, "x-bapi-api-key").unwrap_or_default();
    if key.is_empty() || key != state.creds.api_key() {
        return Err(Reject::new(INVALID_KEY, "API key is invalid."));
    }
    let recv_window_text = header(headers, "x-bapi-recv-window");
    let timestamp_text = header(headers, "x-bapi-timestamp").unwrap_or_default();
    check_time(state, timestamp_text, recv_window_text, now)?;
    let sign = header(headers, "x-bapi-sign").unwrap_or_default();
    // The pre-sign string has recv_window only when the header was sent.
    let window_in_signature = recv_window_text.unwrap_or("");
    if !state
        .creds
        .verify_rest(timestamp_text, window_in_signature, payload, sign)
    {
        let origin = format!(
            "{timestamp_text}{key}{window_in_signature}{}",
            String::from_utf8_lossy(payload)
        );
        return Err(Reject::new(
            10004,
            format!("error sign! origin_string[{origin}]"),
        ));
    }
    Ok(key.to_owned())
}

/// Checks a request's `X-BAPI-TIMESTAMP` against `X-BAPI-RECV-WINDOW` (5000 ms when absent):
/// `server_time - recv_window <= timestamp < server_time + 1000`, else 10002 in Bybit's words.
/// REST headers and the order-entry stream's `header` object are both judged here.
pub(crate) fn check_time(
    state: &AppState,
    timestamp_text: &str,
    recv_window_text: Option<&str>,
    now: i64,
) -> Result<(), Reject> {
    let recv_window = match recv_window_text {
        None => DEFAULT_RECV_WINDOW_MS,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| Reject::params("params error: X-BAPI-RECV-WINDOW invalid"))?,
    };
    let server = u64::try_from(now).unwrap_or(0);
    let too_far = || {
        Reject::new(
            10002,
            format!(
                "invalid request, please check your server timestamp or recv_window param. req_timestamp[{timestamp_text}],server_timestamp[{server}],recv_window[{recv_window}]"
            ),
        )
    };
    let timestamp: u64 = timestamp_text.parse().map_err(|_| too_far())?;
    // After `/emulator/time/pass` a client's own clock is taken to have moved on with the
    // exchange's, or not (a test process whose clock did not jump): either is in time.
    let client = u64::try_from(state.clock.client_ms()).unwrap_or(0);
    check_timestamp(server, timestamp, recv_window)
        .or_else(|_| check_timestamp(client, timestamp, recv_window))
        .map_err(|_| too_far())
}
