//! The HTTP/1 accept loop both of the workspace's servers use: the emulator
//! (`bybit-emulator`) and `bybit-exec serve`. One owner for how a connection is accepted,
//! timed and closed, so the two cannot drift.
//!
//! `axum::serve` sets no timer: a half-sent request or an idle socket is kept for ever, a
//! flood of them runs the process out of file descriptors, and its graceful shutdown waits
//! for every connection. [`serve`] instead gives each socket a hyper HTTP/1 connection with:
//!
//! - a header-read timeout ([`Limits::header_read`]): the request head must arrive within it.
//!   hyper starts this timer whenever it waits for a head, so it is also the idle keep-alive
//!   limit (a kept-alive connection must send its next request within it);
//! - a body timeout ([`Limits::body_read`]): a request body must have arrived within it of
//!   the head; otherwise the answer is HTTP 408 and the connection is closed;
//! - a connection cap ([`Limits::max_connections`]): at the cap, a new connection evicts the
//!   connection that has been idle longest (no request in flight: a half-sent head, a request
//!   whose body has not all arrived, or an idle keep-alive), so a flood of half-open sockets
//!   cannot keep a health check out; only when every connection is busy is the new one closed
//!   at once;
//! - a bounded stop ([`Limits::shutdown_grace`]): idle connections close at once, an event
//!   stream (a `text/event-stream` response, Server-Sent Events) ends at once, other requests
//!   in flight get the grace, then whatever is left is cut ([`Served::cut_at_stop`] counts
//!   the cut connections that had a request in flight with its whole body). No client can
//!   hold the stop, or make it look cut short.
//!
//! Every request carries `ConnectInfo<SocketAddr>` (the peer) as `axum::serve` gives it.
//! Upgraded connections (WebSocket) leave the loop's care at the upgrade.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::serve::Listener;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, Id, JoinSet};
use tokio::time::{Instant, Sleep};

/// How long the loop waits on its clients, and how many it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request head must arrive within this; also how long an idle keep-alive connection
    /// is kept waiting for its next request.
    pub header_read: Duration,
    /// A request body must have arrived within this of its head (HTTP 408 otherwise).
    pub body_read: Duration,
    /// The most connections held at once; beyond it the longest-idle one is evicted.
    pub max_connections: usize,
    /// How long requests in flight get to finish once the stop is asked for.
    pub shutdown_grace: Duration,
}

/// What a [`serve`] run did, reported when it returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    /// Idle connections closed to make room for a new one at the cap.
    pub evicted: u64,
    /// New connections closed at once because every held one was busy.
    pub refused: u64,
    /// Connections with a request in flight when the shutdown grace ran out, cut (idle or
    /// half-sent connections cut with them are not counted, nor requests still waiting for
    /// their body: they had nothing to lose).
    pub cut_at_stop: usize,
}

/// Resolves once `stop` is true (or its sender is gone, which also means stopping).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// One held connection: how many requests it has in flight, how many of those still wait
/// for their body from the client, and since when it is idle.
#[derive(Debug)]
struct Slot {
    busy: AtomicUsize,
    /// Requests in flight whose body has not all arrived: they wait on the client, as a
    /// half-sent head does, so they neither keep the connection from eviction nor count as
    /// cut at the stop (nothing can have been done for a request without its body).
    awaiting_body: AtomicUsize,
    /// Milliseconds since the loop started.
    idle_since: AtomicU64,
}

impl Slot {
    /// Whether the connection only waits on its client: no request in flight, or only
    /// requests whose body has not all arrived. (`busy` is read first: a request counted
    /// busy whose body count is not raised yet reads as working, never the other way.)
    fn waits_on_client(&self) -> bool {
        let busy = self.busy.load(Ordering::SeqCst);
        busy <= self.awaiting_body.load(Ordering::SeqCst)
    }
}

/// A request body not yet all received, counted on its [`Slot`] until it ends, fails or is
/// dropped.
#[derive(Debug)]
struct Awaiting {
    slot: Arc<Slot>,
}

impl Awaiting {
    fn enter(slot: Arc<Slot>) -> Awaiting {
        slot.awaiting_body.fetch_add(1, Ordering::SeqCst);
        Awaiting { slot }
    }
}

impl Drop for Awaiting {
    fn drop(&mut self) {
        self.slot.awaiting_body.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Milliseconds since `epoch`.
fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A request in flight on a [`Slot`]; dropped with the response body (sent or abandoned).
#[derive(Debug)]
struct Busy {
    slot: Arc<Slot>,
    epoch: Instant,
}

impl Busy {
    fn enter(slot: Arc<Slot>, epoch: Instant) -> Busy {
        slot.busy.fetch_add(1, Ordering::SeqCst);
        Busy { slot, epoch }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.slot
            .idle_since
            .store(ms_since(self.epoch), Ordering::SeqCst);
        self.slot.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its connection counted busy until it is finished or dropped;
/// an event stream's ends when the stop is asked for.
struct Tracked {
    inner: Body,
    _busy: Busy,
    ends_at: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Some(stop) = this.ends_at.as_mut() {
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
        }
        Pin::new(&mut this.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails once its deadline passes before it has all arrived; its
/// connection waits on the client ([`Awaiting`]) until it has.
struct Deadline {
    inner: Body,
    sleep: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
    awaiting: Option<Awaiting>,
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.expired.load(Ordering::SeqCst) {
            this.awaiting = None;
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            if !matches!(frame, Some(Ok(_))) || this.inner.is_end_stream() {
                this.awaiting = None;
            }
            return Poll::Ready(frame);
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::SeqCst);
            this.awaiting = None;
            return Poll::Ready(Some(Err(axum::Error::new(
                "request body not received in time",
            ))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a request whose body did not arrive within [`Limits::body_read`].
fn body_timed_out() -> Response<Body> {
    let mut response = Response::new(Body::from("request body not received in time"));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// What every request of one connection shares.
#[derive(Debug, Clone)]
struct Conn {
    router: Router,
    peer: SocketAddr,
    slot: Arc<Slot>,
    epoch: Instant,
    body_read: Duration,
    stop: watch::Receiver<bool>,
}

/// Whether `response` is an event stream (ended at the stop rather than waited for).
fn is_event_stream(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"))
}

/// Calls the router for one request of a connection: the peer as `ConnectInfo`, the body
/// under its deadline, the connection counted busy until the response body is done.
fn call(
    conn: &Conn,
    request: Request<Incoming>,
) -> impl Future<Output = Result<Response<Body>, Infallible>> + Send + 'static {
    let Conn {
        router,
        peer,
        slot,
        epoch,
        body_read,
        stop,
    } = conn.clone();
    let busy = Busy::enter(slot.clone(), epoch);
    let expired = Arc::new(AtomicBool::new(false));
    let has_body = request.headers().contains_key(header::CONTENT_LENGTH)
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let mut request = if has_body {
        let flag = expired.clone();
        request.map(move |body| {
            let awaiting = (!body.is_end_stream()).then(|| Awaiting::enter(slot));
            Body::new(Deadline {
                inner: Body::new(body),
                sleep: Box::pin(tokio::time::sleep(body_read)),
                expired: flag,
                awaiting,
            })
        })
    } else {
        request.map(Body::new)
    };
    request.extensions_mut().insert(ConnectInfo(peer));
    let answer = TowerToHyperService::new(router).call(request);
    async move {
        let response = match answer.await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let response = if expired.load(Ordering::SeqCst) {
            body_timed_out()
        } else {
            response
        };
        let ends_at = is_event_stream(&response).then(|| {
            let mut stop = stop;
            Box::pin(async move { stopped(&mut stop).await })
                as Pin<Box<dyn Future<Output = ()> + Send>>
        });
        Ok(response.map(|inner| {
            Body::new(Tracked {
                inner,
                _busy: busy,
                ends_at,
            })
        }))
    }
}

/// The held connection idle longest (no request in flight, or only requests still waiting
/// for their body), if any.
fn longest_idle(held: &HashMap<Id, (Arc<Slot>, AbortHandle)>) -> Option<Id> {
    held.iter()
        .filter(|(_, (slot, _))| slot.waits_on_client())
        .min_by_key(|(_, (slot, _))| slot.idle_since.load(Ordering::SeqCst))
        .map(|(id, _)| *id)
}

/// Serves `router` on `listener` under `limits` until `stop` turns true (see the module doc),
/// each accepted stream first passed through `wrap` (e.g. an IO wrapper that rewrites hyper's
/// own refusals; `std::convert::identity` for none). Returns once every connection is closed,
/// at most [`Limits::shutdown_grace`] after the stop.
pub async fn serve<W, I>(
    mut listener: TcpListener,
    router: Router,
    limits: &Limits,
    mut stop: watch::Receiver<bool>,
    wrap: W,
) -> Served
where
    W: Fn(TcpStream) -> I,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(true);
    let epoch = Instant::now();
    let mut served = Served::default();
    let mut connections = JoinSet::new();
    let mut held: HashMap<Id, (Arc<Slot>, AbortHandle)> = HashMap::new();
    loop {
        tokio::select! {
            // axum's accept for a TcpListener backs off on errors such as running out of
            // file descriptors instead of spinning.
            (stream, peer) = Listener::accept(&mut listener) => {
                if held.len() >= limits.max_connections.max(1) {
                    match longest_idle(&held) {
                        Some(id) => {
                            if let Some((_, handle)) = held.remove(&id) {
                                handle.abort();
                            }
                            served.evicted += 1;
                            tracing::debug!(%peer, "connection cap reached: evicted the longest-idle connection");
                        }
                        None => {
                            drop(stream);
                            served.refused += 1;
                            tracing::debug!(%peer, "connection cap reached, every connection busy: refused");
                            continue;
                        }
                    }
                }
                let slot = Arc::new(Slot {
                    busy: AtomicUsize::new(0),
                    awaiting_body: AtomicUsize::new(0),
                    idle_since: AtomicU64::new(ms_since(epoch)),
                });
                let conn = Conn {
                    router: router.clone(),
                    peer,
                    slot: slot.clone(),
                    epoch,
                    body_read: limits.body_read,
                    stop: stop.clone(),
                };
                let service = hyper::service::service_fn(move |request| call(&conn, request));
                let connection = builder
                    .serve_connection(TokioIo::new(wrap(stream)), service)
                    .with_upgrades();
                let mut stop = stop.clone();
                let handle = connections.spawn(async move {
                    let mut connection = std::pin::pin!(connection);
                    tokio::select! {
                        _ = connection.as_mut() => {}
                        () = stopped(&mut stop) => {
                            // Ends an idle connection now and a busy one after its reply.
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                });
                held.insert(handle.id(), (slot, handle));
            }
            Some(done) = connections.join_next_with_id(), if !connections.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                held.remove(&id);
            }
            () = stopped(&mut stop) => break,
        }
    }
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace, drained)
        .await
        .is_err()
    {
        served.cut_at_stop = held
            .values()
            .filter(|(slot, handle)| !handle.is_finished() && !slot.waits_on_client())
            .count();
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    served
}
