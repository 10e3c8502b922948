//! `exec-chaos`: the application as an operator runs it, under chaos. Each run starts the
//! embedded emulator and `bybit-exec serve` with live routing on it, drives managed trades
//! through the control API while it injects random faults (REST 5xx and retCodes, held
//! requests, lost responses, creates that land with every reply lost, clock skew, rate-limit
//! pressure, private-stream drops, refusals and muting, shuffled and doubled pushes, book
//! gaps, an exchange restart, days of downtime) and kills or stops `serve` at random points
//! — also in the middle of a call. The driver never repeats a call: what a call left
//! unfinished, the layer must finish. After the run the faults are cleared, the trades the
//! driver did not close are closed once, `serve` is given time to settle (healthy, nothing
//! unresolved, every trade finished or flagged), stopped, started once more (its start
//! catches up over REST) and stopped; then the run is judged against the exchange
//! (`/emulator/state`) and the journal file:
//! no orderLinkId on two orders, no create refused as a duplicate beyond what a fault
//! allows, each exchange fill in the journal exactly once, the journal's positions equal
//! the exchange's, nothing unresolved, every trade finished or flagged.
//!
//! Run with `cargo xtask chaos [--runs N] [--seed S]`; a failing run prints the one line
//! that reproduces it.

mod judge;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

/// The chaos suite's arguments.
#[derive(Debug, Parser)]
#[command(
    name = "exec-chaos",
    about = "bybit-exec serve under random faults and restarts"
)]
struct Args {
    /// How many runs (seeds `seed`, `seed + 1`, …).
    #[arg(long, default_value_t = 5)]
    runs: u64,
    /// The first run's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The `bybit-exec` binary (default: the one beside this binary).
    #[arg(long)]
    serve_bin: Option<PathBuf>,
    /// Keep each run's directory (journal and serve's log) even when it passes.
    #[arg(long)]
    keep: bool,
    /// Print each run's steps and faults.
    #[arg(long)]
    verbose: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let bin = match args.serve_bin.clone().map_or_else(serve::default_bin, Ok) {
        Ok(bin) => bin,
        Err(e) => {
            eprintln!("chaos: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let mut totals = judge::Totals::default();
    let mut failed = Vec::new();
    for seed in args.seed..args.seed.saturating_add(args.runs) {
        let run_started = Instant::now();
        // Interrupted, the run is dropped: its serve child is killed and its directory removed.
        let outcome = tokio::select! {
            outcome = run::run(seed, &bin, args.keep, args.verbose) => outcome,
            () = interrupted() => {
                eprintln!("chaos: interrupted during seed {seed}");
                return ExitCode::from(130);
            }
        };
        let secs = run_started.elapsed().as_secs_f64();
        match outcome {
            Ok(report) => {
                println!(
                    "chaos seed {seed}: ok in {secs:.1} s — {}",
                    report.summary()
                );
                totals.add(&report);
            }
            Err(failure) => {
                println!("chaos seed {seed}: FAILED in {secs:.1} s — {failure}");
                println!("  reproduce: cargo xtask chaos --runs 1 --seed {seed} --verbose");
                totals.failed += 1;
                failed.push(seed);
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "chaos: {} runs in {wall:.0} s; {} failed{}",
        args.runs,
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" (seeds {failed:?})")
        }
    );
    println!("chaos: {}", totals.summary());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// SIGINT or SIGTERM.
async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
