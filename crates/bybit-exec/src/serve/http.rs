//! The HTTP side: `/health`, `/metrics`, the status page and its JSON, and the loopback
//! control API that starts and closes paper trades.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use exec_gateway::{Journal, OrderSnapshot, Outcome, PositionState, TradeHistory, TradeState};
use metrics_exporter_prometheus::PrometheusHandle;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use super::api;
use super::metrics::{
    flag, FALLBACK_POLLING_ACTIVE, TRADING_HALTED, UNRESOLVED_ORDERS, WS_CONNECTED,
};
use super::snapshot::{cached_rest, Cache, EquityPoint};
use super::watch::{EventLine, Seen};
use crate::config::Routing;
use crate::runtime::{BybitStatus, Runtime};

/// The status page: one file, inline CSS and JS, no build step.
const PAGE: &str = include_str!("page.html");

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) runtime: Runtime,
    /// The events kept for `GET /api/events`.
    pub(crate) hub: Arc<super::stream::Hub>,
    /// The background reconciler's last pass.
    pub(crate) reconciled: super::reconciler::Reconciled,
    /// The reference trade manager (plans with `"manage": true`).
    pub(crate) manager: crate::manager::Manager,
    pub(crate) seen: Arc<Seen>,
    pub(crate) metrics: PrometheusHandle,
    /// Tags `recover()` found at start.
    pub(crate) recovered: Vec<String>,
    /// The address the server is bound to (the `Host` a control call must name).
    pub(crate) addr: SocketAddr,
    /// The exchange as last read by the refresher (`snapshot.rs`).
    pub(crate) snapshot: Cache,
}

/// The largest request body read (a `TradePlan` is well under 1 KiB).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// The routes.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/status", get(status))
        .route("/api/events", get(super::stream::events))
        .route("/api/trades", post(api::start_trade).get(api::trades))
        .route("/api/trades/{tag}", get(api::trade))
        .route("/api/trades/{tag}/tps", post(api::tps))
        .route("/api/trades/{tag}/dcas", post(api::dcas))
        .route("/api/trades/{tag}/breakeven", post(api::breakeven))
        .route("/api/trades/{tag}/close", post(api::close))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Runs before any extractor, so a refused caller's body is never parsed.
        .layer(middleware::from_fn_with_state(
            app.clone(),
            super::guard::guard,
        ))
        .with_state(app)
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// The header that says how old `/health`'s REST check is, ms.
const AGE_HEADER: &str = "x-status-age-ms";

/// SPEC R-HEALTH-1's JSON; HTTP 503 when REST or a stream this routing needs is down. REST
/// is the refresher's last check (never a request of its own), the streams are read now.
async fn health(State(app): State<Arc<App>>) -> Response {
    let (rest, age) = cached_rest(app.snapshot.get().as_deref());
    let status = app.runtime.status_with(rest);
    let code = if app.runtime.is_healthy(&status) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let age = age.map_or_else(|| "none".to_owned(), |a| a.to_string());
    // Beside R-HEALTH-1's three parts: what the layer knows of the exchange (issue 15 item 6).
    let snapshot = app.snapshot.get();
    let (positions, orders) = snapshot.as_deref().map_or((false, false), |s| s.known());
    let word = |known: bool| if known { "known" } else { "unknown" };
    let mut body = serde_json::to_value(&status).unwrap_or_default();
    if let Some(map) = body.as_object_mut() {
        map.insert("positions".to_owned(), json!(word(positions)));
        map.insert("orders".to_owned(), json!(word(orders)));
        map.insert(
            "reconciler".to_owned(),
            serde_json::to_value(app.reconciled.last()).unwrap_or_default(),
        );
        map.insert(
            "flagged".to_owned(),
            json!(snapshot
                .as_deref()
                .map(|s| s.flags.clone())
                .unwrap_or_default()),
        );
    }
    (code, [(AGE_HEADER, age)], Json(body)).into_response()
}

/// Prometheus text: samples the gauges, then renders every metric recorded so far.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let unresolved = unresolved_off_thread(&app).await.len();
    sample(&app, unresolved);
    app.metrics.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

fn sample(app: &App, unresolved: usize) {
    let rt = &app.runtime;
    let polling = rt.settings.routing == Routing::Live
        && rt.live.as_ref().is_some_and(|l| l.private_stream_quiet());
    flag(FALLBACK_POLLING_ACTIVE, polling);
    flag(TRADING_HALTED, rt.gateway.halted().is_some());
    #[allow(clippy::cast_precision_loss, reason = "a count of orders")]
    metrics::gauge!(UNRESOLVED_ORDERS).set(unresolved as f64);
    let public = rt.public.health();
    metrics::gauge!(WS_CONNECTED, "stream" => "public").set(if public.connected {
        1.0
    } else {
        0.0
    });
    if let Some(private) = &rt.private {
        let h = private.health();
        metrics::gauge!(WS_CONNECTED, "stream" => "private").set(
            if h.connected && h.authenticated {
                1.0
            } else {
                0.0
            },
        );
    }
}

/// An order of a known trade whose outcome the journal does not hold.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Unresolved {
    pub(crate) tag: String,
    leg: String,
    order_link_id: String,
    symbol: String,
    side: String,
    qty: Decimal,
    kind: String,
    /// `none` (sent, no answer journaled) or `unknown` (answered ambiguously, not looked up yet).
    last_outcome: &'static str,
}

/// [`unresolved`] of the trades seen (the journal's owner thread does the reading).
pub(crate) async fn unresolved_off_thread(app: &App) -> Vec<Unresolved> {
    let tags = app.seen.tags();
    unresolved(app.runtime.journal.as_ref(), &tags).await
}

/// The intents of `tags` whose last journaled outcome is none or `unknown`.
async fn unresolved(journal: &dyn Journal, tags: &[String]) -> Vec<Unresolved> {
    let mut out = Vec::new();
    for tag in tags {
        let Ok(rows) = journal.intents(tag).await else {
            continue;
        };
        for row in rows {
            let last = match row.outcomes.last() {
                None => "none",
                Some(Outcome::Unknown { .. }) => "unknown",
                Some(_) => continue,
            };
            let i = row.intent;
            out.push(Unresolved {
                tag: tag.clone(),
                leg: i.leg,
                order_link_id: i.order_link_id,
                symbol: i.symbol,
                side: i.side,
                qty: i.qty,
                kind: i.kind,
                last_outcome: last,
            });
        }
    }
    out
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PositionView {
    symbol: String,
    side: Option<String>,
    size: Decimal,
    entry_price: Option<Decimal>,
    leverage: Option<Decimal>,
    unrealised_pnl: Option<Decimal>,
    mark_price: Option<Decimal>,
    liq_price: Option<Decimal>,
}

impl From<&PositionState> for PositionView {
    fn from(p: &PositionState) -> Self {
        PositionView {
            symbol: p.symbol.as_str().to_owned(),
            side: p.side.map(|s| s.as_str().to_owned()),
            size: p.size,
            entry_price: p.entry_price,
            leverage: p.leverage,
            unrealised_pnl: p.unrealised_pnl,
            mark_price: p.mark_price,
            liq_price: p.liq_price,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderView {
    leg: Option<String>,
    order_link_id: String,
    symbol: String,
    side: String,
    qty: Decimal,
    price: Option<Decimal>,
    trigger_price: Option<Decimal>,
    filled_qty: Decimal,
    status: String,
    reduce_only: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TradeView {
    tag: String,
    symbol: Option<String>,
    side: Option<String>,
    phase: Option<String>,
    entry_price: Option<Decimal>,
    filled_qty: Option<Decimal>,
    error: Option<String>,
    recovered: bool,
    open_orders: Vec<OrderView>,
    /// Legs of the plan not placed although the entry filled.
    missing_legs: Vec<String>,
    /// Open with a take-profit missing.
    unprotected: bool,
    /// The legs refused or unresolved after the entry, and why.
    problems: Vec<String>,
    /// Why the trade's state disagrees with the exchange or the journal, until reconciled.
    flag: Option<String>,
    /// Realised so far (the journal's fills: execPnl − fees + funding).
    realised_pnl: Option<Decimal>,
    /// The open position's unrealised P&L on the trade's symbol, mark and liquidation
    /// price (while the trade holds it).
    unrealised_pnl: Option<Decimal>,
    mark_price: Option<Decimal>,
    liq_price: Option<Decimal>,
}

fn trade_view(tag: &str, state: Option<&TradeState>, recovered: bool) -> TradeView {
    TradeView {
        tag: tag.to_owned(),
        symbol: state.map(|s| s.symbol.as_str().to_owned()),
        side: state.map(|s| s.side.as_str().to_owned()),
        phase: state.map(|s| s.phase.as_str().to_owned()),
        entry_price: state.and_then(|s| s.entry_price),
        filled_qty: state.map(|s| s.filled_qty),
        error: state.and_then(|s| s.error.clone()),
        recovered,
        open_orders: Vec::new(),
        missing_legs: Vec::new(),
        unprotected: false,
        problems: Vec::new(),
        flag: None,
        realised_pnl: None,
        unrealised_pnl: None,
        mark_price: None,
        liq_price: None,
    }
}

/// The wallet as the page shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WalletView {
    wallet_balance: Decimal,
    available: Decimal,
    equity: Option<Decimal>,
}

/// How many finished trades the page lists.
const HISTORY_ROWS: usize = 50;

/// Everything the status page shows, in one read.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusView {
    routing: String,
    env: String,
    healthy: bool,
    health: BybitStatus,
    halted: Option<String>,
    fallback_polling: bool,
    /// How old the REST check, positions and open orders are, ms (`null` before the first
    /// read).
    snapshot_age_ms: Option<u64>,
    /// The open positions; `null` when the exchange could not be read (unknown, not none).
    positions: Option<Vec<PositionView>>,
    /// Whether every symbol's open orders were read (when not, `openOrders` is partial).
    orders_known: bool,
    trades: Vec<TradeView>,
    /// Trades whose state disagrees with the exchange or the journal: tag → why.
    flagged: BTreeMap<String, String>,
    /// The background reconciler's last pass.
    reconciler: super::reconciler::LastPass,
    /// Open orders that carry no trade tag of this layer.
    other_orders: Vec<OrderView>,
    unresolved: Vec<Unresolved>,
    events: Vec<EventLine>,
    errors: Vec<String>,
    /// The wallet; `null` when it could not be read.
    wallet: Option<WalletView>,
    /// The finished trades of the journal, newest first (at most [`HISTORY_ROWS`]).
    history: Vec<TradeHistory>,
    /// How many finished trades the journal holds (`history` lists the newest of them), so
    /// the page says when rows are left off beside a total that counts them all.
    history_total: usize,
    /// Realised P&L of every trade in the journal; `null` when it could not be read.
    realised_pnl_total: Option<Decimal>,
    /// The session's equity, oldest first (the chart).
    equity: Vec<EquityPoint>,
    /// Paper routing: the simulated account's balance, kept in the journal across restarts
    /// (`null` under other routings).
    paper_balance: Option<serde_json::Value>,
}

/// The page's JSON, from the refresher's last read: no request to the exchange of its own.
async fn status(State(app): State<Arc<App>>) -> Json<StatusView> {
    let rt = &app.runtime;
    let snapshot = app.snapshot.get();
    let (rest, age) = cached_rest(snapshot.as_deref());
    let health = rt.status_with(rest);
    let mut errors = Vec::new();
    let positions = match snapshot.as_deref().map(|s| &s.positions) {
        Some(Ok(p)) => Some(
            p.iter()
                .filter(|p| !p.is_flat())
                .map(PositionView::from)
                .collect(),
        ),
        Some(Err(e)) => {
            errors.push(format!("positions unknown: {e}"));
            None
        }
        None => {
            errors.push("the exchange has not been read yet: positions unknown".to_owned());
            None
        }
    };
    let orders_known = snapshot.as_deref().is_some_and(|s| s.known().1);
    let flagged = snapshot
        .as_deref()
        .map(|s| s.flags.clone())
        .unwrap_or_default();
    let links = rt.gateway.links();
    let mut trades: BTreeMap<String, TradeView> = app
        .seen
        .tags()
        .iter()
        .map(|tag| {
            // An id's tag (from an order or event) lacks the prefix a client tag may carry:
            // one trade, one row.
            let tag = rt.gateway.client_tag_of(tag);
            let state = rt.gateway.trade(&tag);
            let recovered = app.recovered.contains(&tag);
            let view = trade_view(&tag, state.as_ref(), recovered);
            (tag, view)
        })
        .collect();
    let mut other_orders = Vec::new();
    let no_orders = Vec::new();
    let orders = snapshot.as_deref().map_or(&no_orders, |s| &s.orders);
    for (_, read) in orders {
        let orders: &Vec<OrderSnapshot> = match read {
            Ok(o) => o,
            Err(e) => {
                errors.push(e.clone());
                continue;
            }
        };
        for o in orders {
            let parsed = links.parse(&o.order_link_id);
            let view = OrderView {
                leg: parsed.map(|(leg, _)| leg.code()),
                order_link_id: o.order_link_id.clone(),
                symbol: o.symbol.clone(),
                side: o.side.as_str().to_owned(),
                qty: o.qty,
                price: o.price,
                trigger_price: o.trigger_price,
                filled_qty: o.filled_qty,
                status: format!("{:?}", o.status),
                reduce_only: o.reduce_only,
            };
            match parsed {
                Some((_, tag)) => {
                    let tag = rt.gateway.client_tag_of(tag);
                    trades
                        .entry(tag.clone())
                        .or_insert_with(|| trade_view(&tag, rt.gateway.trade(&tag).as_ref(), false))
                        .open_orders
                        .push(view);
                }
                None => other_orders.push(view),
            }
        }
    }
    // A finished trade with nothing left open is history (the journal keeps it).
    trades.retain(|_, t| !(t.phase.as_deref() == Some("CLOSED") && t.open_orders.is_empty()));
    let no_history = Vec::new();
    let journal_trades = match snapshot.as_deref().map(|s| &s.history) {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            errors.push(e.clone());
            &no_history
        }
        None => &no_history,
    };
    let open_positions = match snapshot.as_deref().map(|s| &s.positions) {
        Some(Ok(p)) => p.as_slice(),
        _ => &[],
    };
    for trade in trades.values_mut() {
        trade.flag = flagged.get(&trade.tag).cloned();
        trade.realised_pnl = journal_trades
            .iter()
            .find(|h| h.tag == trade.tag)
            .map(|h| h.pnl.realised);
        let holds = matches!(
            trade.phase.as_deref(),
            Some("IN_POSITION" | "BREAKEVEN" | "CLOSING")
        );
        if let Some(p) = open_positions
            .iter()
            .find(|p| holds && !p.is_flat() && Some(p.symbol.as_str()) == trade.symbol.as_deref())
        {
            trade.unrealised_pnl = p.unrealised_pnl;
            trade.mark_price = p.mark_price;
            trade.liq_price = p.liq_price;
        }
        if let Some(state) = rt.gateway.trade(&trade.tag) {
            let plan = api::plan_of(&app, &trade.tag).await;
            trade.missing_legs = api::missing_legs(&state, plan.as_ref());
            trade.unprotected = state.unprotected;
            trade.problems = state
                .problems
                .iter()
                .map(|p| format!("{} {}: {}", p.leg, p.kind, p.reason))
                .collect();
        }
        trade.open_orders.sort_by(|a, b| {
            a.leg
                .cmp(&b.leg)
                .then(a.order_link_id.cmp(&b.order_link_id))
        });
    }
    let wallet = match snapshot.as_deref().map(|s| &s.wallet) {
        Some(Ok(b)) => Some(WalletView {
            wallet_balance: b.wallet,
            available: b.available,
            equity: b.equity,
        }),
        Some(Err(e)) => {
            errors.push(format!("wallet unknown: {e}"));
            None
        }
        None => None,
    };
    let realised_pnl_total = snapshot
        .as_deref()
        .and_then(|s| s.history.as_ref().ok())
        .map(|h| h.iter().map(|t| t.pnl.realised).sum());
    let mut history: Vec<TradeHistory> = journal_trades
        .iter()
        .filter(|h| h.is_finished())
        .cloned()
        .collect();
    history.sort_by_key(|h| std::cmp::Reverse(h.closed_time_ms));
    let history_total = history.len();
    history.truncate(HISTORY_ROWS);
    Json(StatusView {
        routing: rt.settings.routing.as_str().to_owned(),
        env: rt.settings.env.to_string(),
        healthy: rt.is_healthy(&health),
        health,
        halted: rt.gateway.halted(),
        fallback_polling: rt.settings.routing == Routing::Live
            && rt.live.as_ref().is_some_and(|l| l.private_stream_quiet()),
        snapshot_age_ms: age,
        positions,
        orders_known,
        trades: trades.into_values().collect(),
        flagged,
        reconciler: app.reconciled.last(),
        other_orders,
        unresolved: unresolved_off_thread(&app).await,
        events: app.seen.events(),
        errors,
        wallet,
        history,
        history_total,
        realised_pnl_total,
        equity: app.snapshot.series(),
        paper_balance: match rt.paper.as_ref() {
            Some(p) => {
                let b = p.balance().await;
                Some(json!({"wallet": b.wallet, "available": b.available}))
            }
            None => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use exec_gateway::{Intent, MemoryJournal};
    use rust_decimal_macros::dec;

    use super::*;

    fn intent(leg: &str) -> Intent {
        Intent {
            trade_tag: "T1".to_owned(),
            leg: leg.to_owned(),
            order_link_id: format!("andre_{leg}_T1"),
            symbol: "BTCUSDT".to_owned(),
            side: "Sell".to_owned(),
            qty: dec!(0.01),
            price: Some(dec!(51000)),
            trigger_price: None,
            kind: "limit".to_owned(),
            reason: "setup_tps".to_owned(),
            at_ms: 1,
        }
    }

    // The outcome policy (STYLE.md): an order is settled by an answer or by a lookup, not by
    // the passage of time.
    #[tokio::test]
    async fn an_order_is_unresolved_until_an_answer_or_a_lookup_is_journaled() {
        let journal = MemoryJournal::new();
        let unknown = Outcome::Unknown {
            reason: "timeout".to_owned(),
        };
        for leg in ["TP1", "TP2", "TP3", "DCA1"] {
            journal.record_intent(&intent(leg)).await.unwrap();
        }
        let link = |leg: &str| format!("andre_{leg}_T1");
        // TP1: no answer at all. TP2: answered "unknown". TP3: unknown, then found by lookup.
        journal
            .record_outcome(&link("TP2"), &unknown, 2)
            .await
            .unwrap();
        journal
            .record_outcome(&link("TP3"), &unknown, 2)
            .await
            .unwrap();
        let found = Outcome::Resolved {
            found: true,
            order_id: Some("1".to_owned()),
        };
        journal
            .record_outcome(&link("TP3"), &found, 3)
            .await
            .unwrap();
        let acked = Outcome::Acked {
            order_id: "2".to_owned(),
        };
        journal
            .record_outcome(&link("DCA1"), &acked, 2)
            .await
            .unwrap();

        let open = unresolved(&journal, &["T1".to_owned(), "other".to_owned()]).await;
        let got: Vec<(&str, &str)> = open
            .iter()
            .map(|u| (u.leg.as_str(), u.last_outcome))
            .collect();
        assert_eq!(got, [("TP1", "none"), ("TP2", "unknown")]);
    }
}
