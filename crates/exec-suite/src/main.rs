//! `exec-suite`: the SPEC §9 suite as a command (`cargo xtask testnet [--local]` runs it).
//! Exit status 0 when every case passed, 1 otherwise (or when the suite could not start).

use std::process::ExitCode;

use bybit_exec::config::ConfigArgs;
use clap::Parser;
use exec_suite::SuiteArgs;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "exec-suite", about = "The SPEC §9 acceptance suite", version)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    suite: SuiteArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Log lines at info on stderr (RUST_LOG overrides), as `bybit-exec` writes them; stdout is the suite's report.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    match exec_suite::run(cli.suite, &cli.config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
