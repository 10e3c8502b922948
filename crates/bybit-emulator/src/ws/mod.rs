//! Public (`/v5/public/linear`), private (`/v5/private`) and order-entry (`/v5/trade`)
//! WebSocket streams in Bybit's shapes: heartbeat, auth, subscribe and unsubscribe, topic
//! pushes built from the engine's events, and order operations over the REST code paths.
//!
//! One task owns each socket. It selects over the client's frames, its event fan-out (market
//! events for public sessions, account events for private ones, none for order entry), the
//! session's own timer (a public book's push cadence, an order reply held by a fault), the
//! mute and drop-every-connection faults, the idle deadline and the shutdown signal; nothing
//! else touches the socket. What a stream does with a request or a batch of events is plain
//! synchronous code in [`public`], [`private`] and [`trade`] that fills an
//! [`Outbox`](session::Outbox) (or asks for the connection to fail, the lost-reply fault);
//! this module only moves frames.
//!
//! Transport rules: a session that falls a whole fan-out buffer of
//! engine steps behind is closed (1013), as Bybit drops slow consumers; the client must
//! reconnect and resubscribe, which gives it fresh snapshots. Writes have a deadline, and a
//! drop, a refusal or a shutdown ends a session at once even while a write is stuck. A
//! connection that sends no ping and is sent nothing for the idle time is closed (docs
//! v5/ws/connect: 10 minutes, or a private URL's `max_active_time`).

pub(crate) mod feeds;
mod private;
mod public;
mod session;
mod trade;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use self::session::{BadRequest, Outbox, Session};
use crate::app::Batch;
use crate::faults::Mute;
use crate::server::stopped;
use crate::AppState;

/// Most engine steps handled in one go. Steps that arrive together (one order's order,
/// execution, position and wallet updates, or a run of prints) are handled together so that a
/// symbol's book is diffed once per burst and same-kind private records share one message, as
/// on Bybit; the cap keeps a run of steps from starving the client's own frames.
const MAX_STEPS: usize = 64;

/// Close code sent to a session that fell behind the event stream (RFC 6455 "try again later").
const CLOSE_LAGGED: u16 = 1013;

/// Close code sent when the emulator shuts down ("going away").
const CLOSE_SHUTDOWN: u16 = 1001;

/// Close code sent to an idle connection (a normal closure: the server is done with it).
const CLOSE_IDLE: u16 = 1000;

/// How much a session asks of the kernel per read. tungstenite zero-fills that much of its
/// read buffer on every read attempt (its default is 128 KiB, some 10 µs a request here); what
/// clients send (pings, subscriptions, auth, order operations) is a few hundred bytes, and a
/// larger frame still arrives whole over several reads.
const READ_CHUNK: usize = 4 * 1024;

/// Bounds of a private URL's `max_active_time` (docs v5/ws/connect: 30 s to 600 s).
const MIN_ACTIVE_TIME: Duration = Duration::from_secs(30);
const MAX_ACTIVE_TIME: Duration = Duration::from_secs(600);

/// `GET /v5/public/linear` upgrade.
pub(crate) async fn public(
    State(state): State<Arc<AppState>>,
    upgrade_request: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let events = state.public_events.subscribe();
    let idle = state.transport.ws_idle;
    upgrade(
        state,
        upgrade_request,
        public::PublicSession::new,
        events,
        idle,
        Stream::Public,
    )
}

/// `GET /v5/private` upgrade; `?max_active_time=45s` (or `2m`) sets the connection's idle
/// time (docs v5/ws/connect).
pub(crate) async fn private(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    upgrade_request: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let idle = match max_active_time(query.as_deref()) {
        Ok(time) => time.unwrap_or(state.transport.ws_idle),
        Err(reason) => return (StatusCode::BAD_REQUEST, reason).into_response(),
    };
    let events = state.private_events.subscribe();
    upgrade(
        state,
        upgrade_request,
        private::PrivateSession::new,
        events,
        idle,
        Stream::Private,
    )
}

/// `GET /v5/trade` upgrade (docs v5/websocket/trade/guideline); `?max_active_time=` as on
/// the private stream (docs v5/ws/connect: "private and trade connections").
pub(crate) async fn trade(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    upgrade_request: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let idle = match max_active_time(query.as_deref()) {
        Ok(time) => time.unwrap_or(state.transport.ws_idle),
        Err(reason) => return (StatusCode::BAD_REQUEST, reason).into_response(),
    };
    // The order-entry stream pushes nothing of the engine's (its orders' updates go out on
    // the private stream): its fan-out is a channel whose sender is already gone, which never
    // wakes the session and can never make it lag.
    let (_, events) = broadcast::channel(1);
    let restarts = state.faults.trade_restarts();
    upgrade(
        state,
        upgrade_request,
        move |conn_id| trade::TradeSession::new(conn_id, restarts),
        events,
        idle,
        Stream::Trade,
    )
}

/// Which stream a session serves: which switch of the mute fault applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Public,
    Private,
    Trade,
}

/// The `max_active_time` of a private URL's query: `30s`..`600s` or whole minutes (`1m`..
/// `10m`); a value outside the documented range is brought into it. `None` when absent.
fn max_active_time(query: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(query) = query else { return Ok(None) };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|_| "the query string cannot be read".to_owned())?;
    let Some((_, value)) = pairs.iter().find(|(name, _)| name == "max_active_time") else {
        return Ok(None);
    };
    let bad = || format!("max_active_time must look like 30s or 2m, not {value:?}");
    let (number, unit) = value.split_at(value.len().saturating_sub(1));
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        _ => return Err(bad()),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // Many digits only mean "a long time": saturate, then clamp.
    let number: u64 = number.parse().unwrap_or(u64::MAX);
    let time = Duration::from_secs(number.saturating_mul(seconds_per_unit));
    Ok(Some(time.clamp(MIN_ACTIVE_TIME, MAX_ACTIVE_TIME)))
}

/// The session's subscriptions to the emulator's shared signals, taken before the upgrade
/// completes so that nothing published or bumped in between is missed.
#[derive(Debug)]
struct Links {
    events: broadcast::Receiver<Batch>,
    epoch: watch::Receiver<u64>,
    mute: watch::Receiver<Mute>,
    stream: Stream,
    stop: watch::Receiver<bool>,
    /// How long the connection may go without a ping or a message sent.
    idle: Duration,
}

fn upgrade<S: Session>(
    state: Arc<AppState>,
    upgrade_request: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    make: impl FnOnce(String) -> S,
    events: broadcast::Receiver<Batch>,
    idle: Duration,
    stream: Stream,
) -> Response {
    // Checked before the upgrade headers, so that a refusal looks the same to every client.
    if state.faults.ws_refused(state.clock.now_ms()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "WebSocket connections are refused for now (emulator fault)",
        )
            .into_response();
    }
    let upgrade = match upgrade_request {
        Ok(upgrade) => upgrade.read_buffer_size(READ_CHUNK),
        Err(rejection) => return rejection.into_response(),
    };
    let links = Links {
        events,
        epoch: state.ws_epoch.subscribe(),
        mute: state.ws_mute.subscribe(),
        stream,
        stop: state.stop.clone(),
        idle,
    };
    let session = make(state.next_conn_id());
    upgrade.on_upgrade(move |socket| async move {
        state.ws_sessions.fetch_add(1, Ordering::Relaxed);
        run(socket, &state, session, links).await;
        state.ws_sessions.fetch_sub(1, Ordering::Relaxed);
    })
}

/// How a session ends.
enum End {
    /// The client left, the socket failed or a write stalled: nothing more can be sent.
    Gone,
    /// Dropped by fault injection: the socket is closed without a close frame, as a network
    /// failure would.
    Dropped,
    /// Closed by the server with a close frame.
    Close(u16, &'static str),
}

/// What woke the session up.
enum Wake {
    Frame(Option<Result<Message, axum::Error>>),
    Steps(Result<Vec<Batch>, ()>),
    Due,
    Again,
    End(End),
}

/// The one task that owns a socket.
async fn run<S: Session>(mut socket: WebSocket, state: &AppState, mut session: S, links: Links) {
    let Links {
        mut events,
        mut epoch,
        mut mute,
        stream,
        mut stop,
        idle,
    } = links;
    let write_deadline = state.transport.ws_write;
    let mut last_active = Instant::now();
    let end = loop {
        let mut out = Outbox::default();
        let idle_at = last_active + idle;
        let (muted, data_muted) = {
            let mute = *mute.borrow_and_update();
            match stream {
                Stream::Public => (mute.public, mute.public_data),
                Stream::Private => (mute.private, mute.private_data),
                Stream::Trade => (mute.trade, false),
            }
        };
        let wake = if muted {
            // Muted: nothing is read (so not even a protocol ping is answered) and nothing is
            // sent; events wait in the fan-out until the fault is lifted.
            tokio::select! {
                _ = mute.changed() => Wake::Again,
                _ = epoch.changed() => Wake::End(End::Dropped),
                () = stopped(&mut stop) => Wake::End(End::Close(CLOSE_SHUTDOWN, "server stopping")),
                () = tokio::time::sleep_until(idle_at) => Wake::End(End::Close(CLOSE_IDLE, "idle: no ping and no data")),
            }
        } else if data_muted {
            // Connected but silent: requests are read and answered (pings too), but no data
            // is sent; events wait in the fan-out and nothing scheduled is pushed.
            tokio::select! {
                frame = socket.recv() => Wake::Frame(frame),
                _ = mute.changed() => Wake::Again,
                _ = epoch.changed() => Wake::End(End::Dropped),
                () = stopped(&mut stop) => Wake::End(End::Close(CLOSE_SHUTDOWN, "server stopping")),
                () = tokio::time::sleep_until(idle_at) => Wake::End(End::Close(CLOSE_IDLE, "idle: no ping and no data")),
            }
        } else {
            let due = session.due();
            tokio::select! {
                frame = socket.recv() => Wake::Frame(frame),
                steps = next_steps(&mut events) => Wake::Steps(steps),
                () = sleep_until_due(due) => Wake::Due,
                _ = mute.changed() => Wake::Again,
                _ = epoch.changed() => Wake::End(End::Dropped),
                () = stopped(&mut stop) => Wake::End(End::Close(CLOSE_SHUTDOWN, "server stopping")),
                () = tokio::time::sleep_until(idle_at) => Wake::End(End::Close(CLOSE_IDLE, "idle: no ping and no data")),
            }
        };
        match wake {
            Wake::Frame(frame) => match frame {
                Some(Ok(Message::Text(text))) => {
                    if handle_text(&mut session, state, text.as_str(), &mut out) {
                        last_active = Instant::now();
                    }
                }
                Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                    Ok(text) => {
                        if handle_text(&mut session, state, text, &mut out) {
                            last_active = Instant::now();
                        }
                    }
                    Err(_) => session.refuse(
                        BadRequest {
                            op: None,
                            req_id: None,
                            reason: "error:request must be UTF-8 JSON".to_owned(),
                        },
                        &mut out,
                    ),
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break End::Gone,
                // Protocol pings are answered by the WebSocket layer itself; they count as
                // the client's heartbeat.
                Some(Ok(Message::Ping(_))) => last_active = Instant::now(),
                Some(Ok(Message::Pong(_))) => {}
            },
            Wake::Steps(Ok(steps)) => session.on_events(state, &steps, &mut out),
            Wake::Steps(Err(())) => {
                break End::Close(CLOSE_LAGGED, "too slow: reconnect and resubscribe")
            }
            Wake::Due => session.on_due(state, Instant::now(), &mut out),
            Wake::Again => continue,
            Wake::End(end) => break end,
        }
        // A fault of the order-entry stream: the request was executed, and the connection
        // fails before anything more is sent.
        if session.dropping() {
            break End::Dropped;
        }
        if out.0.is_empty() {
            continue;
        }
        last_active = Instant::now();
        // A client that stopped reading blocks this write once the socket buffers are full:
        // give up after the deadline, and never let it delay a drop or a shutdown.
        let written = tokio::select! {
            written = tokio::time::timeout(write_deadline, send_all(&mut socket, out)) => written,
            _ = epoch.changed() => break End::Dropped,
            () = stopped(&mut stop) => break End::Gone,
        };
        match written {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break End::Gone,
        }
    };
    match end {
        End::Gone | End::Dropped => {}
        End::Close(code, reason) => {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            // The client may already be gone, or not reading; there is nobody left to tell.
            let close = socket.send(Message::Close(Some(frame)));
            let _ = tokio::time::timeout(write_deadline, close).await;
        }
    }
}

/// Sleeps until `due`, or for ever when nothing is due.
async fn sleep_until_due(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next engine step and whatever others are already queued, up to [`MAX_STEPS`]; `Err`
/// if the session has fallen behind the fan-out, or the emulator is stopping.
async fn next_steps(events: &mut broadcast::Receiver<Batch>) -> Result<Vec<Batch>, ()> {
    let first = match events.recv().await {
        Ok(step) => step,
        Err(RecvError::Lagged(_)) => return Err(()),
        // The sender lives as long as the state; a closed channel means nothing more comes.
        Err(RecvError::Closed) => return std::future::pending().await,
    };
    let mut steps = vec![first];
    while steps.len() < MAX_STEPS {
        match events.try_recv() {
            Ok(step) => steps.push(step),
            Err(TryRecvError::Lagged(_)) => return Err(()),
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    Ok(steps)
}

/// Handles one text frame; returns whether it was a heartbeat (`op: "ping"`).
fn handle_text<S: Session>(
    session: &mut S,
    state: &AppState,
    text: &str,
    out: &mut Outbox,
) -> bool {
    match session.parse(text) {
        Ok(request) => {
            let ping = request.op == "ping";
            session.on_request(state, request, out);
            ping
        }
        Err(bad) => {
            session.refuse(bad, out);
            false
        }
    }
}

async fn send_all(socket: &mut WebSocket, out: Outbox) -> Result<(), axum::Error> {
    for text in out.0 {
        socket.feed(Message::text(text)).await?;
    }
    socket.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    // docs v5/ws/connect: "the lowest value is 30s, the highest value is 600s ... You can also
    // pass 1m, 2m etc".
    #[test]
    fn max_active_time_reads_seconds_and_minutes_within_bybits_range() {
        let read = |q: &str| max_active_time(Some(q));
        assert_eq!(
            read("max_active_time=45s"),
            Ok(Some(Duration::from_secs(45)))
        );
        assert_eq!(
            read("a=1&max_active_time=2m"),
            Ok(Some(Duration::from_secs(120)))
        );
        assert_eq!(read("max_active_time=5s"), Ok(Some(MIN_ACTIVE_TIME)));
        assert_eq!(read("max_active_time=20m"), Ok(Some(MAX_ACTIVE_TIME)));
        assert_eq!(
            read("max_active_time=99999999999999999999999m"),
            Ok(Some(MAX_ACTIVE_TIME))
        );
        assert_eq!(read("other=1"), Ok(None));
        assert_eq!(max_active_time(None), Ok(None));
        for bad in [
            "max_active_time=",
            "max_active_time=s",
            "max_active_time=10",
            "max_active_time=1h",
            "max_active_time=-5s",
            "max_active_time=1.5m",
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
