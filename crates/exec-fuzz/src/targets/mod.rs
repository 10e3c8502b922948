//! The four targets, and the seeds they share: Bybit's recorded payloads, read in place.

pub mod emulator;
pub mod rest;
pub mod serve;
pub mod ws;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The fixtures whose name starts with `prefix`, parsed (a `.jsonl` file gives one seed per
/// line), sorted by name.
pub(crate) fn seeds(prefix: &str) -> Result<Vec<(String, Value)>> {
    let Some(names) = testkit::fixture_names() else {
        bail!(
            "the Bybit fixtures were not found (../shared/bybit-v5/fixtures beside the \
             checkout, or {}); the fuzzer edits them",
            testkit::FIXTURES_ENV
        );
    };
    let mut seeds = Vec::new();
    for name in names.iter().filter(|n| n.starts_with(prefix)) {
        let text = testkit::fixture(name).with_context(|| format!("fixture {name}"))?;
        if name.ends_with(".jsonl") {
            for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
                let value = serde_json::from_str(line)
                    .with_context(|| format!("fixture {name} line {}", i + 1))?;
                seeds.push((format!("{name}:{}", i + 1), value));
            }
        } else {
            let value = serde_json::from_str(&text).with_context(|| format!("fixture {name}"))?;
            seeds.push((name.clone(), value));
        }
    }
    if seeds.is_empty() {
        bail!("no fixture starts with {prefix:?}");
    }
    Ok(seeds)
}
