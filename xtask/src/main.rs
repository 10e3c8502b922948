//! Workspace tasks, run as `cargo xtask <task>` (the alias is in `.cargo/config.toml`).
//!
//! - `deps`: the dependency invariants of ARCHITECTURE.md. The pure crates (`bybit-sign`,
//!   `bybit-types`, `bybit-meta`) must have no async runtime or network crate in their normal
//!   dependency tree; the gateway depends on no implementation of its ports (`exec-gateway`
//!   has no `exec-sim`, `bybit-rest`, `bybit-ws` or `sim-engine`) and its events know no
//!   wire format (`exec-events` has no `bybit-types` and no gateway or router).
//! - `ci`: everything `.ci/run` checks, in the same order (fmt, clippy, tests, deps).
//! - `bench`: the benchmarks with targets (today: emulator order creates per second).

use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

/// Crates that must stay pure: no I/O runtime, no network client.
const PURE_CRATES: &[&str] = &["bybit-sign", "bybit-types", "bybit-meta"];

/// Packages none of the pure crates may depend on, directly or transitively.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "reqwest",
    "tungstenite",
    "tokio-tungstenite",
    "hyper",
    "mio",
];

/// Layering rules beyond purity: (crate, packages it must not depend on, why).
const LAYERS: &[(&str, &[&str], &str)] = &[
    (
        "exec-gateway",
        &[
            "exec-sim",
            "exec-live",
            "sim-engine",
            "bybit-rest",
            "bybit-ws",
            "bybit-emulator",
        ],
        "the gateway never depends on an implementation of its ports",
    ),
    (
        "exec-events",
        &[
            "bybit-types",
            "bybit-rest",
            "bybit-ws",
            "exec-gateway",
            "exec-sim",
            "exec-live",
        ],
        "events are in the gateway's vocabulary, not Bybit's wire format",
    ),
    (
        "exec-live",
        &["exec-sim", "sim-engine", "bybit-emulator"],
        "the live adapters trade on the exchange, never on the simulator",
    ),
    (
        "exec-wire",
        &[
            "exec-sim",
            "exec-live",
            "sim-engine",
            "bybit-rest",
            "bybit-ws",
            "bybit-emulator",
        ],
        "the wire mapping needs the wire types only, no client or engine",
    ),
];

fn main() -> ExitCode {
    match dispatch() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "deps" => check_deps(),
        "ci" => ci(),
        "bench" => bench(),
        _ => {
            eprintln!("usage: cargo xtask <deps|ci|bench>");
            eprintln!("  deps  check the pure crates and the gateway layering (ARCHITECTURE.md)");
            eprintln!("  ci    fmt check, clippy -D warnings, tests, deps (what .ci/run does)");
            eprintln!("  bench benchmarks with targets (emulator: >= 5,000 order creates/s)");
            bail!("unknown task {task:?}")
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn run(mut cmd: Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn ci() -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;
    let mut test = cargo();
    test.args(["test", "--workspace"]);
    run(test)?;
    check_deps()
}

fn bench() -> Result<()> {
    let mut order_rate = cargo();
    order_rate.args([
        "bench",
        "-p",
        "bybit-emulator",
        "--bench",
        "order_rate",
        "--",
        "5",
        "32",
    ]);
    run(order_rate)
}

fn check_deps() -> Result<()> {
    let mut failures = Vec::new();
    let pure = PURE_CRATES.iter().map(|k| (*k, FORBIDDEN, "pure"));
    let layers = LAYERS.iter().map(|(k, f, why)| (*k, *f, *why));
    for (krate, forbidden, why) in pure.chain(layers) {
        let output = cargo()
            .args([
                "tree",
                "--edges",
                "normal",
                "--target",
                "all",
                "--prefix",
                "none",
                "--format",
                "{p}",
                "--package",
                krate,
            ])
            .output()
            .with_context(|| format!("cannot run cargo tree for {krate}"))?;
        if !output.status.success() {
            bail!(
                "cargo tree -p {krate} failed (does the crate exist?): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        match forbidden_in(krate, &tree, forbidden) {
            Ok(found) if found.is_empty() => eprintln!("deps: {krate} ok ({why})"),
            Ok(found) => failures.push(format!("{krate} depends on {} ({why})", found.join(", "))),
            Err(err) => failures.push(err),
        }
    }
    if failures.is_empty() {
        eprintln!(
            "deps: pure crates free of {}; gateway layering holds",
            FORBIDDEN.join(", ")
        );
        Ok(())
    } else {
        bail!("dependency invariant broken:\n  {}", failures.join("\n  "))
    }
}

/// The forbidden packages in one crate's `cargo tree --prefix none --format {p}` output.
///
/// The positive control: the output must start with the crate itself. A misspelt or renamed
/// crate then fails loudly instead of passing because its (empty) tree has no tokio in it.
fn forbidden_in(krate: &str, tree: &str, forbidden: &[&str]) -> Result<Vec<String>, String> {
    let mut names = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next());
    if names.next() != Some(krate) {
        return Err(format!(
            "cargo tree for {krate} did not list {krate} first; is the name right?"
        ));
    }
    let mut found: Vec<String> = names
        .filter(|name| forbidden.contains(name))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::{forbidden_in, FORBIDDEN, LAYERS};

    #[test]
    fn a_clean_tree_passes() {
        let tree = "bybit-sign v0.1.0 (/w/crates/bybit-sign)\nhmac v0.12.1\nsha2 v0.10.9\n";
        assert_eq!(forbidden_in("bybit-sign", tree, FORBIDDEN), Ok(vec![]));
    }

    #[test]
    fn a_forbidden_package_anywhere_in_the_tree_is_reported_once() {
        let tree =
            "bybit-sign v0.1.0 (/w)\nhmac v0.12.1\ntokio v1.48.0\nmio v1.0.0\ntokio v1.48.0 (*)\n";
        assert_eq!(
            forbidden_in("bybit-sign", tree, FORBIDDEN),
            Ok(vec!["mio".to_owned(), "tokio".to_owned()])
        );
    }

    #[test]
    fn a_tree_that_is_not_the_crates_own_is_an_error_not_a_pass() {
        assert!(forbidden_in("bybit-sgin", "", FORBIDDEN).is_err());
        assert!(forbidden_in("bybit-sign", "hmac v0.12.1\n", FORBIDDEN).is_err());
    }

    #[test]
    fn similar_names_are_not_mistaken_for_forbidden_ones() {
        let tree = "bybit-meta v0.1.0 (/w)\ntokio-macros-lookalike v1\nmy-reqwest-free v1\n";
        assert_eq!(forbidden_in("bybit-meta", tree, FORBIDDEN), Ok(vec![]));
    }

    #[test]
    fn the_gateway_layering_rules_catch_an_implementation() {
        let (krate, forbidden, _) = LAYERS[0];
        assert_eq!(krate, "exec-gateway");
        let tree = "exec-gateway v0.1.0 (/w)\nbybit-meta v0.1.0\nexec-sim v0.1.0 (/w)\n";
        assert_eq!(
            forbidden_in(krate, tree, forbidden),
            Ok(vec!["exec-sim".to_owned()])
        );
        let (krate, forbidden, _) = LAYERS[1];
        let tree = "exec-events v0.1.0 (/w)\nbybit-types v0.1.0 (/w)\n";
        assert_eq!(
            forbidden_in(krate, tree, forbidden),
            Ok(vec!["bybit-types".to_owned()])
        );
    }
}
