//! The `bybit-exec` command line (the modules live in the library, `src/lib.rs`).

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
    /// The long-running gateway with /health, /metrics and a status page.
    Serve(serve::ServeArgs),
    /// The SPEC §9 suite (run it with `cargo xtask testnet [--local]`).
    #[command(hide = true)]
    Suite(suite::SuiteArgs),
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Ops(command) => ops::run(command, &cli.config).await,
        Command::Serve(args) => serve::run(args, &cli.config).await,
        Command::Suite(args) => suite::run(args, &cli.config).await,
    }
}
