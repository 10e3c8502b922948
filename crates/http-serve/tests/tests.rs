//! The shared accept loop over real sockets: the cap evicts the longest-idle connection and
//! never a busy one, and the stop ends event streams and cuts a stuck request within the grace.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http_serve::{Limits, Served};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

fn limits(max_connections: usize) -> Limits {
    Limits {
        header_read: Duration::from_secs(30),
        body_read: Duration::from_secs(30),
        max_connections,
        shutdown_grace: Duration::from_millis(300),
    }
}

/// `/ok` answers at once, `/held` notifies `entered` and answers once `release` is notified
/// (`POST /held-after-body` the same once it has read its body; `POST /upload` notifies before
/// reading its body),
/// `/events` is an endless event stream.
fn router(release: Arc<Notify>, entered: Arc<Notify>) -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/held-after-body",
            post({
                let (release, entered) = (release.clone(), entered.clone());
                move |body: Body| async move {
                    let read = axum::body::to_bytes(body, usize::MAX).await.is_ok();
                    entered.notify_one();
                    release.notified().await;
                    read.to_string()
                }
            }),
        )
        .route(
            "/upload",
            post({
                let entered = entered.clone();
                move |body: Body| async move {
                    // Says the request reached the router before waiting for its body.
                    entered.notify_one();
                    axum::body::to_bytes(body, usize::MAX)
                        .await
                        .map(|b| b.len().to_string())
                        .unwrap_or_default()
                }
            }),
        )
        .route(
            "/held",
            get(move || {
                let (release, entered) = (release.clone(), entered.clone());
                async move {
                    entered.notify_one();
                    release.notified().await;
                    "released"
                }
            }),
        )
        .route(
            "/events",
            get(|| async {
                let mut r = Response::new(Body::from_stream(futures_util::stream::pending::<
                    Result<String, std::io::Error>,
                >()));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("text/event-stream"),
                );
                r
            }),
        )
}

async fn start(
    limits: Limits,
) -> (
    SocketAddr,
    Arc<Notify>,
    Arc<Notify>,
    watch::Sender<bool>,
    JoinHandle<Served>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (release, entered) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (stop, stopped) = watch::channel(false);
    let router = router(release.clone(), entered.clone());
    let server = tokio::spawn(async move {
        http_serve::serve(listener, router, &limits, stopped, std::convert::identity).await
    });
    (addr, release, entered, stop, server)
}

/// Whether the server closed `s` (EOF or reset) within 5 s.
async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .is_ok()
}

async fn half_open(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    s
}

/// Sends a whole GET for `path` and answers the response's first bytes.
async fn ask(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .expect("no answer within 5 s")
        .unwrap();
    String::from_utf8_lossy(&buf).to_string()
}

#[tokio::test]
async fn at_the_cap_the_longest_idle_connection_makes_room_and_a_busy_one_is_kept() {
    let (addr, release, entered, stop, server) = start(limits(2)).await;
    // A request in flight (busy), then a half-sent one (idle).
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    entered.notified().await;
    // Accepted in order, so the idle one is held before the third arrives.
    let mut idle = half_open(addr).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ask(&mut third, "/ok").await, "HTTP/1.1 200");
    assert!(closed(&mut idle).await, "the idle connection was kept");
    // The busy one still gets its answer.
    release.notify_one();
    let mut buf = [0u8; 12];
    busy.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    let _ = stop.send(true);
    let served = server.await.unwrap();
    assert_eq!(served.evicted, 1, "{served:?}");
}

#[tokio::test]
async fn the_stop_ends_event_streams_and_cuts_a_stuck_request_within_the_grace() {
    let (addr, _release, entered, stop, server) = start(limits(16)).await;
    let mut events = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ask(&mut events, "/events").await, "HTTP/1.1 200");
    let mut stuck = TcpStream::connect(addr).await.unwrap();
    stuck
        .write_all(b"GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    entered.notified().await;
    let _idle = half_open(addr).await;
    let _ = stop.send(true);
    let served = tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("the stop waited on a client")
        .unwrap();
    // Only the stuck request counts: the event stream ended, the half-sent one had nothing.
    assert_eq!(served.cut_at_stop, 1, "{served:?}");
    assert!(closed(&mut events).await, "the event stream still open");
    assert!(closed(&mut stuck).await, "the stuck request still open");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_and_a_half_sent_head_are_closed_after_the_header_timeout() {
    let mut l = limits(16);
    l.header_read = Duration::from_millis(300);
    let (addr, _release, _entered, stop, server) = start(l).await;
    // Answered, kept alive, then silent.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ask(&mut kept, "/ok").await, "HTTP/1.1 200");
    let mut half = half_open(addr).await;
    assert!(
        closed(&mut kept).await,
        "the idle keep-alive connection was kept"
    );
    assert!(closed(&mut half).await, "the half-sent head was kept");
    let _ = stop.send(true);
    server.await.unwrap();
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closed() {
    let mut l = limits(16);
    l.body_read = Duration::from_millis(300);
    let (addr, _release, _entered, stop, server) = start(l).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\nabc")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), slow.read_exact(&mut buf))
        .await
        .expect("no answer within 5 s")
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 408");
    assert!(closed(&mut slow).await, "the slow connection was kept");
    // A whole body is echoed.
    let mut fine = TcpStream::connect(addr).await.unwrap();
    fine.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\n\r\nabc")
        .await
        .unwrap();
    fine.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    let _ = stop.send(true);
    server.await.unwrap();
}

/// A connection that sent a head with `content-length: 100` and only part of the body to
/// `/upload`, once the router has the request (`entered` notified).
async fn half_sent_body(addr: SocketAddr, entered: &Notify) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\nabc")
        .await
        .unwrap();
    entered.notified().await;
    s
}

// A request whose body the client has not finished sending waits on the
// client, as a half-sent head does: at the cap it makes room for a new connection (else a
// few slow-body POSTs keep /health out until the body timeout, again and again).
#[tokio::test]
async fn at_the_cap_a_request_still_waiting_for_its_body_makes_room() {
    let (addr, release, entered, stop, server) = start(limits(2)).await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    entered.notified().await;
    let mut slow = half_sent_body(addr, &entered).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ask(&mut third, "/ok").await, "HTTP/1.1 200");
    assert!(closed(&mut slow).await, "the slow-body connection was kept");
    release.notify_one();
    let mut buf = [0u8; 12];
    busy.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    let _ = stop.send(true);
    let served = server.await.unwrap();
    assert_eq!(served.evicted, 1, "{served:?}");
}

// No client can make the stop fail. A request still waiting for its
// body has had nothing done for it; cutting it at the stop is not a request cut short.
#[tokio::test]
async fn the_stop_does_not_count_a_request_still_waiting_for_its_body_as_cut() {
    let (addr, _release, entered, stop, server) = start(limits(16)).await;
    let mut slow = half_sent_body(addr, &entered).await;
    let _ = stop.send(true);
    let served = tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("the stop waited on a client")
        .unwrap();
    assert_eq!(served.cut_at_stop, 0, "{served:?}");
    assert!(
        closed(&mut slow).await,
        "the slow-body connection still open"
    );
}

// The other side of the rule above: once its whole body has arrived, a request is in flight
// (the router may be acting on it): at the stop it is cut and counted.
#[tokio::test]
async fn a_request_held_after_its_whole_body_arrived_counts_as_cut_at_the_stop() {
    let (addr, _release, entered, stop, server) = start(limits(16)).await;
    let mut stuck = TcpStream::connect(addr).await.unwrap();
    stuck
        .write_all(b"POST /held-after-body HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\n\r\nabc")
        .await
        .unwrap();
    entered.notified().await;
    let _ = stop.send(true);
    let served = tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("the stop waited on a client")
        .unwrap();
    assert_eq!(served.cut_at_stop, 1, "{served:?}");
}
