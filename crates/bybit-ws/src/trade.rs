//! [`TradeStream`]: order entry over Bybit's `/v5/trade` stream (docs/v5/websocket/trade/
//! guideline.mdx, REFERENCE.md §11).
//!
//! One task owns the socket, as for the other streams: it connects, authenticates, pings,
//! reconnects with backoff and re-authenticates. A request is written with a fresh `reqId`
//! and answered by the reply that echoes it; each has its own deadline.
//!
//! What the caller must decide is carried by the result, not by guessing from text:
//! - `Ok(TradeReply)`: Bybit answered. `retCode` 0 is an acknowledgement only (the order's
//!   fate comes on the private `order` stream); any other code is Bybit's refusal, with the
//!   same meaning as on REST, and the caller maps it as it maps REST's.
//! - [`TradeError::NotSent`]: nothing left this process (the stream was not connected and
//!   authenticated): the caller may send the same request another way at once.
//! - [`TradeError::OutcomeUnknown`]: the request was written (or may have been) and no answer
//!   came: the socket died, or the deadline passed. The order may exist; the caller must look
//!   it up by orderLinkId before anything is sent again. Never reported as a failure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bybit_types::ws::op::TradeReply;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::{Error as WsTransportError, Message};
use tokio_tungstenite::Connector;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::health::{unix_ms, Health};
use crate::link::{self, Events, Socket};
use crate::telemetry;
use crate::{AuthFailure, EventReceiver, HealthSnapshot, PrivateAuth, WsConfig, WsError, WsEvent};

/// The `stream` label of the trade stream's metrics.
const KIND: &str = "trade";

/// "The trade service is restarting: open a new connection" (docs/v5/error.mdx, WS OE): the
/// request was not taken, and this connection takes no more.
const SERVICE_RESTARTING: i64 = 10019;

/// An order operation of the trade stream. Single operations take one argument, the REST
/// request body; batch operations take one `{category, request: [...]}` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TradeOp {
    /// `order.create` (as `POST /v5/order/create`).
    Create,
    /// `order.amend` (as `POST /v5/order/amend`).
    Amend,
    /// `order.cancel` (as `POST /v5/order/cancel`).
    Cancel,
    /// `order.create-batch` (as `POST /v5/order/create-batch`).
    CreateBatch,
    /// `order.amend-batch` (as `POST /v5/order/amend-batch`).
    AmendBatch,
    /// `order.cancel-batch` (as `POST /v5/order/cancel-batch`).
    CancelBatch,
}

impl TradeOp {
    /// The operation's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            TradeOp::Create => "order.create",
            TradeOp::Amend => "order.amend",
            TradeOp::Cancel => "order.cancel",
            TradeOp::CreateBatch => "order.create-batch",
            TradeOp::AmendBatch => "order.amend-batch",
            TradeOp::CancelBatch => "order.cancel-batch",
        }
    }

    /// Every operation, for metrics.
    pub const ALL: [TradeOp; 6] = [
        TradeOp::Create,
        TradeOp::Amend,
        TradeOp::Cancel,
        TradeOp::CreateBatch,
        TradeOp::AmendBatch,
        TradeOp::CancelBatch,
    ];
}

/// Why a trade-stream request has no answer; see the module doc for what each one asks of
/// the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TradeError {
    /// Nothing was sent.
    #[error("not sent over the trade stream: {reason}")]
    NotSent {
        /// Why (not connected, not authenticated, closed).
        reason: String,
    },
    /// The request was written, or may have been, and no answer came.
    #[error("{op}: outcome unknown over the trade stream: {reason}")]
    OutcomeUnknown {
        /// The operation's wire name.
        op: &'static str,
        /// Why no answer came.
        reason: String,
    },
    /// The request cannot be sent as asked (nothing was sent).
    #[error("invalid trade-stream request: {0}")]
    InvalidArgument(String),
}

impl TradeError {
    /// Whether the exchange may have acted on the request.
    pub fn may_have_landed(&self) -> bool {
        matches!(self, TradeError::OutcomeUnknown { .. })
    }
}

/// A caller's request, handed to the task.
struct Request {
    op: TradeOp,
    /// The one argument, already JSON (an object).
    arg: String,
    deadline: Instant,
    reply: oneshot::Sender<Result<TradeReply, TradeError>>,
}

/// A handle to the trade stream's socket task. Requests go to the task over a channel and
/// their answers come back on their own channel; connection events come on the
/// [`EventReceiver`]. Dropping the handle stops the task.
#[derive(Debug)]
pub struct TradeStream {
    requests: mpsc::Sender<Request>,
    ready: Arc<AtomicBool>,
    health: Arc<Health>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl TradeStream {
    /// Opens the trade stream (`wss://stream.bybit.com/v5/trade`, or an emulator's) and
    /// authenticates on every connection. Must be called inside a tokio runtime; the task
    /// connects in the background and retries until closed.
    pub fn connect(
        config: WsConfig,
        auth: PrivateAuth,
    ) -> Result<(TradeStream, EventReceiver), WsError> {
        let connector = if config.url.starts_with("wss://") {
            Some(crate::stream::tls_connector()?)
        } else {
            None
        };
        let (requests, request_rx) = mpsc::channel(256);
        let (events, event_rx) = mpsc::channel(config.event_capacity.max(1));
        let ready = Arc::new(AtomicBool::new(false));
        let health = Arc::new(Health::new());
        let cancel = CancellationToken::new();
        let task = TradeTask {
            backoff: Backoff::new(config.backoff.clone()),
            config,
            auth,
            connector,
            requests: request_rx,
            events: Events::new(events, KIND),
            ready: ready.clone(),
            health: health.clone(),
            cancel: cancel.clone(),
            prefix: format!("{:08x}", fastrand::u32(..)),
            next_req: 0,
            connections: 0,
        };
        let task = tokio::spawn(task.run());
        Ok((
            TradeStream {
                requests,
                ready,
                health,
                cancel,
                task: Some(task),
            },
            event_rx,
        ))
    }

    /// Whether the stream is connected and authenticated now: a request sent now is written
    /// at once. A request may still find it gone by the time the task takes it (then it is
    /// [`TradeError::NotSent`]).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Connection state and counters.
    pub fn health(&self) -> HealthSnapshot {
        self.health.snapshot()
    }

    /// Sends `op` with its one argument (the REST body of the same operation: its typed
    /// request, or JSON) and waits for Bybit's answer for at most `deadline`. The argument is
    /// written to JSON here, once, on the caller's side.
    pub async fn send(
        &self,
        op: TradeOp,
        arg: impl Serialize,
        deadline: Duration,
    ) -> Result<TradeReply, TradeError> {
        let arg = match serde_json::to_string(&arg) {
            Ok(arg) if arg.starts_with('{') => arg,
            Ok(_) => {
                return Err(TradeError::InvalidArgument(format!(
                    "{}: the argument must be a JSON object",
                    op.name()
                )))
            }
            Err(e) => {
                return Err(TradeError::InvalidArgument(format!(
                    "{}: the argument cannot be written as JSON: {e}",
                    op.name()
                )))
            }
        };
        if !self.is_ready() {
            count_request(op, "not_sent");
            return Err(not_ready());
        }
        let (reply, answer) = oneshot::channel();
        let request = Request {
            op,
            arg,
            deadline: Instant::now() + deadline,
            reply,
        };
        if self.requests.send(request).await.is_err() {
            return Err(TradeError::NotSent {
                reason: "the stream is closed".to_owned(),
            });
        }
        // The task answers every request it takes, by its deadline at the latest; a task that
        // ended meanwhile drops the sender, and a request it took may have been written.
        answer.await.unwrap_or_else(|_| {
            Err(TradeError::OutcomeUnknown {
                op: op.name(),
                reason: "the stream task ended".to_owned(),
            })
        })
    }

    /// Closes the socket and waits for the task to finish; requests in flight are answered
    /// [`TradeError::OutcomeUnknown`].
    pub async fn close(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TradeStream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn not_ready() -> TradeError {
    TradeError::NotSent {
        reason: "the trade stream is not connected and authenticated".to_owned(),
    }
}

/// How a session ended.
enum End {
    Cancelled,
    Lost(String),
    Fatal(WsError),
}

/// A request written and not yet answered.
struct InFlight {
    op: TradeOp,
    deadline: Instant,
    reply: oneshot::Sender<Result<TradeReply, TradeError>>,
}

/// Per-connection state.
struct Conn {
    authed: bool,
    auth_deadline: Option<Instant>,
    ping_sent: Option<Instant>,
    last_frame: Instant,
    /// By request number.
    in_flight: HashMap<u64, InFlight>,
    /// Set when Bybit asks for a new connection: the session ends once the frame is handled.
    restart: Option<String>,
}

impl Conn {
    /// Answers every request in flight with an unknown outcome.
    fn abandon(&mut self, reason: &str) {
        for (_, request) in self.in_flight.drain() {
            count_request(request.op, "unknown");
            let _ = request.reply.send(Err(TradeError::OutcomeUnknown {
                op: request.op.name(),
                reason: reason.to_owned(),
            }));
        }
    }
}

struct TradeTask {
    config: WsConfig,
    auth: PrivateAuth,
    connector: Option<Connector>,
    requests: mpsc::Receiver<Request>,
    events: Events,
    ready: Arc<AtomicBool>,
    health: Arc<Health>,
    cancel: CancellationToken,
    backoff: Backoff,
    /// Random per stream, so reqIds stay unique across reconnects and processes.
    prefix: String,
    next_req: u64,
    connections: u64,
}

impl TradeTask {
    async fn run(mut self) {
        let error = loop {
            if self.cancel.is_cancelled() {
                break None;
            }
            match self.connect().await {
                Ok(socket) => {
                    let opened = Instant::now();
                    let (sink, stream) = socket.split();
                    let end = self.session(sink, stream).await;
                    self.set_ready(false);
                    self.health.set_connected(false);
                    self.backoff.connection_lasted(opened.elapsed());
                    match end {
                        End::Cancelled => break None,
                        End::Fatal(error) => break Some(error),
                        End::Lost(reason) => {
                            tracing::warn!(stream = KIND, url = %self.config.url, %reason, "WebSocket lost; reconnecting");
                            self.health.set_error(format!("disconnected: {reason}"));
                            self.emit(WsEvent::Disconnected { reason });
                        }
                    }
                }
                Err(error) => {
                    Health::count(&self.health.connect_failures);
                    tracing::warn!(stream = KIND, url = %self.config.url, %error, "WebSocket connect failed");
                    self.health.set_error(format!("connect failed: {error}"));
                    self.emit(WsEvent::ConnectFailed { error });
                }
            }
            let delay = self.backoff.next_delay();
            let attempt = self.backoff.attempt();
            self.emit(WsEvent::Reconnecting { attempt, delay });
            if !self.wait_offline(delay).await {
                break None;
            }
        };
        self.set_ready(false);
        self.health.set_connected(false);
        self.requests.close();
        while let Ok(request) = self.requests.try_recv() {
            refuse(request);
        }
        self.emit(WsEvent::Closed { error });
    }

    fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
        self.health.set_authenticated(ready);
    }

    /// Sends an event without ever waiting (the slow-consumer policy of [`WsEvent`]).
    fn emit(&mut self, event: WsEvent) {
        self.events.emit(event, &self.health);
    }

    /// Waits out a backoff delay, refusing requests meanwhile (nothing can be sent); false if
    /// the stream was closed.
    async fn wait_offline(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return false,
                () = sleep_until(until) => return true,
                request = self.requests.recv() => match request {
                    None => return false,
                    Some(request) => refuse(request),
                },
            }
        }
    }

    async fn connect(&mut self) -> Result<Socket, String> {
        link::connect(
            &self.config,
            self.connector.clone(),
            &self.cancel,
            link::ReadChunk::Small,
        )
        .await
    }

    /// The next request's number; its `reqId` is `{prefix}-{number}` (see [`Self::frame`]).
    fn next_req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    /// The `reqId` of request `number` (the auth request's; order requests write theirs in
    /// [`Self::frame`]).
    fn req_id(&self, number: u64) -> String {
        format!("{}-{number}", self.prefix)
    }

    /// The request frame: `reqId`, the `header` with the timestamp and recv window that REST
    /// sends as headers (REFERENCE.md §2, §11), the operation and its one argument (JSON).
    fn frame(&self, number: u64, op: TradeOp, arg: &str) -> String {
        let offset = self.auth.clock_offset.as_ref().map_or(0, |f| f());
        let timestamp = unix_ms().saturating_add(offset);
        let recv_window = self.config.recv_window.as_millis();
        // Written piece by piece rather than through a JSON tree or `format!`: this is on
        // every order's path, and the request id, the operation's name and the numbers need
        // no escaping.
        let mut numbers = itoa::Buffer::new();
        let mut frame = String::with_capacity(arg.len() + 160);
        frame.push_str(r#"{"reqId":""#);
        frame.push_str(&self.prefix);
        frame.push('-');
        frame.push_str(numbers.format(number));
        frame.push_str(r#"","header":{"X-BAPI-TIMESTAMP":""#);
        frame.push_str(numbers.format(timestamp));
        frame.push_str(r#"","X-BAPI-RECV-WINDOW":""#);
        frame.push_str(numbers.format(recv_window));
        frame.push_str(r#""},"op":""#);
        frame.push_str(op.name());
        frame.push_str(r#"","args":["#);
        frame.push_str(arg);
        frame.push_str("]}");
        frame
    }

    /// Runs one connection until it ends; every request in flight when it ends is answered
    /// with an unknown outcome.
    async fn session<Si, St>(&mut self, mut sink: Si, mut stream: St) -> End
    where
        Si: Sink<Message, Error = WsTransportError> + Unpin,
        St: Stream<Item = Result<Message, WsTransportError>> + Unpin,
    {
        if self.connections > 0 {
            Health::count(&self.health.reconnects);
            telemetry::count(telemetry::RECONNECTS_TOTAL, KIND);
        }
        self.connections += 1;
        tracing::info!(stream = KIND, url = %self.config.url, reconnects = self.connections - 1, "WebSocket connected");
        self.health.set_connected(true);
        self.emit(WsEvent::Connected {
            reconnects: self.connections - 1,
        });
        let mut conn = Conn {
            authed: false,
            auth_deadline: None,
            ping_sent: None,
            last_frame: Instant::now(),
            in_flight: HashMap::new(),
            restart: None,
        };
        let end = self.serve(&mut conn, &mut sink, &mut stream).await;
        let reason = match &end {
            End::Cancelled => "the stream was closed".to_owned(),
            End::Lost(reason) => format!("the socket was lost ({reason})"),
            End::Fatal(error) => error.to_string(),
        };
        conn.abandon(&reason);
        end
    }

    async fn serve<Si, St>(&mut self, conn: &mut Conn, sink: &mut Si, stream: &mut St) -> End
    where
        Si: Sink<Message, Error = WsTransportError> + Unpin,
        St: Stream<Item = Result<Message, WsTransportError>> + Unpin,
    {
        let expires = self.auth.expires_ms(unix_ms());
        let auth = match self.auth.credentials.ws_auth(expires) {
            Ok(signed) => {
                let number = self.next_req();
                signed.to_request(&self.req_id(number))
            }
            Err(error) => return End::Fatal(WsError::Setup(error.to_string())),
        };
        if let Err(reason) = self.write(sink, auth).await {
            return End::Lost(reason);
        }
        conn.auth_deadline = Some(Instant::now() + self.config.reply_timeout);
        let mut next_ping = Instant::now() + self.config.ping_interval;
        // The timers and the cancellation wait live across iterations and are moved only when
        // their instant changes: registering them anew on every frame and every request cost
        // more than the rest of a request's handling here.
        let cancelled = self.cancel.clone().cancelled_owned();
        tokio::pin!(cancelled);
        let dead = sleep_until(next_ping);
        tokio::pin!(dead);
        let expiry = sleep_until(next_ping);
        tokio::pin!(expiry);
        let ping = sleep_until(next_ping);
        tokio::pin!(ping);
        loop {
            if let Some(reason) = conn.restart.take() {
                return End::Lost(reason);
            }
            let idle_at = conn.last_frame + self.config.idle_timeout;
            let (dead_at, why) = [
                Some((idle_at, "no message within the idle timeout")),
                conn.ping_sent.map(|t| {
                    (
                        t + self.config.pong_timeout,
                        "no pong within the pong timeout",
                    )
                }),
                conn.auth_deadline.map(|t| (t, "no auth reply")),
            ]
            .into_iter()
            .flatten()
            .min_by_key(|(t, _)| *t)
            .unwrap_or((idle_at, "idle"));
            let first_deadline = conn.in_flight.values().map(|r| r.deadline).min();
            if dead.deadline() != dead_at {
                dead.as_mut().reset(dead_at);
            }
            if let Some(first) = first_deadline.filter(|&d| d != expiry.deadline()) {
                expiry.as_mut().reset(first);
            }
            if ping.deadline() != next_ping {
                ping.as_mut().reset(next_ping);
            }
            tokio::select! {
                biased;
                () = &mut cancelled => {
                    let _ = timeout(Duration::from_secs(1), sink.send(Message::Close(None))).await;
                    return End::Cancelled;
                }
                () = &mut dead => return End::Lost(why.to_owned()),
                () = &mut expiry, if first_deadline.is_some() => {
                    expire(conn, Instant::now());
                }
                frame = stream.next() => {
                    let frame = match frame {
                        None => return End::Lost("the server closed the socket".to_owned()),
                        Some(Err(error)) => return End::Lost(error.to_string()),
                        Some(Ok(frame)) => frame,
                    };
                    conn.last_frame = Instant::now();
                    self.health.message_received();
                    match frame {
                        Message::Text(text) => {
                            if let Err(end) = self.on_text(conn, text.as_str()) {
                                return end;
                            }
                        }
                        Message::Close(frame) => {
                            return End::Lost(frame.map_or_else(
                                || "closed without a reason".to_owned(),
                                |f| format!("closed: {} {}", f.code, f.reason),
                            ));
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                        Message::Binary(bytes) => self.bad_frame(&format!("{} binary bytes", bytes.len())),
                    }
                }
                request = self.requests.recv() => match request {
                    None => return End::Cancelled,
                    Some(request) => {
                        if !conn.authed {
                            refuse(request);
                            continue;
                        }
                        let number = self.next_req();
                        let frame = self.frame(number, request.op, &request.arg);
                        // In flight before the write: a write that fails may have left part
                        // of the frame, so its request ends with the session as unknown.
                        conn.in_flight.insert(number, InFlight {
                            op: request.op,
                            deadline: request.deadline,
                            reply: request.reply,
                        });
                        if let Err(reason) = self.write(sink, frame).await {
                            return End::Lost(reason);
                        }
                    }
                },
                () = &mut ping => {
                    if let Err(reason) = self.write(sink, r#"{"op":"ping"}"#.to_owned()).await {
                        return End::Lost(reason);
                    }
                    if conn.ping_sent.is_none() {
                        conn.ping_sent = Some(Instant::now());
                    }
                    next_ping = Instant::now() + self.config.ping_interval;
                }
            }
        }
    }

    async fn write<Si>(&self, sink: &mut Si, frame: String) -> Result<(), String>
    where
        Si: Sink<Message, Error = WsTransportError> + Unpin,
    {
        match timeout(
            self.config.reply_timeout,
            sink.send(Message::Text(frame.into())),
        )
        .await
        {
            Err(_) => Err("a write did not finish within the reply timeout".to_owned()),
            Ok(Err(error)) => Err(error.to_string()),
            Ok(Ok(())) => Ok(()),
        }
    }

    fn bad_frame(&self, what: &str) {
        Health::count(&self.health.bad_frames);
        telemetry::count(telemetry::BAD_FRAMES_TOTAL, KIND);
        tracing::warn!(
            stream = KIND,
            frame = what,
            "unreadable WebSocket frame skipped"
        );
    }

    fn on_text(&mut self, conn: &mut Conn, text: &str) -> Result<(), End> {
        // The trade stream answers in its own (camel-case) shape only, so a frame is read
        // straight into it: no detour through the either-shape `OpReply`.
        let reply = match serde_json::from_str::<TradeReply>(text) {
            Ok(reply) => reply,
            Err(error) => {
                self.bad_frame(&format!("not a trade-stream reply: {error}"));
                return Ok(());
            }
        };
        match reply.op.as_str() {
            "pong" => conn.ping_sent = None,
            "auth" => return self.on_auth(conn, &reply),
            _ => self.on_answer(conn, reply),
        }
        Ok(())
    }

    fn on_auth(&mut self, conn: &mut Conn, reply: &TradeReply) -> Result<(), End> {
        conn.auth_deadline = None;
        if reply.ret_code == 0 {
            conn.authed = true;
            self.set_ready(true);
            tracing::info!(stream = KIND, url = %self.config.url, "WebSocket authenticated");
            self.emit(WsEvent::Authenticated);
            return Ok(());
        }
        let error = WsError::Auth {
            kind: auth_failure(reply.ret_code, &reply.ret_msg),
            message: format!("{} {}", reply.ret_code, reply.ret_msg),
        };
        tracing::warn!(stream = KIND, url = %self.config.url, %error, "WebSocket authentication refused");
        self.health.set_error(error.to_string());
        self.emit(WsEvent::AuthFailed(error.clone()));
        Err(if error.is_auth_fatal() {
            End::Fatal(error)
        } else {
            End::Lost(error.to_string())
        })
    }

    fn on_answer(&mut self, conn: &mut Conn, reply: TradeReply) {
        let Some(request) = reply
            .req_id
            .as_deref()
            .and_then(|id| req_number(&self.prefix, id))
            .and_then(|number| conn.in_flight.remove(&number))
        else {
            // A late answer (its deadline passed: the caller was told the outcome is unknown
            // and looks the order up), or one for a request this process never sent.
            tracing::warn!(stream = KIND, req_id = ?reply.req_id, op = %reply.op, ret_code = reply.ret_code, "trade-stream answer without a request in flight");
            return;
        };
        if reply.ret_code == SERVICE_RESTARTING {
            // Not taken, and this connection takes no more (docs/v5/error.mdx, WS OE).
            self.set_ready(false);
            conn.restart = Some(format!(
                "{} {}: Bybit asked for a new connection",
                reply.ret_code, reply.ret_msg
            ));
        }
        count_request(request.op, "answered");
        let _ = request.reply.send(Ok(reply));
    }
}

/// The request number a reply's `reqId` names, if it is one written with `prefix` (exactly:
/// `+7` or `07` is not `7`).
fn req_number(prefix: &str, req_id: &str) -> Option<u64> {
    let digits = req_id.strip_prefix(prefix)?.strip_prefix('-')?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !(digits.starts_with('0') && digits.len() > 1);
    digits.parse().ok().filter(|_| canonical)
}

/// Answers a request that was not written.
fn refuse(request: Request) {
    count_request(request.op, "not_sent");
    let _ = request.reply.send(Err(not_ready()));
}

/// Answers every request whose deadline has passed with an unknown outcome.
fn expire(conn: &mut Conn, now: Instant) {
    let late: Vec<u64> = conn
        .in_flight
        .iter()
        .filter(|(_, r)| r.deadline <= now)
        .map(|(&number, _)| number)
        .collect();
    for id in late {
        if let Some(request) = conn.in_flight.remove(&id) {
            count_request(request.op, "unknown");
            let _ = request.reply.send(Err(TradeError::OutcomeUnknown {
                op: request.op.name(),
                reason: "no answer within the request's deadline".to_owned(),
            }));
        }
    }
}

fn count_request(op: TradeOp, outcome: &'static str) {
    metrics::counter!(telemetry::TRADE_REQUESTS_TOTAL, "op" => op.name(), "outcome" => outcome)
        .increment(1);
}

/// The trade stream answers auth in its own codes (docs/v5/websocket/trade/guideline.mdx):
/// 10004 a bad signature, 10001 bad parameters (an expired or skewed `expires`); other refusals
/// are judged by their text, as on the private stream.
fn auth_failure(code: i64, message: &str) -> AuthFailure {
    match code {
        10004 => AuthFailure::BadSignature,
        10001 => AuthFailure::Expired,
        _ => AuthFailure::classify(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_matched_only_by_the_req_id_this_stream_wrote() {
        assert_eq!(req_number("0a1b2c3d", "0a1b2c3d-7"), Some(7));
        assert_eq!(
            req_number("0a1b2c3d", "0a1b2c3d-18446744073709551615"),
            Some(u64::MAX)
        );
        for other in [
            "0a1b2c3d-+7",
            "0a1b2c3d-07",
            "0a1b2c3d-",
            "0a1b2c3d-7 ",
            "0a1b2c3d7",
            "ffffffff-7",
            "0a1b2c3d-18446744073709551616",
            "",
        ] {
            assert_eq!(req_number("0a1b2c3d", other), None, "{other:?}");
        }
    }
}
