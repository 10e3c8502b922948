//! The operator's commands against the configured environment: `status`, `balance`,
//! `positions`, `orders`, `preflight`, `recover`, `close-all`, `journal`, `trades`. Each prints
//! a table by default and JSON with `--json` (`trades` also CSV with `--csv`); times are UTC in
//! tables and `…TimeMs` milliseconds in JSON and CSV; [`execute`] returns the text and whether the command
//! succeeded, so tests (and other front ends) can run them without a terminal.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use bybit_rest::BybitRest;
use comfy_table::Table;
use exec_events::EventBus;
use exec_gateway::{
    trade_fills, trade_histories, trade_history, AccountService, Journal, LinkIds, MemoryJournal,
    OrderRouter, OrderSnapshot, Outcome, Phase, PositionService, Symbol, TradeHistory,
    DEFAULT_LINK_PREFIX,
};
use exec_journal::SqliteJournal;
use exec_live::{LiveConfig, LiveExchange};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::config::{ConfigArgs, JournalLocation, Routing, Settings};
use crate::runtime::{probe, trading_client, Runtime};

/// `--json`: machine-readable output.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Output {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `orders` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OrdersArgs {
    /// Only this symbol (default: every symbol in EXECUTION_SYMBOLS).
    #[arg(long)]
    pub symbol: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

/// `close-all` options.
#[derive(Debug, Clone, clap::Args)]
pub struct CloseAllArgs {
    /// The symbol whose trades are closed.
    pub symbol: String,
    #[command(flatten)]
    pub out: Output,
}

/// `journal` options.
#[derive(Debug, Clone, clap::Args)]
pub struct JournalArgs {
    /// The trade's client tag (the last part of its orderLinkIds, e.g. DEMO).
    pub trade_tag: String,
    #[command(flatten)]
    pub out: Output,
}

/// `trades` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TradesArgs {
    #[command(flatten)]
    pub out: Output,
    /// Print CSV (one row per trade, a header first) instead of a table.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

/// `bybit-exec` operator commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum OpsCommand {
    /// The health of REST and both streams as SPEC R-HEALTH-1 JSON (exit 1 when unhealthy);
    /// a light probe that answers also when the exchange cannot be reached.
    Status(Output),
    /// The USDT wallet balance and what is available for new orders.
    Balance(Output),
    /// Open positions.
    Positions(Output),
    /// Open orders of the traded symbols.
    Orders(OrdersArgs),
    /// Checks the account can trade the configured symbols (USDT perpetual, one-way mode,
    /// leverage, available margin); live routing only.
    Preflight(Output),
    /// Finds the layer's open trades on the exchange and rebuilds them from the journal.
    Recover(Output),
    /// Closes the layer's trades on a symbol: cancels their orders and closes the position.
    CloseAll(CloseAllArgs),
    /// A trade's plan, intents, outcomes, writes, state changes and fills, with their
    /// times, and its realised P&L, from the journal.
    Journal(JournalArgs),
    /// Every trade in the journal: tag, symbol, side, opened, closed, quantity, average
    /// entry, realised P&L (the exchange's execPnl − fees + funding), fees, state.
    Trades(TradesArgs),
}

/// What a command printed and whether it succeeded.
#[derive(Debug, Clone)]
pub struct Done {
    /// The text (a table or JSON).
    pub text: String,
    /// Whether the command succeeded (the process exits 1 otherwise).
    pub ok: bool,
}

/// Runs an operator command with the settings from the environment and file.
pub async fn run(command: OpsCommand, config: &ConfigArgs) -> Result<()> {
    let settings = Settings::load(config)?;
    // The environment's notes (a thin testnet market, …) concern trading on it; a command
    // that only reads the journal never reaches the exchange.
    let reads_journal_only = matches!(command, OpsCommand::Journal(_) | OpsCommand::Trades(_));
    if !reads_journal_only {
        for notice in settings.notices() {
            eprintln!("note: {notice}");
        }
    }
    // A slow exchange is never silent: "still waiting for …" every few seconds.
    let what = format!("the answers `{}` needs", name(&command));
    let done = crate::runtime::waiting_for(&what, execute(&command, settings)).await?;
    crate::print_line(&done.text);
    if done.ok {
        Ok(())
    } else {
        bail!("{} failed", name(&command))
    }
}

fn name(command: &OpsCommand) -> &'static str {
    match command {
        OpsCommand::Status(_) => "status",
        OpsCommand::Balance(_) => "balance",
        OpsCommand::Positions(_) => "positions",
        OpsCommand::Orders(_) => "orders",
        OpsCommand::Preflight(_) => "preflight",
        OpsCommand::Recover(_) => "recover",
        OpsCommand::CloseAll(_) => "close-all",
        OpsCommand::Journal(_) => "journal",
        OpsCommand::Trades(_) => "trades",
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(header.iter().copied());
    t
}

fn opt(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A time in the tables: UTC to the second (`2026-12-04T23:08:41Z`); `-` when unknown.
pub fn time_text(ms: i64) -> String {
    u64::try_from(ms)
        .ok()
        .filter(|ms| *ms > 0)
        .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .map_or_else(
            || "-".to_owned(),
            |t| humantime::format_rfc3339_seconds(t).to_string(),
        )
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Runs `command` with `settings`; returns what it would print.
///
/// - `journal` and `trades` read the journal file only;
/// - `balance`, `positions` and `orders` read the configured environment's account over REST
///   whatever the routing (they need the keys), through a [`LiveExchange`] with no streams, no
///   tracking and a journal in memory: nothing is written anywhere;
/// - `preflight`, `recover` and `close-all` act on the live account and its journal, so they
///   refuse any routing but live: against a paper or dry-run exchange, which is always flat,
///   `recover()` would take every open trade of the journal for closed.
pub async fn execute(command: &OpsCommand, settings: Settings) -> Result<Done> {
    match command {
        // The journal's own thread does the file I/O.
        OpsCommand::Journal(args) => journal(&settings, args).await,
        OpsCommand::Trades(args) => trades(&settings, args).await,
        OpsCommand::Status(out) => status(&settings, *out).await,
        OpsCommand::Balance(out) => balance(read_only(&settings)?.as_ref(), *out).await,
        OpsCommand::Positions(out) => positions(read_only(&settings)?.as_ref(), *out).await,
        OpsCommand::Orders(args) => {
            orders(read_only(&settings)?.as_ref(), &settings.symbols, args).await
        }
        OpsCommand::Preflight(_) | OpsCommand::Recover(_) | OpsCommand::CloseAll(_) => {
            if settings.routing != Routing::Live {
                bail!(
                    "{} acts on the live account and its journal, and refuses {} routing (a \
                     {} exchange is always flat, so every open trade would look closed); run \
                     it with live routing: EXECUTION_DRY_RUN unset or false, EXECUTION_ROUTING \
                     unset or live",
                    name(command),
                    settings.routing,
                    settings.routing
                );
            }
            let rt = Runtime::start(settings).await?;
            let result = with_runtime(command, &rt).await;
            rt.shutdown().await;
            result
        }
    }
}

/// The configured environment's account over REST, for reading only: no streams, no
/// tracking, a journal in memory.
fn read_only(settings: &Settings) -> Result<Arc<LiveExchange>> {
    settings.require_credentials("reading the account (balance, positions, orders)")?;
    Ok(Arc::new(LiveExchange::new(
        Arc::new(trading_client(settings)?) as Arc<dyn BybitRest>,
        EventBus::new(64),
        Arc::new(MemoryJournal::new()),
        LiveConfig::default(),
        None,
        None,
    )))
}

async fn balance(account: &dyn AccountService, out: Output) -> Result<Done> {
    let b = account.get_balance().await?;
    let text = if out.json {
        pretty(&json!({"coin": "USDT", "wallet": b.wallet, "available": b.available}))
    } else {
        let mut t = table(&["coin", "wallet", "available"]);
        t.add_row([
            "USDT".to_owned(),
            b.wallet.to_string(),
            b.available.to_string(),
        ]);
        t.to_string()
    };
    Ok(Done { text, ok: true })
}

async fn positions(service: &dyn PositionService, out: Output) -> Result<Done> {
    let list = service.get_all_positions().await?;
    let text = if out.json {
        pretty(&Value::Array(
            list.iter()
                .map(|p| {
                    json!({
                        "symbol": p.symbol.as_str(), "side": p.side.map(|s| s.as_str()),
                        "size": p.size, "entryPrice": p.entry_price,
                        "leverage": p.leverage, "unrealisedPnl": p.unrealised_pnl,
                    })
                })
                .collect(),
        ))
    } else {
        let mut t = table(&["symbol", "side", "size", "entry", "leverage", "uPnL"]);
        for p in &list {
            t.add_row([
                p.symbol.as_str().to_owned(),
                opt(p.side),
                p.size.to_string(),
                opt(p.entry_price),
                opt(p.leverage),
                opt(p.unrealised_pnl),
            ]);
        }
        if list.is_empty() {
            "no open positions".to_owned()
        } else {
            t.to_string()
        }
    };
    Ok(Done { text, ok: true })
}

async fn with_runtime(command: &OpsCommand, rt: &Runtime) -> Result<Done> {
    match command {
        OpsCommand::Preflight(out) => {
            let live = rt
                .live()
                .filter(|_| rt.settings.routing == Routing::Live)
                .ok_or_else(|| anyhow!("preflight checks a live account: set EXECUTION_ROUTING=live (and the API keys)"))?;
            let plan = rt.preflight_plan();
            let result = live.preflight(&plan).await;
            let symbols: Vec<&str> = plan.symbols.iter().map(Symbol::as_str).collect();
            let text = match (&result, out.json) {
                (Ok(()), true) => pretty(&json!({"ok": true, "symbols": symbols})),
                (Err(e), true) => pretty(&json!({
                    "ok": false, "check": format!("{:?}", e.check),
                    "found": e.found, "remedy": e.remedy,
                })),
                (Ok(()), false) => format!(
                    "pre-flight passed: {} (leverage {}, at least {} USDT available)",
                    symbols.join(", "),
                    plan.leverage,
                    plan.min_available_usdt
                ),
                (Err(e), false) => e.to_string(),
            };
            Ok(Done {
                text,
                ok: result.is_ok(),
            })
        }
        OpsCommand::Recover(out) => {
            let found = rt.gateway.recover().await?;
            let text = if out.json {
                pretty(&Value::Array(
                    found
                        .iter()
                        .map(|r| {
                            json!({
                                "tag": r.state.tag, "symbol": r.state.symbol.as_str(),
                                "phase": r.state.phase, "filledQty": r.state.filled_qty,
                                "entryPrice": r.state.entry_price,
                                "disagreements": r.disagreements,
                            })
                        })
                        .collect(),
                ))
            } else if found.is_empty() {
                "no open trades of this layer on the exchange".to_owned()
            } else {
                let mut t = table(&[
                    "trade",
                    "symbol",
                    "phase",
                    "filled",
                    "entry",
                    "disagreements",
                ]);
                for r in &found {
                    t.add_row([
                        r.state.tag.clone(),
                        r.state.symbol.as_str().to_owned(),
                        format!("{:?}", r.state.phase),
                        r.state.filled_qty.to_string(),
                        opt(r.state.entry_price),
                        r.disagreements.join("; "),
                    ]);
                }
                t.to_string()
            };
            Ok(Done { text, ok: true })
        }
        OpsCommand::CloseAll(args) => close_all(rt, args).await,
        _ => Err(anyhow!("{} runs without a runtime", name(command))),
    }
}

/// A light probe, not a whole runtime ([`probe`]): the R-HEALTH-1 answer is printed also when
/// REST is unreachable or the key is refused (then `ok` is false and the exit code 1).
async fn status(settings: &Settings, out: Output) -> Result<Done> {
    let status = probe(settings).await;
    let ok = status.is_healthy(settings.credentials.is_some());
    let text = if out.json {
        serde_json::to_string_pretty(&status)?
    } else {
        let mut t = table(&["", "ok", "detail"]);
        t.add_row([
            "REST".to_owned(),
            status.rest.ok.to_string(),
            format!("{} ms to /v5/market/time", status.rest.latency_ms),
        ]);
        t.add_row([
            "public stream".to_owned(),
            status.ws_public.ok.to_string(),
            format!(
                "last message {} s ago",
                opt(status.ws_public.last_msg_ago_sec)
            ),
        ]);
        t.add_row([
            "private stream".to_owned(),
            status.ws_private.ok.to_string(),
            match &status.ws_private.error {
                Some(e) => e.clone(),
                None => format!(
                    "last message {} s ago",
                    opt(status.ws_private.last_msg_ago_sec)
                ),
            },
        ]);
        format!(
            "{} ({} on {})\n{t}",
            if ok { "healthy" } else { "UNHEALTHY" },
            if settings.credentials.is_some() {
                "with keys"
            } else {
                "no keys"
            },
            settings.env
        )
    };
    Ok(Done { text, ok })
}

async fn orders(
    router: &dyn OrderRouter,
    configured: &[Symbol],
    args: &OrdersArgs,
) -> Result<Done> {
    let symbols = match &args.symbol {
        Some(s) => {
            vec![Symbol::new(s.to_ascii_uppercase()).map_err(|e| anyhow!("--symbol {s:?}: {e}"))?]
        }
        None => configured.to_vec(),
    };
    let mut all: Vec<OrderSnapshot> = Vec::new();
    for s in &symbols {
        all.extend(router.sync_open_orders(s).await?);
    }
    let text = if args.out.json {
        pretty(&Value::Array(
            all.iter()
                .map(|o| {
                    json!({
                        "symbol": o.symbol, "side": o.side.as_str(), "qty": o.qty,
                        "price": o.price, "triggerPrice": o.trigger_price,
                        "filledQty": o.filled_qty, "status": o.status,
                        "reduceOnly": o.reduce_only, "orderLinkId": o.order_link_id,
                        "orderId": o.order_id,
                    })
                })
                .collect(),
        ))
    } else if all.is_empty() {
        "no open orders".to_owned()
    } else {
        let mut t = table(&[
            "symbol",
            "side",
            "qty",
            "price",
            "trigger",
            "filled",
            "status",
            "reduce-only",
            "orderLinkId",
        ]);
        for o in &all {
            t.add_row([
                o.symbol.clone(),
                o.side.to_string(),
                o.qty.to_string(),
                opt(o.price),
                opt(o.trigger_price),
                o.filled_qty.to_string(),
                format!("{:?}", o.status),
                o.reduce_only.to_string(),
                o.order_link_id.clone(),
            ]);
        }
        t.to_string()
    };
    Ok(Done { text, ok: true })
}

async fn close_all(rt: &Runtime, args: &CloseAllArgs) -> Result<Done> {
    let symbol = Symbol::new(args.symbol.to_ascii_uppercase())
        .map_err(|e| anyhow!("symbol {:?}: {e}", args.symbol))?;
    let trades = rt.gateway.recover().await?;
    let mut closed = Vec::new();
    let mut failed = Vec::new();
    for r in trades.iter().filter(|r| r.state.symbol == symbol) {
        match rt.gateway.close_all(&r.state, "operator close-all").await {
            Ok(state) => closed.push((state.tag.clone(), state.phase)),
            Err(e) => failed.push((r.state.tag.clone(), e.to_string())),
        }
    }
    let position = rt.ports.positions.get_position(&symbol).await?;
    Ok(close_all_report(
        &symbol,
        &closed,
        &failed,
        position.size,
        args.out.json,
    ))
}

/// What close-all prints: the trades closed, those whose close failed (a failure: exit 1),
/// and any position left. A leftover position is called "not one of this layer's trades" only
/// when no close failed; otherwise it is what the failed closes left behind.
fn close_all_report(
    symbol: &Symbol,
    closed: &[(String, Phase)],
    failed: &[(String, String)],
    position_size: Decimal,
    json: bool,
) -> Done {
    let flat = position_size.is_zero();
    let ok = failed.is_empty() && flat;
    let left = match (flat, failed.is_empty()) {
        (true, _) => None,
        (false, true) => Some(format!(
            "a {} position of {position_size} is still open: it is not one of this layer's \
             trades (no {DEFAULT_LINK_PREFIX} orders); close it by hand",
            symbol.as_str()
        )),
        (false, false) => Some(format!(
            "a {} position of {position_size} is still open: the close of {} failed (above); \
             run close-all again or close it by hand",
            symbol.as_str(),
            failed
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    };
    let text = if json {
        pretty(&json!({
            "symbol": symbol.as_str(),
            "closed": closed.iter().map(|(t, p)| json!({"tag": t, "phase": p})).collect::<Vec<_>>(),
            "failed": failed.iter().map(|(t, e)| json!({"tag": t, "error": e})).collect::<Vec<_>>(),
            "positionSize": position_size,
            "left": left,
            "ok": ok,
        }))
    } else {
        let mut lines = Vec::new();
        if closed.is_empty() && failed.is_empty() {
            lines.push(format!(
                "no open trades of this layer on {}",
                symbol.as_str()
            ));
        }
        for (tag, phase) in closed {
            lines.push(format!("trade {tag}: {phase:?}"));
        }
        for (tag, e) in failed {
            lines.push(format!("trade {tag}: FAILED to close: {e}"));
        }
        lines.extend(left);
        lines.join("\n")
    };
    Done { text, ok }
}

fn open_journal(settings: &Settings) -> Result<Box<dyn Journal>> {
    Ok(match &settings.journal {
        JournalLocation::Memory => Box::new(MemoryJournal::new()),
        JournalLocation::Sqlite(path) => {
            if !path.exists() {
                bail!(
                    "no journal at {} (EXECUTION_JOURNAL); run the layer first or point it at the right file",
                    path.display()
                );
            }
            Box::new(SqliteJournal::open(path)?)
        }
    })
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Acked { order_id } => format!("acked {order_id}"),
        Outcome::Rejected { code, message } => {
            format!("rejected {}: {message}", opt(*code))
        }
        Outcome::Unknown { reason } => format!("unknown: {reason}"),
        Outcome::AmendRequested { qty } => format!("amend to {qty} requested"),
        Outcome::Rerounded { qty, price, .. } => {
            format!("re-rounded to {qty} at {}", opt(*price))
        }
        Outcome::Amended { qty } => format!("amended to {qty}"),
        Outcome::Cancelled => "cancelled".to_owned(),
        Outcome::Resolved { found, order_id } => {
            format!(
                "looked up: {}",
                if *found {
                    opt(order_id.as_ref())
                } else {
                    "not found".to_owned()
                }
            )
        }
    }
}

async fn journal(settings: &Settings, args: &JournalArgs) -> Result<Done> {
    let j = open_journal(settings)?;
    let tag = &args.trade_tag;
    let plan = j.plan(tag).await?;
    let intents = j.intents(tag).await?;
    let writes = j.writes(tag).await?;
    let states = j.states(tag).await?;
    // The fills its P&L line counts: its orders' and a position stop's or funding's.
    let fills = trade_fills(j.as_ref(), &links()?, tag).await?;
    if plan.is_none() && intents.is_empty() && states.is_empty() {
        return Ok(Done {
            text: format!("the journal has no trade {tag:?}"),
            ok: false,
        });
    }
    let history = trade_history(j.as_ref(), &links()?, tag).await?;
    if args.out.json {
        let v = json!({
            "tag": tag,
            "plan": plan.as_ref().map(|p| json!({
                "symbol": p.symbol.as_str(), "side": p.side.as_str(),
                "marginUsdt": p.margin_usdt, "leverage": p.leverage,
            })),
            "trade": history,
            "intents": intents.iter().map(|r| json!({
                "intent": r.intent, "outcomes": r.outcomes,
            })).collect::<Vec<_>>(),
            "writes": writes,
            "states": states.iter().map(|s| json!({
                "phase": s.phase, "detail": s.detail, "timeMs": s.at_ms,
            })).collect::<Vec<_>>(),
            "fills": fills,
        });
        return Ok(Done {
            text: pretty(&v),
            ok: true,
        });
    }
    let mut out = String::new();
    if let Some(p) = &plan {
        out.push_str(&format!(
            "trade {tag}: {} {} {} USDT × {}\n",
            p.side,
            p.symbol.as_str(),
            p.margin_usdt,
            p.leverage
        ));
    }
    let mut t = table(&[
        "time (UTC)",
        "leg",
        "orderLinkId",
        "kind",
        "side",
        "qty",
        "price",
        "outcomes",
    ]);
    for r in &intents {
        let i = &r.intent;
        t.add_row([
            time_text(i.at_ms),
            i.leg.clone(),
            i.order_link_id.clone(),
            i.kind.clone(),
            i.side.clone(),
            i.qty.to_string(),
            opt(i.price.or(i.trigger_price)),
            r.outcomes
                .iter()
                .map(outcome_text)
                .collect::<Vec<_>>()
                .join(" → "),
        ]);
    }
    out.push_str(&format!("intents\n{t}\n"));
    if !writes.is_empty() {
        let mut t = table(&["time (UTC)", "write", "orderLinkId", "value", "stage"]);
        for w in &writes {
            t.add_row([
                time_text(w.at_ms),
                w.kind.as_str().to_owned(),
                opt(w.order_link_id.as_ref()),
                opt(w.value),
                w.stage.name().to_owned(),
            ]);
        }
        out.push_str(&format!("writes\n{t}\n"));
    }
    let mut t = table(&[
        "time (UTC)",
        "orderLinkId",
        "side",
        "qty",
        "price",
        "fee",
        "P&L",
        "execId",
    ]);
    for f in &fills {
        t.add_row([
            time_text(f.time_ms),
            f.order_link_id.clone(),
            f.side.to_string(),
            f.qty.to_string(),
            f.price.to_string(),
            format!("{} {}", f.fee, f.fee_currency),
            opt(f.pnl),
            f.exec_id.clone(),
        ]);
    }
    out.push_str(&format!("fills\n{t}\n"));
    let mut t = table(&["time (UTC)", "state", "detail"]);
    for s in &states {
        t.add_row([
            time_text(s.at_ms),
            s.phase.as_str().to_owned(),
            s.detail.clone(),
        ]);
    }
    out.push_str(&format!("states\n{t}"));
    if let Some(h) = &history {
        out.push_str(&format!("\n{}", pnl_line(h)));
    }
    Ok(Done {
        text: out,
        ok: true,
    })
}

fn links() -> Result<LinkIds> {
    Ok(LinkIds::new(DEFAULT_LINK_PREFIX)?)
}

/// The trade's realised P&L in one line, with its parts.
fn pnl_line(h: &TradeHistory) -> String {
    let p = &h.pnl;
    let mut line = format!(
        "realised P&L {} USDT (closed P&L {} − fees {} + funding {})",
        p.realised, p.closed_pnl, p.fees, p.funding
    );
    if p.unknown_pnl_fills > 0 {
        line.push_str(&format!(
            "; {} fills without the exchange's P&L in the journal",
            p.unknown_pnl_fills
        ));
    }
    line
}

/// A trade's state word: its last journaled phase, or `-`.
fn state_text(h: &TradeHistory) -> String {
    h.phase
        .map_or_else(|| "-".to_owned(), |p| p.as_str().to_owned())
}

/// The CSV header and rows of `trades --csv`: every time also as ms, decimals as the
/// journal holds them.
const CSV_HEADER: [&str; 16] = [
    "tag",
    "symbol",
    "side",
    "openedTimeMs",
    "opened",
    "closedTimeMs",
    "closed",
    "qty",
    "closedQty",
    "avgEntry",
    "avgExit",
    "closedPnl",
    "fees",
    "funding",
    "realisedPnl",
    "state",
];

fn trades_csv(all: &[TradeHistory]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    let or_empty = |v: Option<String>| v.unwrap_or_default();
    for h in all {
        w.write_record([
            h.tag.clone(),
            h.symbol.clone(),
            h.side.to_string(),
            h.opened_time_ms.to_string(),
            time_text(h.opened_time_ms),
            or_empty(h.closed_time_ms.map(|c| c.to_string())),
            or_empty(h.closed_time_ms.map(time_text)),
            h.qty.to_string(),
            h.closed_qty.to_string(),
            or_empty(h.avg_entry.map(|p| p.to_string())),
            or_empty(h.avg_exit.map(|p| p.to_string())),
            h.pnl.closed_pnl.to_string(),
            h.pnl.fees.to_string(),
            h.pnl.funding.to_string(),
            h.pnl.realised.to_string(),
            state_text(h),
        ])?;
    }
    let mut text = String::from_utf8(w.into_inner()?)?;
    // The caller prints a line: its own newline ends the last row.
    text.truncate(text.trim_end().len());
    Ok(text)
}

async fn trades(settings: &Settings, args: &TradesArgs) -> Result<Done> {
    let j = open_journal(settings)?;
    let all = trade_histories(j.as_ref(), &links()?).await?;
    let text = if args.csv {
        trades_csv(&all)?
    } else if args.out.json {
        pretty(&json!({ "trades": all }))
    } else if all.is_empty() {
        "the journal holds no trade".to_owned()
    } else {
        let mut t = table(&[
            "tag",
            "symbol",
            "side",
            "opened (UTC)",
            "closed (UTC)",
            "qty",
            "avg entry",
            "realised P&L",
            "fees",
            "funding",
            "state",
        ]);
        for h in &all {
            t.add_row([
                h.tag.clone(),
                h.symbol.clone(),
                h.side.to_string(),
                time_text(h.opened_time_ms),
                h.closed_time_ms
                    .map_or_else(|| "open".to_owned(), time_text),
                h.qty.to_string(),
                opt(h.avg_entry),
                h.pnl.realised.to_string(),
                h.pnl.fees.to_string(),
                h.pnl.funding.to_string(),
                state_text(h),
            ]);
        }
        let total: Decimal = all.iter().map(|h| h.pnl.realised).sum();
        let mut text = format!("{t}\n{} trades, realised P&L {total} USDT", all.len());
        let unknown: Vec<&str> = all
            .iter()
            .filter(|h| h.pnl.unknown_pnl_fills > 0)
            .map(|h| h.tag.as_str())
            .collect();
        if !unknown.is_empty() {
            text.push_str(&format!(
                "\nnot counted: the P&L of fills journaled without the exchange's execPnl ({})",
                unknown.join(", ")
            ));
        }
        text
    };
    Ok(Done { text, ok: true })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn a_failed_close_is_reported_as_a_failure_not_as_a_foreign_position() {
        let btc = Symbol::new("BTCUSDT").unwrap();
        let failed = vec![("T1".to_owned(), "retCode 10006: too many visits".to_owned())];
        let done = close_all_report(&btc, &[], &failed, dec!(0.02), false);
        assert!(!done.ok);
        assert!(
            done.text.contains("trade T1: FAILED to close"),
            "{}",
            done.text
        );
        assert!(
            done.text.contains("the close of T1 failed"),
            "{}",
            done.text
        );
        assert!(
            !done.text.contains("not one of this layer's"),
            "{}",
            done.text
        );
        // Nothing failed: the leftover is someone else's position.
        let closed = vec![("T2".to_owned(), Phase::Closed)];
        let done = close_all_report(&btc, &closed, &[], dec!(0.01), false);
        assert!(!done.ok);
        assert!(
            done.text.contains("not one of this layer's"),
            "{}",
            done.text
        );
        // All closed and flat.
        let done = close_all_report(&btc, &closed, &[], Decimal::ZERO, true);
        assert!(done.ok, "{}", done.text);
    }
}
