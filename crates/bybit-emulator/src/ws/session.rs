//! What a stream session is to the socket loop (`mod.rs`): the [`Session`] a stream
//! implements (`public.rs`, `private.rs`, `trade.rs`), the requests it reads and the
//! [`Outbox`] it fills.

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::app::{AppState, Batch};

/// What one stream does; the socket loop in [`run`] drives it.
pub(super) trait Session: Send + 'static {
    /// The shape of this stream's operation replies.
    type Reply: Serialize;

    /// A reply to an operation in this stream's shape (the public stream always echoes
    /// `req_id`, `""` when none was given; the private stream only when one was).
    fn reply(
        &self,
        op: Option<&str>,
        req_id: Option<&str>,
        success: bool,
        ret_msg: &str,
    ) -> Self::Reply;

    /// Reads one text frame as a request.
    fn parse(&self, text: &str) -> Result<Request, BadRequest> {
        Request::parse(text)
    }

    /// Answers a frame that is not a request.
    fn refuse(&self, bad: BadRequest, out: &mut Outbox) {
        out.push(&self.reply(bad.op.as_deref(), bad.req_id.as_deref(), false, &bad.reason));
    }

    /// Whether the connection must fail now, without a close frame and without sending what
    /// the last frame produced (the order-entry stream's lost-reply fault).
    fn dropping(&self) -> bool {
        false
    }

    /// Handles one well-formed request.
    fn on_request(&mut self, state: &AppState, request: Request, out: &mut Outbox);

    /// Handles the events of engine steps that arrived together, oldest first.
    fn on_events(&mut self, state: &AppState, steps: &[Batch], out: &mut Outbox);

    /// When the session next has something to send of its own accord (a throttled book
    /// update, a periodic re-send), if ever.
    fn due(&self) -> Option<Instant> {
        None
    }

    /// Sends what is due at `now`.
    fn on_due(&mut self, _state: &AppState, _now: Instant, _out: &mut Outbox) {}
}

/// Bybit's refusal of topics a connection already has.
pub(super) fn already_subscribed(names: &[String]) -> String {
    format!("error:already subscribed,topic:{}", names.join(","))
}

/// A client request: `{req_id?, op, args?}`.
#[derive(Debug)]

pub(super) struct Request {
    pub(super) op: String,
    pub(super) req_id: Option<String>,
    pub(super) args: Vec<Value>,
    /// The order-entry stream's `header` object (timestamp, recv window); `None` elsewhere.
    pub(super) header: Option<serde_json::Map<String, Value>>,
}

/// Why a frame is not a request, and what of it could still be read for the reply.
#[derive(Debug)]
pub(super) struct BadRequest {
    pub(super) op: Option<String>,
    pub(super) req_id: Option<String>,
    pub(super) reason: String,
}

impl Request {
    /// A public or private stream's request: `req_id` (snake case), `op`, `args`.
    pub(super) fn parse(text: &str) -> Result<Request, BadRequest> {
        Request::parse_as(text, "req_id", "error:", false)
    }

    /// The fields every stream's requests share: the request id under `id_key` (text, or a
    /// number echoed back rather than refused), `op`, `args`, and with `with_header` the
    /// order-entry stream's `header` object. Each refusal's reason starts with `prefix`, as
    /// the stream words its errors.
    pub(super) fn parse_as(
        text: &str,
        id_key: &str,
        prefix: &str,
        with_header: bool,
    ) -> Result<Request, BadRequest> {
        let bad = |op: Option<String>, req_id: Option<String>, reason: &str| BadRequest {
            op,
            req_id,
            reason: format!("{prefix}{reason}"),
        };
        // The frame's tree is taken apart, not copied: `args` holds a whole order.
        let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else {
            return Err(bad(None, None, "request must be a JSON object"));
        };
        let req_id = match map.get(id_key) {
            Some(Value::String(id)) => Some(id.clone()),
            Some(Value::Number(id)) => Some(id.to_string()),
            _ => None,
        };
        let Some(Value::String(op)) = map.remove("op") else {
            return Err(bad(None, req_id, "op is missing"));
        };
        let args = match map.remove("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(args)) => args,
            Some(_) => return Err(bad(Some(op), req_id, "args must be an array")),
        };
        let header = match map.remove("header") {
            _ if !with_header => None,
            None | Some(Value::Null) => None,
            Some(Value::Object(header)) => Some(header),
            Some(_) => return Err(bad(Some(op), req_id, "header must be an object")),
        };
        Ok(Request {
            op,
            req_id,
            args,
            header,
        })
    }
}

/// The frames a session wants sent, already serialised.
#[derive(Debug, Default)]
pub(super) struct Outbox(pub(super) Vec<String>);

impl Outbox {
    pub(super) fn push<T: Serialize>(&mut self, message: &T) {
        // These wire types hold only strings, numbers, booleans and string-keyed maps, which
        // serde_json always serialises; a failure would be a bug in a wire type, and sending
        // nothing is the only answer that cannot confuse the client further.
        if let Ok(text) = serde_json::to_string(message) {
            self.0.push(text);
        }
    }

    /// A message serialised once for every subscriber (a shared book feed's).
    pub(super) fn push_text(&mut self, text: &str) {
        self.0.push(text.to_owned());
    }
}

/// Whether a request argument list holds only strings; topics are always text.
pub(super) fn topic_args(args: &[Value]) -> Option<Vec<&str>> {
    args.iter().map(Value::as_str).collect()
}
