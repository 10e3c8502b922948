//! Public (`/v5/public/linear`) and private (`/v5/private`) WebSocket streams in Bybit's shapes:
//! heartbeat, auth, subscribe and unsubscribe, and topic pushes built from the engine's events.
//!
//! One task owns each socket. It selects over the client's frames, the engine's event
//! broadcast, the drop-every-connection epoch and the shutdown signal; nothing else touches the
//! socket. What a stream does with a request or a batch of events is plain synchronous code in
//! [`public`] and [`private`] that fills an [`Outbox`]; this module only moves frames. A session
//! that falls behind the broadcast is closed, as Bybit drops slow consumers: the client must
//! reconnect and resubscribe, which gives it fresh snapshots.

mod private;
mod public;

use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bybit_types::ws::op::StreamReply;
use futures_util::SinkExt;
use serde::Serialize;
use serde_json::Value;
use sim_engine::EngineEvent;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};

use crate::AppState;

/// Most events handled in one go. Events that arrive together (one order's order, execution,
/// position and wallet updates, or a burst of prints) are batched so that a symbol's book is
/// diffed once per burst and same-kind private records share one message, as on Bybit; the cap
/// keeps one burst from starving the client's own frames.
const MAX_BATCH: usize = 512;

/// Close code sent to a session that fell behind the event stream (RFC 6455 "try again later").
const CLOSE_LAGGED: u16 = 1013;

/// Close code sent when the emulator shuts down ("going away").
const CLOSE_SHUTDOWN: u16 = 1001;

/// `GET /v5/public/linear` upgrade.
pub(crate) async fn public(
    State(state): State<Arc<AppState>>,
    upgrade_request: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    upgrade(state, upgrade_request, public::PublicSession::new)
}

/// `GET /v5/private` upgrade.
pub(crate) async fn private(
    State(state): State<Arc<AppState>>,
    upgrade_request: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    upgrade(state, upgrade_request, private::PrivateSession::new)
}

/// What one stream does; the socket loop in [`run`] drives it.
trait Session: Send + 'static {
    /// A reply to an operation in this stream's shape (the public stream always echoes
    /// `req_id`, `""` when none was given; the private stream only when one was).
    fn reply(
        &self,
        op: Option<&str>,
        req_id: Option<&str>,
        success: bool,
        ret_msg: &str,
    ) -> StreamReply;

    /// Handles one well-formed request.
    fn on_request(&mut self, state: &AppState, request: Request, out: &mut Outbox);

    /// Handles engine events that arrived together, oldest first.
    fn on_events(&mut self, state: &AppState, events: &[Arc<EngineEvent>], out: &mut Outbox);
}

/// A client request: `{req_id?, op, args?}`.
#[derive(Debug)]
struct Request {
    op: String,
    req_id: Option<String>,
    args: Vec<Value>,
}

/// Why a frame is not a request, and what of it could still be read for the reply.
#[derive(Debug)]
struct BadRequest {
    op: Option<String>,
    req_id: Option<String>,
    reason: String,
}

impl Request {
    fn parse(text: &str) -> Result<Request, BadRequest> {
        let bad = |op: Option<String>, req_id: Option<String>, reason: &str| BadRequest {
            op,
            req_id,
            reason: reason.to_owned(),
        };
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
            return Err(bad(None, None, "error:request must be a JSON object"));
        };
        // Clients send req_id as text, but a number is echoed back rather than refused.
        let req_id = match map.get("req_id") {
            Some(Value::String(id)) => Some(id.clone()),
            Some(Value::Number(id)) => Some(id.to_string()),
            _ => None,
        };
        let Some(op) = map.get("op").and_then(Value::as_str).map(str::to_owned) else {
            return Err(bad(None, req_id, "error:op is missing"));
        };
        let args = match map.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(args)) => args.clone(),
            Some(_) => return Err(bad(Some(op), req_id, "error:args must be an array")),
        };
        Ok(Request { op, req_id, args })
    }
}

/// The frames a session wants sent, already serialised.
#[derive(Debug, Default)]
struct Outbox(Vec<String>);

impl Outbox {
    fn push<T: Serialize>(&mut self, message: &T) {
        // These wire types hold only strings, numbers, booleans and string-keyed maps, which
        // serde_json always serialises; a failure would be a bug in a wire type, and sending
        // nothing is the only answer that cannot confuse the client further.
        if let Ok(text) = serde_json::to_string(message) {
            self.0.push(text);
        }
    }
}

/// The session's subscriptions to the emulator's shared signals, taken before the upgrade
/// completes so that nothing published or bumped in between is missed.
#[derive(Debug)]
struct Links {
    events: broadcast::Receiver<Arc<EngineEvent>>,
    epoch: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
}

fn upgrade<S: Session>(
    state: Arc<AppState>,
    upgrade_request: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    make: fn(String) -> S,
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
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let links = Links {
        events: state.events.subscribe(),
        epoch: state.ws_epoch.subscribe(),
        stop: state.stop.clone(),
    };
    let session = make(state.next_conn_id());
    upgrade.on_upgrade(move |socket| run(socket, state, session, links))
}

/// How a session ends.
enum End {
    /// The client left or the socket failed: nothing more to send.
    Gone,
    /// Dropped by fault injection: the socket is closed without a close frame, as a network
    /// failure would.
    Dropped,
    /// Closed by the server with a close frame.
    Close(u16, &'static str),
}

/// The one task that owns a socket.
async fn run<S: Session>(
    mut socket: WebSocket,
    state: Arc<AppState>,
    mut session: S,
    links: Links,
) {
    let Links {
        mut events,
        mut epoch,
        mut stop,
    } = links;
    let end = loop {
        let mut out = Outbox::default();
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => handle_text(&mut session, &state, text.as_str(), &mut out),
                Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                    Ok(text) => handle_text(&mut session, &state, text, &mut out),
                    Err(_) => out.push(&session.reply(None, None, false, "error:request must be UTF-8 JSON")),
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break End::Gone,
                // Protocol pings are answered by the WebSocket layer itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            },
            event = events.recv() => match event {
                Ok(first) => match drain(first, &mut events) {
                    Some(batch) => session.on_events(&state, &batch, &mut out),
                    None => break End::Close(CLOSE_LAGGED, "too slow: reconnect and resubscribe"),
                },
                Err(RecvError::Lagged(_)) => break End::Close(CLOSE_LAGGED, "too slow: reconnect and resubscribe"),
                Err(RecvError::Closed) => break End::Close(CLOSE_SHUTDOWN, "server stopping"),
            },
            _ = epoch.changed() => break End::Dropped,
            _ = stop.wait_for(|stopped| *stopped) => break End::Close(CLOSE_SHUTDOWN, "server stopping"),
        }
        if send_all(&mut socket, out).await.is_err() {
            break End::Gone;
        }
    };
    match end {
        End::Gone | End::Dropped => {}
        End::Close(code, reason) => {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            // The client may already be gone; there is nobody left to tell.
            let _ = socket.send(Message::Close(Some(frame))).await;
        }
    }
}

fn handle_text<S: Session>(session: &mut S, state: &AppState, text: &str, out: &mut Outbox) {
    match Request::parse(text) {
        Ok(request) => session.on_request(state, request, out),
        Err(bad) => {
            let reply = session.reply(bad.op.as_deref(), bad.req_id.as_deref(), false, &bad.reason);
            out.push(&reply);
        }
    }
}

/// `first` and whatever else is already queued, up to [`MAX_BATCH`]; `None` if the session
/// has lagged behind the broadcast.
fn drain(
    first: Arc<EngineEvent>,
    events: &mut broadcast::Receiver<Arc<EngineEvent>>,
) -> Option<Vec<Arc<EngineEvent>>> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match events.try_recv() {
            Ok(event) => batch.push(event),
            Err(TryRecvError::Lagged(_)) => return None,
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    Some(batch)
}

async fn send_all(socket: &mut WebSocket, out: Outbox) -> Result<(), axum::Error> {
    if out.0.is_empty() {
        return Ok(());
    }
    for text in out.0 {
        socket.feed(Message::text(text)).await?;
    }
    socket.flush().await
}

/// Whether a request argument list holds only strings; topics are always text.
fn topic_args(args: &[Value]) -> Option<Vec<&str>> {
    args.iter().map(Value::as_str).collect()
}
