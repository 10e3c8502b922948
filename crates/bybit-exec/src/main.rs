//! The `bybit-exec` command line (the modules live in the library, `src/lib.rs`).

use std::process::ExitCode;

use anyhow::Result;
use bybit_exec::{config, demo, ops, serve};
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "bybit-exec", about = "Bybit execution layer", version)]
struct Cli {
    #[command(flatten)]
    config: config::ConfigArgs,
    #[command(flatten)]
    log: LogArgs,
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
}

/// Where the log lines go (always stderr: stdout is the command's own answer).
#[derive(Debug, clap::Args)]
struct LogArgs {
    /// Log line format on stderr: `text` for people, `json` (one object a line) for collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Which log lines to write: a level (`error`, `warn`, `info`, `debug`, `trace`) or
    /// `RUST_LOG` directives (`info,bybit_rest=debug`). Wins over `RUST_LOG`; info by default
    /// (warn for `demo`, whose timeline on stdout already tells each order, fill and step).
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Installs the process's one `tracing` subscriber (the libraries only use the facade): stderr,
/// filtered by `--log-level`, else `RUST_LOG`, else `default`.
fn install_logging(args: &LogArgs, default: &str) -> Result<()> {
    let filter = match &args.log_level {
        Some(directives) => EnvFilter::try_new(directives)
            .map_err(|e| anyhow::anyhow!("--log-level {directives:?}: {e}"))?,
        None => match std::env::var("RUST_LOG") {
            Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
                .map_err(|e| anyhow::anyhow!("RUST_LOG {directives:?}: {e}"))?,
            _ => EnvFilter::new(default),
        },
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let installed = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(false)
            .with_current_span(true)
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = if matches!(cli.command, Command::Demo(_)) {
        "warn"
    } else {
        "info"
    };
    if let Err(e) = install_logging(&cli.log, default) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
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
    }
}
