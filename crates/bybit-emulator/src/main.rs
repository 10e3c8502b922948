//! `bybit-emulator`: runs the local Bybit V5 exchange until killed (the flags and the run
//! loop are `bybit_emulator::cli`, shared with `bybit-exec emulator`).

use anyhow::Result;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "bybit-emulator",
    about = "A local Bybit V5 exchange (REST + WebSocket) for tests and paper trading"
)]
struct Cli {
    #[command(flatten)]
    args: bybit_emulator::cli::Args,
}

#[tokio::main]
async fn main() -> Result<()> {
    bybit_emulator::cli::run(Cli::parse().args).await
}
