//! The cases. Each scenario opens one trade on a process of the layer, records the verdict
//! of each case it covers, and cleans up (everything cancelled and closed) whatever happened.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use bybit_meta::RoundingMode;
use bybit_types::rest::order::Order;
use bybit_types::OrderStatus as WireStatus;
use exec_events::{ErrorKind, Event, Fill, Received, Subscription};
use exec_gateway::journal::Outcome;
use exec_gateway::{
    AccountService, DcaLevel, GatewayError, Journal, Phase, PortError, PositionService,
    PriceService, Side, SqliteJournal, Symbol, SymbolMetaService, TpLevel, TradePlan, TradeState,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::process::Process;
use super::venue::{belongs, Venue, ERROR_LOG_FILE, JOURNAL_FILE};
use super::CaseResult;

pub(crate) const ENTRY: &str = "R-TEST-1 entry opens a position";
pub(crate) const TPS: &str = "R-TEST-1 setup_tps places three reduce-only orders";
pub(crate) const DCAS: &str = "R-TEST-1 setup_dcas places the DCA orders";
pub(crate) const BREAKEVEN: &str = "R-TEST-1 move_to_breakeven cancels DCAs and keeps TPs";
pub(crate) const WS_KILLED: &str = "R-TEST-2 private WS killed: TP fill seen via REST polling";
pub(crate) const SMALL_BALANCE: &str = "R-TEST-2 too small a balance: graceful abort";
pub(crate) const DOUBLE_CLICK: &str = "R-TEST-2 double click: one entry";
pub(crate) const VISIBLE: &str = "R-TEST-3 every order visible, zero duplicates";
pub(crate) const LAYER_EQUALS_EXCHANGE: &str = "R-TEST-3 layer state equals exchange positions";
pub(crate) const RESTART: &str = "R-TEST-3 restart recovery: monitoring continues";

/// The most one scenario's steps may take before it counts as hung.
const STEPS_LIMIT: Duration = Duration::from_secs(120);
/// How long to wait for the exchange or the layer to show an expected change.
const WAIT: Duration = Duration::from_secs(20);
/// How long to wait for a market that cannot be moved to trade above an entry.
const MARKET_WAIT: Duration = Duration::from_secs(90);

/// What every scenario shares: the venue, the symbol, the run's directory (journal and
/// error log) and the tags of the trades opened so far.
pub(crate) struct Ctx {
    pub(crate) venue: Venue,
    pub(crate) symbol: Symbol,
    dir: PathBuf,
    run: String,
    tags: Mutex<Vec<String>>,
    /// The negative control: an order placed behind the layer's back before the order
    /// sweep, which must then fail.
    pub(crate) stray_order: bool,
}

/// The verdicts so far, printed as they are recorded.
#[derive(Debug, Default)]
struct Outcomes {
    results: Vec<CaseResult>,
}

/// Why a scenario stopped: a case failed (already recorded) or a step outside a case did.
#[derive(Debug)]
struct Stopped(&'static str);

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not run: \"{}\" failed first", self.0)
    }
}

impl std::error::Error for Stopped {}

impl Outcomes {
    /// Records one case; a failure stops the scenario (the next steps build on this one).
    fn record(&mut self, name: &'static str, result: Result<String>) -> Result<()> {
        let (passed, reason) = match &result {
            Ok(seen) => (true, seen.clone()),
            Err(e) => (false, format!("{e:#}")),
        };
        let case = CaseResult {
            name,
            passed,
            reason,
        };
        println!("{case}");
        self.results.push(case);
        match result {
            Ok(_) => Ok(()),
            Err(_) => Err(Stopped(name).into()),
        }
    }

    /// After a scenario: every case of `names` it did not reach fails with the reason.
    fn close(&mut self, names: &[&'static str], result: Result<()>) {
        let Err(e) = result else { return };
        for name in names {
            if !self.results.iter().any(|r| r.name == *name) {
                let _ = self.record(name, Err(anyhow!("{e:#}")));
            }
        }
    }
}

/// Runs every scenario in order and returns the verdicts, one per case of [`super::CASES`].
pub(crate) async fn run_all(ctx: &Ctx) -> Vec<CaseResult> {
    let mut out = Outcomes::default();
    let r = lifecycle(ctx, &mut out).await;
    out.close(&[ENTRY, TPS, DCAS, BREAKEVEN], r);
    let r = ws_killed(ctx, &mut out).await;
    out.close(&[WS_KILLED], r);
    let r = small_balance(ctx, &mut out).await;
    out.close(&[SMALL_BALANCE], r);
    let r = double_click(ctx, &mut out).await;
    out.close(&[DOUBLE_CLICK], r);
    let r = restart(ctx, &mut out).await;
    out.close(&[RESTART], r);
    let r = every_order_visible(ctx, &mut out).await;
    out.close(&[VISIBLE], r);
    let r = layer_equals_exchange(ctx, &mut out).await;
    out.close(&[LAYER_EQUALS_EXCHANGE], r);
    out.results
}

impl Ctx {
    pub(crate) fn new(venue: Venue, symbol: Symbol, dir: PathBuf) -> Ctx {
        Ctx {
            venue,
            symbol,
            dir,
            run: run_id(),
            tags: Mutex::new(Vec::new()),
            stray_order: false,
        }
    }

    /// This run's id: every trade tag starts with it, so its orders are told apart from any
    /// earlier run's on the same account.
    pub(crate) fn run_id(&self) -> &str {
        &self.run
    }

    /// Refuses to start on a symbol with a position: the suite would trade into it, and its
    /// cleanup would close a position it did not open.
    pub(crate) async fn ensure_flat_at_start(&self) -> Result<()> {
        let p = self.venue.truth_position(&self.symbol).await?;
        if p.size > Decimal::ZERO {
            bail!(
                "{} has an open position of {} on this account; the suite needs the symbol \
                 flat (close it, or pass --symbol for another USDT perpetual)",
                self.symbol,
                p.size
            );
        }
        Ok(())
    }

    /// After an interruption: every trade of the run removed from the exchange directly
    /// over REST (the processes are gone with the interrupted cases).
    pub(crate) async fn abandon(&self) {
        let mut clean = true;
        for tag in self.tags() {
            let done = tokio::time::timeout(WAIT, async {
                self.venue.force_flat(&self.symbol, &tag).await?;
                eventually("the trade's remains are gone", || async {
                    Ok(self.left_over(&tag).await?.is_none())
                })
                .await
            })
            .await;
            let problem = match done {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => format!("{e:#}"),
                Err(_) => "timed out".to_owned(),
            };
            clean = false;
            println!("      trade {tag}: {problem}");
        }
        if clean {
            println!("      nothing of this run is left on the exchange");
        }
    }

    /// The application's pre-flight (SPEC R-ACC-2) on the suite's symbol, before anything is
    /// traded: a USDT perpetual that is trading, one-way mode, the leverage settable, at
    /// least 100 USDT available. A failure names the check and the remedy.
    pub(crate) async fn preflight(&self) -> Result<()> {
        let p = self.start().await?;
        let checks = exec_live::Preflight {
            symbols: vec![self.symbol.clone()],
            leverage: dec!(10),
            min_available_usdt: dec!(100),
        };
        let result = p.exchange.preflight(&checks).await;
        p.shutdown().await;
        Ok(result?)
    }

    /// A new trade tag for this run (`{run}{code}`).
    fn tag(&self, code: &str) -> String {
        let tag = format!("{}{code}", self.run);
        self.tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(tag.clone());
        tag
    }

    fn tags(&self) -> Vec<String> {
        self.tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Starts a process of the layer (the application's runtime) on the run's journal.
    async fn start(&self) -> Result<Process> {
        Process::start(self.venue.settings(&self.dir, &self.symbol)?, &self.symbol).await
    }

    /// A long plan at a few minimum quantities: entry 4 units (with room for the price to
    /// move 10% before it is sent), TPs at +2 / +4 / +6 % with shares 0.5 / 0.25 / 0.25, DCAs
    /// at −5 / −10 %. With `marketable_tp1`, TP1 sits 1% under the market, so it fills as soon
    /// as it is placed (how testnet gets a take-profit fill without moving the price).
    async fn plan(&self, p: &Process, tag: &str, marketable_tp1: bool) -> Result<TradePlan> {
        let rules = p.exchange.get_symbol_meta(&self.symbol).await?;
        let price = p.exchange.last_price(&self.symbol).await?;
        let step = rules.qty_step();
        let by_notional = (rules.min_notional() * dec!(1.1) / price / step).ceil() * step;
        let unit = rules.min_order_qty().max(by_notional);
        let leverage = dec!(10).min(rules.max_leverage()).max(rules.min_leverage());
        let margin = (unit * dec!(4) * price * dec!(1.1) / leverage).round_dp(2);
        let at = |factor: Decimal| rules.round_price(price * factor, RoundingMode::Nearest);
        let tp1 = if marketable_tp1 {
            dec!(0.99)
        } else {
            dec!(1.02)
        };
        Ok(TradePlan {
            symbol: self.symbol.clone(),
            side: Side::Buy,
            margin_usdt: margin,
            leverage,
            dca_levels: vec![
                DcaLevel {
                    price: at(dec!(0.95))?,
                    margin_usdt: margin,
                },
                DcaLevel {
                    price: at(dec!(0.90))?,
                    margin_usdt: margin,
                },
            ],
            tp_levels: vec![
                TpLevel {
                    price: at(tp1)?,
                    share: dec!(0.5),
                },
                TpLevel {
                    price: at(dec!(1.04))?,
                    share: dec!(0.25),
                },
                TpLevel {
                    price: at(dec!(1.06))?,
                    share: dec!(0.25),
                },
            ],
            client_tag: tag.to_owned(),
        })
    }

    /// Closes the trade and cancels its orders through the gateway, then checks the
    /// exchange; if anything of it is left, removes it directly over REST.
    async fn cleanup(&self, p: &Process, plan: &TradePlan) -> Result<()> {
        let tag = plan.client_tag.as_str();
        let state = p
            .gateway
            .trade(tag)
            .unwrap_or_else(|| TradeState::new(plan));
        let closed = tokio::time::timeout(WAIT, p.gateway.close_all(&state, "suite cleanup"))
            .await
            .map_err(|_| anyhow!("close_all timed out"))
            .and_then(|r| r.map_err(anyhow::Error::from));
        if self.left_over(tag).await?.is_none() {
            return Ok(());
        }
        self.venue.force_flat(&self.symbol, tag).await?;
        let left = eventually("the trade's remains are gone", || async {
            Ok(self.left_over(tag).await?.is_none())
        })
        .await;
        match (closed, left) {
            (_, Ok(())) => Ok(()),
            (Err(e), Err(left)) => Err(left.context(format!("close_all failed first: {e:#}"))),
            (Ok(_), Err(left)) => Err(left),
        }
    }

    /// What of trade `tag` is still on the exchange: a position or open orders.
    async fn left_over(&self, tag: &str) -> Result<Option<String>> {
        let position = self.venue.truth_position(&self.symbol).await?;
        let open: Vec<String> = self
            .open_orders_of(tag)
            .await?
            .into_iter()
            .map(|o| o.order_link_id)
            .collect();
        if position.size.is_zero() && open.is_empty() {
            Ok(None)
        } else {
            Ok(Some(format!(
                "position {} and open orders {open:?}",
                position.size
            )))
        }
    }

    /// Trade `tag`'s orders on the exchange, open or closed.
    async fn orders_of(&self, tag: &str) -> Result<Vec<Order>> {
        Ok(self
            .venue
            .truth_orders(&self.symbol)
            .await?
            .into_iter()
            .filter(|o| belongs(&o.order_link_id, tag))
            .collect())
    }

    /// Trade `tag`'s open orders on the exchange.
    async fn open_orders_of(&self, tag: &str) -> Result<Vec<Order>> {
        Ok(self
            .orders_of(tag)
            .await?
            .into_iter()
            .filter(|o| is_open(&o.order_status))
            .collect())
    }

    /// `price` on the symbol's tick.
    async fn on_tick(&self, p: &Process, price: Decimal) -> Result<Decimal> {
        let rules = p.exchange.get_symbol_meta(&self.symbol).await?;
        Ok(rules.round_price(price, RoundingMode::Nearest)?)
    }

    /// Prints a trade at `price` and waits until the layer's price service sees it.
    async fn move_price(&self, p: &Process, price: Decimal) -> Result<()> {
        self.venue.set_price(&self.symbol, price).await?;
        eventually("the layer sees the new price", || async {
            Ok(p.exchange.last_price(&self.symbol).await? == price)
        })
        .await
    }
}

/// Runs a scenario's steps under [`STEPS_LIMIT`], then its cleanup whatever they came to.
async fn guarded<F>(ctx: &Ctx, p: &Process, plan: &TradePlan, steps: F) -> Result<()>
where
    F: std::future::Future<Output = Result<()>>,
{
    let result = tokio::time::timeout(STEPS_LIMIT, steps)
        .await
        .unwrap_or_else(|_| Err(anyhow!("timed out after {} s", STEPS_LIMIT.as_secs())));
    let cleaned = ctx.cleanup(p, plan).await;
    if let Err(e) = &cleaned {
        println!("      cleanup of trade {} failed: {e:#}", plan.client_tag);
    }
    result.and(cleaned)
}

/// R-TEST-1: entry, three TPs, the DCAs, breakeven, each seen on the exchange.
async fn lifecycle(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let p = ctx.start().await?;
    let tag = ctx.tag("L");
    let plan = match ctx.plan(&p, &tag, false).await {
        Ok(plan) => plan,
        Err(e) => {
            p.shutdown().await;
            return Err(e);
        }
    };
    let steps = async {
        let r = entry_opens_a_position(ctx, &p, &plan).await;
        out.record(ENTRY, r)?;
        let r = three_tps(ctx, &p, &plan).await;
        out.record(TPS, r)?;
        let r = dcas(ctx, &p, &plan).await;
        out.record(DCAS, r)?;
        let r = breakeven(ctx, &p, &plan).await;
        out.record(BREAKEVEN, r)
    };
    let result = guarded(ctx, &p, &plan, steps).await;
    p.shutdown().await;
    result
}

async fn entry_opens_a_position(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let entry = p.gateway.execute_entry(plan).await?;
    ensure!(entry.filled_qty > Decimal::ZERO, "the entry filled nothing");
    let want = entry.filled_qty;
    eventually("the exchange shows the position", || async {
        let pos = ctx.venue.truth_position(&ctx.symbol).await?;
        Ok(pos.size == want && pos.side == Some(bybit_types::Side::Buy))
    })
    .await?;
    let phase = phase_of(p, tag)?;
    ensure!(phase == Phase::InPosition, "the trade is {phase:?}");
    Ok(format!(
        "{} Buy {} filled at {} ({}); the exchange holds a Buy position of {}; the trade is {}",
        ctx.symbol,
        entry.filled_qty,
        entry.entry_price,
        entry.order_link_id,
        want,
        phase.as_str()
    ))
}

async fn three_tps(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let position = p.exchange.get_position(&ctx.symbol).await?;
    p.gateway.setup_tps(plan, &position).await?;
    let tps = open_legs(ctx, tag, "TP").await?;
    let links: Vec<&str> = tps.iter().map(|o| o.order_link_id.as_str()).collect();
    ensure!(tps.len() == 3, "open TP orders on the exchange: {links:?}");
    for o in &tps {
        ensure!(o.reduce_only, "{} is not reduce-only", o.order_link_id);
        ensure!(
            o.side == bybit_types::Side::Sell,
            "{} is a {:?}",
            o.order_link_id,
            o.side
        );
    }
    let total: Decimal = tps.iter().map(|o| o.qty).sum();
    ensure!(
        total <= position.size && total > Decimal::ZERO,
        "the TPs add up to {total} for a position of {}",
        position.size
    );
    Ok(format!(
        "three reduce-only Sell limits on the exchange: {}; together {total} of the {} position",
        describe(&tps),
        position.size
    ))
}

async fn dcas(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let position = p.exchange.get_position(&ctx.symbol).await?;
    p.gateway.setup_dcas(plan, &position).await?;
    let dcas = open_legs(ctx, tag, "DCA").await?;
    ensure!(
        dcas.len() == plan.dca_levels.len(),
        "{} DCA orders open on the exchange for {} levels: {}",
        dcas.len(),
        plan.dca_levels.len(),
        describe(&dcas)
    );
    for (o, level) in dcas.iter().zip(&plan.dca_levels) {
        ensure!(
            o.side == bybit_types::Side::Buy && !o.reduce_only,
            "{} is not an entry-side order",
            o.order_link_id
        );
        ensure!(
            o.price == Some(level.price) || o.trigger_price == Some(level.price),
            "{} rests at {:?}, the plan says {}",
            o.order_link_id,
            o.price,
            level.price
        );
    }
    Ok(format!(
        "{} Buy orders resting at the plan's levels: {}",
        dcas.len(),
        describe(&dcas)
    ))
}

async fn breakeven(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let tps_before: BTreeSet<String> = open_legs(ctx, tag, "TP")
        .await?
        .into_iter()
        .map(|o| o.order_id)
        .collect();
    let state = trade_of(p, tag)?;
    let state = to_breakeven(ctx, p, &state).await?;
    ensure!(
        state.phase == Phase::Breakeven,
        "the trade is {:?}",
        state.phase
    );
    let dcas = open_legs(ctx, tag, "DCA").await?;
    ensure!(dcas.is_empty(), "DCAs still open: {}", describe(&dcas));
    let cancelled = ctx
        .orders_of(tag)
        .await?
        .into_iter()
        .filter(|o| leg_of(&o.order_link_id).starts_with("DCA"))
        .filter(|o| matches!(o.order_status, WireStatus::Cancelled))
        .count();
    ensure!(
        cancelled == plan.dca_levels.len(),
        "{cancelled} DCA orders cancelled on the exchange"
    );
    let tps_after: BTreeSet<String> = open_legs(ctx, tag, "TP")
        .await?
        .into_iter()
        .map(|o| o.order_id)
        .collect();
    ensure!(
        tps_after == tps_before,
        "the TPs changed: {tps_before:?} before, {tps_after:?} after"
    );
    let mut seen = format!(
        "{cancelled} DCAs cancelled, the same {} TPs still open, trade BREAKEVEN",
        tps_after.len()
    );
    if p.gateway.config().breakeven_stop {
        let pos = ctx.venue.truth_position(&ctx.symbol).await?;
        let rules = p.exchange.get_symbol_meta(&ctx.symbol).await?;
        let entry = pos
            .avg_price
            .context("the exchange's position has no entry price")?;
        let want = rules.round_price(entry, RoundingMode::Nearest)?;
        ensure!(
            pos.stop_loss == Some(want),
            "the position's stop-loss is {:?}, the entry {want}",
            pos.stop_loss
        );
        seen.push_str(&format!("; stop-loss at the entry price {want}"));
    }
    Ok(seen)
}

/// `move_to_breakeven` once the market is above the entry. Bybit refuses a long's stop at or
/// above the last price (retCode 10001, "should be lower than base_price"); in a real trade
/// breakeven follows TP1, so the market is above the entry by then. Where the price can be
/// moved it goes up 1% (short of TP1); elsewhere the suite waits for the market to trade
/// above the entry, and tries again if it fell back under it before the stop was set.
async fn to_breakeven(ctx: &Ctx, p: &Process, state: &TradeState) -> Result<TradeState> {
    let rules = p.exchange.get_symbol_meta(&ctx.symbol).await?;
    let mut tries = 0;
    loop {
        tries += 1;
        let entry = ctx
            .venue
            .truth_position(&ctx.symbol)
            .await?
            .avg_price
            .filter(|e| !e.is_zero())
            .context("the exchange's position has no entry price")?;
        let stop = rules.round_price(entry, RoundingMode::Nearest)?;
        if ctx.venue.moves_prices() {
            let up = p.exchange.last_price(&ctx.symbol).await?.max(stop) * dec!(1.01);
            ctx.move_price(p, rules.round_price(up, RoundingMode::Nearest)?)
                .await?;
        } else {
            // A little room (half a basis point, at least two ticks), so the stop is not hit
            // as soon as it is set.
            let above = stop + (stop * dec!(0.00005)).max(rules.tick_size() * dec!(2));
            eventually_for(
                MARKET_WAIT,
                &format!("the market trades above the entry {stop} (a breakeven stop needs it)"),
                || async { Ok(p.exchange.last_price(&ctx.symbol).await? >= above) },
            )
            .await?;
        }
        match p.gateway.move_to_breakeven(state).await {
            Err(GatewayError::Port {
                source: PortError::Rejected { code: 10001, .. },
                ..
            }) if tries < 3 => continue,
            result => return Ok(result?),
        }
    }
}

/// R-TEST-2: the private stream dies while a position is open; the TP1 fill still arrives,
/// once, through REST polling.
async fn ws_killed(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let p = ctx.start().await?;
    let tag = ctx.tag("W");
    let plan = match ctx.plan(&p, &tag, !ctx.venue.moves_prices()).await {
        Ok(plan) => plan,
        Err(e) => {
            p.shutdown().await;
            return Err(e);
        }
    };
    let steps = async {
        let r = tp_fill_through_rest(ctx, &p, &plan).await;
        out.record(WS_KILLED, r)
    };
    let result = guarded(ctx, &p, &plan, steps).await;
    p.shutdown().await;
    result.and(ctx.venue.clear_faults().await)
}

async fn tp_fill_through_rest(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    p.gateway.execute_entry(plan).await?;
    // Where faults cannot be injected (testnet), the stream is silenced client-side.
    let how = if ctx.venue.kill_private_streams().await? {
        "dropped and refused by the exchange"
    } else {
        p.silence_private_stream().await?;
        "unsubscribed client-side, so it delivers nothing"
    };
    eventually("the layer notices the private stream is gone", || async {
        Ok(p.exchange.private_stream_quiet())
    })
    .await?;
    let mut sub = p.bus.subscribe();
    let position = p.exchange.get_position(&ctx.symbol).await?;
    p.gateway.setup_tps(plan, &position).await?;
    let tp1 = p.gateway.links().id(tag, exec_gateway::Leg::Tp(1))?;
    let tp1 = tp1.as_str();
    if ctx.venue.moves_prices() {
        let through = plan.tp_levels[0].price * dec!(1.0002);
        let rules = p.exchange.get_symbol_meta(&ctx.symbol).await?;
        ctx.venue
            .set_price(&ctx.symbol, rules.round_price(through, RoundingMode::Up)?)
            .await?;
    }
    let fills = fills_until(&mut sub, |f| f.order_link_id == tp1).await?;
    ensure!(
        p.exchange.private_stream_quiet(),
        "the private stream came back before the fill"
    );
    let tp1_fills: Vec<&Fill> = fills.iter().filter(|f| f.order_link_id == tp1).collect();
    let filled: Decimal = tp1_fills.iter().map(|f| f.qty).sum();
    // More REST passes find the same executions again and publish nothing new.
    p.exchange.poll().await?;
    p.exchange.catch_up().await?;
    let again = drain_fills(&mut sub)?;
    ensure!(
        again.iter().all(|f| f.order_link_id != tp1),
        "TP1 published again: {again:?}"
    );
    let journaled = p
        .journal
        .fills(tp1)?
        .into_iter()
        .filter(|f| f.order_link_id == tp1)
        .count();
    ensure!(
        journaled == tp1_fills.len(),
        "{journaled} TP1 fills journaled, {} published",
        tp1_fills.len()
    );
    Ok(format!(
        "private stream {how}; {tp1} filled {filled} and was published once through REST \
         polling (a further poll and catch-up published nothing)"
    ))
}

/// R-TEST-2: an entry the balance cannot carry is refused by the exchange; the trade ends in
/// ERROR with one error event and nothing retried or left behind.
async fn small_balance(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let p = ctx.start().await?;
    let tag = ctx.tag("B");
    let plan = match over_balance_plan(ctx, &p, &tag).await {
        Ok(plan) => plan,
        Err(e) => {
            p.shutdown().await;
            let _ = ctx.venue.restore_balance().await;
            return Err(e);
        }
    };
    let steps = async {
        let r = graceful_abort(ctx, &p, &plan).await;
        out.record(SMALL_BALANCE, r)
    };
    let result = guarded(ctx, &p, &plan, steps).await;
    p.shutdown().await;
    result.and(ctx.venue.restore_balance().await)
}

/// The emulator's wallet is shrunk under the usual plan's margin; on testnet the plan's
/// margin is three times what the account has available, at the lowest leverage.
async fn over_balance_plan(ctx: &Ctx, p: &Process, tag: &str) -> Result<TradePlan> {
    let mut plan = ctx.plan(p, tag, false).await?;
    if ctx.venue.shrink_balance().await? {
        return Ok(plan);
    }
    let balance = p.exchange.get_balance().await?;
    let total = ctx.venue.total_available().await?.unwrap_or_default();
    let rules = p.exchange.get_symbol_meta(&ctx.symbol).await?;
    plan.leverage = rules.min_leverage().max(Decimal::ONE);
    plan.margin_usdt = (balance.available.max(total) * dec!(3)).round_dp(2);
    Ok(plan)
}

async fn graceful_abort(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let mut sub = p.bus.subscribe();
    let err = match p.gateway.execute_entry(plan).await {
        Ok(entry) => bail!(
            "the exchange took an entry of {} for {} USDT margin",
            entry.filled_qty,
            plan.margin_usdt
        ),
        Err(e) => e,
    };
    ensure!(
        matches!(err, GatewayError::InsufficientBalance { .. }),
        "expected insufficient balance, got: {err}"
    );
    let phase = phase_of(p, tag)?;
    ensure!(phase == Phase::Error, "the trade is {phase:?}, not ERROR");
    let mut errors = Vec::new();
    while let Some(Received::Event(env)) = sub.try_recv() {
        if let Event::ExecutionError(e) = &*env.event {
            errors.push(e.clone());
        }
    }
    ensure!(
        errors.len() == 1 && errors[0].kind == ErrorKind::InsufficientBalance,
        "execution.error events: {errors:?}"
    );
    let intents = p.journal.intents(tag)?;
    ensure!(
        intents.len() == 1 && intents[0].intent.leg == "ENTRY",
        "{} intents journaled (nothing may be retried)",
        intents.len()
    );
    let log = std::fs::read_to_string(ctx.dir.join(ERROR_LOG_FILE)).unwrap_or_default();
    let lines = log.lines().filter(|l| l.contains(tag)).count();
    ensure!(lines == 1, "{lines} lines about {tag} in the error log");
    let pos = ctx.venue.truth_position(&ctx.symbol).await?;
    ensure!(pos.size.is_zero(), "a position of {} was opened", pos.size);
    let open = ctx.open_orders_of(tag).await?;
    ensure!(open.is_empty(), "orders left open: {}", describe(&open));
    Ok(format!(
        "\"{err}\"; the trade is ERROR, one execution.error (InsufficientBalance), one \
         error-log line, one intent journaled, no position and no open order"
    ))
}

/// R-TEST-2: `execute_entry` twice at once, then once more: one order on the exchange.
async fn double_click(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let p = ctx.start().await?;
    let tag = ctx.tag("D");
    let plan = match ctx.plan(&p, &tag, false).await {
        Ok(plan) => plan,
        Err(e) => {
            p.shutdown().await;
            return Err(e);
        }
    };
    let steps = async {
        let r = one_entry(ctx, &p, &plan).await;
        out.record(DOUBLE_CLICK, r)
    };
    let result = guarded(ctx, &p, &plan, steps).await;
    p.shutdown().await;
    result
}

async fn one_entry(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let (a, b) = tokio::join!(p.gateway.execute_entry(plan), p.gateway.execute_entry(plan));
    let (a, b) = (a?, b?);
    let c = p.gateway.execute_entry(plan).await?;
    ensure!(a == b && b == c, "the clicks saw {a:?}, {b:?}, {c:?}");
    let orders = ctx.orders_of(tag).await?;
    ensure!(
        orders.len() == 1,
        "{} orders on the exchange: {}",
        orders.len(),
        describe(&orders)
    );
    let pos = ctx.venue.truth_position(&ctx.symbol).await?;
    ensure!(
        pos.size == a.filled_qty,
        "the position is {}, one entry is {}",
        pos.size,
        a.filled_qty
    );
    let intents = p.journal.intents(tag)?;
    ensure!(intents.len() == 1, "{} intents journaled", intents.len());
    Ok(format!(
        "three clicks (two at once): one order {} on the exchange, position {} = one entry",
        a.order_link_id, pos.size
    ))
}

/// R-TEST-3: the process stops mid-trade (TP1 fills while it is down where the price can be
/// moved); a new process on the same journal recovers the trade and keeps managing it.
async fn restart(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let first = ctx.start().await?;
    let tag = ctx.tag("R");
    let plan = match ctx.plan(&first, &tag, false).await {
        Ok(plan) => plan,
        Err(e) => {
            first.shutdown().await;
            return Err(e);
        }
    };
    let before = tokio::time::timeout(STEPS_LIMIT, open_the_trade(ctx, &first, &plan))
        .await
        .unwrap_or_else(|_| Err(anyhow!("timed out opening the trade")));
    if let Err(e) = before {
        let result = guarded(ctx, &first, &plan, async { Err(e) }).await;
        first.shutdown().await;
        return result;
    }
    // The process stops; where it can, the price goes through TP1 while nobody watches.
    let through_tp1 = ctx
        .on_tick(&first, plan.tp_levels[0].price * dec!(1.0002))
        .await;
    first.shutdown().await;
    let tp1_while_down = ctx.venue.moves_prices();
    let second = async {
        if tp1_while_down {
            ctx.venue.set_price(&ctx.symbol, through_tp1?).await?;
        }
        ctx.start().await
    };
    let second = match second.await {
        Ok(second) => second,
        Err(e) => {
            // No process to clean up through: straight to the exchange.
            if let Err(left) = ctx.venue.force_flat(&ctx.symbol, &tag).await {
                println!("      cleanup of trade {tag} failed: {left:#}");
            }
            return Err(e);
        }
    };
    let steps = async {
        let r = recovered(ctx, &second, &plan, tp1_while_down).await;
        out.record(RESTART, r)
    };
    let result = guarded(ctx, &second, &plan, steps).await;
    second.shutdown().await;
    result
}

async fn open_the_trade(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<()> {
    p.gateway.execute_entry(plan).await?;
    let position = p.exchange.get_position(&ctx.symbol).await?;
    p.gateway.setup_tps(plan, &position).await?;
    p.gateway.setup_dcas(plan, &position).await?;
    Ok(())
}

async fn recovered(
    ctx: &Ctx,
    p: &Process,
    plan: &TradePlan,
    tp1_while_down: bool,
) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let found = p.gateway.recover().await?;
    let trade = found
        .iter()
        .find(|r| r.state.tag == tag)
        .with_context(|| format!("recover() did not find trade {tag}"))?;
    ensure!(
        trade.disagreements.is_empty(),
        "disagreements: {:?}",
        trade.disagreements
    );
    ensure!(
        trade.state.phase == Phase::InPosition,
        "recovered as {:?}",
        trade.state.phase
    );
    let status = |leg: &str| trade.state.orders.get(leg).and_then(|o| o.1);
    let mut seen = vec![format!("recovered {tag} IN_POSITION")];
    let tp1 = p.gateway.links().id(tag, exec_gateway::Leg::Tp(1))?;
    if tp1_while_down {
        ensure!(
            status("TP1") == Some(exec_gateway::OrderStatus::Filled),
            "TP1 is {:?} after recovery",
            status("TP1")
        );
        // The start catch-up journals the fill it missed, once.
        eventually("the missed TP1 fill is journaled", || async {
            Ok(!p.journal.fills(tp1.as_str())?.is_empty())
        })
        .await?;
        let n = p.journal.fills(tp1.as_str())?.len();
        ensure!(n == 1, "TP1 journaled {n} times");
        seen.push("TP1 filled while down, found and journaled once".to_owned());
    }
    for leg in ["TP2", "TP3"] {
        ensure!(
            status(leg) == Some(exec_gateway::OrderStatus::Open),
            "{leg} is {:?} after recovery",
            status(leg)
        );
    }
    // Monitoring continues: breakeven on the recovered state, then (where the price moves)
    // TP2 and TP3 fill and are seen by this process.
    let mut sub = p.bus.subscribe();
    let state = to_breakeven(ctx, p, &trade.state).await?;
    ensure!(
        state.phase == Phase::Breakeven,
        "breakeven left it {:?}",
        state.phase
    );
    ensure!(
        open_legs(ctx, tag, "DCA").await?.is_empty(),
        "DCAs still open after breakeven"
    );
    seen.push("breakeven cancelled the DCAs".to_owned());
    if ctx.venue.moves_prices() {
        let tp3 = p.gateway.links().id(tag, exec_gateway::Leg::Tp(3))?;
        for level in &plan.tp_levels[1..] {
            ctx.move_price(p, ctx.on_tick(p, level.price * dec!(1.0002)).await?)
                .await?;
        }
        let fills = fills_until(&mut sub, |f| f.order_link_id == tp3.as_str()).await?;
        let legs: BTreeSet<&str> = fills.iter().map(|f| leg_of(&f.order_link_id)).collect();
        ensure!(
            legs.contains("TP2") && legs.contains("TP3"),
            "fills seen after the restart: {legs:?}"
        );
        eventually("the position is flat", || async {
            Ok(p.exchange.get_position(&ctx.symbol).await?.is_flat())
        })
        .await?;
        seen.push("TP2 and TP3 filled and were seen by the new process; flat".to_owned());
    }
    let state = p
        .gateway
        .close_all(&state, "suite: restart case done")
        .await?;
    ensure!(state.phase == Phase::Closed, "closed as {:?}", state.phase);
    if ctx.venue.moves_prices() {
        seen.push("closed".to_owned());
    } else {
        // No price to move: the fill that flattened the position is what the new process
        // must see: the close's, or the breakeven stop's if the market fell back to the
        // entry first (a stop the exchange places carries no orderLinkId).
        let flattening =
            |f: &Fill| f.order_link_id.is_empty() || leg_of(&f.order_link_id).starts_with("CLOSE");
        let fills = fills_until(&mut sub, flattening).await?;
        let by = fills
            .last()
            .map_or("", |f| leg_of(&f.order_link_id))
            .to_owned();
        let by = if by.is_empty() {
            "the breakeven stop"
        } else {
            &by
        };
        seen.push(format!(
            "closed, and the fill that flattened it ({by}) was seen by the new process"
        ));
    }
    Ok(seen.join("; "))
}

/// R-TEST-3 over every trade of the run: each order the layer sent is on the exchange, once,
/// and the exchange has no order of these trades the journal lacks.
async fn every_order_visible(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let stray = if ctx.stray_order {
        Some(place_stray_order(ctx).await?)
    } else {
        None
    };
    let r = sweep(ctx).await;
    if let Some(tag) = stray {
        ctx.venue.force_flat(&ctx.symbol, &tag).await?;
    }
    out.record(VISIBLE, r)
}

/// The negative control (`--inject-stray-order`): a copy of the first trade's DCA1 order,
/// resting far under the market under that trade's name (`DCA9`), sent straight to the
/// exchange so the journal never hears of it. Returns the trade's tag.
async fn place_stray_order(ctx: &Ctx) -> Result<String> {
    let tag = ctx
        .tags()
        .first()
        .cloned()
        .context("no trade to impersonate")?;
    let model = ctx
        .orders_of(&tag)
        .await?
        .into_iter()
        .find(|o| leg_of(&o.order_link_id) == "DCA1")
        .context("the first trade has no DCA1 to copy")?;
    let price = model.price.context("DCA1 has no price")?;
    let link = format!("{}DCA9_{tag}", exec_gateway::DEFAULT_LINK_PREFIX);
    ctx.venue
        .place_limit(&ctx.symbol, model.qty, price, &link)
        .await?;
    println!("      (negative control: {link} placed behind the layer's back)");
    Ok(tag)
}

async fn sweep(ctx: &Ctx) -> Result<String> {
    let journal = SqliteJournal::open(ctx.dir.join(JOURNAL_FILE))?;
    let truth = ctx.venue.truth_orders(&ctx.symbol).await?;
    judge_orders(&ctx.tags(), &truth, &journal)
}

/// The R-TEST-3 verdict on the exchange's orders (`truth`) against the journal, for the
/// trades `tags`: every acknowledged intent is on the exchange exactly once, the exchange has
/// no order of these trades the journal lacks, and no trade has more than one entry.
fn judge_orders(tags: &[String], truth: &[Order], journal: &dyn Journal) -> Result<String> {
    let mut checked = 0;
    let mut problems = Vec::new();
    for tag in tags {
        let mut on_exchange: BTreeMap<&str, usize> = BTreeMap::new();
        for o in truth.iter().filter(|o| belongs(&o.order_link_id, tag)) {
            if o.order_link_id.starts_with("suite_") {
                continue; // the suite's own last-resort cleanup
            }
            *on_exchange.entry(o.order_link_id.as_str()).or_default() += 1;
        }
        let intents = journal.intents(tag)?;
        let sent: BTreeSet<&str> = intents
            .iter()
            .filter(|r| {
                r.outcomes.iter().any(|o| {
                    matches!(
                        o,
                        Outcome::Acked { .. } | Outcome::Resolved { found: true, .. }
                    )
                })
            })
            .map(|r| r.intent.order_link_id.as_str())
            .collect();
        let journaled: BTreeSet<&str> = intents
            .iter()
            .map(|r| r.intent.order_link_id.as_str())
            .collect();
        for link in &sent {
            match on_exchange.get(link) {
                None => problems.push(format!(
                    "{link} was acknowledged but is not on the exchange"
                )),
                Some(1) => checked += 1,
                Some(n) => problems.push(format!("{link} is on the exchange {n} times")),
            }
        }
        for link in on_exchange.keys() {
            if !journaled.contains(link) {
                problems.push(format!("{link} is on the exchange but not in the journal"));
            }
        }
        let entries: usize = on_exchange
            .iter()
            .filter(|(l, _)| leg_of(l) == "ENTRY")
            .map(|(_, n)| n)
            .sum();
        if entries > 1 {
            problems.push(format!("trade {tag} has {entries} entries"));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("; "));
    ensure!(
        checked > 0,
        "no orders to check (no trade got as far as an order)"
    );
    Ok(format!(
        "{checked} acknowledged orders of {} trades each found once on the exchange; none \
         there that the journal lacks; at most one entry per trade",
        tags.len()
    ))
}

/// R-TEST-3: the layer's positions and open orders equal the exchange's, with a position
/// open (after a DCA fill where the price can be moved) and after the close; at the end of
/// the run nothing of it is left open.
async fn layer_equals_exchange(ctx: &Ctx, out: &mut Outcomes) -> Result<()> {
    let p = ctx.start().await?;
    let tag = ctx.tag("V");
    let plan = match ctx.plan(&p, &tag, false).await {
        Ok(plan) => plan,
        Err(e) => {
            p.shutdown().await;
            return Err(e);
        }
    };
    let steps = async {
        let r = compare_views(ctx, &p, &plan).await;
        out.record(LAYER_EQUALS_EXCHANGE, r)
    };
    let result = guarded(ctx, &p, &plan, steps).await;
    p.shutdown().await;
    result
}

async fn compare_views(ctx: &Ctx, p: &Process, plan: &TradePlan) -> Result<String> {
    let tag = plan.client_tag.as_str();
    let mut seen = Vec::new();
    open_the_trade(ctx, p, plan).await?;
    seen.push(same_view(ctx, p, tag, "entry, TPs and DCAs placed").await?);
    if ctx.venue.moves_prices() {
        let mut sub = p.bus.subscribe();
        let dca1 = p.gateway.links().id(tag, exec_gateway::Leg::Dca(1))?;
        let through = ctx
            .on_tick(p, plan.dca_levels[0].price * dec!(0.9998))
            .await?;
        ctx.move_price(p, through).await?;
        fills_until(&mut sub, |f| f.order_link_id == dca1.as_str()).await?;
        let position = p.exchange.get_position(&ctx.symbol).await?;
        p.gateway.setup_tps(plan, &position).await?;
        seen.push(same_view(ctx, p, tag, "DCA1 filled and the TPs resized").await?);
    }
    let state = trade_of(p, tag)?;
    let state = p.gateway.close_all(&state, "suite: compare done").await?;
    ensure!(state.phase == Phase::Closed, "closed as {:?}", state.phase);
    seen.push(same_view(ctx, p, tag, "closed").await?);
    // Every trade of the run is over: nothing of any is left on the exchange.
    for t in ctx.tags() {
        if let Some(left) = ctx.left_over(&t).await? {
            bail!("trade {t} left {left}");
        }
    }
    seen.push(format!(
        "all {} trades of the run flat and without open orders",
        ctx.tags().len()
    ));
    Ok(seen.join("; "))
}

/// Compares the layer's position, trade state and open orders with the exchange's.
async fn same_view(ctx: &Ctx, p: &Process, tag: &str, when: &str) -> Result<String> {
    let layer = p.exchange.get_position(&ctx.symbol).await?;
    let truth = ctx.venue.truth_position(&ctx.symbol).await?;
    let layer_side = layer.side.map(|side| match side {
        Side::Buy => bybit_types::Side::Buy,
        Side::Sell => bybit_types::Side::Sell,
    });
    let truth_side = truth.side.filter(|_| !truth.size.is_zero());
    ensure!(
        layer.size == truth.size && layer_side == truth_side,
        "{when}: the layer says {:?} {}, the exchange {:?} {}",
        layer.side,
        layer.size,
        truth.side,
        truth.size
    );
    if !truth.size.is_zero() {
        ensure!(
            layer.entry_price == truth.avg_price,
            "{when}: entry price {:?} in the layer, {:?} on the exchange",
            layer.entry_price,
            truth.avg_price
        );
    }
    let mut layer_open: Vec<(String, Decimal, Option<Decimal>)> = p
        .exchange
        .get_open_orders(&ctx.symbol)
        .await?
        .into_iter()
        .filter(|o| belongs(&o.order_link_id, tag))
        .map(|o| (o.order_link_id, o.qty, o.price.or(o.trigger_price)))
        .collect();
    let mut truth_open: Vec<(String, Decimal, Option<Decimal>)> = ctx
        .open_orders_of(tag)
        .await?
        .into_iter()
        .map(|o| {
            let price = o.price.filter(|p| !p.is_zero()).or(o.trigger_price);
            (o.order_link_id, o.qty, price)
        })
        .collect();
    layer_open.sort();
    truth_open.sort();
    ensure!(
        layer_open == truth_open,
        "{when}: open orders in the layer {layer_open:?}, on the exchange {truth_open:?}"
    );
    let phase = phase_of(p, tag)?;
    let expected = if truth.size.is_zero() {
        Phase::Closed
    } else {
        Phase::InPosition
    };
    ensure!(phase == expected, "{when}: the trade is {phase:?}");
    Ok(format!(
        "{when}: both say position {} and {} open orders (trade {})",
        truth.size.normalize(),
        truth_open.len(),
        phase.as_str()
    ))
}

fn trade_of(p: &Process, tag: &str) -> Result<TradeState> {
    p.gateway
        .trade(tag)
        .with_context(|| format!("the gateway does not know trade {tag}"))
}

fn phase_of(p: &Process, tag: &str) -> Result<Phase> {
    Ok(trade_of(p, tag)?.phase)
}

/// The leg code of an orderLinkId (`andre_TP1_x` → `TP1`).
fn leg_of(link: &str) -> &str {
    link.split('_').nth(1).unwrap_or("")
}

/// Trade `tag`'s open orders of legs starting with `leg` (`TP`, `DCA`), by orderLinkId.
async fn open_legs(ctx: &Ctx, tag: &str, leg: &str) -> Result<Vec<Order>> {
    let mut orders: Vec<Order> = ctx
        .open_orders_of(tag)
        .await?
        .into_iter()
        .filter(|o| leg_of(&o.order_link_id).starts_with(leg))
        .collect();
    orders.sort_by(|a, b| a.order_link_id.cmp(&b.order_link_id));
    Ok(orders)
}

fn is_open(status: &WireStatus) -> bool {
    matches!(
        status,
        WireStatus::New | WireStatus::PartiallyFilled | WireStatus::Untriggered
    )
}

fn describe(orders: &[Order]) -> String {
    let parts: Vec<String> = orders
        .iter()
        .map(|o| {
            let price = o
                .price
                .filter(|p| !p.is_zero())
                .or(o.trigger_price)
                .map_or("market".to_owned(), |p| p.to_string());
            format!("{} {} @ {}", leg_of(&o.order_link_id), o.qty, price)
        })
        .collect();
    parts.join(", ")
}

/// Waits for fills on the bus until one satisfies `last`; returns all seen.
async fn fills_until(sub: &mut Subscription, last: impl Fn(&Fill) -> bool) -> Result<Vec<Fill>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, sub.recv()).await {
            Ok(Received::Event(env)) => {
                if let Event::Fill(f) = &*env.event {
                    let done = last(f);
                    out.push(f.clone());
                    if done {
                        return Ok(out);
                    }
                }
            }
            Ok(Received::Lagged { missed }) => bail!("the suite's subscriber lagged by {missed}"),
            Ok(Received::Closed) => bail!("the event bus closed"),
            Err(_) => bail!(
                "no such fill within {} s; fills seen: {:?}",
                WAIT.as_secs(),
                out.iter()
                    .map(|f| format!(
                        "{} {:?} {} {}",
                        f.order_link_id, f.exec_kind, f.qty, f.order_id
                    ))
                    .collect::<Vec<_>>()
            ),
        }
    }
}

/// The fills already queued, without waiting.
fn drain_fills(sub: &mut Subscription) -> Result<Vec<Fill>> {
    let mut out = Vec::new();
    loop {
        match sub.try_recv() {
            Some(Received::Event(env)) => {
                if let Event::Fill(f) = &*env.event {
                    out.push(f.clone());
                }
            }
            Some(Received::Lagged { missed }) => bail!("the suite's subscriber lagged by {missed}"),
            Some(Received::Closed) | None => return Ok(out),
        }
    }
}

/// Polls `check` (every 50 ms) until it holds, for up to [`WAIT`].
async fn eventually<F, Fut>(what: &str, check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    eventually_for(WAIT, what, check).await
}

/// Polls `check` (every 50 ms) until it holds, for up to `limit`.
async fn eventually_for<F, Fut>(limit: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = None;
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = Some(e),
        }
        if tokio::time::Instant::now() >= deadline {
            let why = last.map_or(String::new(), |e| format!(" (last error: {e:#})"));
            bail!("timed out after {} s: {what}{why}", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A short run id from the clock (base 36 seconds), so tags differ between runs.
fn run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut n = secs % 36u64.pow(6);
    let mut out = Vec::new();
    for _ in 0..6 {
        let digit = u32::try_from(n % 36).unwrap_or(0);
        out.push(std::char::from_digit(digit, 36).unwrap_or('0'));
        n /= 36;
    }
    out.reverse();
    format!("s{}", out.into_iter().collect::<String>())
}

#[cfg(test)]
mod tests {
    use anyhow::anyhow;
    use bybit_types::rest::order::Order;
    use exec_gateway::journal::{Intent, Outcome};
    use exec_gateway::{Journal, MemoryJournal};
    use rust_decimal_macros::dec;
    use serde_json::json;

    use super::{judge_orders, leg_of, run_id, Outcomes, BREAKEVEN, DCAS, ENTRY, TPS};

    fn order(id: &str, link: &str) -> Order {
        serde_json::from_value(json!({
            "symbol": "BTCUSDT", "orderId": id, "orderLinkId": link, "side": "Buy",
            "orderType": "Market", "price": "0", "qty": "0.004", "orderStatus": "Filled",
            "cumExecQty": "0.004", "timeInForce": "IOC", "reduceOnly": false,
            "createdTime": "1700000000000", "updatedTime": "1700000000000"
        }))
        .unwrap()
    }

    /// A journal holding `legs` of trade `t1`, each acknowledged unless named in `unacked`.
    fn journal(legs: &[&str], unacked: &[&str]) -> MemoryJournal {
        let j = MemoryJournal::new();
        for leg in legs {
            let link = format!("andre_{leg}_t1");
            j.record_intent(&Intent {
                trade_tag: "t1".to_owned(),
                leg: (*leg).to_owned(),
                order_link_id: link.clone(),
                symbol: "BTCUSDT".to_owned(),
                side: "Buy".to_owned(),
                qty: dec!(0.004),
                price: None,
                trigger_price: None,
                kind: "market".to_owned(),
                reason: "test".to_owned(),
                at_ms: 1,
            })
            .unwrap();
            let outcome = if unacked.contains(leg) {
                Outcome::Rejected {
                    code: Some(110007),
                    message: "ab not enough for new order".to_owned(),
                }
            } else {
                Outcome::Acked {
                    order_id: format!("id-{leg}"),
                }
            };
            j.record_outcome(&link, &outcome, 2).unwrap();
        }
        j
    }

    fn verdict(truth: &[Order], j: &MemoryJournal) -> Result<String, String> {
        judge_orders(&["t1".to_owned()], truth, j).map_err(|e| e.to_string())
    }

    #[test]
    fn every_acknowledged_order_found_once_passes() {
        let j = journal(&["ENTRY", "TP1"], &[]);
        let truth = [
            order("1", "andre_ENTRY_t1"),
            order("2", "andre_TP1_t1"),
            order("3", "andre_TP1_other"),
            order("4", "suite_FLAT_t1"),
        ];
        let seen = verdict(&truth, &j).unwrap();
        assert!(
            seen.starts_with("2 acknowledged orders of 1 trades"),
            "{seen}"
        );
    }

    #[test]
    fn a_refused_intent_need_not_be_on_the_exchange() {
        let j = journal(&["ENTRY"], &["ENTRY"]);
        let err = verdict(&[], &j).unwrap_err();
        assert!(err.contains("no orders to check"), "{err}");
        let j = journal(&["ENTRY", "TP1"], &["TP1"]);
        assert!(verdict(&[order("1", "andre_ENTRY_t1")], &j).is_ok());
    }

    #[test]
    fn a_missing_a_doubled_or_an_unjournaled_order_fails() {
        let j = journal(&["ENTRY", "TP1"], &[]);
        let missing = verdict(&[order("1", "andre_ENTRY_t1")], &j).unwrap_err();
        assert!(missing.contains("andre_TP1_t1 was acknowledged but is not on the exchange"));
        let doubled = verdict(
            &[
                order("1", "andre_ENTRY_t1"),
                order("2", "andre_ENTRY_t1"),
                order("3", "andre_TP1_t1"),
            ],
            &j,
        )
        .unwrap_err();
        assert!(
            doubled.contains("andre_ENTRY_t1 is on the exchange 2 times"),
            "{doubled}"
        );
        assert!(doubled.contains("trade t1 has 2 entries"), "{doubled}");
        let stranger = verdict(
            &[
                order("1", "andre_ENTRY_t1"),
                order("2", "andre_TP1_t1"),
                order("3", "andre_DCA1_t1"),
            ],
            &j,
        )
        .unwrap_err();
        assert!(
            stranger.contains("andre_DCA1_t1 is on the exchange but not in the journal"),
            "{stranger}"
        );
    }

    #[test]
    fn a_failed_case_stops_its_scenario_and_the_rest_fail_as_not_run() {
        let mut out = Outcomes::default();
        let scenario = (|| {
            out.record(ENTRY, Ok("opened".to_owned()))?;
            out.record(TPS, Err(anyhow!("two TPs only")))?;
            out.record(DCAS, Ok("never reached".to_owned()))
        })();
        out.close(&[ENTRY, TPS, DCAS, BREAKEVEN], scenario);
        let verdicts: Vec<_> = out
            .results
            .iter()
            .map(|r| (r.name, r.passed, r.reason.as_str()))
            .collect();
        let not_run = format!("not run: \"{TPS}\" failed first");
        assert_eq!(
            verdicts,
            [
                (ENTRY, true, "opened"),
                (TPS, false, "two TPs only"),
                (DCAS, false, not_run.as_str()),
                (BREAKEVEN, false, not_run.as_str()),
            ]
        );
    }

    #[test]
    fn a_scenario_that_fails_before_its_first_case_fails_them_all_with_the_reason() {
        let mut out = Outcomes::default();
        out.close(
            &[ENTRY, TPS],
            Err(anyhow!("no price for BTCUSDT within 15 s")),
        );
        assert!(out
            .results
            .iter()
            .all(|r| !r.passed && r.reason == "no price for BTCUSDT within 15 s"));
        assert_eq!(out.results.len(), 2);
    }

    #[test]
    fn the_leg_is_the_middle_of_the_link_id() {
        assert_eq!(leg_of("andre_TP1_s1abcdL"), "TP1");
        assert_eq!(leg_of("andre_ENTRY_s1abcdL"), "ENTRY");
        assert_eq!(leg_of("nounderscore"), "");
    }

    #[test]
    fn run_ids_are_short_alphanumeric_tags() {
        let id = run_id();
        assert_eq!(id.len(), 7);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
    }
}
