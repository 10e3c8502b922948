//! `exec-fuzz`: runs the fuzz targets and prints, per target, inputs run, wall time, inputs
//! per second and failures. Exits non-zero on any failure. `cargo xtask fuzz` runs it in
//! release.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use exec_fuzz::{Plan, DEADLINE, TARGETS};

/// Generated-input fuzzing of the parsers (no panic, no hang, every refusal typed).
#[derive(Debug, Parser)]
#[command(name = "exec-fuzz")]
struct Args {
    /// `ws`, `rest`, `emulator`, `serve`, or `all`.
    #[arg(long, default_value = "all")]
    target: String,
    /// Inputs per target.
    #[arg(long, default_value_t = 1_000_000)]
    cases: u64,
    /// The run's seed (each case's own seed derives from it and the case index).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The first case index (a failure's reproduction line sets it).
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// A case taking longer than this many milliseconds is a hang.
    #[arg(long, default_value_t = u64::try_from(DEADLINE.as_millis()).unwrap_or(2000))]
    deadline_ms: u64,
    /// Stop at the first failure.
    #[arg(long)]
    stop_at_first: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let names: Vec<&str> = if args.target == "all" {
        TARGETS.to_vec()
    } else {
        vec![args.target.as_str()]
    };
    let plan = Plan {
        seed: args.seed,
        from: args.from,
        cases: args.cases,
        deadline: Duration::from_millis(args.deadline_ms),
        stop_at_first: args.stop_at_first,
    };
    let mut failed = false;
    for name in names {
        match exec_fuzz::run(name, plan) {
            Ok(summary) => {
                println!("{}", summary.line());
                if !summary.reached.is_empty() {
                    println!("          reached: {}", summary.reached);
                }
                failed |= !summary.failures.is_empty();
            }
            Err(e) => {
                eprintln!("exec-fuzz: {name}: {e:#}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
