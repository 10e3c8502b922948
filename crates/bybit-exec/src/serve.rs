//! `bybit-exec serve`: the long-running mode.

use anyhow::{bail, Result};

use crate::config::ConfigArgs;

/// `bybit-exec serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

/// Runs the gateway until SIGINT / SIGTERM.
pub async fn run(_args: ServeArgs, _config: &ConfigArgs) -> Result<()> {
    bail!("`serve` is not built yet (issue 11)")
}
