//! The cases, one file per requirement (`r_test_1.rs`, `r_test_2.rs`, `r_test_3.rs`), run in
//! order by `run.rs`, and what they share: the run's context, the verdicts, cleanup and waiting helpers. Each
//! scenario opens one trade on a process of the layer, records the verdict of each case it
//! covers, and cleans up (everything cancelled and closed) whatever happened.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bybit_meta::RoundingMode;
use bybit_types::rest::order::Order;
use bybit_types::OrderStatus as WireStatus;
use exec_events::{Event, Fill, Received, Subscription};
use exec_gateway::{
    DcaLevel, Phase, PriceService, Side, Symbol, SymbolMetaService, TpLevel, TradePlan, TradeState,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

mod r_test_1;
mod r_test_2;
mod r_test_3;
pub(crate) mod run;

use super::process::Process;
use super::venue::{belongs, Venue, ERROR_LOG_FILE, JOURNAL_FILE};
use crate::verdict::CaseResult;

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

    /// Refuses to start on a symbol with a position or an open order: the suite would trade
    /// into it, its cleanup would close a position it did not open, and an open order is
    /// another run (or a person) working on the same account.
    pub(crate) async fn ensure_flat_at_start(&self) -> Result<()> {
        let p = self.venue.truth_position(&self.symbol).await?;
        let open: Vec<String> = self
            .venue
            .truth_orders(&self.symbol)
            .await?
            .into_iter()
            .filter(|o| is_open(&o.order_status))
            .map(|o| o.order_link_id)
            .collect();
        refuse_busy(&self.symbol, p.size, &open)
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

    /// A process and its trade's plan (tag `letter` of the run); the process is shut down
    /// again when the plan cannot be made, so a failed case leaves nothing running.
    async fn start_with_plan(
        &self,
        letter: &str,
        marketable_tp1: bool,
    ) -> Result<(Process, TradePlan)> {
        let p = self.start().await?;
        let tag = self.tag(letter);
        match self.plan(&p, &tag, marketable_tp1).await {
            Ok(plan) => Ok((p, plan)),
            Err(e) => {
                p.shutdown().await;
                Err(e)
            }
        }
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
            adopt_position: false,
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

/// Why the suite must not start on `symbol`: a position of `size`, or the open orders
/// `open` (their orderLinkIds).
fn refuse_busy(symbol: &Symbol, size: Decimal, open: &[String]) -> Result<()> {
    if size > Decimal::ZERO {
        bail!(
            "{symbol} has an open position of {size} on this account; the suite needs the \
             symbol flat (close it, or pass --symbol for another USDT perpetual)"
        );
    }
    if !open.is_empty() {
        bail!(
            "{symbol} has {} open orders on this account ({open:?}); another suite run or a \
             person is trading it. The suite needs the symbol without orders (cancel them, \
             or pass --symbol for another USDT perpetual)",
            open.len()
        );
    }
    Ok(())
}

/// A short run id: `s` and six random base-36 digits (about 2·10⁹ values), so two runs on
/// one account, even started in the same second, do not share trade tags.
fn run_id() -> String {
    let digits: String = (0..6)
        .map(|_| {
            let digit = fastrand::u32(0..36);
            std::char::from_digit(digit, 36).unwrap_or('0')
        })
        .collect();
    format!("s{digits}")
}

#[cfg(test)]
mod tests {
    use anyhow::anyhow;

    use super::{leg_of, refuse_busy, run_id, Outcomes, BREAKEVEN, DCAS, ENTRY, TPS};

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

    #[test]
    fn runs_started_in_the_same_second_get_different_ids() {
        let ids: std::collections::HashSet<String> = (0..50).map(|_| run_id()).collect();
        assert_eq!(ids.len(), 50, "{ids:?}");
    }

    #[test]
    fn the_suite_refuses_a_symbol_with_a_position_or_an_open_order() {
        let btc = exec_gateway::Symbol::new("BTCUSDT".to_owned()).unwrap();
        let zero = rust_decimal::Decimal::ZERO;
        assert!(refuse_busy(&btc, zero, &[]).is_ok());
        let position = refuse_busy(&btc, rust_decimal_macros::dec!(0.01), &[]).unwrap_err();
        assert!(position.to_string().contains("open position"), "{position}");
        let other_run = ["andre_TP1_sabc123_1".to_owned()];
        let orders = refuse_busy(&btc, zero, &other_run).unwrap_err();
        assert!(
            orders.to_string().contains("andre_TP1_sabc123_1"),
            "{orders}"
        );
    }
}
