//! The SPEC §9 test plan as named cases, run by `cargo xtask testnet [--local]` (the
//! `exec-suite` binary). Its own crate: it drives `bybit-exec`'s runtime as an embedding
//! application would, and `bybit-exec` knows nothing of it (`cargo xtask deps` checks the
//! direction). One entry point: [`run_suite`] (and [`run`], which fails on a failed case).
//!
//! Every case drives the layer the way the application does (a process of live adapters,
//! journal and gateway) and checks the result against the exchange's truth, read past the
//! layer. `--local` runs on the embedded emulator on loopback, where failures are injected
//! through its control API; without it the suite runs on Bybit testnet (keys from
//! `BYBIT_API_KEY` / `BYBIT_API_SECRET`, and `BYBIT_ENV` must say `testnet`). Each case prints
//! `PASS` or `FAIL` with a reason line; the output ends with `N passed, N failed`.
//!
//! Testnet safety: the symbol must be flat and without open orders when the suite starts (it
//! refuses otherwise, so it never touches a position it did not open, nor runs beside another
//! run on the same account; run ids are random); sizes are a few minimum quantities; every
//! trade is closed and its orders cancelled at the end of its case, pass or fail, through the
//! gateway and, if that fails, directly over REST.

mod cases;
mod process;
mod venue;
mod verdict;

use std::time::Instant;

use anyhow::{bail, Context, Result};
use exec_gateway::Symbol;

use bybit_exec::config::{ConfigArgs, Settings};

pub(crate) use venue::Venue;
pub use verdict::CaseResult;

/// Every SPEC §9 case, by name, in the order the suite runs them.
pub const CASES: [&str; 10] = [
    cases::ENTRY,
    cases::TPS,
    cases::DCAS,
    cases::BREAKEVEN,
    cases::WS_KILLED,
    cases::SMALL_BALANCE,
    cases::DOUBLE_CLICK,
    cases::RESTART,
    cases::VISIBLE,
    cases::LAYER_EQUALS_EXCHANGE,
];

/// `exec-suite` options.
#[derive(Debug, Clone, clap::Args)]
pub struct SuiteArgs {
    /// Run on the embedded emulator on loopback instead of Bybit testnet.
    #[arg(long)]
    pub local: bool,
    /// With --local: take testnet's paths on the emulator (no fault injection, no price
    /// moves: the private stream is silenced client-side, TP1 is placed marketable, the
    /// balance case sizes a plan above the balance).
    #[arg(long, requires = "local")]
    pub testnet_paths: bool,
    /// With --local: the negative control. An order placed behind the layer's back before
    /// the order sweep; "every order visible, zero duplicates" must then fail.
    #[arg(long, requires = "local", hide = true)]
    pub inject_stray_order: bool,
    /// The USDT perpetual to trade (it must be flat on the account).
    #[arg(long, default_value = "BTCUSDT")]
    pub symbol: String,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Where it ran.
    pub venue: String,
    /// Every case, in order.
    pub cases: Vec<CaseResult>,
}

impl Report {
    /// How many passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed).count()
    }

    /// How many failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }

    /// `N passed, N failed`: the output's last line.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }
}

/// Runs the suite (`exec-suite [--local]`, what `cargo xtask testnet` runs); fails if any
/// case failed.
pub async fn run(args: SuiteArgs, config: &ConfigArgs) -> Result<()> {
    let report = run_suite(&args, config).await?;
    if report.failed() > 0 {
        bail!(
            "{} of {} suite cases failed",
            report.failed(),
            report.cases.len()
        );
    }
    Ok(())
}

/// Runs every case, printing each verdict as it comes and the summary last, and returns the
/// report. An error means the suite could not start (no keys, not testnet, a symbol that is
/// not flat), not that a case failed. `config` is read for testnet only (`--local` needs
/// nothing and touches nothing beyond loopback).
pub async fn run_suite(args: &SuiteArgs, config: &ConfigArgs) -> Result<Report> {
    let symbol = Symbol::new(args.symbol.clone())
        .with_context(|| format!("--symbol {:?} is not a symbol", args.symbol))?;
    let venue = if args.local {
        Venue::local(!args.testnet_paths, &symbol).await?
    } else {
        Venue::testnet(Settings::load(config)?)?
    };
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("bybit-exec-suite-")
        .tempdir()
        .context("creating the suite's journal directory")?;
    let mut ctx = cases::Ctx::new(venue, symbol, dir.path().to_owned());
    ctx.stray_order = args.inject_stray_order;
    println!(
        "SPEC §9 suite on {}, {}, run {}",
        ctx.venue.describe(),
        ctx.symbol,
        ctx.run_id()
    );
    // Installed before anything is placed, so no signal can kill the run mid-trade.
    let mut signals = bybit_exec::serve::StopSignals::install()?;
    ctx.ensure_flat_at_start().await?;
    ctx.preflight().await?;
    // Interrupted (Ctrl-C, SIGTERM, SIGHUP), the run still leaves nothing behind on the
    // exchange.
    let cases = tokio::select! {
        cases = cases::run::run_all(&ctx) => cases,
        signal = signals.recv() => {
            println!("{signal}: cancelling and closing what this run opened");
            ctx.abandon().await;
            bail!("the suite was interrupted");
        }
    };
    let report = Report {
        venue: ctx.venue.describe(),
        cases,
    };
    // A failed run's journal is kept for a look; the negative control fails on purpose.
    if report.failed() > 0 && !args.inject_stray_order {
        let kept = dir.keep();
        let journal = kept.join(venue::JOURNAL_FILE);
        println!(
            "the run's journal is kept: EXECUTION_JOURNAL={} bybit-exec journal <trade-tag>",
            journal.display()
        );
    }
    println!("wall time {:.1} s", started.elapsed().as_secs_f64());
    println!("{}", report.summary());
    Ok(report)
}
