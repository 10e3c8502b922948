//! Test-only helpers shared by the workspace's test suites. Never a normal dependency.
//!
//! The main job is finding Bybit's recorded payloads. They live outside the repository, in
//! `../shared/bybit-v5/fixtures` beside the checkout, and are read in place: they are never
//! copied into the repo. `BYBIT_V5_FIXTURES` overrides the location.

use std::path::{Path, PathBuf};

pub mod bench;
pub mod nats;

/// The environment variable that overrides where the Bybit fixtures are read from.
pub const FIXTURES_ENV: &str = "BYBIT_V5_FIXTURES";

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // crates/testkit -> crates -> root
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Whether we run under CI, where a missing fixture folder is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The fixture directory, or `None` when it is absent outside CI (the caller then skips and
/// says so). Under `CI=true` a missing directory panics, so a broken checkout can't pass by
/// skipping every fixture test.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = std::env::var_os(FIXTURES_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/bybit-v5/fixtures"));
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        !in_ci(),
        "Bybit fixtures not found at {} (set {FIXTURES_ENV}); CI must have shared/ beside the clone",
        dir.display()
    );
    eprintln!(
        "SKIPPED: Bybit fixtures not found at {}; set {FIXTURES_ENV} to run fixture tests",
        dir.display()
    );
    None
}

/// Reads one fixture file as text. Returns `None` (after saying so) where [`fixtures_dir`] does.
pub fn fixture(name: &str) -> Option<String> {
    let path = fixtures_dir()?.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(err) => panic!("cannot read fixture {}: {err}", path.display()),
    }
}

/// Every fixture file name in the directory, sorted, or `None` where [`fixtures_dir`] is `None`.
pub fn fixture_names() -> Option<Vec<String>> {
    let dir = fixtures_dir()?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json") || name.ends_with(".jsonl"))
        .collect();
    names.sort();
    Some(names)
}
