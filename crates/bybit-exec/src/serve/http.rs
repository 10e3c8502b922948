//! The HTTP side: `/health`, `/metrics`, the status page and its JSON, and the loopback
//! control API that starts and closes paper trades.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use exec_gateway::{OrderSnapshot, PositionState, TradeHistory, TradeState};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use super::api;
use super::app::App;
use super::cache::{cached_rest, EquityPoint};
use super::metrics::{
    flag, FALLBACK_POLLING_ACTIVE, TRADING_HALTED, UNRESOLVED_ORDERS, WS_CONNECTED,
};
use super::unresolved::{unresolved_off_thread, Unresolved};
use super::watch::EventLine;
use crate::config::Routing;
use crate::runtime::BybitStatus;

/// The status page: one file, inline CSS and JS, no build step.
const PAGE: &str = include_str!("page.html");

pub(super) async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// The header that says how old `/health`'s REST check is, ms.
const AGE_HEADER: &str = "x-status-age-ms";

/// SPEC R-HEALTH-1's JSON; HTTP 503 when REST or a stream this routing needs is down. REST
/// is the refresher's last check (never a request of its own), the streams are read now.
pub(super) async fn health(State(app): State<Arc<App>>) -> Response {
    let (rest, age) = cached_rest(app.snapshot.get().as_deref());
    let status = app.runtime.status_with(rest);
    let extra = app.extra.as_ref().map(|extra| (extra.0)());
    let extra_ok = extra.as_ref().is_none_or(|(_, ok)| *ok);
    let code = if app.runtime.is_healthy(&status) && extra_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let age = age.map_or_else(|| "none".to_owned(), |a| a.to_string());
    // Beside R-HEALTH-1's three parts: what the layer knows of the exchange (R-SAFE-5).
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
        if let Some((bus, _)) = extra {
            map.insert("bus".to_owned(), bus);
        }
    }
    (code, [(AGE_HEADER, age)], Json(body)).into_response()
}

/// Prometheus text: samples the gauges, then renders every metric recorded so far.
pub(super) async fn metrics(State(app): State<Arc<App>>) -> Response {
    let unresolved = unresolved_off_thread(&app).await.len();
    sample(&app, unresolved);
    // A mode's status sets its own gauges as it is read (`serve --nats`: the lease, the lag).
    if let Some(extra) = &app.extra {
        let _ = (extra.0)();
    }
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
    let polling =
        rt.settings.routing == Routing::Live && rt.live().is_some_and(|l| l.private_stream_quiet());
    flag(FALLBACK_POLLING_ACTIVE, polling);
    flag(TRADING_HALTED, rt.gateway.halted().is_some());
    #[allow(clippy::cast_precision_loss, reason = "a count of orders")]
    metrics::gauge!(UNRESOLVED_ORDERS).set(unresolved as f64);
    let public = rt.public().health();
    metrics::gauge!(WS_CONNECTED, "stream" => "public").set(if public.connected {
        1.0
    } else {
        0.0
    });
    if let Some(private) = rt.private() {
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
pub(super) struct StatusView {
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
    /// `serve --nats`: the lease and the bus's lag (`null` without a bus).
    bus: Option<serde_json::Value>,
    /// Whether every symbol's open orders were read (when not, `openOrders` is partial).
    orders_known: bool,
    trades: Vec<TradeView>,
    /// Trades whose state disagrees with the exchange or the journal: tag → why.
    flagged: BTreeMap<String, String>,
    /// The background reconciler's last pass.
    reconciler: super::app::LastPass,
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
pub(super) async fn status(State(app): State<Arc<App>>) -> Json<StatusView> {
    let rt = &app.runtime;
    let snapshot = app.snapshot.get();
    let (rest, age) = cached_rest(snapshot.as_deref());
    let health = rt.status_with(rest);
    let bus = app.extra.as_ref().map(|extra| (extra.0)());
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
        healthy: rt.is_healthy(&health) && bus.as_ref().is_none_or(|(_, ok)| *ok),
        health,
        halted: rt.gateway.halted(),
        fallback_polling: rt.settings.routing == Routing::Live
            && rt.live().is_some_and(|l| l.private_stream_quiet()),
        snapshot_age_ms: age,
        positions,
        bus: bus.map(|(bus, _)| bus),
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
        paper_balance: match rt.paper() {
            Some(p) => {
                let b = p.balance().await;
                Some(json!({"wallet": b.wallet, "available": b.available}))
            }
            None => None,
        },
    })
}
