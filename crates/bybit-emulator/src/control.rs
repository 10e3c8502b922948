//! Fault injection and the control API under `/emulator/`; the middleware that applies the
//! faults to each request (the faults in force live in `faults.rs`).
//!
//! Faults apply to Bybit's REST paths (`/v5/...`, not the WebSocket upgrades), one request at
//! a time, in this order of precedence:
//!
//! | control | effect on the next `count` requests |
//! |---|---|
//! | `POST /emulator/ip-ban {"seconds"}` | every request for `seconds` (default 600): HTTP 403 `access too frequent`, Bybit's answer to an IP over its HTTP limit (docs v5/rate-limit: wait 10 minutes); **not executed** |
//! | `POST /emulator/hold {"count","ms"}` | held for `ms` (default 30 s), then HTTP 504; **not executed** (a client times out first) |
//! | `POST /emulator/fail {"count","status"}` | HTTP `status` (5xx) with a plain body; **not executed** |
//! | `POST /emulator/fail {"count","retCode"}` | HTTP 200 with that retCode (e.g. 10016 "System error"); **not executed** |
//! | `POST /emulator/lose-response {"count"}` | **executed**, then the connection drops before the body: the client cannot know the outcome |
//! | `POST /emulator/create-hold {"count","ms"}` | order creates only: held for `ms` (default 30 s), then HTTP 504; **not executed**: a create whose reply never comes, so the client times out and only a lookup can say it is not there |
//! | `POST /emulator/create-unknown {"count"}` | order creates only: the next one is **executed** and its reply lost, the `count` (default 3) after it answer HTTP 503 **not executed**: a create that landed while every retry failed |
//!
//! WebSocket faults:
//!
//! | control | effect |
//! |---|---|
//! | `POST /emulator/ws/drop` | every WebSocket is closed now, without a close frame |
//! | `POST /emulator/ws/refuse {"seconds"}` | open WebSockets are dropped and upgrades answer HTTP 503 for `seconds` (default 10) |
//! | `POST /emulator/ws/mute {"stream"}` | every WebSocket of `stream` (`public`, `private`, `trade` or `all`, the default), open or new, stays open but the server sends nothing (no data, no pong, not even a protocol pong) and reads nothing until `POST /emulator/ws/unmute {"stream"}` or `/emulator/reset`; events wait and are sent after (on `trade`, order requests wait unread and run when unmuted). With `"pongs": true` the stream stays connected but silent instead: requests (`ping`, `subscribe`) are still read and answered and protocol pings ponged, but no data (topic pushes, book snapshots) is sent until unmuted; `trade` pushes no data, so `pongs` leaves it untouched (and `{"stream": "trade", "pongs": true}` is refused) |
//! | `POST /emulator/ws/shuffle {"enabled"}` | the private pushes of one engine step go out in reverse: wallet, position, `execution.fast`, execution, then order (Bybit promises no order between the topics of one fill, v5/websocket/private/*); `{"enabled": false}` or `/emulator/reset` restores the natural order |
//! | `POST /emulator/ws/double-filled {"count"}` | each of the next `count` (default 1) `Filled` order pushes is followed by a second `Filled` push of the same order with `cancelType` `CancelByUser` and `rejectReason` `EC_OrigClOrdIDDoesNotExist`: the documented race of a cancel during a fill (v5/websocket/private/order, tip) |
//! | `POST /emulator/ws/trade-hold {"count","ms"}` | order stream (`/v5/trade`): each of the next `count` (default 1) order requests is **executed** at once (its pushes go out on the private stream) and its reply held `ms` (default 30000, at most a day); other requests are answered meanwhile, so replies can come out of order |
//! | `POST /emulator/ws/trade-lose {"count"}` | order stream: each of the next `count` (default 1) order requests is **executed**, then its connection fails (no close frame) without the reply: the client cannot know the outcome but from the private stream or a lookup |
//! | `POST /emulator/ws/trade-fail {"count","retCode"}` | order stream: each of the next `count` (default 1) order requests is answered with `retCode` (default 10429 "System level frequency protection"; also 10016, 20003, 10403, 10019 …; not 0), **not executed** |
//! | `POST /emulator/ws/trade-restart` | order stream: every connection open now answers 10019 ("ws trade service is restarting", docs v5/websocket/trade/guideline) to every order request from now on, **not executed**, until the client opens a new connection, which is served normally; `/emulator/reset` does not heal an old connection |
//!
//! The order stream also answers 10403 to order requests while `/emulator/ip-ban` lasts, and
//! shares REST's rate-limit windows and `/emulator/rate-limit` pressure (an order request
//! over the window gets 10006, as REST does). `ws/drop` and `ws/refuse` end its connections too.
//! An order request is checked in this order: auth, `reqId` (too long: 10001; reused on the
//! connection: 20006), 10019, 10403, the `header` timestamp (10002), one argument (10001), the
//! category (10404); then one fault is taken, if any is armed: `trade-fail`, else
//! `trade-lose`, else `trade-hold`. A request refused by a check uses up no fault.
//! `GET /emulator/state` shows the armed counts under `faults` as `tradeHold`, `tradeLose`,
//! `tradeFail`, the restarts as `tradeRestarts` and the mute as `wsTradeMuted`; order requests
//! are counted under `requests.byPath` as `/v5/trade#<op>`, and their creates in
//! `createsByOrderLinkId` beside REST's.
//!
//! | control | effect |
//! |---|---|
//! | `POST /emulator/book-gap {"symbol"}` | the next `orderbook` delta of `symbol` on every connection skips one `u`, so a client's continuity check must notice and resubscribe |
//!
//! Time (`sim-engine`'s `engine/time.rs`):
//!
//! | control | effect |
//! |---|---|
//! | `POST /emulator/time/pass {"days","ms"}` | the exchange's clock jumps forward by that much (up to a year at a time; it adds up, `timePassedMs` in the state) and every funding time in the gap is settled (a `Funding` execution at its own time): query windows, order-history retention, funding and every timestamp follow. A client's own clock is taken to have jumped with it or not: request timestamps and WebSocket `expires` are accepted against either (a test process's clock cannot jump). Prices do not walk meanwhile |
//! | `POST /emulator/exchange-restart` | Bybit restarts: `/v5/order/realtime` no longer shows orders closed before now (by id, link id or `openOnly=1`); order history keeps them (v5/order/open-order) |
//! | `POST /emulator/history-lag {"ms"}` | order history lists a closed order only `ms` after it closed (v5/order/order-list: "may delay"); 0 (the default) turns it off |
//!
//! Order history and the execution list answer by Bybit's windows: no bounds → the last 7
//! days, only `startTime` → 7 days from it, only `endTime` → 7 days up to it, a wider span →
//! 10001; order history drops Cancelled / Rejected / Deactivated orders without fills after
//! 24 hours.
//!
//! Other controls: `POST /emulator/clock
//! {"skewMs"}` (server clock skew), `POST /emulator/balance {"usdt"}`, `POST /emulator/price
//! {"symbol","price"}`, `POST /emulator/price-path {"symbol","intervalMs","prices"}`,
//! `POST /emulator/replay {"symbol","trades":[[ms,price,qty],…]}`, `POST /emulator/random-walk
//! {"symbol","intervalMs","maxStepTicks"}`, `POST /emulator/book {"symbol","levels",
//! "spacingTicks","levelNotional"}`, `POST /emulator/instrument {"symbol","tickSize","qtyStep",
//! "minOrderQty","maxOrderQty","minNotionalValue"}` (changes the instrument's rules mid-run, as
//! Bybit does from time to time: at least one field, each above zero, the result valid rules,
//! or 400; resting orders stay, new ones off the new step or tick are refused with 10001, and
//! instruments-info shows the new values), `POST /emulator/rate-limit {"cap","seconds"}` (pressure) or
//! `{"enabled"}`, `POST /emulator/reset` (clear every fault), and `GET /emulator/state` (the whole
//! engine: wallet, positions, orders, executions, prices, with the faults in force, the
//! number of open WebSockets and `requests`: every REST request that arrived, counted before
//! any fault, as `total`, `byPath` and `createsByOrderLinkId`, see `crate::requests`). A decimal
//! (a price, a size, a balance) is read as the REST API reads one (`params::json_decimal`): a
//! JSON string in the strict grammar, so `"1_0"`, `"1e3"`, `" 1"`, `"+1"`, `""` and a JSON
//! number are refused; an integer may be a JSON number or a string without `+`. Every value is
//! range-checked and a bad one is refused with HTTP 400 and the reason, changing nothing.

use std::io;
use std::ops::RangeInclusive;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sim_engine::{BookShape, PriceSource};

use crate::app::AppState;
use crate::faults::{Action, Mute};
use crate::params::{json_decimal, strict_int};

/// The largest clock skew the control API sets, ms (one day).
const MAX_SKEW_MS: i64 = 86_400_000;

/// The longest a timed fault (hold, refusal, ban, pressure) may last, s (one day).
const MAX_FAULT_SECONDS: i64 = 86_400;

/// The longest price-source interval, ms (one day).
const MAX_INTERVAL_MS: i64 = 86_400_000;

/// Most prices in a path or trades in a replay.
const MAX_POINTS: usize = 1_000_000;

/// Latest trade time a replay may give, ms (year 2286): far from overflow when shifted.
const MAX_TRADE_MS: i64 = 10_000_000_000_000;

/// Deepest book shape (Bybit's deepest linear book has 1000 levels).
const MAX_BOOK_LEVELS: i64 = 1000;

/// The largest price, size, notional or balance the control API takes: far above any market,
/// far below where the engine's decimal arithmetic (about 7.9e28) could overflow.
const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA4C6_8000, 0x38D7E, 0, false, 0);
/// The middleware that applies faults to Bybit's REST paths.
pub(crate) async fn inject(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let is_rest = path.starts_with("/v5/")
        && !matches!(path, "/v5/public/linear" | "/v5/private" | "/v5/trade");
    if !is_rest {
        return next.run(request).await;
    }
    let path = path.to_owned();
    let (request, link) = match count_request(&state, request).await {
        Ok(counted) => counted,
        Err(response) => return response,
    };
    if state.faults.ip_banned(state.clock.now_ms()) {
        return (StatusCode::FORBIDDEN, "access too frequent").into_response();
    }
    match state.faults.take(&path) {
        None if path == "/v5/order/create" => {
            let response = next.run(request).await;
            count_duplicate(&state, link.as_deref(), response).await
        }
        None => next.run(request).await,
        Some(Action::Hold(ms)) => {
            let mut stop = state.stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                _ = stop.wait_for(|stopped| *stopped) => {}
            }
            (StatusCode::GATEWAY_TIMEOUT, "held by the emulator").into_response()
        }
        Some(Action::FailHttp(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, "injected failure").into_response()
        }
        Some(Action::FailRetCode(code)) => {
            let body = json!({
                "retCode": code,
                "retMsg": "System error. Please try again later.",
                "result": {},
                "retExtInfo": {},
                "time": state.clock.now_ms(),
            });
            (StatusCode::OK, Json(body)).into_response()
        }
        Some(Action::Lose) => {
            // The request is executed; then the reply is cut off after its head, so the
            // client sees the connection fail and cannot know what happened.
            let _executed = next.run(request).await;
            let broken = futures_util::stream::once(async {
                Err::<Bytes, io::Error>(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "response lost",
                ))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("content-length", "1024")
                .body(Body::from_stream(broken))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

/// Counts the request (`crate::requests`), reading an order create's body first and handing
/// the same bytes on; a body over the REST limit is answered as the endpoint would answer it.
/// Gives back the request and, for a single order create, its orderLinkId.
async fn count_request(
    state: &AppState,
    request: Request,
) -> Result<(Request, Option<String>), Response> {
    let path = request.uri().path().to_owned();
    if !path.starts_with("/v5/order/create") {
        state.requests.record(&path, b"");
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::rest::MAX_BODY).await else {
        state.requests.record(&path, b"");
        return Err(crate::rest::body_too_large(state.clock.now_ms()));
    };
    let link = state.requests.record(&path, &bytes);
    Ok((Request::from_parts(parts, Body::from(bytes)), link))
}

/// Counts an order create the engine refused as a duplicate orderLinkId (110072): a client
/// sent again an order the exchange already had (`crate::requests`). The reply is passed on
/// unchanged.
async fn count_duplicate(state: &AppState, link: Option<&str>, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::rest::MAX_BODY).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "reply too large").into_response();
    };
    let code = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("retCode").and_then(Value::as_i64));
    if code == Some(sim_engine::codes::DUPLICATE_ORDER_LINK_ID) {
        state.requests.duplicate(link);
    }
    Response::from_parts(parts, Body::from(bytes))
}

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/state", get(state_snapshot))
        .route("/ws/drop", post(ws_drop))
        .route("/ws/refuse", post(ws_refuse))
        .route("/ws/mute", post(ws_mute))
        .route("/ws/unmute", post(ws_unmute))
        .route("/ws/shuffle", post(ws_shuffle))
        .route("/ws/double-filled", post(ws_double_filled))
        .route("/ws/trade-hold", post(ws_trade_hold))
        .route("/ws/trade-lose", post(ws_trade_lose))
        .route("/ws/trade-fail", post(ws_trade_fail))
        .route("/ws/trade-restart", post(ws_trade_restart))
        .route("/ip-ban", post(ip_ban))
        .route("/book-gap", post(book_gap))
        .route("/fail", post(fail))
        .route("/hold", post(hold))
        .route("/lose-response", post(lose))
        .route("/create-unknown", post(create_unknown))
        .route("/create-hold", post(create_hold))
        .route("/clock", post(clock))
        .route("/time/pass", post(pass_time))
        .route("/exchange-restart", post(exchange_restart))
        .route("/history-lag", post(history_lag))
        .route("/balance", post(balance))
        .route("/price", post(price))
        .route("/price-path", post(price_path))
        .route("/replay", post(replay))
        .route("/random-walk", post(random_walk))
        .route("/book", post(book))
        .route("/instrument", post(instrument))
        .route("/rate-limit", post(rate_limit))
        .route("/reset", post(reset))
        .method_not_allowed_fallback(wrong_method)
}

/// A control path asked with another method: the control API's own refusal, with a reason,
/// rather than axum's bare 405.
async fn wrong_method() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"ok": false, "error": "wrong method for this control path"})),
    )
        .into_response()
}

type ControlResult = Result<Value, String>;

fn respond(result: ControlResult) -> Response {
    match result {
        Ok(value) => (StatusCode::OK, Json(value)).into_response(),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"ok": false, "error": error})),
        )
            .into_response(),
    }
}

fn ok() -> ControlResult {
    Ok(json!({"ok": true}))
}

/// Reads the control body as a JSON object; anything else is a 400 with the reason.
fn body(bytes: &Bytes) -> Result<Value, String> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice::<Value>(bytes)
        .map_err(|e| format!("invalid JSON: {e}"))
        .and_then(|v| {
            if v.is_object() {
                Ok(v)
            } else {
                Err("expected a JSON object".to_owned())
            }
        })
}

fn field_text(v: &Value, name: &str) -> Option<String> {
    match v.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value, name: &str) -> Result<Option<i64>, String> {
    field_text(v, name)
        .map(|t| strict_int(&t).ok_or_else(|| format!("{name} must be an integer")))
        .transpose()
}

/// An integer field within `range`, or `default` when absent.
fn int_in(v: &Value, name: &str, default: i64, range: RangeInclusive<i64>) -> Result<i64, String> {
    let n = int(v, name)?.unwrap_or(default);
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{name} must be between {} and {}",
            range.start(),
            range.end()
        ))
    }
}

fn count(v: &Value) -> Result<u32, String> {
    let n = int_in(v, "count", 1, 0..=i64::from(u32::MAX))?;
    u32::try_from(n).map_err(|_| "count out of range".to_owned())
}

/// A duration in seconds, 0 to a day, from `now` on the emulator clock: the end time, ms.
fn until(state: &AppState, v: &Value, default_s: i64) -> Result<i64, String> {
    let seconds = int_in(v, "seconds", default_s, 0..=MAX_FAULT_SECONDS)?;
    Ok(state.clock.now_ms().saturating_add(seconds * 1000))
}

/// A decimal field, read as the REST API reads one ([`json_decimal`]: a JSON string in the
/// strict grammar), so `"1_0"`, `"1e3"`, `" 1"`, `"+1"`, `""` and a JSON number are refused.
fn decimal(v: &Value, name: &str) -> Result<Decimal, String> {
    match v.get(name) {
        None | Some(Value::Null) => Err(format!("{name} is required")),
        Some(value) => json_decimal(name, value),
    }
}

/// A decimal field that must be above zero and at most [`MAX_AMOUNT`] (a price, a size, a
/// notional).
fn positive(v: &Value, name: &str) -> Result<Decimal, String> {
    in_amount_range(name, decimal(v, name)?)
}

fn in_amount_range(name: &str, value: Decimal) -> Result<Decimal, String> {
    if value > Decimal::ZERO && value <= MAX_AMOUNT {
        Ok(value)
    } else {
        Err(format!(
            "{name} must be above zero and at most {MAX_AMOUNT}"
        ))
    }
}

fn symbol(v: &Value) -> Result<String, String> {
    field_text(v, "symbol").ok_or_else(|| "symbol is required".to_owned())
}

async fn state_snapshot(State(state): State<Arc<AppState>>) -> Response {
    (StatusCode::OK, Json(truth(&state))).into_response()
}

/// What `GET /emulator/state` answers: the engine's snapshot with the armed faults under
/// `faults` and the request counts under `requests`.
pub(crate) fn truth(state: &AppState) -> Value {
    let snapshot = state.read(|e| e.snapshot());
    let faults = {
        let plan = *state.faults.plan();
        let trade = *state.faults.trade_plan();
        json!({
            "hold": plan.hold, "fail": plan.fail, "loseResponse": plan.lose,
            "createHold": plan.create_hold,
            "clockSkewMs": state.clock.skew(),
            "timePassedMs": state.clock.passed(),
            "wsRefused": state.faults.ws_refused(state.clock.now_ms()),
            "wsMuted": {
                "public": state.ws_mute.borrow().public,
                "private": state.ws_mute.borrow().private,
            },
            "wsTradeMuted": state.ws_mute.borrow().trade,
            "tradeHold": trade.hold, "tradeLose": trade.lose, "tradeFail": trade.fail,
            "tradeRestarts": state.faults.trade_restarts(),
            "wsDataMuted": {
                "public": state.ws_mute.borrow().public_data,
                "private": state.ws_mute.borrow().private_data,
            },
            "ipBanned": state.faults.ip_banned(state.clock.now_ms()),
            "wsConnections": state.ws_sessions.load(Ordering::Relaxed),
        })
    };
    let requests = serde_json::to_value(state.requests.snapshot()).unwrap_or(Value::Null);
    let mut value = serde_json::to_value(snapshot).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("faults".to_owned(), faults);
        map.insert("requests".to_owned(), requests);
    }
    value
}

/// `{"enabled"}` (default true): the private pushes of one fill go out in reverse order.
async fn ws_shuffle(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let enabled = match v.get("enabled") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("enabled must be true or false".to_owned()),
        };
        state
            .faults
            .shuffle_pushes
            .store(enabled, Ordering::Relaxed);
        ok()
    })())
}

/// `{"count"}` (default 1): the next `count` `Filled` order pushes are each followed by the
/// cancel-race duplicate.
async fn ws_double_filled(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let count = int_in(&v, "count", 1, 0..=1_000_000)?;
        let count = u64::try_from(count).map_err(|_| "count must not be negative".to_owned())?;
        state.faults.double_filled.store(count, Ordering::Relaxed);
        ok()
    })())
}

/// `{"count","ms"}`: the next `count` order requests on `/v5/trade` run at once and their
/// replies are held `ms`.
async fn ws_trade_hold(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let n = count(&v)?;
        let ms = int_in(&v, "ms", 30_000, 0..=MAX_FAULT_SECONDS * 1000)?;
        let mut plan = state.faults.trade_plan();
        plan.hold = n;
        plan.hold_ms = u64::try_from(ms).map_err(|_| "ms out of range")?;
        ok()
    })())
}

/// `{"count"}`: the next `count` order requests on `/v5/trade` run, then their connection
/// fails without the reply.
async fn ws_trade_lose(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let n = count(&v)?;
        state.faults.trade_plan().lose = n;
        ok()
    })())
}

/// `{"count","retCode"}`: the next `count` order requests on `/v5/trade` are refused with
/// `retCode` (default 10429), unexecuted.
async fn ws_trade_fail(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let n = count(&v)?;
        let code = int(&v, "retCode")?.unwrap_or(10429);
        if code == 0 {
            return Err("retCode 0 is success, not a failure".to_owned());
        }
        let mut plan = state.faults.trade_plan();
        plan.fail = n;
        plan.fail_code = code;
        ok()
    })())
}

/// Every `/v5/trade` connection open now answers 10019 to order requests from now on.
async fn ws_trade_restart(State(state): State<Arc<AppState>>) -> Response {
    state.faults.trade_restarts.fetch_add(1, Ordering::Relaxed);
    respond(ok())
}

async fn ws_drop(State(state): State<Arc<AppState>>) -> Response {
    state.ws_epoch.send_modify(|epoch| *epoch += 1);
    respond(ok())
}

async fn ws_refuse(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        state.faults.refuse_ws_until(until(&state, &v, 10)?);
        // Refusing new connections would be pointless with the old ones still open.
        state.ws_epoch.send_modify(|epoch| *epoch += 1);
        ok()
    })())
}

/// The streams a mute or unmute request names: `"public"`, `"private"`, `"trade"` or `"all"`
/// (the default), as a [`Mute`] with those switches on.
fn streams(v: &Value) -> Result<Mute, String> {
    match field_text(v, "stream").as_deref() {
        None | Some("all") => Ok(Mute {
            public: true,
            private: true,
            trade: true,
            ..Mute::default()
        }),
        Some("trade") => Ok(Mute {
            trade: true,
            ..Mute::default()
        }),
        Some("public") => Ok(Mute {
            public: true,
            private: false,
            ..Mute::default()
        }),
        Some("private") => Ok(Mute {
            public: false,
            private: true,
            ..Mute::default()
        }),
        Some(other) => Err(format!(
            "stream must be public, private, trade or all, not {other:?}"
        )),
    }
}

async fn ws_mute(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let named = streams(&v)?;
        let pongs = match v.get("pongs") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(format!("pongs must be true or false, not {other}")),
        };
        if pongs && named.trade && !named.public && !named.private {
            return Err("the trade stream pushes no data: mute it without pongs".to_owned());
        }
        state.ws_mute.send_modify(|mute| {
            if pongs {
                mute.public_data |= named.public;
                mute.private_data |= named.private;
            } else {
                mute.public |= named.public;
                mute.private |= named.private;
                mute.trade |= named.trade;
            }
        });
        ok()
    })())
}

async fn ws_unmute(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let named = streams(&body(&bytes)?)?;
        state.ws_mute.send_modify(|mute| {
            mute.public &= !named.public;
            mute.private &= !named.private;
            mute.trade &= !named.trade;
            mute.public_data &= !named.public;
            mute.private_data &= !named.private;
        });
        ok()
    })())
}

async fn ip_ban(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        // Bybit's ban lasts at least 10 minutes (docs v5/rate-limit); tests ask for less.
        let until = until(&state, &v, 600)?;
        state.faults.ip_banned_until.store(until, Ordering::Relaxed);
        ok()
    })())
}

async fn book_gap(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let symbol = symbol(&v)?;
        state
            .read(|e| e.price(&symbol))
            .map_err(|r| r.to_string())?;
        *state.faults.gaps().entry(symbol).or_insert(0) += 1;
        ok()
    })())
}

async fn fail(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let n = count(&v)?;
        let action = match (int(&v, "status")?, int(&v, "retCode")?) {
            (Some(status), None) if (500..=599).contains(&status) => {
                Action::FailHttp(u16::try_from(status).map_err(|_| "status out of range")?)
            }
            (Some(_), None) => return Err("status must be a 5xx code".to_owned()),
            (None, Some(0)) => return Err("retCode 0 is success, not a failure".to_owned()),
            (None, Some(code)) => Action::FailRetCode(code),
            (None, None) => Action::FailHttp(503),
            (Some(_), Some(_)) => return Err("give status or retCode, not both".to_owned()),
        };
        let mut plan = state.faults.plan();
        plan.fail = n;
        plan.fail_with = Some(action);
        ok()
    })())
}

async fn hold(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let n = count(&v)?;
        let ms = int_in(&v, "ms", 30_000, 0..=MAX_FAULT_SECONDS * 1000)?;
        let mut plan = state.faults.plan();
        plan.hold = n;
        plan.hold_ms = u64::try_from(ms).map_err(|_| "ms out of range")?;
        ok()
    })())
}

/// `{"count","ms"}`: the next `count` order creates are held `ms`, then answered HTTP 504,
/// unexecuted: every reply is lost to a client that times out first.
async fn create_hold(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let n = count(&v)?;
        let ms = int_in(&v, "ms", 30_000, 0..=MAX_FAULT_SECONDS * 1000)?;
        let mut plan = state.faults.plan();
        plan.create_hold = n;
        plan.create_hold_ms = u64::try_from(ms).map_err(|_| "ms out of range")?;
        ok()
    })())
}

/// `{"count"}`: the next order create is executed and its reply lost, and the `count`
/// (default 3) creates after it answer HTTP 503 unexecuted — a create that landed while every
/// retry of the client failed, so only a lookup can tell the client it is there.
async fn create_unknown(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let n = int_in(&v, "count", 3, 0..=1000)?;
        let mut plan = state.faults.plan();
        plan.create_lose = 1;
        plan.create_fail = u32::try_from(n).map_err(|_| "count out of range")?;
        ok()
    })())
}

async fn lose(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        state.faults.plan().lose = count(&v)?;
        ok()
    })())
}

async fn clock(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let skew = int(&v, "skewMs")?.ok_or("skewMs is required")?;
        // A day either way is plenty to provoke 10002 and keeps time arithmetic far from
        // overflow. (`abs` of i64::MIN would overflow: compare against the range instead.)
        if !(-MAX_SKEW_MS..=MAX_SKEW_MS).contains(&skew) {
            return Err(format!("skewMs must be within ±{MAX_SKEW_MS}"));
        }
        state.clock.set_skew(skew);
        ok()
    })())
}

/// `{"days"}` or `{"ms"}` (both add up) of exchange time pass: `sim_engine::Engine::pass_time`.
async fn pass_time(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let days = int_in(&v, "days", 0, 0..=365)?;
        let ms = int_in(&v, "ms", 0, 0..=sim_engine::MAX_PASS_MS)?;
        let total = days.saturating_mul(sim_engine::DAY_MS).saturating_add(ms);
        if total == 0 || total > sim_engine::MAX_PASS_MS {
            return Err(format!(
                "days and ms must add up to 1..={} ms",
                sim_engine::MAX_PASS_MS
            ));
        }
        // The exchange's clock moves first, so no command runs at a time before the funding
        // the engine settles; the engine catches up with every funding time in between.
        state.clock.pass(total);
        state
            .execute(|e, now| e.pass_time(now.saturating_sub(total), total))
            .map_err(|r| r.to_string())?;
        ok()
    })())
}

/// Bybit restarts: `/v5/order/realtime` forgets the orders already closed.
async fn exchange_restart(State(state): State<Arc<AppState>>) -> Response {
    state.execute(|e, now| e.restart_exchange(now));
    respond(ok())
}

/// `{"ms"}`: order history lists a closed order only this long after it closed.
async fn history_lag(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let ms = int_in(&v, "ms", 0, 0..=MAX_INTERVAL_MS)?;
        state.execute(|e, _| e.set_history_lag(ms));
        ok()
    })())
}

async fn balance(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let usdt = decimal(&v, "usdt")?;
        if usdt < Decimal::ZERO || usdt > MAX_AMOUNT {
            return Err(format!("usdt must be between 0 and {MAX_AMOUNT}"));
        }
        state
            .execute(|e, now| e.set_balance(now, usdt))
            .map_err(|r| r.to_string())?;
        ok()
    })())
}

async fn price(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let symbol = symbol(&v)?;
        let price = positive(&v, "price")?;
        state
            .execute(|e, now| e.set_price(now, &symbol, price))
            .map_err(|r| r.to_string())?;
        ok()
    })())
}

fn set_source(state: &AppState, symbol: &str, source: PriceSource) -> ControlResult {
    state
        .execute(|e, _| e.set_price_source(symbol, source))
        .map_err(|r| r.to_string())?;
    ok()
}

async fn price_path(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let symbol = symbol(&v)?;
        let interval = int_in(&v, "intervalMs", 1000, 1..=MAX_INTERVAL_MS)?;
        let prices = v
            .get("prices")
            .and_then(Value::as_array)
            .ok_or("prices must be an array")?
            .iter()
            .enumerate()
            .map(|(i, p)| json_decimal(&format!("prices[{i}]"), p))
            .collect::<Result<Vec<_>, _>>()?;
        if prices.is_empty() || prices.len() > MAX_POINTS {
            return Err(format!("prices must hold 1 to {MAX_POINTS} prices"));
        }
        for price in &prices {
            in_amount_range("every price", *price)?;
        }
        let start = state.clock.now_ms().saturating_add(interval);
        set_source(&state, &symbol, PriceSource::path(start, interval, &prices))
    })())
}

async fn replay(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let symbol = symbol(&v)?;
        let trades = v
            .get("trades")
            .and_then(Value::as_array)
            .ok_or("trades must be an array of [ms, price, qty]")?
            .iter()
            .map(|t| {
                let row = t
                    .as_array()
                    .filter(|r| r.len() == 3)
                    .ok_or("each trade is [ms, price, qty]")?;
                let at = match &row[0] {
                    Value::String(s) => strict_int(s),
                    Value::Number(n) => n.as_i64(),
                    _ => None,
                }
                .ok_or("bad trade time")?;
                let price = json_decimal("trade price", &row[1])?;
                let qty = json_decimal("trade qty", &row[2])?;
                Ok((at, price, qty))
            })
            .collect::<Result<Vec<_>, String>>()?;
        check_trades(&trades)?;
        set_source(
            &state,
            &symbol,
            PriceSource::replay(state.clock.now_ms(), &trades),
        )
    })())
}

/// A replay's trades: 1 to [`MAX_POINTS`] of them, times from 0 to [`MAX_TRADE_MS`] in
/// order, prices and sizes above zero and at most [`MAX_AMOUNT`].
fn check_trades(trades: &[(i64, Decimal, Decimal)]) -> Result<(), String> {
    if trades.is_empty() || trades.len() > MAX_POINTS {
        return Err(format!("trades must hold 1 to {MAX_POINTS} trades"));
    }
    let mut last = 0;
    for (i, (at, price, qty)) in trades.iter().enumerate() {
        if !(0..=MAX_TRADE_MS).contains(at) {
            return Err(format!(
                "trade {i}: time must be between 0 and {MAX_TRADE_MS}"
            ));
        }
        if *at < last {
            return Err(format!("trade {i}: times must not go backwards"));
        }
        last = *at;
        in_amount_range(&format!("trade {i}: price"), *price)?;
        in_amount_range(&format!("trade {i}: qty"), *qty)?;
    }
    Ok(())
}

async fn random_walk(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let symbol = symbol(&v)?;
        let interval_ms = int_in(&v, "intervalMs", 500, 1..=MAX_INTERVAL_MS)?;
        let max_step_ticks = u32::try_from(int_in(&v, "maxStepTicks", 3, 1..=10_000)?)
            .map_err(|_| "maxStepTicks out of range")?;
        set_source(
            &state,
            &symbol,
            PriceSource::RandomWalk {
                interval_ms,
                max_step_ticks,
            },
        )
    })())
}

async fn book(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let symbol = symbol(&v)?;
        let shape = BookShape {
            levels: u32::try_from(int_in(&v, "levels", 200, 1..=MAX_BOOK_LEVELS)?)
                .map_err(|_| "levels out of range")?,
            spacing_ticks: u32::try_from(int_in(&v, "spacingTicks", 1, 1..=10_000)?)
                .map_err(|_| "spacingTicks out of range")?,
            level_notional: positive(&v, "levelNotional")?,
        };
        state
            .execute(|e, _| e.set_book_shape(&symbol, shape))
            .map_err(|r| r.to_string())?;
        ok()
    })())
}

async fn instrument(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        let symbol = symbol(&v)?;
        let optional = |name: &str| v.get(name).map(|_| positive(&v, name)).transpose();
        let change = sim_engine::RulesChange {
            tick_size: optional("tickSize")?,
            qty_step: optional("qtyStep")?,
            min_order_qty: optional("minOrderQty")?,
            max_order_qty: optional("maxOrderQty")?,
            min_notional_value: optional("minNotionalValue")?,
        };
        if change == sim_engine::RulesChange::default() {
            return Err(
                "give at least one of tickSize, qtyStep, minOrderQty, maxOrderQty, \
                 minNotionalValue"
                    .to_owned(),
            );
        }
        state
            .execute(|e, _| e.set_instrument_rules(&symbol, &change))
            .map_err(|r| r.to_string())?;
        ok()
    })())
}

async fn rate_limit(State(state): State<Arc<AppState>>, bytes: Bytes) -> Response {
    respond((|| {
        let v = body(&bytes)?;
        if let Some(enabled) = v.get("enabled").and_then(Value::as_bool) {
            state.limits.set_enabled(enabled);
        }
        if v.get("cap").is_some() {
            let cap = u32::try_from(int_in(&v, "cap", 0, 0..=100_000)?)
                .map_err(|_| "cap out of range")?;
            state.limits.set_pressure(cap, until(&state, &v, 10)?);
        }
        ok()
    })())
}

async fn reset(State(state): State<Arc<AppState>>) -> Response {
    state.faults.reset();
    state.ws_mute.send_replace(Mute::default());
    state.clock.set_skew(0);
    state.execute(|e, _| e.set_history_lag(0));
    state.limits.set_pressure(u32::MAX, 0);
    respond(ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_amount_cap_is_a_quadrillion() {
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000_000_i64));
    }
}
