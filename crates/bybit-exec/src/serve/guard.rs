//! The one guard every request of `serve` passes before any route or extractor: whom the
//! server answers at all, and whom the control API obeys.
//!
//! Every route, reads included (`/`, `/health`, `/metrics`, `/api/*`):
//! - an absolute-form request target (`GET http://evil/api/status HTTP/1.1`) → 400: a browser
//!   never sends one to an origin server, and it would name a host the `Host` check does not see;
//! - a missing `Host` → 400 (RFC 9112 §3.2), more than one `Host` or `Origin` → 400 (which one
//!   counts would be a guess);
//! - while the server listens on loopback, a `Host` that is not this server → 403 (DNS
//!   rebinding: an attacker's name pointed at 127.0.0.1 would let a page read the account).
//!   `/health` is not exempt: it lists flagged trades, and every health checker sends the
//!   `Host` of the URL it was given. With `--allow-remote` (another address), a `Host` that
//!   is not an IP address with this server's port (or a loopback name) → 403 too: a name
//!   could be an attacker's pointed at this machine;
//! - an `Origin` of another site → 403 (no page elsewhere reads or drives this server).
//!
//! State-changing calls (`POST /api/*`) also need a loopback peer (whatever `--listen`
//! allowed), their `Host` naming this server, a JSON body and [`CONTROL_HEADER`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::app::App;

/// The header every control-API call carries. A plain HTML form cannot set it, and a script
/// on another site that sets it must pass a CORS preflight, which this server never answers.
pub(crate) const CONTROL_HEADER: &str = "x-bybit-exec";

pub(crate) fn refused(code: StatusCode, why: &str) -> Response {
    (code, Json(json!({ "error": why }))).into_response()
}

/// The middleware: see the module doc.
pub(crate) async fn guard(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let refusal = refuse_any(app.addr, request.uri(), request.headers()).or_else(|| {
        (request.uri().path().starts_with("/api/") && request.method() == Method::POST)
            .then(|| refuse_control(app.addr, peer, request.headers()))
            .flatten()
    });
    match refusal {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

/// The middleware of a server with reads only (a standby's `/health`): the rules of every
/// route, for a server bound to `addr`.
pub(crate) async fn guard_reads(
    State(addr): State<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match refuse_any(addr, request.uri(), request.headers()) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

/// The one value of header `name`: `Ok(None)` when absent, `Err` (the refusal) when sent
/// more than once.
fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, Box<Response>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Box::new(refused(
            StatusCode::BAD_REQUEST,
            &format!("more than one {name} header"),
        )));
    }
    Ok(first.map(|v| v.to_str().unwrap_or("\u{fffd}")))
}

/// Why any request is refused, if it is (every route): see the module doc.
fn refuse_any(addr: SocketAddr, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Some(refused(
            StatusCode::BAD_REQUEST,
            "absolute-form request targets are refused; send the path only",
        ));
    }
    let host = match single(headers, &header::HOST) {
        Err(r) => return Some(*r),
        Ok(None) => {
            return Some(refused(
                StatusCode::BAD_REQUEST,
                "a request needs a Host header",
            ))
        }
        Ok(Some(host)) => host,
    };
    let origin = match single(headers, &header::ORIGIN) {
        Err(r) => return Some(*r),
        Ok(origin) => origin,
    };
    if addr.ip().is_loopback() && !own_host(addr, host) {
        return Some(refused(
            StatusCode::FORBIDDEN,
            "this server answers requests addressed to it only (Host)",
        ));
    }
    if !addr.ip().is_loopback() && !own_host(addr, host) && !ip_address_host(addr, host) {
        return Some(refused(
            StatusCode::FORBIDDEN,
            "with --allow-remote this server answers requests addressed to an IP address of \
             this machine with its port (Host), never a name: a name could be anyone's \
             pointed at this machine (DNS rebinding)",
        ));
    }
    if let Some(origin) = origin {
        let same = origin
            .strip_prefix("http://")
            .is_some_and(|o| own_host(addr, o) || o == host);
        if !same {
            return Some(refused(
                StatusCode::FORBIDDEN,
                "this server refuses requests from other sites (Origin)",
            ));
        }
    }
    None
}

/// The `Host` values that name this server: its bound address, and the loopback names, in
/// any case (RFC 9110 §4.2.3), without the port when it is 80 (§7.2: a URL on the default
/// port sends none).
fn own_host(addr: SocketAddr, host: &str) -> bool {
    let port = addr.port();
    let host = normalized(addr, host);
    host == addr.to_string()
        || host == format!("localhost:{port}")
        || host == format!("127.0.0.1:{port}")
        || host == format!("[::1]:{port}")
}

/// `host` in lower case, with `:80` added when it has no port and this server is on 80.
fn normalized(addr: SocketAddr, host: &str) -> String {
    let host = host.to_ascii_lowercase();
    let portless = host.ends_with(']') || !host.contains(':');
    if portless && addr.port() == 80 {
        format!("{host}:80")
    } else {
        host
    }
}

/// Whether `host` is an IP address with this server's port (`192.168.1.7:8088`,
/// `[fe80::1]:8088`): a browser sends one only for a URL that names the address itself, so
/// no other site's name can stand behind it (DNS rebinding needs a name).
fn ip_address_host(addr: SocketAddr, host: &str) -> bool {
    normalized(addr, host)
        .parse::<SocketAddr>()
        .is_ok_and(|named| named.port() == addr.port())
}

/// The control API answers only callers on this machine, whatever `--listen` allowed.
fn refuse_remote(peer: SocketAddr) -> Option<Response> {
    // `to_canonical`: an IPv4 caller of a dual-stack socket is seen as `::ffff:a.b.c.d`.
    (!peer.ip().to_canonical().is_loopback()).then(|| {
        refused(
            StatusCode::FORBIDDEN,
            "the control API answers loopback callers only",
        )
    })
}

/// Why a control call is refused, if it is: the peer is not loopback, the `Host` is not
/// this server (also with `--allow-remote`), the `Origin` is another site, the body is not
/// JSON, or [`CONTROL_HEADER`] is missing.
fn refuse_control(addr: SocketAddr, peer: SocketAddr, headers: &HeaderMap) -> Option<Response> {
    if let Some(r) = refuse_remote(peer) {
        return Some(r);
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match text(header::HOST.as_str()) {
        Some(host) if own_host(addr, host) => {}
        _ => {
            return Some(refused(
                StatusCode::FORBIDDEN,
                "the control API answers requests addressed to this server only (Host)",
            ))
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://"))
            .is_some_and(|host| own_host(addr, host));
        if !same {
            return Some(refused(
                StatusCode::FORBIDDEN,
                "the control API refuses calls from other sites (Origin)",
            ));
        }
    }
    let json = text(header::CONTENT_TYPE.as_str()).is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json {
        return Some(refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the control API takes Content-Type: application/json",
        ));
    }
    if text(CONTROL_HEADER) != Some("1") {
        return Some(refused(
            StatusCode::FORBIDDEN,
            "the control API needs the header X-Bybit-Exec: 1",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn every_request_must_name_this_server_once_in_origin_form() {
        let addr: SocketAddr = "127.0.0.1:8088".parse().unwrap();
        let path: Uri = "/api/status".parse().unwrap();
        let any = |uri: &Uri, pairs: &[(&'static str, &str)]| {
            refuse_any(addr, uri, &headers(pairs)).map(|r| r.status())
        };
        assert_eq!(any(&path, &[("host", "127.0.0.1:8088")]), None);
        assert_eq!(any(&path, &[("host", "localhost:8088")]), None);
        // A host name is case-insensitive (RFC 9110 §4.2.3), and a URL on port 80 sends no
        // port (§7.2): both still name this server.
        assert_eq!(any(&path, &[("host", "LocalHost:8088")]), None);
        let port80: SocketAddr = "127.0.0.1:80".parse().unwrap();
        for host in ["127.0.0.1", "localhost", "127.0.0.1:80"] {
            assert_eq!(
                refuse_any(port80, &path, &headers(&[("host", host)])).map(|r| r.status()),
                None,
                "{host}"
            );
        }
        assert_eq!(
            any(&path, &[("host", "127.0.0.1")]),
            Some(StatusCode::FORBIDDEN),
            "no port is port 80, not this one"
        );
        assert_eq!(
            any(&path, &[("host", "localhost.:8088")]),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            any(&path, &[("host", "evil.example")]),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            any(&path, &[("host", "127.0.0.1:9999")]),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(any(&path, &[]), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            any(
                &path,
                &[("host", "127.0.0.1:8088"), ("host", "evil.example")]
            ),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            any(
                &path,
                &[
                    ("host", "127.0.0.1:8088"),
                    ("origin", "http://127.0.0.1:8088"),
                    ("origin", "http://evil.example")
                ]
            ),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            any(
                &path,
                &[
                    ("host", "127.0.0.1:8088"),
                    ("origin", "http://evil.example")
                ]
            ),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            any(
                &path,
                &[
                    ("host", "127.0.0.1:8088"),
                    ("origin", "http://127.0.0.1:8088")
                ]
            ),
            None
        );
        let absolute: Uri = "http://127.0.0.1:8088/api/status".parse().unwrap();
        assert_eq!(
            any(&absolute, &[("host", "127.0.0.1:8088")]),
            Some(StatusCode::BAD_REQUEST)
        );
        // --allow-remote on a non-loopback address: reached by an IP address (whichever of
        // the machine's) or localhost, with its port. A name is refused: DNS rebinding points
        // an attacker's name at this machine's address, so any page the operator (or anyone
        // who can reach the port) opens would read the account through their browser.
        let wide: SocketAddr = "0.0.0.0:8088".parse().unwrap();
        let remote =
            |host: &str| refuse_any(wide, &path, &headers(&[("host", host)])).map(|r| r.status());
        assert_eq!(remote("192.168.1.7:8088"), None);
        assert_eq!(remote("[fe80::1]:8088"), None);
        assert_eq!(remote("localhost:8088"), None);
        assert_eq!(remote("box.lan:8088"), Some(StatusCode::FORBIDDEN));
        assert_eq!(remote("evil.example:8088"), Some(StatusCode::FORBIDDEN));
        assert_eq!(remote("evil.example"), Some(StatusCode::FORBIDDEN));
        assert_eq!(remote("192.168.1.7:9999"), Some(StatusCode::FORBIDDEN));
        let wide80: SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert_eq!(
            refuse_any(wide80, &path, &headers(&[("host", "192.168.1.7")])).map(|r| r.status()),
            None
        );
    }

    #[test]
    fn the_control_api_refuses_callers_from_elsewhere() {
        let refused = |peer: &str| refuse_remote(peer.parse().unwrap()).map(|r| r.status());
        assert_eq!(refused("127.0.0.1:5000"), None);
        assert_eq!(refused("[::1]:5000"), None);
        assert_eq!(refused("192.168.1.7:5000"), Some(StatusCode::FORBIDDEN));
        // On a dual-stack `--listen [::]:PORT`, an IPv4 caller on this machine arrives as
        // an IPv4-mapped address; it is still loopback, a mapped remote one still is not.
        assert_eq!(refused("[::ffff:127.0.0.1]:5000"), None);
        assert_eq!(
            refused("[::ffff:192.168.1.7]:5000"),
            Some(StatusCode::FORBIDDEN)
        );
    }

    #[test]
    fn a_control_call_must_name_this_server_come_from_no_other_site_and_be_json() {
        let addr: SocketAddr = "127.0.0.1:8088".parse().unwrap();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let call = |pairs: &[(&'static str, &str)]| {
            refuse_control(addr, peer, &headers(pairs)).map(|r| r.status())
        };
        let good = [
            ("host", "127.0.0.1:8088"),
            ("content-type", "application/json"),
            ("x-bybit-exec", "1"),
        ];
        assert_eq!(call(&good), None);
        let with = |k: &'static str, v: &'static str| {
            let mut h: Vec<(&'static str, &str)> =
                good.iter().filter(|p| p.0 != k).copied().collect();
            h.push((k, v));
            call(&h)
        };
        assert_eq!(with("host", "localhost:8088"), None);
        assert_eq!(with("origin", "http://localhost:8088"), None);
        assert_eq!(
            with("host", "evil.example:8088"),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(with("host", "127.0.0.1:9999"), Some(StatusCode::FORBIDDEN));
        assert_eq!(
            with("origin", "http://evil.example"),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(with("origin", "null"), Some(StatusCode::FORBIDDEN));
        assert_eq!(
            with("content-type", "application/x-www-form-urlencoded"),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(with("x-bybit-exec", "0"), Some(StatusCode::FORBIDDEN));
        let no_header: Vec<_> = good
            .iter()
            .filter(|p| p.0 != "x-bybit-exec")
            .copied()
            .collect();
        assert_eq!(call(&no_header), Some(StatusCode::FORBIDDEN));
        let remote: SocketAddr = "192.168.1.7:5000".parse().unwrap();
        assert_eq!(
            refuse_control(addr, remote, &headers(&good)).map(|r| r.status()),
            Some(StatusCode::FORBIDDEN)
        );
    }
}
