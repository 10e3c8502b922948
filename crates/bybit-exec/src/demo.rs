//! `bybit-exec demo`: the README's main command, a whole trade through the live adapters.
//!
//! It starts the embedded emulator on loopback (a still BTCUSDT market at 50 000, a seed),
//! builds a [`Runtime`] on it with live routing, and runs the trade of the reference lifecycle
//! (`exec_gateway::testing::run_lifecycle`): a market entry, three take-profits and two DCAs;
//! the price dips through DCA1 (the take-profits are resized to the grown position), rises
//! through TP1, the trade moves to breakeven (DCA2 cancelled, a stop at the average entry),
//! TP2 and TP3 fill and the trade closes flat. Every order, fill and position change the layer
//! publishes is printed as it arrives, each step and state change in between. At the end a
//! reconciliation table sets the layer's view (what it published and journaled) beside the
//! exchange's (REST, and the emulator's `/emulator/state`); [`run`] fails unless they agree.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_rest::{OpenOrders, Positions};
use exec_events::{Event, EventBus, ExecKind, Fill, OrderEvent, OrderEventKind, Received};
use exec_gateway::{
    DcaLevel, Phase, Side, Symbol, TpLevel, TradePlan, TradeState, DEFAULT_LINK_PREFIX,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::EngineSnapshot;

use crate::config::{JournalLocation, Settings};
use crate::runtime::Runtime;

const KEY: &str = "demo-key";
const SECRET: &str = "demo-secret";
const SYMBOL: &str = "BTCUSDT";
/// How long one step may wait for what it caused (a fill, a state).
const STEP_WAIT: Duration = Duration::from_secs(10);

/// `bybit-exec demo` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Seed of the emulator (ids; the market itself is still).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Keep the journal in this SQLite file (default: in memory), e.g. to read it afterwards
    /// with `bybit-exec journal DEMO_<ms>` (the run prints its tag).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// The trade's client tag (its orderLinkIds are `andre_<LEG>_<TAG>`). A tag names one
    /// trade for ever, so with `--journal` the default gets the run's time appended
    /// (`DEMO_<ms>`) and the demo can run twice on one file.
    #[arg(long, default_value = "DEMO")]
    pub tag: String,
    /// Print only the reconciliation table.
    #[arg(long)]
    pub quiet: bool,
    /// Before reconciling, make one row of the table wrong on purpose (a negative control
    /// for tests; repeatable): the table must then disagree and the demo fail.
    #[arg(long, hide = true, value_enum)]
    pub inject: Vec<Inject>,
    /// Wait after announcing this step until Ctrl-C (at most a minute): lets a test
    /// interrupt the demo at a known point.
    #[arg(long, hide = true, value_name = "STEP")]
    pub hold_at_step: Option<u8>,
}

/// A fault the demo can put in its own reconciliation, one per row kind it must catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Inject {
    /// An order with this layer's prefix placed on the exchange behind the layer's back.
    StrayOrder,
    /// The trade's last fill published a second time on the layer's bus.
    DoubledFill,
    /// A position update the exchange never made, published on the layer's bus.
    ChangedPosition,
    /// TP1 reported cancelled on the layer's bus although the exchange filled it.
    LegStatus,
    /// A funding payment the exchange never booked, in the layer's journal during the trade.
    BookedPnl,
}

/// The demo was stopped by Ctrl-C: it closed what it had opened and printed the table;
/// `bybit-exec` exits with 130 (128 + SIGINT).
#[derive(Debug, thiserror::Error)]
#[error("interrupted by Ctrl-C; the demo closed what it had opened (the table above)")]
pub struct Interrupted;

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            seed: 7,
            journal: None,
            tag: "DEMO".to_owned(),
            quiet: false,
            inject: Vec::new(),
            hold_at_step: None,
        }
    }
}

/// Where the demo's lines go.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// One row of the reconciliation table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconRow {
    /// What is compared (`ENTRY`, `TP1`, …, `position BTCUSDT`, `open orders`, `fills`).
    pub item: String,
    /// The layer's view.
    pub layer: String,
    /// The exchange's view.
    pub exchange: String,
}

impl ReconRow {
    /// Whether both views say the same.
    pub fn agrees(&self) -> bool {
        self.layer == self.exchange
    }
}

/// What the demo did.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The reconciliation table.
    pub rows: Vec<ReconRow>,
    /// Fills the layer published.
    pub fills: usize,
    /// The trade's phases as journaled.
    pub phases: Vec<Phase>,
    /// Wall time of the whole demo.
    pub elapsed: Duration,
    /// Stopped by Ctrl-C (the trade was closed early).
    pub interrupted: bool,
    /// The trade as the journal tells it at the end (times, quantities, realised P&L).
    pub history: Option<exec_gateway::TradeHistory>,
    /// The requests the exchange received during the trade, over REST and the order-entry
    /// stream (the emulator's own count,
    /// read before the reconciliation adds its reads).
    pub rest_requests: Option<u64>,
}

impl DemoReport {
    /// Whether every row agrees.
    pub fn agrees(&self) -> bool {
        self.rows.iter().all(ReconRow::agrees)
    }
}

/// Runs the demo, printing to stdout; an error unless the reconciliation agrees, and
/// [`Interrupted`] after a Ctrl-C (a second Ctrl-C exits at once, with 130).
pub async fn run(args: DemoArgs) -> Result<()> {
    let sink: Sink = Arc::new(|line: &str| crate::print_line(line));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signals = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            crate::print_line("Ctrl-C: closing what the demo opened (Ctrl-C again to quit now)");
            let _ = stop.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let report = run_until(&args, sink, stopped).await;
    signals.abort();
    let report = report?;
    if report.interrupted {
        print_pnl(&report);
        return Err(Interrupted.into());
    }
    if report.agrees() {
        crate::print_line(&format!(
            "the layer and the exchange agree ({} fills, {} requests over REST and the order-entry stream, {:.1} s)",
            report.fills,
            report
                .rest_requests
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            report.elapsed.as_secs_f64()
        ));
        print_pnl(&report);
        Ok(())
    } else {
        print_pnl(&report);
        bail!("the layer's view and the exchange's disagree (rows marked ✗ above)")
    }
}

/// The demo's last line: what the trade made.
fn print_pnl(report: &DemoReport) {
    if let Some(h) = &report.history {
        crate::print_line(&pnl_line(h));
    }
}

/// The trade's result in a line: its realised P&L and what it is made of.
pub fn pnl_line(h: &exec_gateway::TradeHistory) -> String {
    let p = &h.pnl;
    format!(
        "trade {}: realised P&L {:+} USDT ({:+} closed − {} fees{}), {} fills",
        h.tag,
        p.realised.normalize(),
        p.closed_pnl.normalize(),
        p.fees.normalize(),
        if p.funding.is_zero() {
            String::new()
        } else {
            format!(" {:+} funding", p.funding.normalize())
        },
        h.fills
    )
}

/// The plan: 100 USDT × 10 on BTCUSDT, DCAs at 49 000 and 48 000 (100 USDT each), TPs at
/// 51 000 / 52 000 / 53 000 taking half, 30 % and 20 %.
pub fn plan(tag: &str) -> Result<TradePlan> {
    Ok(TradePlan {
        symbol: Symbol::new(SYMBOL)?,
        side: Side::Buy,
        margin_usdt: dec!(100),
        leverage: dec!(10),
        dca_levels: vec![
            DcaLevel {
                price: dec!(49000),
                margin_usdt: dec!(100),
            },
            DcaLevel {
                price: dec!(48000),
                margin_usdt: dec!(100),
            },
        ],
        tp_levels: vec![
            TpLevel {
                price: dec!(51000),
                share: dec!(0.5),
            },
            TpLevel {
                price: dec!(52000),
                share: dec!(0.3),
            },
            TpLevel {
                price: dec!(53000),
                share: dec!(0.2),
            },
        ],
        client_tag: tag.to_owned(),
        adopt_position: false,
    })
}

/// What the layer has published, kept by the timeline task.
#[derive(Debug, Default)]
struct View {
    fills: Vec<Fill>,
    orders: BTreeMap<String, OrderEvent>,
    positions: BTreeMap<String, Decimal>,
    problems: Vec<String>,
}

fn lock(view: &Mutex<View>) -> std::sync::MutexGuard<'_, View> {
    view.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The timeline: prints every event as it arrives and keeps the layer's view.
struct Timeline {
    view: Arc<Mutex<View>>,
    started: Instant,
    sink: Sink,
    quiet: bool,
    /// Turns true on Ctrl-C: the trade stops at its next step or wait.
    stop: tokio::sync::watch::Receiver<bool>,
    hold_at_step: Option<u8>,
}

impl Timeline {
    fn say(&self, text: &str) {
        if !self.quiet {
            let ms = self.started.elapsed().as_millis();
            (self.sink)(&format!("{:>5}.{:03}s  {text}", ms / 1000, ms % 1000));
        }
    }

    fn interrupted(&self) -> bool {
        *self.stop.borrow()
    }

    /// Announces step `n`; stops the trade here after a Ctrl-C.
    async fn step(&self, n: u8, text: &str) -> Result<()> {
        if self.interrupted() {
            return Err(Interrupted.into());
        }
        self.say(&format!("step {n:<3} {text}"));
        if self.hold_at_step == Some(n) {
            self.say("holding here until Ctrl-C");
            let mut stop = self.stop.clone();
            let _ = tokio::time::timeout(Duration::from_secs(60), stop.wait_for(|s| *s)).await;
        }
        if self.interrupted() {
            return Err(Interrupted.into());
        }
        Ok(())
    }

    fn spawn(self: &Arc<Self>, bus: &EventBus) -> tokio::task::JoinHandle<()> {
        let mut sub = bus.subscribe();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match sub.recv().await {
                    Received::Event(env) => me.event(&env.event),
                    Received::Lagged { missed } => {
                        lock(&me.view)
                            .problems
                            .push(format!("the timeline missed {missed} events"));
                    }
                    Received::Closed => break,
                }
            }
        })
    }

    fn event(&self, event: &Event) {
        match event {
            Event::Order(o) => {
                // A market order carries no limit price (the protection price Bybit shows is
                // neither asked for nor paid): what it filled at is its average.
                let what = match (o.price, o.trigger_price) {
                    (Some(p), _) => format!("limit {p}"),
                    (None, Some(t)) => format!("trigger {t}"),
                    (None, None) => "market".to_owned(),
                };
                // A position stop (no orderLinkId, quantity 0 on the wire) closes the whole
                // position: its real quantity is the position's.
                let (link, qty) = if o.order_link_id.is_empty() && o.qty.is_zero() {
                    let size = lock(&self.view)
                        .positions
                        .get(&o.symbol)
                        .copied()
                        .unwrap_or_default();
                    ("(position stop)", format!("{size} (the whole position)"))
                } else if o.order_link_id.is_empty() {
                    ("(no orderLinkId)", o.qty.to_string())
                } else {
                    (o.order_link_id.as_str(), o.qty.to_string())
                };
                self.say(&format!(
                    "order    {:<16} {link:<18} {} {qty} {what}{}{}",
                    format!("{:?}", o.kind),
                    o.side,
                    if o.reduce_only { " reduce-only" } else { "" },
                    match (o.filled_qty.is_zero(), o.avg_price) {
                        (true, _) => String::new(),
                        (false, Some(avg)) => format!(", filled {} at {avg}", o.filled_qty),
                        (false, None) => format!(", filled {}", o.filled_qty),
                    }
                ));
                if !o.order_link_id.is_empty() {
                    lock(&self.view)
                        .orders
                        .insert(o.order_link_id.clone(), o.clone());
                }
            }
            Event::Fill(f) => {
                if f.exec_kind != ExecKind::Trade {
                    return;
                }
                self.say(&format!(
                    "fill     {:<16} {:<18} {} {} at {} (fee {} {})",
                    if f.is_maker { "maker" } else { "taker" },
                    f.order_link_id,
                    f.side,
                    f.qty,
                    f.price,
                    f.fee,
                    f.fee_currency
                ));
                lock(&self.view).fills.push(f.clone());
            }
            Event::Position(p) => {
                // Bybit pushes the position on every order operation: print changes only.
                let before = lock(&self.view).positions.get(&p.symbol).copied();
                if before == Some(p.size) {
                    return;
                }
                let text = match (p.side, p.entry_price) {
                    _ if p.size.is_zero() => "flat".to_owned(),
                    (side, Some(entry)) => format!(
                        "{} {} at {entry} (average entry)",
                        side.map_or("?", |s| s.as_str()),
                        p.size
                    ),
                    (side, None) => format!("{} {}", side.map_or("?", |s| s.as_str()), p.size),
                };
                self.say(&format!("position {:<16} {text}", p.symbol));
                lock(&self.view).positions.insert(p.symbol.clone(), p.size);
            }
            Event::ExecutionError(e) => {
                self.say(&format!("error    {:?}: {}", e.kind, e.message));
                lock(&self.view)
                    .problems
                    .push(format!("execution.error {:?}: {}", e.kind, e.message));
            }
            Event::Health(h) if !h.ok => {
                self.say(&format!(
                    "health   {} down: {}",
                    h.component,
                    h.detail.clone().unwrap_or_default()
                ));
            }
            Event::Wallet(_) | Event::Health(_) | Event::WouldSend(_) => {}
        }
    }

    /// Waits until the layer's view satisfies `check` (or Ctrl-C).
    async fn until(&self, what: &str, check: impl Fn(&View) -> bool) -> Result<()> {
        let deadline = Instant::now() + STEP_WAIT;
        while !check(&lock(&self.view)) {
            if self.interrupted() {
                return Err(Interrupted.into());
            }
            if Instant::now() > deadline {
                bail!("timed out after {STEP_WAIT:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    fn filled(&self, link: &str) -> Decimal {
        lock(&self.view)
            .fills
            .iter()
            .filter(|f| f.order_link_id == link)
            .map(|f| f.qty)
            .sum()
    }

    /// Waits until `link` has filled `qty` in total.
    async fn fill_of(&self, link: &str, qty: Decimal) -> Result<()> {
        self.until(&format!("{link} to fill {qty}"), |v| {
            v.fills
                .iter()
                .filter(|f| f.order_link_id == link)
                .map(|f| f.qty)
                .sum::<Decimal>()
                == qty
        })
        .await
    }
}

/// Runs the demo, sending its lines to `sink`, and returns the report (whether or not the
/// views agree; an error only if the trade itself could not be run).
pub async fn run_with(args: &DemoArgs, sink: Sink) -> Result<DemoReport> {
    let (_never, running) = tokio::sync::watch::channel(false);
    run_until(args, sink, running).await
}

/// [`run_with`], stopping the trade early (closing what it opened, then reconciling) once
/// `stop` turns true.
pub async fn run_until(
    args: &DemoArgs,
    sink: Sink,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<DemoReport> {
    let started = Instant::now();
    // A journal file outlives the run: a tag names one trade for ever, and the journal
    // remembers fills by execId, so a run on a file takes a fresh tag and fresh exchange ids.
    let mut fresh = args.clone();
    // The orderLinkIds carry the tag without the prefix (`andre_DX` and `DX` name the same
    // ids), and the demo names its orders by them: the trade takes the bare tag.
    if let Some(bare) = args.tag.strip_prefix(DEFAULT_LINK_PREFIX) {
        fresh.tag = bare.to_owned();
    }
    if args.journal.is_some() {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        if args.tag == "DEMO" {
            fresh.tag = format!("DEMO_{ms}");
        }
        fresh.seed = args.seed ^ u64::try_from(ms).unwrap_or(u64::MAX);
    }
    let args = &fresh;
    let mut config = EmulatorConfig::with_defaults(KEY, SECRET, dec!(10000), args.seed);
    config.static_prices = true;
    config.engine = config.engine.with_price(SYMBOL, dec!(50000));
    let emu = Emulator::start("127.0.0.1:0", config)
        .await
        .context("starting the embedded emulator")?;
    let timeline = Arc::new(Timeline {
        view: Arc::new(Mutex::new(View::default())),
        started,
        sink: sink.clone(),
        quiet: args.quiet,
        stop,
        hold_at_step: args.hold_at_step,
    });
    timeline.say(&format!(
        "emulator listening on {} (BTCUSDT still at 50000, 10000 USDT)",
        emu.http_url()
    ));
    if let Some(file) = &args.journal {
        timeline.say(&format!(
            "journal {}, trade {} (afterwards: EXECUTION_JOURNAL={} bybit-exec journal {})",
            file.display(),
            args.tag,
            file.display(),
            args.tag
        ));
    }

    let bus = EventBus::new(exec_events::DEFAULT_CAPACITY);
    let printer = timeline.spawn(&bus);
    // Whatever happens, the printer and the emulator are stopped before returning.
    let outcome = run_on(args, &emu, &timeline, bus, started).await;
    printer.abort();
    let _ = printer.await;
    emu.stop().await;
    let report = outcome?;
    sink(&table(&report.rows));
    Ok(report)
}

/// The runtime on the emulator, the trade and the reconciliation; the runtime is shut down
/// on every path.
async fn run_on(
    args: &DemoArgs,
    emu: &Emulator,
    timeline: &Timeline,
    bus: EventBus,
    started: Instant,
) -> Result<DemoReport> {
    let mut settings = Settings::for_emulator(&emu.http_url(), KEY, SECRET)?;
    if let Some(path) = &args.journal {
        settings.journal = JournalLocation::Sqlite(path.clone());
    }
    let rt = Runtime::start_on_bus(settings, bus).await?;
    timeline.say("runtime started: live routing over REST + private and public streams");
    timeline.say(&format!(
        "orderLinkIds read {DEFAULT_LINK_PREFIX}<LEG>_<TAG>: the prefix marks this layer's \
         orders, the leg and the tag name the order, so a restart finds it instead of \
         placing it twice"
    ));
    let outcome = trade_and_reconcile(args, &rt, emu, timeline, started).await;
    rt.shutdown().await;
    outcome
}

async fn trade_and_reconcile(
    args: &DemoArgs,
    rt: &Runtime,
    emu: &Emulator,
    timeline: &Timeline,
    started: Instant,
) -> Result<DemoReport> {
    let (phases, interrupted) = match trade(rt, emu, timeline, &args.tag).await {
        Ok(phases) => (phases, false),
        Err(e) if e.is::<Interrupted>() => (wind_down(rt, timeline, &args.tag).await?, true),
        Err(e) => return Err(e),
    };
    let rest_requests = rest_requests(emu).await;
    for fault in &args.inject {
        inject(*fault, rt, emu, timeline, &args.tag).await?;
    }
    let rows = reconcile(rt, emu, timeline, &args.tag).await?;
    let fills = lock(&timeline.view).fills.len();
    let (tag, links) = (args.tag.clone(), rt.gateway.links().clone());
    let history = exec_gateway::trade_history(rt.journal.as_ref(), &links, &tag).await?;
    Ok(DemoReport {
        rows,
        fills,
        phases,
        elapsed: started.elapsed(),
        interrupted,
        history,
        rest_requests,
    })
}

/// How many requests the emulator has answered, over REST and the order-entry stream
/// (`requests.total` of `/emulator/state`; logged by path at info);
/// `None` if it cannot be read, which the demo does not treat as a failure.
async fn rest_requests(emu: &Emulator) -> Option<u64> {
    let state: serde_json::Value = reqwest::get(format!("{}/emulator/state", emu.http_url()))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    // The same count by path, for whoever wants to know where the requests went
    // (`bybit-exec --log-level info demo`).
    tracing::info!(by_path = %state["requests"]["byPath"], "requests the exchange received, by path (`/v5/trade#…`: the order-entry stream)");
    state["requests"]["total"].as_u64()
}

/// After a Ctrl-C: closes the trade if it was opened (its orders cancelled, the position
/// closed at market: `close_all`, the same operation as step 8); returns the phases.
async fn wind_down(rt: &Runtime, timeline: &Timeline, tag: &str) -> Result<Vec<Phase>> {
    timeline.say("stopped  Ctrl-C: closing what the demo opened");
    if let Some(state) = rt.gateway.trade(tag).filter(|s| s.phase != Phase::Closed) {
        let state = rt
            .gateway
            .close_all(&state, "demo interrupted (Ctrl-C)")
            .await?;
        phase_line(timeline, &state);
    }
    let owned = tag.to_owned();
    Ok(rt
        .journal
        .states(&owned)
        .await?
        .iter()
        .map(|s| s.phase)
        .collect())
}

/// Makes one row of the table wrong on purpose ([`Inject`]).
async fn inject(
    fault: Inject,
    rt: &Runtime,
    emu: &Emulator,
    timeline: &Timeline,
    tag: &str,
) -> Result<()> {
    let link = |leg: &str| format!("{DEFAULT_LINK_PREFIX}{leg}_{tag}");
    match fault {
        Inject::StrayOrder => {
            let stray = link("STRAY");
            timeline.say(&format!(
                "inject   {stray} placed on the exchange behind the layer's back"
            ));
            let order = sim_engine::NewOrder::limit(
                SYMBOL,
                bybit_types::WireSide::Buy,
                dec!(0.001),
                dec!(45000),
            )
            .link_id(&stray);
            emu.state()
                .execute(|e, now| e.create_order(now, &order))
                .map_err(|e| anyhow!("injecting the stray order: {e:?}"))?;
        }
        Inject::DoubledFill => {
            let last = lock(&timeline.view).fills.last().cloned();
            let fill = last.ok_or_else(|| anyhow!("no fill to publish twice"))?;
            timeline.say(&format!(
                "inject   fill {} published a second time",
                fill.exec_id
            ));
            rt.bus.publish(Event::Fill(fill));
        }
        Inject::ChangedPosition => {
            timeline.say("inject   a position of 0.005 the exchange never had, on the bus");
            rt.bus.publish(Event::Position(exec_events::PositionUpdate {
                symbol: SYMBOL.to_owned(),
                side: Some(Side::Buy),
                size: dec!(0.005),
                entry_price: Some(dec!(50000)),
                leverage: Some(dec!(10)),
                unrealised_pnl: None,
            }));
        }
        Inject::LegStatus => {
            let tp1 = lock(&timeline.view).orders.get(&link("TP1")).cloned();
            let mut order = tp1.ok_or_else(|| anyhow!("TP1 was never seen"))?;
            timeline.say(&format!(
                "inject   {} reported cancelled on the bus",
                order.order_link_id
            ));
            order.kind = OrderEventKind::Cancelled;
            rt.bus.publish(Event::Order(order));
        }
        Inject::BookedPnl => {
            let first = lock(&timeline.view).fills.first().cloned();
            let first = first.ok_or_else(|| anyhow!("no fill to date the funding by"))?;
            timeline
                .say("inject   a funding payment of 1 USDT the exchange never booked, journaled");
            // No orderLinkId: a position-level execution, the trade's by its time.
            let funding = Fill {
                exec_id: "injected-funding".to_owned(),
                order_id: String::new(),
                order_link_id: String::new(),
                qty: first.qty,
                fee: dec!(1),
                pnl: Some(Decimal::ZERO),
                exec_kind: ExecKind::Funding,
                ..first
            };
            rt.journal
                .record_fill(&funding)
                .await
                .map_err(|e| anyhow!("journaling the injected funding: {e}"))?;
        }
    }
    Ok(())
}

fn set_price(emu: &Emulator, timeline: &Timeline, price: Decimal) -> Result<()> {
    timeline.say(&format!("market   BTCUSDT trades at {price}"));
    emu.state()
        .execute(|e, now| e.set_price(now, SYMBOL, price))
        .map_err(|e| anyhow!("setting the emulator's price: {e:?}"))
}

fn phase_line(timeline: &Timeline, state: &TradeState) {
    timeline.say(&format!("state    {} → {:?}", state.tag, state.phase));
}

/// The trade, step by step; returns the journaled phases.
async fn trade(rt: &Runtime, emu: &Emulator, timeline: &Timeline, tag: &str) -> Result<Vec<Phase>> {
    let plan = plan(tag)?;
    let gw = &rt.gateway;
    let link = |leg: &str| format!("{DEFAULT_LINK_PREFIX}{leg}_{tag}");
    let symbol = plan.symbol.clone();
    let live = rt
        .live()
        .ok_or_else(|| anyhow!("the demo needs live routing"))?;

    // The gateway sizes the entry from the public ticker.
    let deadline = Instant::now() + STEP_WAIT;
    while live.cached_last_price(&symbol).is_none() {
        if Instant::now() > deadline {
            bail!("no ticker price from the public stream");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    timeline
        .step(1, "execute_entry: 100 USDT × 10 at market")
        .await?;
    let entry = gw.execute_entry(&plan).await?;
    timeline.say(&format!(
        "entry    filled {} at {}",
        entry.filled_qty, entry.entry_price
    ));
    timeline.fill_of(&link("ENTRY"), entry.filled_qty).await?;
    if let Some(s) = gw.trade(tag) {
        phase_line(timeline, &s);
    }

    timeline
        .step(
            2,
            "setup_tps (3 reduce-only limits) and setup_dcas (2 limits)",
        )
        .await?;
    let position = rt.ports.positions.get_position(&symbol).await?;
    gw.setup_tps(&plan, &position).await?;
    gw.setup_dcas(&plan, &position).await?;
    // Called again: idempotent, nothing new is sent.
    gw.setup_tps(&plan, &position).await?;
    gw.setup_dcas(&plan, &position).await?;

    timeline
        .step(3, "the price dips through DCA1 at 49000")
        .await?;
    set_price(emu, timeline, dec!(48990))?;
    let dca1_link = link("DCA1");
    let dca1 = rt
        .journal
        .intent(&dca1_link)
        .await?
        .map(|r| r.intent.qty)
        .ok_or_else(|| anyhow!("DCA1 was not journaled"))?;
    timeline.fill_of(&link("DCA1"), dca1).await?;
    timeline
        .step(
            4,
            "setup_tps again: the take-profits grow with the position",
        )
        .await?;
    let position = rt.ports.positions.get_position(&symbol).await?;
    gw.setup_tps(&plan, &position).await?;

    timeline
        .step(5, "the price rises through TP1 at 51000")
        .await?;
    set_price(emu, timeline, dec!(51010))?;
    let tp1 = order_qty(rt, &link("TP1")).await?;
    timeline.fill_of(&link("TP1"), tp1).await?;

    timeline
        .step(
            6,
            "move_to_breakeven: DCA2 cancelled, stop at the average entry",
        )
        .await?;
    let state = gw
        .trade(tag)
        .ok_or_else(|| anyhow!("the gateway lost trade {tag}"))?;
    let state = gw.move_to_breakeven(&state).await?;
    phase_line(timeline, &state);

    timeline
        .step(7, "the price rises through TP2 (52000) and TP3 (53000)")
        .await?;
    set_price(emu, timeline, dec!(52010))?;
    set_price(emu, timeline, dec!(53010))?;
    let tp2 = order_qty(rt, &link("TP2")).await?;
    let tp3 = order_qty(rt, &link("TP3")).await?;
    timeline.fill_of(&link("TP2"), tp2).await?;
    timeline.fill_of(&link("TP3"), tp3).await?;
    let deadline = Instant::now() + STEP_WAIT;
    while !rt.ports.positions.get_position(&symbol).await?.is_flat() {
        if Instant::now() > deadline {
            bail!("the position did not go flat after TP3");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    timeline
        .step(8, "close_all: flat, nothing left open")
        .await?;
    let state = gw.close_all(&state, "all targets hit").await?;
    phase_line(timeline, &state);
    let owned = tag.to_owned();
    let phases = rt
        .journal
        .states(&owned)
        .await?
        .iter()
        .map(|s| s.phase)
        .collect();
    Ok(phases)
}

/// The quantity an order was last journaled with (placed, amended or re-rounded).
async fn order_qty(rt: &Runtime, link: &str) -> Result<Decimal> {
    let owned = link.to_owned();
    let row = rt
        .journal
        .intent(&owned)
        .await?
        .ok_or_else(|| anyhow!("{link} was not journaled"))?;
    let mut qty = row.intent.qty;
    for o in &row.outcomes {
        match o {
            exec_gateway::Outcome::Amended { qty: q } => qty = *q,
            exec_gateway::Outcome::Rerounded { qty: q, .. } => qty = *q,
            _ => {}
        }
    }
    Ok(qty)
}

fn layer_status(kind: OrderEventKind) -> &'static str {
    match kind {
        OrderEventKind::Accepted | OrderEventKind::Updated | OrderEventKind::PartiallyFilled => {
            "open"
        }
        OrderEventKind::Filled => "filled",
        OrderEventKind::Cancelled => "cancelled",
        OrderEventKind::Rejected => "rejected",
    }
}

fn exchange_status(status: &bybit_types::OrderStatus) -> &'static str {
    use bybit_types::OrderStatus as S;
    match status {
        S::New | S::PartiallyFilled | S::Untriggered | S::Triggered => "open",
        S::Filled => "filled",
        S::Cancelled | S::PartiallyFilledCanceled | S::Deactivated => "cancelled",
        S::Rejected => "rejected",
        _ => "other",
    }
}

fn leg_text(state: &str, filled: Decimal) -> String {
    if state == "filled" {
        format!("filled {}", filled.normalize())
    } else {
        format!("{state}, {} filled", filled.normalize())
    }
}

/// The layer's view beside the exchange's; waits (bounded) for the layer's view to settle.
async fn reconcile(
    rt: &Runtime,
    emu: &Emulator,
    timeline: &Timeline,
    tag: &str,
) -> Result<Vec<ReconRow>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows = compare(rt, emu, timeline, tag).await?;
        if rows.iter().all(ReconRow::agrees) || Instant::now() > deadline {
            return Ok(rows);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn compare(
    rt: &Runtime,
    emu: &Emulator,
    timeline: &Timeline,
    tag: &str,
) -> Result<Vec<ReconRow>> {
    let suffix = format!("_{tag}");
    let ours = |link: &str| link.starts_with(DEFAULT_LINK_PREFIX) && link.ends_with(&suffix);
    let truth: EngineSnapshot = reqwest::get(format!("{}/emulator/state", emu.http_url()))
        .await
        .context("GET /emulator/state")?
        .json()
        .await
        .context("reading /emulator/state")?;
    let rest_open = rt
        .rest
        .open_orders(OpenOrders::settle_coin("USDT"))
        .await
        .context("REST open orders")?;
    let rest_positions = rt
        .rest
        .positions(Positions::settle_coin("USDT"))
        .await
        .context("REST positions")?;

    let mut rows = Vec::new();
    let owned = tag.to_owned();
    let links = rt.gateway.links().clone();
    let j = rt.journal.as_ref();
    let (intents, journal_fills, history) = (
        j.intents(&owned).await?,
        j.fills(DEFAULT_LINK_PREFIX).await?,
        exec_gateway::trade_history(j, &links, &owned).await?,
    );
    for row in &intents {
        let link = &row.intent.order_link_id;
        let layer_state = lock(&timeline.view)
            .orders
            .get(link)
            .map_or("unseen", |o| layer_status(o.kind));
        let layer_filled = timeline.filled(link);
        let journaled: Decimal = journal_fills
            .iter()
            .filter(|f| &f.order_link_id == link)
            .map(|f| f.qty)
            .sum();
        let order = truth
            .open_orders
            .iter()
            .chain(truth.closed_orders.iter())
            .find(|o| &o.order_link_id == link);
        let ex_state = order.map_or("missing", |o| exchange_status(&o.order_status));
        let ex_filled: Decimal = truth
            .executions
            .iter()
            .filter(|e| &e.order_link_id == link)
            .map(|e| e.exec_qty)
            .sum();
        rows.push(ReconRow {
            item: format!("{} {link}", row.intent.leg),
            // The journal is part of the layer's view: it is shown only where it differs.
            layer: if journaled == layer_filled {
                leg_text(layer_state, layer_filled)
            } else {
                format!(
                    "{} (journal {})",
                    leg_text(layer_state, layer_filled),
                    journaled.normalize()
                )
            },
            exchange: leg_text(ex_state, ex_filled),
        });
    }
    // Orders of this trade on the exchange that the layer never journaled (duplicates).
    let journaled: Vec<&str> = intents
        .iter()
        .map(|r| r.intent.order_link_id.as_str())
        .collect();
    let strays = truth
        .open_orders
        .iter()
        .chain(truth.closed_orders.iter())
        .filter(|o| ours(&o.order_link_id) && !journaled.contains(&o.order_link_id.as_str()))
        .count();
    rows.push(ReconRow {
        item: "orders not in the journal".to_owned(),
        layer: "0".to_owned(),
        exchange: strays.to_string(),
    });

    let view = lock(&timeline.view);
    // Compared as sets of orderLinkIds, not counts: {TP1} open here and {TP2} there disagree.
    let layer_open: BTreeSet<String> = view
        .orders
        .values()
        .filter(|o| ours(&o.order_link_id) && layer_status(o.kind) == "open")
        .map(|o| o.order_link_id.clone())
        .collect();
    let rest_open_set: BTreeSet<String> = rest_open
        .list
        .iter()
        .filter(|o| ours(&o.order_link_id))
        .map(|o| o.order_link_id.clone())
        .collect();
    let truth_open: BTreeSet<String> = truth
        .open_orders
        .iter()
        .filter(|o| ours(&o.order_link_id))
        .map(|o| o.order_link_id.clone())
        .collect();
    rows.push(if rest_open_set == truth_open {
        set_row("open orders", &layer_open, 0, &truth_open)
    } else {
        let mut row = set_row("open orders", &layer_open, 0, &truth_open);
        row.exchange = format!(
            "REST {} / state {}",
            list(&rest_open_set),
            list(&truth_open)
        );
        row
    });
    let rest_size = rest_positions
        .list
        .iter()
        .filter(|p| p.symbol == SYMBOL)
        .map(|p| p.size)
        .sum::<Decimal>();
    let truth_size = truth
        .positions
        .iter()
        .filter(|p| p.symbol == SYMBOL)
        .map(|p| p.size)
        .sum::<Decimal>();
    rows.push(position_row(
        view.positions.get(SYMBOL).copied(),
        rest_size,
        truth_size,
    ));
    // Fills by execId: the same count of different fills must not agree, and a fill the layer
    // published twice shows as a duplicate.
    let layer_fills: Vec<&Fill> = view
        .fills
        .iter()
        .filter(|f| ours(&f.order_link_id))
        .collect();
    let layer_ids: BTreeSet<String> = layer_fills.iter().map(|f| f.exec_id.clone()).collect();
    let truth_ids: BTreeSet<String> = truth
        .executions
        .iter()
        .filter(|e| ours(&e.order_link_id))
        .map(|e| e.exec_id.clone())
        .collect();
    rows.push(set_row(
        "fills (each once, by execId)",
        &layer_ids,
        layer_fills.len() - layer_ids.len(),
        &truth_ids,
    ));
    // The trade's realised P&L: the journal's (exec_gateway::trade_pnl over its fills) and
    // the exchange's own executions, Σ execPnl − Σ execFee.
    let exchange_pnl: Decimal = truth
        .executions
        .iter()
        .filter(|e| ours(&e.order_link_id))
        .map(|e| e.exec_pnl.unwrap_or_default() - e.exec_fee.unwrap_or_default())
        .sum();
    rows.push(ReconRow {
        item: "realised P&L (USDT)".to_owned(),
        layer: history.map_or_else(
            || "no trade in the journal".to_owned(),
            |h| h.pnl.realised.normalize().to_string(),
        ),
        exchange: exchange_pnl.normalize().to_string(),
    });
    rows.push(ReconRow {
        item: "errors and missed events".to_owned(),
        layer: view.problems.len().to_string(),
        exchange: "0".to_owned(),
    });
    Ok(rows)
}

fn list(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "none".to_owned()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// A row comparing two sets (of orderLinkIds, of execIds): the count when they are equal and
/// nothing is doubled, else each side's count, what only it has, and the duplicates.
fn set_row(
    item: &str,
    layer: &BTreeSet<String>,
    layer_duplicates: usize,
    exchange: &BTreeSet<String>,
) -> ReconRow {
    if layer == exchange && layer_duplicates == 0 {
        return ReconRow {
            item: item.to_owned(),
            layer: layer.len().to_string(),
            exchange: exchange.len().to_string(),
        };
    }
    let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
        let only: BTreeSet<String> = a.difference(b).cloned().collect();
        if only.is_empty() {
            String::new()
        } else {
            format!(", only here: {}", list(&only))
        }
    };
    ReconRow {
        item: item.to_owned(),
        layer: format!(
            "{}{}{}",
            layer.len(),
            only(layer, exchange),
            if layer_duplicates == 0 {
                String::new()
            } else {
                format!(", {layer_duplicates} published twice")
            }
        ),
        exchange: format!("{}{}", exchange.len(), only(exchange, layer)),
    }
}

/// The position row: a position the layer never published is `unseen`, not 0.
fn position_row(layer: Option<Decimal>, rest: Decimal, truth: Decimal) -> ReconRow {
    ReconRow {
        item: format!("position {SYMBOL}"),
        layer: layer.map_or_else(|| "unseen".to_owned(), |s| s.normalize().to_string()),
        exchange: if rest == truth {
            truth.normalize().to_string()
        } else {
            format!("REST {rest} / state {truth}")
        },
    }
}

/// The table as text.
pub fn table(rows: &[ReconRow]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header([
        "",
        "layer (bus + journal)",
        "exchange (REST + /emulator/state)",
        "",
    ]);
    for r in rows {
        t.add_row([
            r.item.as_str(),
            r.layer.as_str(),
            r.exchange.as_str(),
            if r.agrees() { "✓" } else { "✗" },
        ]);
    }
    let mut out = String::from("\nreconciliation\n");
    let _ = write!(out, "{t}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_position_the_layer_never_saw_disagrees_with_a_flat_exchange() {
        assert!(!position_row(None, Decimal::ZERO, Decimal::ZERO).agrees());
        assert!(position_row(Some(Decimal::ZERO), Decimal::ZERO, Decimal::ZERO).agrees());
        assert!(!position_row(Some(dec!(0.02)), dec!(0.02), Decimal::ZERO).agrees());
    }

    #[test]
    fn sets_of_the_same_size_but_different_members_disagree() {
        let row = set_row("fills", &set(&["e1", "e2"]), 0, &set(&["e1", "e3"]));
        assert!(!row.agrees());
        assert!(row.layer.contains("only here: e2"), "{row:?}");
        assert!(row.exchange.contains("only here: e3"), "{row:?}");
        // A fill published twice is a disagreement even when the sets match.
        assert!(!set_row("fills", &set(&["e1"]), 1, &set(&["e1"])).agrees());
        // Nothing seen against something open: disagree.
        assert!(!set_row("open orders", &set(&[]), 0, &set(&["andre_TP1_X"])).agrees());
        assert!(set_row("open orders", &set(&["a"]), 0, &set(&["a"])).agrees());
    }
}
