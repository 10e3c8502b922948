//! The operator's commands against the configured environment.

use anyhow::{bail, Result};

use crate::config::ConfigArgs;

/// `bybit-exec` operator commands.
#[derive(Debug, clap::Subcommand)]
pub enum OpsCommand {
    /// The health of REST and both streams (SPEC R-HEALTH-1).
    Status,
}

/// Runs an operator command.
pub async fn run(command: OpsCommand, _config: &ConfigArgs) -> Result<()> {
    match command {
        OpsCommand::Status => bail!("`status` is not built yet (issue 11)"),
    }
}
