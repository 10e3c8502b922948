//! Settings from environment variables and an optional TOML file (SPEC §2, R-CFG-1..5).

use std::path::PathBuf;

/// Options every subcommand takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// A TOML file with the same keys as the environment (the environment wins).
    #[arg(long, global = true, env = "BYBIT_EXEC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}
