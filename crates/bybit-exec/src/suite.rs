//! The SPEC §9 test plan as named cases, run by `cargo xtask testnet [--local]`.

use anyhow::{bail, Result};

use crate::config::ConfigArgs;

/// `bybit-exec suite` options.
#[derive(Debug, clap::Args)]
pub struct SuiteArgs {}

/// Runs the suite.
pub async fn run(_args: SuiteArgs, _config: &ConfigArgs) -> Result<()> {
    bail!("the suite is not built yet (issue 11)")
}
