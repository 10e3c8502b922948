//! `cargo xtask fuzz [--target NAME] [--cases N] [--seed S] [--from I]`: the `exec-fuzz`
//! targets in release (a million inputs a target by default; never in CI time, where a smoke
//! test of a few hundred runs instead). Arguments go to the `exec-fuzz` binary as they are;
//! `--help` lists them. A failure prints its reproduction, a `cargo xtask fuzz` line.

use anyhow::Result;

/// Runs `exec-fuzz` in release with `args`.
pub(crate) fn fuzz(args: Vec<String>) -> Result<()> {
    let mut cmd = crate::process::cargo();
    cmd.args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "exec-fuzz",
        "--",
    ]);
    cmd.args(args);
    crate::process::run(cmd)
}
