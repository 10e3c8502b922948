//! Running cargo and other commands from the tasks, and where the workspace is: shared by
//! every task module, so none of them imports from `main.rs`.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The workspace's directory (xtask's parent).
pub(crate) fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
}

/// The cargo that runs this task (`$CARGO`), else the one on the PATH.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

/// Runs `cmd` (echoed first) and fails unless it succeeds.
pub(crate) fn run(mut cmd: Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}
