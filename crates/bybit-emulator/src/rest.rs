//! Bybit's REST paths over the engine: the envelope, authentication, rate-limit headers and
//! one function per endpoint (SPEC R-REST-5, plus what pybit calls).

use std::sync::Arc;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bybit_types::{OrderType, TimeInForce, WireSide};
use serde::Serialize;
use serde_json::{json, Value};
use sim_engine::{
    Amend, CancelAll, Engine, ExecutionQuery, NewOrder, OrderAck, OrderFilter, OrderKey,
    OrderQuery, Reject, TradingStop, TriggerDirection,
};

use crate::auth::{authenticate, status_of};
use crate::categories;
use crate::limits::Verdict;
use crate::params::{page, Params};

use crate::AppState;

/// Bodies above this size are refused before they are parsed.
pub(crate) const MAX_BODY: usize = 1 << 20;

type Run = fn(&AppState, &Params, &Ctx) -> Result<Reply, Reject>;

/// What the pipeline hands an endpoint besides its parameters.
pub(crate) struct Ctx {
    /// The emulator's time, ms.
    now: i64,
    /// Rate-limit units granted: the items of a batch that may go through.
    granted: u32,
}

/// What an endpoint answers on success: `result` and `retExtInfo`.
pub(crate) struct Reply {
    pub(crate) result: Value,
    pub(crate) ext: Value,
}

impl Reply {
    fn ok(result: impl Serialize) -> Result<Reply, Reject> {
        Ok(Reply {
            result: to_value(result)?,
            ext: json!({}),
        })
    }
}

fn to_value(v: impl Serialize) -> Result<Value, Reject> {
    serde_json::to_value(v).map_err(|e| Reject::new(10016, format!("System error: {e}")))
}

/// One REST endpoint.
pub(crate) struct Endpoint {
    path: &'static str,
    private: bool,
    run: Run,
    /// Rate-limit units the request costs (orders, for batch endpoints); refuses a request
    /// whose size is out of bounds before anything is charged.
    cost: fn(&Params) -> Result<u32, Reject>,
    /// Whether part of the request may go through when the window is nearly spent.
    partial: bool,
}

fn one(_: &Params) -> Result<u32, Reject> {
    Ok(1)
}

/// A batch costs one unit per order and holds 1 to 20 of them (linear: docs
/// v5/order/batch-place, v5/order/batch-amend, v5/order/batch-cancel).
fn batch_cost(p: &Params) -> Result<u32, Reject> {
    let items = p.array("request")?;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(Reject::params(
            "params error: request must hold 1 to 20 orders",
        ));
    }
    Ok(u32::try_from(items.len()).unwrap_or(u32::MAX))
}

/// The most orders one batch may carry (linear).
const MAX_BATCH: usize = 20;

macro_rules! endpoint {
    ($path:literal, $private:literal, $run:expr) => {
        &Endpoint {
            path: $path,
            private: $private,
            run: $run,
            cost: one,
            partial: false,
        }
    };
    ($path:literal, $private:literal, $run:expr, $cost:expr) => {
        &Endpoint {
            path: $path,
            private: $private,
            run: $run,
            cost: $cost,
            partial: true,
        }
    };
}

/// Bybit's POST endpoints. The order operations among them are also what the order-entry
/// stream (`ws/trade.rs`) runs, through [`answer`].
const POSTS: [&Endpoint; 14] = [
    endpoint!("/v5/order/create", true, create_order),
    endpoint!("/v5/order/amend", true, amend_order),
    endpoint!("/v5/order/cancel", true, cancel_order),
    endpoint!("/v5/order/cancel-all", true, cancel_all),
    endpoint!("/v5/order/create-batch", true, create_batch, batch_cost),
    endpoint!("/v5/order/amend-batch", true, amend_batch, batch_cost),
    endpoint!("/v5/order/cancel-batch", true, cancel_batch, batch_cost),
    endpoint!("/v5/position/set-leverage", true, set_leverage),
    endpoint!("/v5/position/switch-isolated", true, switch_isolated),
    endpoint!("/v5/position/switch-mode", true, switch_mode),
    endpoint!("/v5/position/trading-stop", true, trading_stop),
    endpoint!("/v5/account/set-margin-mode", true, set_margin_mode),
    endpoint!("/v5/account/fee-rate", true, fee_rate),
    endpoint!("/v5/account/set-limit-px-action", true, set_limit_px_action),
];

/// The endpoint at `path` among the order operations the order-entry stream carries
/// (create, amend, cancel and their batch forms).
pub(crate) fn order_endpoint(path: &str) -> Option<&'static Endpoint> {
    const ORDER_PATHS: [&str; 6] = [
        "/v5/order/create",
        "/v5/order/amend",
        "/v5/order/cancel",
        "/v5/order/create-batch",
        "/v5/order/amend-batch",
        "/v5/order/cancel-batch",
    ];
    if !ORDER_PATHS.contains(&path) {
        return None;
    }
    POSTS.into_iter().find(|ep| ep.path == path)
}

fn route(method: Method, ep: &'static Endpoint) -> axum::routing::MethodRouter<Arc<AppState>> {
    let handler =
        move |State(state): State<Arc<AppState>>, request: Request| serve(state, request, ep);
    if method == Method::GET {
        get(handler)
    } else {
        post(handler)
    }
}

pub(crate) fn routes() -> Router<Arc<AppState>> {
    let gets: [&'static Endpoint; 12] = [
        endpoint!("/v5/market/time", false, server_time),
        endpoint!("/v5/market/instruments-info", false, instruments_info),
        endpoint!("/v5/market/tickers", false, tickers),
        endpoint!("/v5/market/orderbook", false, orderbook),
        endpoint!("/v5/market/price-limit", false, price_limit),
        endpoint!("/v5/account/user-setting-config", true, user_setting_config),
        endpoint!("/v5/order/realtime", true, open_orders),
        endpoint!("/v5/order/history", true, order_history),
        endpoint!("/v5/execution/list", true, executions),
        endpoint!("/v5/position/list", true, positions),
        endpoint!("/v5/account/wallet-balance", true, wallet_balance),
        endpoint!("/v5/account/info", true, account_info),
    ];
    let mut router = Router::new();
    for ep in gets {
        router = router.route(ep.path, route(Method::GET, ep));
    }
    for ep in POSTS {
        // Bybit documents fee-rate as a GET; accept both rather than guess.
        if ep.path == "/v5/account/fee-rate" {
            router = router.route(
                ep.path,
                route(Method::GET, ep).merge(route(Method::POST, ep)),
            );
        } else {
            router = router.route(ep.path, route(Method::POST, ep));
        }
    }
    router.method_not_allowed_fallback(method_not_allowed)
}

pub(crate) async fn method_not_allowed(State(state): State<Arc<AppState>>) -> Response {
    let now = state.clock.now_ms();
    envelope(
        StatusCode::OK,
        &Err(Reject::new(
            10017,
            "route not found: wrong method for this path",
        )),
        now,
        None,
    )
}

/// Any path Bybit does not have: HTTP 404 with an envelope, as Bybit answers unknown routes.
pub(crate) async fn not_found(State(state): State<Arc<AppState>>) -> Response {
    envelope(
        StatusCode::NOT_FOUND,
        &Err(Reject::new(10017, "route not found")),
        state.clock.now_ms(),
        None,
    )
}

async fn serve(state: Arc<AppState>, request: Request, ep: &'static Endpoint) -> Response {
    let now = state.clock.now_ms();
    let (parts, body) = request.into_parts();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let body: Bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return body_too_large(now),
    };
    let is_get = parts.method == Method::GET;
    let payload: &[u8] = if is_get { raw_query.as_bytes() } else { &body };
    let key = if ep.private {
        match authenticate(&state, &parts.headers, payload, now) {
            Ok(key) => Some(key),
            Err(reject) => return envelope(status_of(&reject), &Err(reject), now, None),
        }
    } else {
        None
    };
    let params = if is_get {
        Params::from_query(&raw_query)
    } else {
        Params::from_json(&body)
    };
    let params = match params {
        Ok(p) => p,
        Err(reject) => return envelope(StatusCode::OK, &Err(reject), now, None),
    };
    let answer = answer(&state, ep, key.as_deref(), &params, now);
    envelope(StatusCode::OK, &answer.outcome, now, answer.verdict)
}

/// What an authenticated request came to: the endpoint's outcome and the rate-limit verdict
/// behind the `X-Bapi-Limit*` headers (`None` where no per-UID limit applies).
pub(crate) struct Answer {
    pub(crate) outcome: Result<Reply, Reject>,
    pub(crate) verdict: Option<Verdict>,
}

/// Runs `ep` for the caller `key` (already authenticated; `None` for a public endpoint): the
/// size check, the charge to the `(UID, endpoint)` rate-limit window, then the endpoint. REST
/// and the order-entry stream both come through here, so they share the checks and the
/// windows (docs v5/websocket/trade/guideline: "The account rate limit is shared between
/// websocket and http batch orders").
pub(crate) fn answer(
    state: &AppState,
    ep: &Endpoint,
    key: Option<&str>,
    params: &Params,
    now: i64,
) -> Answer {
    let cost = match (ep.cost)(params) {
        Ok(cost) => cost,
        Err(reject) => {
            return Answer {
                outcome: Err(reject),
                verdict: None,
            }
        }
    };
    let charged = key.and_then(|k| state.limits.charge_upto(k, ep.path, cost, ep.partial, now));
    let verdict = charged.map(|(verdict, _)| verdict);
    let granted = charged.map_or(cost, |(_, granted)| granted);
    if granted == 0 || (!ep.partial && granted < cost) {
        return Answer {
            outcome: Err(Reject::new(10006, "Too many visits!")),
            verdict,
        };
    }
    let outcome = match categories::empty_read(ep.path, params) {
        Some(read) => read.and_then(Reply::ok),
        None => (ep.run)(state, params, &Ctx { now, granted }),
    };
    Answer { outcome, verdict }
}

/// Bybit's envelope, fields in Bybit's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    ret_code: i64,
    ret_msg: &'a str,
    result: &'a Value,
    ret_ext_info: &'a Value,
    time: i64,
}

/// Writes Bybit's envelope with the rate-limit headers.
/// Bybit's answer to a request body over [`MAX_BODY`].
pub(crate) fn body_too_large(now: i64) -> Response {
    envelope(
        StatusCode::OK,
        &Err(Reject::params("params error: request body too large")),
        now,
        None,
    )
}

fn envelope(
    status: StatusCode,
    outcome: &Result<Reply, Reject>,
    now: i64,
    verdict: Option<Verdict>,
) -> Response {
    let empty = json!({});
    let body = match outcome {
        Ok(reply) => Envelope {
            ret_code: 0,
            ret_msg: "OK",
            result: &reply.result,
            ret_ext_info: &reply.ext,
            time: now,
        },
        Err(reject) => Envelope {
            ret_code: reject.ret_code,
            ret_msg: &reject.ret_msg,
            result: &empty,
            ret_ext_info: &empty,
            time: now,
        },
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("Timenow", HeaderValue::from(now));
    if let Some(v) = verdict {
        headers.insert("X-Bapi-Limit", HeaderValue::from(v.limit));
        headers.insert("X-Bapi-Limit-Status", HeaderValue::from(v.remaining));
        headers.insert(
            "X-Bapi-Limit-Reset-Timestamp",
            HeaderValue::from(v.reset_ms),
        );
    }
    (status, headers, Body::from(body)).into_response()
}

/// One page of a list reply, `{category, list, nextPageCursor}`, with the request's `limit`
/// (default and maximum as the endpoint documents them) and `cursor`.
fn paged<T: Serialize>(
    list: Vec<T>,
    p: &Params,
    default: usize,
    max: usize,
) -> Result<Reply, Reject> {
    let (list, next) = page(list, p.cursor()?, p.limit(default, max)?);
    Reply::ok(json!({"category": "linear", "list": list, "nextPageCursor": next}))
}

// ---------------------------------------------------------------- market (public)

fn server_time(_: &AppState, _: &Params, ctx: &Ctx) -> Result<Reply, Reject> {
    Reply::ok(json!({
        "timeSecond": (ctx.now / 1000).to_string(),
        "timeNano": format!("{}000000", ctx.now),
    }))
}

fn instruments_info(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let symbol = p.text("symbol")?;
    let status = p.text("status")?;
    let list: Vec<_> = state
        .read(Engine::instruments)
        .into_iter()
        .filter(|i| symbol.as_deref().is_none_or(|s| i.symbol == s))
        .filter(|i| status.as_deref().is_none_or(|s| i.status.as_str() == s))
        .collect();
    paged(list, p, 500, 1000)
}

fn tickers(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let symbol = p.text("symbol")?;
    let list = state.read(|e| {
        let symbols: Vec<String> = match &symbol {
            Some(s) => vec![s.clone()],
            None => e.instruments().into_iter().map(|i| i.symbol).collect(),
        };
        symbols
            .iter()
            .map(|s| e.ticker(s))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Reply::ok(json!({"category": "linear", "list": list}))
}

fn orderbook(state: &AppState, p: &Params, ctx: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let symbol = p.required("symbol")?;
    // docs/v5/market/orderbook.mdx: linear `limit` 1..=1000, default 25.
    let depth = p.limit(25, 1000)?;
    // The level-1000 stream's book at its latest `u` (docs v5/market/orderbook: `u` "is
    // corresponding to `u`" of the deepest WebSocket book), so that a client keeping a book
    // from that stream can compare it with this answer at the same `u`.
    let book = state.books.rest(state, &symbol, depth)?;
    let side = |levels: &[bybit_types::ws::public::Level]| -> Vec<[String; 2]> {
        levels
            .iter()
            .map(|(price, qty)| [price.to_string(), qty.to_string()])
            .collect()
    };
    Reply::ok(json!({
        "s": symbol, "b": side(&book.bids), "a": side(&book.asks),
        "ts": ctx.now, "u": book.u, "seq": book.seq, "cts": book.cts,
    }))
}

/// docs/v5/market/order-price-limit.mdx: `category` optional (`linear` by default), `symbol`
/// required; `buyLmt` / `sellLmt` are the prices a buy / sell may carry now, `ts` a string.
/// The values are the engine's own band, the one it moves or refuses orders by.
fn price_limit(state: &AppState, p: &Params, ctx: &Ctx) -> Result<Reply, Reject> {
    let symbol = p.required("symbol")?;
    match p.text("category")?.as_deref() {
        None | Some("linear") => {}
        // Nothing is listed in the other categories.
        Some("spot" | "inverse") => return Err(Reject::unknown_symbol(&symbol)),
        Some(other) => {
            return Err(Reject::params(format!(
                "params error: category {other} invalid (spot, linear or inverse)"
            )))
        }
    }
    let band = state.read(|e| e.price_limit(&symbol))?;
    let text = |v: Option<rust_decimal::Decimal>| v.map_or_else(String::new, |v| v.to_string());
    Reply::ok(json!({
        "symbol": symbol,
        "buyLmt": text(band.map(|b| b.buy_max)),
        "sellLmt": text(band.map(|b| b.sell_min)),
        "ts": ctx.now.to_string(),
    }))
}

/// docs/v5/account/get-user-setting-config.mdx. By its parameter table `lpaSpot` `true` means
/// the price is adjusted, but `lpaPerp` `true` means the order is rejected (the info boxes of
/// this page and of set-price-limit word the defaults differently; the tables are followed).
/// The result is an object, as the page's example shows (its table says "array").
fn user_setting_config(state: &AppState, _: &Params, _: &Ctx) -> Result<Reply, Reject> {
    let action = state.read(Engine::limit_px_action);
    Reply::ok(json!({
        "lpaSpot": action.lpa_spot(),
        "lpaPerp": action.lpa_perp(),
        "deltaEnable": false,
        "smsef": false,
        "fmsef": false,
    }))
}

/// docs/v5/account/set-price-limit.mdx: `category` (`linear`, `inverse`, `spot`; linear or
/// inverse sets every futures category) and `modifyEnable` (boolean) are both required;
/// `true` lets Bybit move a limit price beyond the band to the bound, `false` refuses the
/// order. The result is `{}`.
fn set_limit_px_action(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    let category = match p.required("category")?.as_str() {
        "linear" | "inverse" => sim_engine::LimitPxCategory::Futures,
        "spot" => sim_engine::LimitPxCategory::Spot,
        other => {
            return Err(Reject::params(format!(
                "params error: category {other} invalid (linear, inverse or spot)"
            )))
        }
    };
    let modify = match p.required("modifyEnable")?.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(Reject::params("params error: modifyEnable invalid")),
    };
    state.execute(|e, _| e.set_limit_px_action(category, modify));
    Reply::ok(json!({}))
}

// ---------------------------------------------------------------- orders

fn side(p: &Params) -> Result<WireSide, Reject> {
    p.required("side")?
        .parse()
        .map_err(|_| Reject::params("params error: side invalid"))
}

fn key(p: &Params) -> Result<Option<OrderKey>, Reject> {
    // Bybit: orderId wins when both are given.
    Ok(match (p.text("orderId")?, p.text("orderLinkId")?) {
        (Some(id), _) => Some(OrderKey::Id(id)),
        (None, Some(link)) => Some(OrderKey::LinkId(link)),
        (None, None) => None,
    })
}

fn one_way(p: &Params) -> Result<(), Reject> {
    match p.int("positionIdx")? {
        None | Some(0) => Ok(()),
        Some(_) => Err(Reject::params("position idx not match position mode")),
    }
}

/// A create-order request's parameters, checked for shape; the engine checks the rules.
fn new_order(p: &Params) -> Result<NewOrder, Reject> {
    let symbol = p.required("symbol")?;
    let side = side(p)?;
    let order_type = match p.required("orderType")?.as_str() {
        "Market" => OrderType::Market,
        "Limit" => OrderType::Limit,
        _ => return Err(Reject::params("params error: orderType invalid")),
    };
    let qty = p.required_decimal("qty")?;
    let time_in_force = match p.text("timeInForce")?.as_deref() {
        None => None,
        Some("GTC") => Some(TimeInForce::Gtc),
        Some("IOC") => Some(TimeInForce::Ioc),
        Some("FOK") => Some(TimeInForce::Fok),
        Some("PostOnly") => Some(TimeInForce::PostOnly),
        Some(_) => return Err(Reject::params("params error: timeInForce invalid")),
    };
    one_way(p)?;
    let trigger_direction = match p.int("triggerDirection")? {
        None => None,
        Some(1) => Some(TriggerDirection::Rise),
        Some(2) => Some(TriggerDirection::Fall),
        Some(_) => return Err(Reject::params("params error: triggerDirection invalid")),
    };
    match p.text("triggerBy")?.as_deref() {
        None | Some("LastPrice") => {}
        Some("MarkPrice") | Some("IndexPrice") => {
            // Mark and index follow the last price in the emulator, so they trigger alike.
        }
        Some(_) => return Err(Reject::params("params error: triggerBy invalid")),
    }
    // docs/v5/enum.mdx `smpType`.
    match p.text("smpType")?.as_deref() {
        None | Some("None" | "CancelMaker" | "CancelTaker" | "CancelBoth") => {}
        Some(_) => return Err(Reject::params("params error: smpType invalid")),
    }
    // docs/v5/order/create-order.mdx: `tpslMode` Partial with limit TP/SL (`tpOrderType`,
    // `tpLimitPrice`, `slOrderType`, `slLimitPrice`) is not modelled: refused rather than
    // turned into a position-wide market TP/SL.
    match p.text("tpslMode")?.as_deref() {
        None | Some("Full") => {}
        Some("Partial") => {
            return Err(Reject::params(
                "params error: the emulator supports tpslMode Full only",
            ))
        }
        Some(_) => return Err(Reject::params("params error: tpslMode invalid")),
    }
    for field in ["tpOrderType", "slOrderType"] {
        match p.text(field)?.as_deref() {
            None | Some("Market") => {}
            Some(_) => {
                return Err(Reject::params(format!(
                    "params error: {field} Limit needs tpslMode Partial, which the emulator does not model"
                )))
            }
        }
    }
    for field in ["tpLimitPrice", "slLimitPrice"] {
        if p.text(field)?.is_some() {
            return Err(Reject::params(format!(
                "params error: {field} needs tpslMode Partial, which the emulator does not model"
            )));
        }
    }
    let take_profit = p.decimal("takeProfit")?.filter(|t| !t.is_zero());
    let stop_loss = p.decimal("stopLoss")?.filter(|t| !t.is_zero());
    let reduce_only = p.bool("reduceOnly")?;
    // docs/v5/order/create-order.mdx, reduceOnly: "When reduceOnly is true, take profit/stop
    // loss cannot be set".
    if reduce_only && (take_profit.is_some() || stop_loss.is_some()) {
        return Err(Reject::params(
            "params error: take profit/stop loss cannot be set on a reduceOnly order",
        ));
    }
    Ok(NewOrder {
        symbol,
        side,
        order_type,
        qty,
        price: p.decimal("price")?,
        time_in_force,
        order_link_id: p.text("orderLinkId")?,
        reduce_only,
        close_on_trigger: p.bool("closeOnTrigger")?,
        trigger_price: p.decimal("triggerPrice")?.filter(|t| !t.is_zero()),
        trigger_direction,
        take_profit,
        stop_loss,
    })
}

fn create_order(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let order = new_order(p)?;
    let ack = state.execute(|e, now| e.create_order(now, &order))?;
    Reply::ok(ack)
}

fn create_batch(state: &AppState, p: &Params, ctx: &Ctx) -> Result<Reply, Reject> {
    run_batch(
        state,
        p,
        ctx,
        Stamp::CreateAt,
        new_order,
        |e, now, order| e.create_order(now, order),
    )
}

fn amend_batch(state: &AppState, p: &Params, ctx: &Ctx) -> Result<Reply, Reject> {
    run_batch(state, p, ctx, Stamp::None, amend, |e, now, amend| {
        e.amend_order(now, amend)
    })
}

fn cancel_batch(state: &AppState, p: &Params, ctx: &Ctx) -> Result<Reply, Reject> {
    run_batch(
        state,
        p,
        ctx,
        Stamp::None,
        cancel,
        |e, now, (symbol, key)| e.cancel_order(now, symbol, key),
    )
}

/// Whether a batch's items carry `createAt` (create-batch's do, amend's and cancel's do not).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stamp {
    CreateAt,
    None,
}

/// Runs a batch endpoint (create, amend or cancel): each item of `request` is read by `parse`
/// (items past the granted rate-limit budget fail with 10006, the first ones go through),
/// applied by `apply` in one engine step, and answered per item, by index: `result.list` holds
/// the acks and `retExtInfo.list` each item's `{code, msg}`, so the envelope says 0 while items
/// fail (docs v5/order/batch-place, v5/order/batch-amend, v5/order/batch-cancel). A failed item
/// echoes the symbol and ids it asked for; create items also carry `createAt`.
fn run_batch<T>(
    state: &AppState,
    p: &Params,
    ctx: &Ctx,
    stamp: Stamp,
    parse: fn(&Params) -> Result<T, Reject>,
    apply: fn(&mut Engine, i64, &T) -> Result<OrderAck, Reject>,
) -> Result<Reply, Reject> {
    p.linear()?;
    let items = p.array("request")?;
    let granted = usize::try_from(ctx.granted).unwrap_or(usize::MAX);
    // The symbol and ids each item asked for, echoed even when the item is refused.
    let asked: Vec<[String; 3]> = items
        .iter()
        .map(|item| {
            ["symbol", "orderId", "orderLinkId"].map(|name| {
                item.get(name)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            })
        })
        .collect();
    let parsed: Vec<Result<T, Reject>> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            // Items past the rate-limit budget fail; the first ones go through.
            _ if i >= granted => Err(Reject::new(10006, "Too many visits!")),
            Value::Object(map) => parse(&Params::from_map(map)),
            _ => Err(Reject::params("params error: request item invalid")),
        })
        .collect();
    let results: Vec<Result<OrderAck, Reject>> = state.execute(|e, now| {
        parsed
            .iter()
            .map(|item| match item {
                Ok(item) => apply(e, now, item),
                Err(reject) => Err(reject.clone()),
            })
            .collect()
    });
    let mut list = Vec::with_capacity(results.len());
    let mut ext = Vec::with_capacity(results.len());
    for ([symbol, order_id, link], result) in asked.into_iter().zip(results) {
        let (mut ack, code) = match result {
            Ok(ack) => (
                json!({"category": "linear", "symbol": symbol, "orderId": ack.order_id, "orderLinkId": ack.order_link_id}),
                json!({"code": 0, "msg": "OK"}),
            ),
            Err(reject) => (
                json!({"category": "linear", "symbol": symbol, "orderId": order_id, "orderLinkId": link}),
                json!({"code": reject.ret_code, "msg": reject.ret_msg}),
            ),
        };
        if stamp == Stamp::CreateAt {
            let at = if code["code"] == 0 {
                ctx.now.to_string()
            } else {
                String::new()
            };
            ack["createAt"] = Value::String(at);
        }
        list.push(ack);
        ext.push(code);
    }
    Ok(Reply {
        result: json!({ "list": list }),
        ext: json!({ "list": ext }),
    })
}

/// An amend request's parameters (`/v5/order/amend` and each item of `amend-batch`).
fn amend(p: &Params) -> Result<Amend, Reject> {
    Ok(Amend {
        symbol: p.required("symbol")?,
        key: key(p)?
            .ok_or_else(|| Reject::params("params error: OrderId or orderLinkId is required"))?,
        qty: p.decimal("qty")?,
        price: p.decimal("price")?,
        trigger_price: p.decimal("triggerPrice")?,
    })
}

fn amend_order(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let amend = amend(p)?;
    Reply::ok(state.execute(|e, now| e.amend_order(now, &amend))?)
}

/// A cancel request's symbol and order (`/v5/order/cancel` and each item of `cancel-batch`).
fn cancel(p: &Params) -> Result<(String, OrderKey), Reject> {
    let symbol = p.required("symbol")?;
    let key = key(p)?
        .ok_or_else(|| Reject::params("params error: OrderId or orderLinkId is required"))?;
    Ok((symbol, key))
}

fn cancel_order(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let (symbol, key) = cancel(p)?;
    Reply::ok(state.execute(|e, now| e.cancel_order(now, &symbol, &key))?)
}

fn order_filter(p: &Params) -> Result<Option<OrderFilter>, Reject> {
    match p.text("orderFilter")?.as_deref() {
        None => Ok(None),
        Some("Order") => Ok(Some(OrderFilter::Order)),
        Some("StopOrder") | Some("tpslOrder") => Ok(Some(OrderFilter::StopOrder)),
        // Older docs of cancel-all and open orders list `OpenOrder`: every kind of open order,
        // which is also what no filter means for linear.
        Some("OpenOrder") => Ok(None),
        Some(_) => Err(Reject::params("params error: orderFilter invalid")),
    }
}

fn cancel_all(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let req = CancelAll {
        symbol: p.text("symbol")?,
        base_coin: p.text("baseCoin")?,
        settle_coin: p.text("settleCoin")?,
        filter: order_filter(p)?,
        stop_only: p.text("stopOrderType")?.as_deref() == Some("Stop"),
    };
    let acks = state.execute(|e, now| e.cancel_all(now, &req))?;
    Reply::ok(json!({"list": acks, "success": "1"}))
}

/// The orders a query names: symbol, base coin, settle coin, one order, kind.
fn order_scope(p: &Params) -> Result<OrderQuery, Reject> {
    Ok(OrderQuery {
        symbol: p.text("symbol")?,
        base_coin: p.text("baseCoin")?,
        settle_coin: p.text("settleCoin")?,
        key: key(p)?,
        filter: order_filter(p)?,
    })
}

/// [`order_scope`] for open orders, where linear needs one of symbol, baseCoin, settleCoin
/// (or a single order).
fn order_query(p: &Params) -> Result<OrderQuery, Reject> {
    let query = order_scope(p)?;
    if query.symbol.is_none()
        && query.settle_coin.is_none()
        && query.key.is_none()
        && query.base_coin.is_none()
    {
        return Err(Reject::params(
            "params error: symbol, baseCoin or settleCoin is required",
        ));
    }
    Ok(query)
}

fn open_orders(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let query = order_query(p)?;
    // v5/order/open-order: openOnly 0 (default) lists open orders only; 1 (2 on classic and
    // inverse accounts) lists only the recent closed ones (the engine keeps the last 500); by
    // orderId or orderLinkId the order is returned whatever its state and openOnly is ignored.
    // Closed orders are listed only if they closed since the exchange last restarted
    // (`/emulator/exchange-restart`: "cleared and accumulated again").
    let closed_only = match p.int("openOnly")? {
        None | Some(0) => false,
        Some(1 | 2) => true,
        Some(other) => {
            return Err(Reject::params(format!(
                "params error: openOnly invalid: {other}"
            )))
        }
    };
    let list = state.read(|e| {
        if closed_only && query.key.is_none() {
            e.recent_closed_orders(&query)
        } else {
            e.open_orders(&query)
        }
    });
    paged(list, p, 20, 50)
}

/// v5/order/order-list: the 7-day window (`sim_engine::query_window`), 24 hours for
/// Cancelled / Rejected / Deactivated orders without fills, and the history lag.
fn order_history(state: &AppState, p: &Params, ctx: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let query = order_scope(p)?;
    let status = p.text("orderStatus")?;
    let window = sim_engine::query_window(p.int("startTime")?, p.int("endTime")?, ctx.now)?;
    let list: Vec<_> = state
        .read(|e| e.order_history_at(&query, window, ctx.now))
        .into_iter()
        .filter(|o| {
            status
                .as_deref()
                .is_none_or(|s| o.order_status.as_str() == s)
        })
        .collect();
    paged(list, p, 20, 50)
}

/// v5/order/execution: the 7-day window (`sim_engine::query_window`), no further back than
/// the 2 years trade history keeps.
fn executions(state: &AppState, p: &Params, ctx: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let (from, to) = sim_engine::query_window(p.int("startTime")?, p.int("endTime")?, ctx.now)?;
    let query = ExecutionQuery {
        symbol: p.text("symbol")?,
        key: key(p)?,
        start_ms: Some(from.max(ctx.now.saturating_sub(sim_engine::EXECUTIONS_KEPT_MS))),
        end_ms: Some(to),
    };
    let exec_type = p.text("execType")?;
    let list: Vec<_> = state
        .read(|e| e.executions(&query))
        .into_iter()
        .filter(|x| {
            exec_type
                .as_deref()
                .is_none_or(|t| x.exec_type.as_ref().is_some_and(|k| k.as_str() == t))
        })
        .collect();
    paged(list, p, 50, 100)
}

// ---------------------------------------------------------------- positions and account

fn positions(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let list = match (p.text("symbol")?, p.text("settleCoin")?) {
        (Some(symbol), _) => state.read(|e| e.positions_of(&symbol))?,
        (None, Some(coin)) if coin == "USDT" => state.read(Engine::open_positions),
        (None, Some(_)) => Vec::new(),
        (None, None) => {
            return Err(Reject::params(
                "params error: symbol or settleCoin is required",
            ))
        }
    };
    paged(list, p, 20, 200)
}

fn set_leverage(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let symbol = p.required("symbol")?;
    let buy = p.required_decimal("buyLeverage")?;
    let sell = p.required_decimal("sellLeverage")?;
    state.execute(|e, now| e.set_leverage(now, &symbol, buy, sell))?;
    Reply::ok(json!({}))
}

fn switch_isolated(_: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    // The emulator is a UTA 2.0 account, where margin mode is account-wide.
    Err(Reject::new(
        100028,
        "The API cannot be accessed by unified account users.",
    ))
}

/// docs/v5/position/position-mode.mdx: `mode` 0 (one-way) or 3 (hedge) for a `symbol`, or
/// for every symbol of a `coin` that has no position and no open order (the others keep
/// their mode, as on Bybit). The engine refuses a symbol's switch with 110025 / 110024 /
/// 110028; hedge-mode symbols are reported but not traded (`sim-engine`'s position_mode.rs).
fn switch_mode(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    let hedge = match p.int("mode")? {
        Some(0) => false,
        Some(3) => true,
        _ => return Err(Reject::params("params error: mode invalid")),
    };
    match (p.text("symbol")?, p.text("coin")?) {
        (Some(symbol), _) => {
            state.execute(|e, now| e.switch_position_mode(now, &symbol, hedge))?;
        }
        (None, Some(coin)) if coin == "USDT" => state.execute(|e, now| {
            for info in e.instruments() {
                // Symbols with a position or orders, or already so, keep their mode.
                let _ = e.switch_position_mode(now, &info.symbol, hedge);
            }
        }),
        (None, Some(coin)) => {
            return Err(Reject::params(format!(
                "params error: coin {coin} is not supported (USDT only)"
            )))
        }
        (None, None) => return Err(Reject::params("params error: symbol or coin is required")),
    }
    Reply::ok(json!({}))
}

fn trading_stop(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    p.linear()?;
    // docs/v5/position/trading-stop.mdx: `tpslMode` and `positionIdx` are required.
    if p.int("positionIdx")?.is_none() {
        return Err(Reject::params("params error: positionIdx is required"));
    }
    one_way(p)?;
    match p.text("tpslMode")?.as_deref() {
        None => return Err(Reject::params("params error: tpslMode is required")),
        Some("Full") => {}
        Some("Partial") => {
            return Err(Reject::params(
                "params error: the emulator supports tpslMode Full only",
            ))
        }
        Some(_) => return Err(Reject::params("params error: tpslMode invalid")),
    }
    let req = TradingStop {
        symbol: p.required("symbol")?,
        take_profit: p.decimal("takeProfit")?,
        stop_loss: p.decimal("stopLoss")?,
    };
    state.execute(|e, now| e.set_trading_stop(now, &req))?;
    Reply::ok(json!({}))
}

fn wallet_balance(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    match p.required("accountType")?.as_str() {
        "UNIFIED" => {}
        other => {
            return Err(Reject::params(format!(
                "params error: accountType {other} is not supported (UNIFIED only)"
            )))
        }
    }
    let mut account = state.read(Engine::wallet);
    if let Some(coins) = p.text("coin")? {
        account
            .coin
            .retain(|c| coins.split(',').any(|want| want == c.coin));
    }
    Reply::ok(json!({ "list": [account] }))
}

fn account_info(_: &AppState, _: &Params, ctx: &Ctx) -> Result<Reply, Reject> {
    Reply::ok(json!({
        "marginMode": "REGULAR_MARGIN",
        "updatedTime": ctx.now.to_string(),
        "unifiedMarginStatus": 5,
        "dcpStatus": "OFF",
        "timeWindow": 10,
        "smpGroup": 0,
        "isMasterTrader": false,
        "spotHedgingStatus": "OFF",
    }))
}

fn set_margin_mode(_: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    match p.required("setMarginMode")?.as_str() {
        "REGULAR_MARGIN" => Err(Reject::new(
            110026,
            "Cross/isolated margin mode has not been modified.",
        )),
        "ISOLATED_MARGIN" | "PORTFOLIO_MARGIN" => Err(Reject::new(
            3400045,
            "Set margin mode failed: the emulator supports cross margin (REGULAR_MARGIN) only",
        )),
        _ => Err(Reject::params("params error: setMarginMode invalid")),
    }
}

fn fee_rate(state: &AppState, p: &Params, _: &Ctx) -> Result<Reply, Reject> {
    // docs/v5/account/fee-rate.mdx: `category` is required (its request example sends it).
    p.linear()?;
    let symbol = p.text("symbol")?;
    let (instruments, fees) = state.read(|e| (e.instruments(), e.fees()));
    let list: Vec<Value> = instruments
        .into_iter()
        .filter(|i| symbol.as_deref().is_none_or(|s| i.symbol == s))
        .map(|i| json!({"symbol": i.symbol, "takerFeeRate": fees.taker.to_string(), "makerFeeRate": fees.maker.to_string()}))
        .collect();
    // docs v5/account/fee-rate: derivatives replies have no `category` field.
    Reply::ok(json!({ "list": list }))
}
