//! Authentication of private REST requests, as Bybit checks it: the key (10003), the
//! timestamp window (10002) and the signature over the raw bytes received (10004).

use axum::http::HeaderMap;
use bybit_sign::{check_timestamp, DEFAULT_RECV_WINDOW_MS};
use sim_engine::Reject;

use crate::AppState;

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
        return Err(Reject::new(10003, "API key is invalid."));
    }
    let recv_window_text = header(headers, "x-bapi-recv-window");
    let recv_window = match recv_window_text {
        None => DEFAULT_RECV_WINDOW_MS,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| Reject::params("params error: X-BAPI-RECV-WINDOW invalid"))?,
    };
    let timestamp_text = header(headers, "x-bapi-timestamp").unwrap_or_default();
    let server = u64::try_from(now).unwrap_or(0);
    let too_far = |ts: &str| {
        Reject::new(
            10002,
            format!(
                "invalid request, please check your server timestamp or recv_window param. req_timestamp[{ts}],server_timestamp[{server}],recv_window[{recv_window}]"
            ),
        )
    };
    let timestamp: u64 = timestamp_text
        .parse()
        .map_err(|_| too_far(timestamp_text))?;
    check_timestamp(server, timestamp, recv_window).map_err(|_| too_far(timestamp_text))?;
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
