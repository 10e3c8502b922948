//! The `bybit-exec` command line (the modules live in the library, `src/lib.rs`).

use std::process::ExitCode;

use anyhow::Result;
use bybit_exec::{config, demo, ops, serve, suite};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "bybit-exec", about = "Bybit execution layer", version)]
struct Cli {
    #[command(flatten)]
    config: config::ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A whole trade on the embedded exchange emulator (needs nothing but the repo).
    Demo(demo::DemoArgs),
    #[command(flatten)]
    Ops(ops::OpsCommand),
    /// Runs the local Bybit V5 emulator until SIGINT / SIGTERM (the same flags as
    /// `bybit-emulator`) and prints the `export` lines that point this CLI and `serve` at it.
    Emulator(bybit_emulator::cli::Args),
    /// The long-running gateway with /health, /metrics and a status page.
    Serve(serve::ServeArgs),
    /// The SPEC §9 suite (run it with `cargo xtask testnet [--local]`).
    #[command(hide = true)]
    Suite(suite::SuiteArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The message and its causes, without a backtrace: this is for the operator.
            eprintln!("error: {e:#}");
            if e.is::<demo::Interrupted>() {
                // 128 + SIGINT, as a shell reports a process Ctrl-C stopped.
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Ops(command) => ops::run(command, &cli.config).await,
        Command::Emulator(args) => {
            bybit_emulator::cli::run_with(args, config::emulator_exports).await
        }
        Command::Serve(args) => serve::run(args, &cli.config).await,
        Command::Suite(args) => suite::run(args, &cli.config).await,
    }
}
