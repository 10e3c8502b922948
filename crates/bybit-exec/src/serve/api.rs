//! The control API on a trade: every SPEC operation, and the trades with
//! the status of each leg.
//!
//! - `POST /api/trades` (a [`PlanRequest`]): the entry, then the take-profits, then the DCAs
//!   (SPEC R-GW-1..3). It answers what happened: 200 when every leg is placed; once the entry
//!   filled, a leg that failed is answered **502 with the whole story** (entry filled at X for
//!   Q, legs placed, legs failed and why, `unprotected` when a take-profit is missing), never a
//!   bare 422 while a position is open. A plan refused before anything was sent is 422, a
//!   conflict (a second trade on a symbol, …) 409.
//! - `POST /api/trades/{tag}/tps`, `/dcas`: places what is missing and resizes to the
//!   position (`setup_tps` / `setup_dcas` with the journaled plan and the position now);
//!   `/breakeven`: `move_to_breakeven`; `/close`: `close_all`. Each takes an empty body or `{}`.
//! - `GET /api/trades`, `GET /api/trades/{tag}`: the trades with per-leg status.
//!
//! Request types refuse unknown fields, and money is a decimal **string** in
//! `bybit_types::parse_decimal`'s grammar (`"40"`, `"0.3"`; not `"4_0"`, `"4e1"` nor a JSON
//! number); axum's rejection text names the field.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use exec_gateway::{DcaLevel, GatewayError, PositionState, TpLevel, TradePlan, TradeState};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::app::App;

/// Money on the control API: a decimal string in the one strict grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money(pub Decimal);

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Money;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal string such as \"40\" or \"0.3\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                bybit_types::parse_decimal(v).map(Money).map_err(|e| {
                    E::custom(format!(
                        "{v:?} is not a decimal in the form 123 or 123.45 ({e})"
                    ))
                })
            }
        }
        // Only a string is accepted: a JSON number (`40`, `0.3`) is refused by the visitor.
        d.deserialize_str(Visit)
    }
}

/// A take-profit level as the control API takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TpRequest {
    /// Limit price.
    pub price: Money,
    /// Share of the position, a fraction.
    pub share: Money,
}

/// A DCA level as the control API takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcaRequest {
    /// Price.
    pub price: Money,
    /// Margin before leverage, USDT.
    pub margin_usdt: Money,
}

/// `POST /api/trades`: a [`TradePlan`] with strict money and no unknown field, and whether
/// `serve` should manage the trade ([`super::manager`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// e.g. `BTCUSDT`.
    pub symbol: String,
    /// `Buy` or `Sell`.
    pub side: exec_gateway::Side,
    /// Margin before leverage, USDT.
    pub margin_usdt: Money,
    /// Leverage.
    pub leverage: Money,
    /// DCA levels, DCA1 first.
    #[serde(default)]
    pub dca_levels: Vec<DcaRequest>,
    /// Take-profit levels, TP1 first.
    pub tp_levels: Vec<TpRequest>,
    /// The trade's tag.
    pub client_tag: String,
    /// Take over a position on the symbol that no open trade owns (R-SAFE-2).
    #[serde(default)]
    pub adopt_position: bool,
    /// Let `serve` run the trade to its end: take-profits resized after each DCA fill,
    /// breakeven after TP1, closed when flat.
    #[serde(default)]
    pub manage: bool,
}

impl PlanRequest {
    /// The gateway's plan.
    pub fn plan(&self) -> Result<TradePlan, String> {
        Ok(TradePlan {
            symbol: bybit_types::Symbol::new(self.symbol.clone())
                .map_err(|e| format!("symbol: {e}"))?,
            side: self.side,
            margin_usdt: self.margin_usdt.0,
            leverage: self.leverage.0,
            dca_levels: self
                .dca_levels
                .iter()
                .map(|d| DcaLevel {
                    price: d.price.0,
                    margin_usdt: d.margin_usdt.0,
                })
                .collect(),
            tp_levels: self
                .tp_levels
                .iter()
                .map(|t| TpLevel {
                    price: t.price.0,
                    share: t.share.0,
                })
                .collect(),
            client_tag: self.client_tag.clone(),
            adopt_position: self.adopt_position,
        })
    }
}

/// The body of the operations on a trade: nothing, or `{}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

fn answer(code: StatusCode, body: Value) -> Response {
    (code, Json(body)).into_response()
}

fn refused(code: StatusCode, why: String) -> Response {
    answer(code, json!({ "error": why }))
}

/// The HTTP status of a gateway refusal: 409 for a conflict with another trade or position,
/// 422 for a plan or call refused before anything was sent, 502 when the exchange refused or
/// did not answer.
pub(crate) fn error_code(e: &GatewayError) -> StatusCode {
    if e.is_conflict() {
        StatusCode::CONFLICT
    } else if e.is_plan_refused() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else if e.is_outcome_unknown() || e.is_definitive_reject() || e.is_fatal() {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

fn gateway_error(e: &GatewayError) -> Response {
    refused(error_code(e), e.to_string())
}

/// The legs of `plan` not on the exchange although the entry filled (a take-profit leg too
/// small to place is left out by the gateway and shows here too). Whether the trade is
/// *unprotected* is the gateway's decision (`TradeState::unprotected`), not made again here.
pub(crate) fn missing_legs(state: &TradeState, plan: Option<&TradePlan>) -> Vec<String> {
    let mut missing = Vec::new();
    if let Some(plan) = plan {
        if state.filled_qty > Decimal::ZERO {
            let planned = (1..=plan.tp_levels.len())
                .map(|i| format!("TP{i}"))
                .chain((1..=plan.dca_levels.len()).map(|i| format!("DCA{i}")));
            missing.extend(planned.filter(|leg| !state.orders.contains_key(leg)));
        }
    }
    missing
}

/// The state of a trade with each leg: orderLinkId and last status seen, or `missing` for a
/// leg of the plan that is not placed.
pub(crate) fn trade_json(state: &TradeState, plan: Option<&TradePlan>) -> Value {
    let mut legs: BTreeMap<String, Value> = state
        .orders
        .iter()
        .map(|(leg, (link, status))| {
            (
                leg.clone(),
                json!({
                    "leg": leg, "orderLinkId": link,
                    "status": status.map_or_else(|| "sent".to_owned(), |s| format!("{s:?}")),
                }),
            )
        })
        .collect();
    let missing = missing_legs(state, plan);
    let unprotected = state.unprotected;
    for p in &state.problems {
        legs.insert(
            p.leg.clone(),
            json!({"leg": p.leg, "orderLinkId": p.order_link_id,
                   "status": format!("{}: {}", p.kind, p.reason), "retCode": p.ret_code}),
        );
    }
    for leg in &missing {
        legs.insert(
            leg.clone(),
            json!({"leg": leg, "orderLinkId": null, "status": "missing"}),
        );
    }
    json!({
        "tag": state.tag,
        "symbol": state.symbol.as_str(),
        "side": state.side.as_str(),
        "phase": state.phase.as_str(),
        "entryPrice": state.entry_price,
        "filledQty": state.filled_qty,
        "orders": legs.into_values().collect::<Vec<_>>(),
        "missingLegs": missing,
        "unprotected": unprotected,
        "problems": state.problems,
        "error": state.error,
    })
}

pub(crate) async fn plan_of(app: &App, tag: &str) -> Option<TradePlan> {
    let owned = tag.to_owned();
    app.runtime.journal.plan(&owned).await.ok().flatten()
}

/// `POST /api/trades`.
pub(crate) async fn start_trade(
    State(app): State<Arc<App>>,
    request: Result<Json<PlanRequest>, JsonRejection>,
) -> Response {
    let request = match request {
        Ok(Json(r)) => r,
        Err(rejection) => {
            let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return refused(code, format!("not a trade plan: {}", rejection.body_text()));
        }
    };
    let plan = match request.plan() {
        Ok(plan) => plan,
        Err(why) => return refused(StatusCode::BAD_REQUEST, format!("not a trade plan: {why}")),
    };
    let gw = &app.runtime.gateway;
    let tag = plan.client_tag.clone();
    // The entry, then every take-profit and DCA; once the entry filled the answer is Ok
    // whatever became of the legs (the trade's problems say which failed and why).
    let opened = match gw.open_trade(&plan).await {
        Ok(opened) => opened,
        // Refused before anything was sent (the tag may name an older, finished trade).
        Err(e) if e.is_conflict() || e.is_plan_refused() => return gateway_error(&e),
        Err(e) => {
            // Filled or not? The gateway's state says; a position open is never a bare error.
            if let Some(state) = gw.trade(&tag).filter(|s| s.filled_qty > Decimal::ZERO) {
                app.seen.add_tag(&tag);
                return answer(
                    StatusCode::BAD_GATEWAY,
                    json!({"error": e.to_string(), "trade": trade_json(&state, Some(&plan))}),
                );
            }
            return gateway_error(&e);
        }
    };
    // Only an accepted plan's tag is remembered (a refused one may be anything, of any size);
    // the refresher forgets it again once the trade is finished.
    app.seen.add_tag(&tag);
    app.seen.note(
        Some(&tag),
        format!("trade {tag} started through the control API"),
    );
    let mut manage_error = None;
    if request.manage {
        if let Err(e) = app.manager.manage(&plan).await {
            manage_error = Some(format!(
                "the trade is managed, but not after a restart: {e:#}"
            ));
        }
    }
    let entry = opened.entry;
    let state = gw.trade(&tag).unwrap_or(opened.state);
    // The operator's next look shows the trade (one read, not one per page refresh).
    super::snapshot::refresh(&app).await;
    let trade = trade_json(&state, Some(&plan));
    let entry_json = json!({"entryPrice": entry.entry_price, "filledQty": entry.filled_qty,
                            "orderLinkId": entry.order_link_id});
    // The gateway's word: every leg it meant to place stands (a dust TP leg it left out is
    // not a failure).
    let complete = state.problems.is_empty() && !state.unprotected;
    if complete {
        return answer(
            StatusCode::OK,
            json!({"entry": entry_json, "trade": trade, "managed": request.manage,
                   "warning": manage_error}),
        );
    }
    let failed: Vec<String> = state
        .problems
        .iter()
        .map(|p| {
            format!(
                "{} {} ({}{})",
                p.leg,
                p.kind,
                p.reason,
                p.ret_code
                    .map(|c| format!(", retCode {c}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let summary = format!(
        "entry filled at {} for {}; {}; failed: {}{}",
        entry.entry_price,
        entry.filled_qty,
        if state.phase == exec_gateway::Phase::Closed {
            "the position was closed (on_tp_failure = close)".to_owned()
        } else {
            format!("trade {}", state.phase.as_str())
        },
        if failed.is_empty() {
            "none".to_owned()
        } else {
            failed.join("; ")
        },
        if state.unprotected {
            "; UNPROTECTED: a take-profit is missing"
        } else {
            ""
        },
    );
    answer(
        StatusCode::BAD_GATEWAY,
        json!({"error": summary, "entry": entry_json, "trade": trade, "managed": request.manage,
               "warning": manage_error}),
    )
}

/// Why an operation's body (empty or `{}`) is refused, if it is.
fn no_fields(body: &Bytes) -> Option<String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    serde_json::from_slice::<NoFields>(body)
        .err()
        .map(|e| format!("takes no fields: {e}"))
}

fn no_trade(tag: &str) -> Response {
    refused(StatusCode::NOT_FOUND, format!("no trade {tag} is tracked"))
}

/// What an operation on a trade does.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Tps,
    Dcas,
    Breakeven,
    Close,
}

async fn operate(app: Arc<App>, tag: String, body: Bytes, op: Operation) -> Response {
    if let Some(why) = no_fields(&body) {
        return refused(StatusCode::BAD_REQUEST, why);
    }
    let gw = &app.runtime.gateway;
    let Some(state) = gw.trade(&tag) else {
        return no_trade(&tag);
    };
    let plan = plan_of(&app, &tag).await;
    let done = match op {
        Operation::Tps | Operation::Dcas => {
            let Some(plan) = plan.clone() else {
                return refused(
                    StatusCode::NOT_FOUND,
                    format!("the journal has no plan for {tag}"),
                );
            };
            let position: PositionState =
                match app.runtime.ports.positions.get_position(&plan.symbol).await {
                    Ok(p) => p,
                    Err(e) => {
                        return refused(
                            StatusCode::BAD_GATEWAY,
                            format!("reading the position: {e}"),
                        )
                    }
                };
            if matches!(op, Operation::Tps) {
                gw.setup_tps(&plan, &position).await
            } else {
                gw.setup_dcas(&plan, &position).await
            }
        }
        Operation::Breakeven => gw.move_to_breakeven(&state).await,
        Operation::Close => {
            gw.close_all(&state, "closed through the serve control API")
                .await
        }
    };
    super::snapshot::refresh(&app).await;
    match done {
        Ok(state) => answer(
            StatusCode::OK,
            json!({"trade": trade_json(&state, plan.as_ref())}),
        ),
        Err(e) => {
            let now = gw.trade(&tag).unwrap_or(state);
            answer(
                error_code(&e),
                json!({"error": e.to_string(), "trade": trade_json(&now, plan.as_ref())}),
            )
        }
    }
}

/// `POST /api/trades/{tag}/tps`.
pub(crate) async fn tps(
    State(app): State<Arc<App>>,
    Path(tag): Path<String>,
    body: Bytes,
) -> Response {
    operate(app, tag, body, Operation::Tps).await
}

/// `POST /api/trades/{tag}/dcas`.
pub(crate) async fn dcas(
    State(app): State<Arc<App>>,
    Path(tag): Path<String>,
    body: Bytes,
) -> Response {
    operate(app, tag, body, Operation::Dcas).await
}

/// `POST /api/trades/{tag}/breakeven`.
pub(crate) async fn breakeven(
    State(app): State<Arc<App>>,
    Path(tag): Path<String>,
    body: Bytes,
) -> Response {
    operate(app, tag, body, Operation::Breakeven).await
}

/// `POST /api/trades/{tag}/close`.
pub(crate) async fn close(
    State(app): State<Arc<App>>,
    Path(tag): Path<String>,
    body: Bytes,
) -> Response {
    operate(app, tag, body, Operation::Close).await
}

/// `GET /api/trades/{tag}`.
pub(crate) async fn trade(State(app): State<Arc<App>>, Path(tag): Path<String>) -> Response {
    let Some(state) = app.runtime.gateway.trade(&tag) else {
        return no_trade(&tag);
    };
    let plan = plan_of(&app, &tag).await;
    answer(StatusCode::OK, trade_json(&state, plan.as_ref()))
}

/// `GET /api/trades`: the trades this server follows (started, recovered, or open in the
/// journal).
pub(crate) async fn trades(State(app): State<Arc<App>>) -> Response {
    let mut tags = app.seen.tags();
    let journal = app.runtime.journal.clone();
    if let Ok(open) = journal.open_trades().await {
        tags.extend(open);
    }
    tags.sort();
    tags.dedup();
    let mut out = Vec::new();
    for tag in tags {
        if let Some(state) = app.runtime.gateway.trade(&tag) {
            let plan = plan_of(&app, &tag).await;
            out.push(trade_json(&state, plan.as_ref()));
        }
    }
    answer(StatusCode::OK, json!({ "trades": out }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<PlanRequest, String> {
        serde_json::from_str(body).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"{"symbol":"BTCUSDT","side":"Buy","margin_usdt":"40","leverage":"25",
        "tp_levels":[{"price":"51000","share":"0.3"}],"client_tag":"T"}"#;

    #[test]
    fn money_is_a_strict_decimal_string_and_unknown_fields_are_refused() {
        assert_eq!(parse(GOOD).unwrap().margin_usdt, Money(Decimal::from(40)));
        for (bad, needle) in [
            (GOOD.replace(r#""40""#, r#""4_0""#), "4_0"),
            (GOOD.replace(r#""40""#, r#""4e1""#), "4e1"),
            (GOOD.replace(r#""40""#, "40.0"), "decimal string"),
            (GOOD.replace(r#""0.3""#, "0.3"), "decimal string"),
            (
                GOOD.replace(r#""client_tag""#, r#""stop_loss":"90000","client_tag""#),
                "unknown field `stop_loss`",
            ),
            (
                GOOD.replace(r#""share":"0.3""#, r#""share":"0.3","qty":"1""#),
                "unknown field `qty`",
            ),
        ] {
            let err = parse(&bad).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
