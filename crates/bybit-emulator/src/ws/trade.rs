//! The order-entry stream, `/v5/trade` (docs v5/websocket/trade/guideline, REFERENCE.md §11):
//! auth as on the private stream, `ping`, and `order.create` / `order.amend` / `order.cancel`
//! and their `-batch` forms, each answered with the REST endpoint's `result` as `data`.
//!
//! An order operation is the REST request in another envelope: its one argument is the REST
//! body, its `header` carries the REST timestamp and recv window, and it runs through
//! [`rest::answer`], so parameter checks, the `(UID, endpoint)` rate-limit window (shared with
//! REST, as the page says of batch orders) and the engine call are REST's own. The order's
//! updates reach the private stream's `order` / `execution` pushes from the engine, whichever
//! way the order came. This module owns only what the page adds: the camel-case reply with
//! `reqId`, `header` and `connId`, the 20006 refusal of a reused `reqId`, 10404 for an unknown
//! op or category, 10403 while the IP is banned, and 10019 on a connection whose service has
//! "restarted".

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use bybit_types::envelope::RetExtInfo;
use bybit_types::ws::op::{TradeHeader, TradeReply};
use serde_json::{json, Value};
use sim_engine::Reject;
use tokio::time::Instant;

use super::private::{check_auth, AuthRefusal};
use super::session::{BadRequest, Outbox, Request, Session};
use crate::app::Batch;
use crate::faults::TradeAction;
use crate::limits::Verdict;
use crate::params::Params;
use crate::requests::TRADE_CREATE;
use crate::rest::{self, Reply};
use crate::AppState;

/// Auth with malformed arguments or a past expiry (the page's "`10001`: param error").
const PARAM_ERROR: i64 = 10001;
/// Auth with a signature (or key) that does not check out (the page's "`10004`: invalid sign").
const INVALID_SIGN: i64 = 10004;
/// A second auth on one connection (the page's "`20001`: repeat auth").
const REPEAT_AUTH: i64 = 20001;
/// An order request before auth. The page names no code; this is the UTA list's "user
/// authentication failed".
const NOT_AUTHED: i64 = 10007;
/// An op the stream does not have, or a category it does not take (docs v5/error, WS OE).
const NOT_FOUND: i64 = 10404;
/// The IP is over its limit (docs: 3000 requests per second per IP), here while the
/// `/emulator/ip-ban` fault lasts.
const IP_LIMIT: i64 = 10403;
/// The service behind this connection is restarting: open a new connection.
const RESTARTING: i64 = 10019;
/// A `reqId` this connection has already used.
const DUPLICATE_REQ_ID: i64 = 20006;

/// The page: "The length cannot exceed 36 characters".
const MAX_REQ_ID_LEN: usize = 36;

/// `reqId`s remembered per connection for the duplicate check; the oldest are forgotten past
/// this, so a connection that lives for days cannot grow without bound.
const MAX_REQ_IDS: usize = 100_000;

/// The REST endpoint an order op runs as.
fn endpoint_of(op: &str) -> Option<&'static rest::Endpoint> {
    rest::order_endpoint(match op {
        "order.create" => "/v5/order/create",
        "order.amend" => "/v5/order/amend",
        "order.cancel" => "/v5/order/cancel",
        "order.create-batch" => "/v5/order/create-batch",
        "order.amend-batch" => "/v5/order/amend-batch",
        "order.cancel-batch" => "/v5/order/cancel-batch",
        _ => return None,
    })
}

/// One `/v5/trade` connection.
#[derive(Debug)]
pub(super) struct TradeSession {
    conn_id: String,
    authed: bool,
    /// The order-entry restarts counted when the connection opened; a later one means this
    /// connection is served by a restarting service.
    restarts: u64,
    /// `reqId`s used on this connection, and the order they came in (to forget the oldest).
    req_ids: HashSet<String>,
    req_id_order: VecDeque<String>,
    /// Replies held back by the hold fault, with when each is due.
    held: Vec<(Instant, TradeReply)>,
    /// Set by the lost-reply fault: the connection fails once the request has run.
    drop_now: bool,
    /// Replies sent, for unique trace ids.
    traces: u64,
}

impl TradeSession {
    pub(super) fn new(conn_id: String, restarts: u64) -> Self {
        TradeSession {
            conn_id,
            authed: false,
            restarts,
            req_ids: HashSet::new(),
            req_id_order: VecDeque::new(),
            held: Vec::new(),
            drop_now: false,
            traces: 0,
        }
    }

    fn bare(&self, op: &str, req_id: Option<&str>, code: i64, msg: &str) -> TradeReply {
        TradeReply {
            req_id: req_id.map(str::to_owned),
            ret_code: code,
            ret_msg: msg.to_owned(),
            op: op.to_owned(),
            data: Value::Null,
            ret_ext_info: None,
            header: None,
            conn_id: Some(self.conn_id.clone()),
        }
    }

    fn auth(&mut self, state: &AppState, request: &Request) -> (i64, &'static str) {
        if self.authed {
            return (REPEAT_AUTH, "Repeat auth");
        }
        match check_auth(state, &request.args) {
            Ok(()) => {
                self.authed = true;
                (0, "OK")
            }
            Err(AuthRefusal::Params) => (PARAM_ERROR, "Params Error"),
            Err(AuthRefusal::Key) => (INVALID_SIGN, "Invalid apikey"),
            Err(AuthRefusal::Sign) => (INVALID_SIGN, "Signature verification failed"),
        }
    }

    /// Remembers `req_id`; false if this connection has used it before.
    fn first_use(&mut self, req_id: &str) -> bool {
        if !self.req_ids.insert(req_id.to_owned()) {
            return false;
        }
        self.req_id_order.push_back(req_id.to_owned());
        if self.req_id_order.len() > MAX_REQ_IDS {
            if let Some(oldest) = self.req_id_order.pop_front() {
                self.req_ids.remove(&oldest);
            }
        }
        true
    }

    fn trace_id(&mut self) -> String {
        self.traces += 1;
        // Unique per reply and per connection; Bybit's are opaque 32-digit hex.
        let seed = self
            .conn_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("{seed:016x}{:016x}", self.traces)
    }

    /// An order op's reply: `data` is the REST `result` (`{}` on a refusal), `retExtInfo` the
    /// REST one, and the `header` carries the REST reply's headers.
    fn order_reply(
        &mut self,
        request: &Request,
        now: i64,
        outcome: Result<Reply, Reject>,
        verdict: Option<Verdict>,
    ) -> TradeReply {
        let (code, msg, data, ext) = match outcome {
            Ok(reply) => (
                0,
                "OK".to_owned(),
                reply.result,
                serde_json::from_value::<RetExtInfo>(reply.ext).unwrap_or_default(),
            ),
            Err(reject) => (
                reject.ret_code,
                reject.ret_msg,
                json!({}),
                RetExtInfo::default(),
            ),
        };
        let header = TradeHeader {
            limit: verdict.map(|v| i64::from(v.limit)),
            limit_status: verdict.map(|v| i64::from(v.remaining)),
            limit_reset_timestamp: verdict.map(|v| v.reset_ms),
            trace_id: Some(self.trace_id()),
            time_now: Some(now),
        };
        TradeReply {
            req_id: request.req_id.clone(),
            ret_code: code,
            ret_msg: msg,
            op: request.op.clone(),
            data,
            ret_ext_info: Some(ext),
            header: Some(header),
            conn_id: Some(self.conn_id.clone()),
        }
    }

    /// Runs an order op and answers it (or, under a fault, holds or loses the answer).
    fn order(
        &mut self,
        state: &AppState,
        mut request: Request,
        endpoint: &rest::Endpoint,
        out: &mut Outbox,
    ) {
        let now = state.clock.now_ms();
        // Counted on arrival, before any check or fault, as REST requests are.
        let count_key = format!("/v5/trade#{}", request.op);
        let link = state.requests.record_json(&count_key, request.args.first());
        let reply = match self.admit(state, &mut request, now) {
            Err(reject) => self.order_reply(&request, now, Err(reject), None),
            Ok((params, fault)) => {
                let answer =
                    rest::answer(state, endpoint, Some(state.creds.api_key()), &params, now);
                if count_key == TRADE_CREATE
                    && matches!(&answer.outcome, Err(r) if r.ret_code == sim_engine::codes::DUPLICATE_ORDER_LINK_ID)
                {
                    state.requests.duplicate(link.as_deref());
                }
                let reply = self.order_reply(&request, now, answer.outcome, answer.verdict);
                match fault {
                    Some(TradeAction::Lose) => {
                        self.drop_now = true;
                        return;
                    }
                    Some(TradeAction::Hold(ms)) => {
                        let due = Instant::now() + Duration::from_millis(ms);
                        self.held.push((due, reply));
                        return;
                    }
                    Some(TradeAction::Fail(_)) | None => reply,
                }
            }
        };
        out.push(&reply);
    }

    /// The checks the page adds before an order op reaches REST's code, in order; gives the
    /// REST parameters and the fault the request must suffer once executed.
    fn admit(
        &mut self,
        state: &AppState,
        request: &mut Request,
        now: i64,
    ) -> Result<(Params, Option<TradeAction>), Reject> {
        if !self.authed {
            return Err(Reject::new(NOT_AUTHED, "Request not authorized"));
        }
        if let Some(req_id) = request.req_id.as_deref() {
            if req_id.chars().count() > MAX_REQ_ID_LEN {
                return Err(Reject::params(
                    "params error: reqId cannot exceed 36 characters",
                ));
            }
            if !self.first_use(req_id) {
                return Err(Reject::new(DUPLICATE_REQ_ID, "reqId is duplicated"));
            }
        }
        if state.faults.trade_restarts() > self.restarts {
            return Err(Reject::new(
                RESTARTING,
                "ws trade service is restarting, open a new connection",
            ));
        }
        if state.faults.ip_banned(now) {
            return Err(Reject::new(
                IP_LIMIT,
                "exceed IP rate limit: 3000 requests per second per IP",
            ));
        }
        let header = request.header.as_ref();
        let text = |name: &str| {
            header.and_then(|h| h.get(name)).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        let timestamp = text("X-BAPI-TIMESTAMP").unwrap_or_default();
        let recv_window = text("X-BAPI-RECV-WINDOW");
        crate::auth::check_time(state, &timestamp, recv_window.as_deref(), now)?;
        // The page: "Args array, support one item only for now".
        let args = std::mem::take(&mut request.args);
        let Ok([Value::Object(arg)]) = <[Value; 1]>::try_from(args) else {
            return Err(Reject::params(
                "params error: args must hold exactly one request object",
            ));
        };
        let params = Params::from_map(arg);
        // REST's own category check decides; this stream words a refusal as 10404.
        params
            .linear()
            .map_err(|reject| Reject::new(NOT_FOUND, reject.ret_msg))?;
        // Taken last, so that a request refused above does not use up a fault meant for one
        // that reaches the engine.
        let fault = state.faults.take_trade();
        if let Some(TradeAction::Fail(code)) = fault {
            return Err(Reject::new(code, fail_message(code)));
        }
        Ok((params, fault))
    }
}

/// The words of a refusal injected by `/emulator/ws/trade-fail`, from the page where it has
/// them.
fn fail_message(code: i64) -> &'static str {
    match code {
        10429 => "System level frequency protection",
        10016 => "Internal server error",
        10019 => "ws trade service is restarting, open a new connection",
        20003 => "Too frequent requests under the same session",
        10403 => "exceed IP rate limit: 3000 requests per second per IP",
        _ => "injected failure",
    }
}

impl Session for TradeSession {
    type Reply = TradeReply;

    fn reply(
        &self,
        op: Option<&str>,
        req_id: Option<&str>,
        success: bool,
        ret_msg: &str,
    ) -> TradeReply {
        let code = if success { 0 } else { PARAM_ERROR };
        self.bare(op.unwrap_or_default(), req_id, code, ret_msg)
    }

    /// The page's requests: `reqId` (camel case, unlike the other streams' `req_id`), `op`,
    /// `args` and `header`.
    fn parse(&self, text: &str) -> Result<Request, BadRequest> {
        Request::parse_as(text, "reqId", "", true)
    }

    fn dropping(&self) -> bool {
        self.drop_now
    }

    fn on_request(&mut self, state: &AppState, request: Request, out: &mut Outbox) {
        match request.op.as_str() {
            // The page's pong: `op` "pong" and the server time as `data`; allowed before auth.
            "ping" => {
                let mut pong = self.bare("pong", request.req_id.as_deref(), 0, "OK");
                pong.data = json!([state.clock.now_ms().to_string()]);
                out.push(&pong);
            }
            "auth" => {
                let (code, msg) = self.auth(state, &request);
                out.push(&self.bare("auth", request.req_id.as_deref(), code, msg));
            }
            op => match endpoint_of(op) {
                Some(endpoint) => self.order(state, request, endpoint, out),
                None => {
                    let reply = self.order_reply(
                        &request,
                        state.clock.now_ms(),
                        Err(Reject::new(
                            NOT_FOUND,
                            format!("op type is not found: {op}"),
                        )),
                        None,
                    );
                    out.push(&reply);
                }
            },
        }
    }

    fn on_events(&mut self, _state: &AppState, _steps: &[Batch], _out: &mut Outbox) {}

    fn due(&self) -> Option<Instant> {
        self.held.iter().map(|(at, _)| *at).min()
    }

    fn on_due(&mut self, _state: &AppState, now: Instant, out: &mut Outbox) {
        // Due replies go out in the order they fall due.
        self.held.sort_by_key(|(at, _)| *at);
        let due = self.held.iter().take_while(|(at, _)| *at <= now).count();
        for (_, reply) in self.held.drain(..due) {
            out.push(&reply);
        }
    }
}
