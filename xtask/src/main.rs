//! Workspace tasks, run as `cargo xtask <task>` (the alias is in `.cargo/config.toml`).
//!
//! - `deps`: the dependency invariants of ARCHITECTURE.md. The pure crates (`bybit-sign`,
//!   `bybit-types`, `bybit-meta`) must have no async runtime or network crate in their normal
//!   dependency tree; the gateway depends on no implementation of its ports (`exec-gateway`
//!   has no `exec-sim`, `bybit-rest`, `bybit-ws`, `sim-engine` or `exec-journal`, and no
//!   `rusqlite`, `reqwest` or `tungstenite`) and its events know no
//!   wire format (`exec-events` has no `bybit-types` and no gateway or router); the REST
//!   client knows no instrument cache (`bybit-rest` has no `bybit-meta`); the application
//!   never depends on its acceptance suite (`bybit-exec` has no `exec-suite`). Then `cycles`.
//! - `ci`: what `.ci/run` checks, in the same order (fmt, clippy, tests, the local SPEC §9
//!   suite, four chaos seeds, deps; the pybit conformance step needs Python and the package
//!   step stays in `.ci/run`).
//! - `cycles`: no import cycle between the files of any crate (how: `cycles.rs`); run by
//!   `deps` too, and with `--self-test` only its positive control.
//! - `bench [--quick]`: every benchmark in one run, each row beside its floor or peer, as a
//!   Markdown report in `docs/bench/<date>.md` with the machine it ran on (how: `bench.rs`).
//! - `chaos [--runs N] [--seed S]`: `serve` on the emulator under random faults and restarts,
//!   judged against the exchange (the `exec-chaos` binary).
//! - `fuzz [--target T] [--cases N] [--seed S]`: generated inputs to the parsers and routers in
//!   release (the `exec-fuzz` binary; how: `fuzz.rs`).
//! - `mutants [FILE …] [-- ARGS]`: cargo-mutants (installed when missing) over the files that
//!   keep the promises.
//! - `testnet [--local]`: the SPEC §9 suite (the `exec-suite` binary) on Bybit testnet when
//!   `BYBIT_API_KEY` and `BYBIT_API_SECRET` are set (it says it skipped otherwise), or with
//!   `--local` on the embedded emulator on loopback.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

mod bench;
mod cycles;
mod fuzz;
mod process;

use process::{cargo, run, workspace};

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
            "exec-journal",
            "exec-nats",
            "rusqlite",
            "reqwest",
            "tungstenite",
            "tokio-tungstenite",
            "async-nats",
        ],
        "the gateway never depends on an implementation of its ports (no SQLite, HTTP, \
         WebSocket or NATS client)",
    ),
    (
        "exec-nats",
        &[
            "exec-sim",
            "exec-live",
            "exec-journal",
            "sim-engine",
            "bybit-rest",
            "bybit-ws",
            "bybit-emulator",
            "rusqlite",
        ],
        "the bus adapter depends on the gateway's ports and events, never on another adapter",
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
    (
        "bybit-exec",
        &["exec-suite"],
        "the suite drives the application; the application never knows the suite",
    ),
    (
        "http-serve",
        &[
            "bybit-types",
            "bybit-rest",
            "bybit-ws",
            "bybit-emulator",
            "exec-gateway",
            "exec-events",
            "sim-engine",
            "bybit-exec",
        ],
        "the shared accept loop knows neither server's routes nor rules",
    ),
    (
        "bybit-rest",
        &["bybit-meta", "bybit-ws", "exec-gateway", "exec-live"],
        "the REST client knows no instrument cache, stream or adapter (its users join them)",
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
        "deps" => check_deps().and_then(|()| cycles::check(workspace())),
        "cycles" if std::env::args().nth(2).as_deref() == Some("--self-test") => {
            cycles::self_test()
        }
        "cycles" => cycles::self_test().and_then(|()| cycles::check(workspace())),
        "ci" => ci(),
        "bench" => bench::bench(&std::env::args().skip(2).collect::<Vec<_>>()),
        "chaos" => chaos(std::env::args().skip(2).collect()),
        "fuzz" => fuzz::fuzz(std::env::args().skip(2).collect()),
        "mutants" => mutants(std::env::args().skip(2).collect()),
        "testnet" => testnet(std::env::args().skip(2).collect(), Handoff::Replace),
        _ => {
            eprintln!(
                "usage: cargo xtask <deps|cycles|ci|bench|chaos|fuzz|mutants|testnet [--local] [--symbol SYMBOL]>"
            );
            eprintln!("  deps  check the pure crates and the gateway layering (ARCHITECTURE.md),");
            eprintln!("        then `cycles`");
            eprintln!(
                "  cycles  no import cycle between the files of any crate (xtask/src/cycles.rs);"
            );
            eprintln!("          --self-test: only the positive control");
            eprintln!("  ci    fmt check, clippy -D warnings, tests, testnet --local, chaos, deps");
            eprintln!("  bench [--quick]  every benchmark, one report in docs/bench/<date>.md");
            eprintln!("  chaos [--runs N] [--seed S] [--verbose] [--keep]  serve on the emulator");
            eprintln!("        under random faults and restarts, judged against the exchange");
            eprintln!(
                "  mutants [FILE ...] [-- ARGS]  cargo-mutants (installed if missing) over the"
            );
            eprintln!("        files that keep the promises (default: every file of MUTATED)");
            eprintln!("  testnet  the SPEC §9 suite on Bybit testnet (keys from BYBIT_API_KEY /");
            eprintln!("           BYBIT_API_SECRET); --local: on the embedded emulator;");
            eprintln!("           --symbol SYMBOL: another USDT perpetual (default BTCUSDT)");
            bail!("unknown task {task:?}")
        }
    }
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
    testnet(vec!["--local".to_owned()], Handoff::Wait)?;
    chaos(["--runs", "4", "--seed", "1"].map(str::to_owned).to_vec())?;
    check_deps()
}

/// `cargo xtask chaos`: builds `bybit-exec` (the binary each run starts) and runs the
/// chaos suite beside it with `args`.
fn chaos(args: Vec<String>) -> Result<()> {
    let mut build = cargo();
    build.args(["build", "-q", "-p", "bybit-exec", "-p", "exec-chaos"]);
    run(build)?;
    let mut suite = cargo();
    suite
        .args(["run", "-q", "-p", "exec-chaos", "--"])
        .args(args);
    run(suite)
}

/// The files that keep the layer's promises, mutated by `cargo xtask mutants`, each with the
/// packages whose tests judge its mutants: the outcome policy, recovery, the whole-plan
/// check, the tracker (each fill once) and the journal. Recovery and the journal are also
/// tested from the crates that use them (exec-live's emulator tests, the gateway's journal
/// tests), which cargo-mutants would not run by default (only the mutated package's).
const MUTATED: &[(&str, &[&str])] = &[
    ("crates/exec-gateway/src/policy.rs", &["exec-gateway"]),
    (
        "crates/exec-gateway/src/gateway/recover.rs",
        &["exec-gateway", "exec-live"],
    ),
    (
        "crates/exec-gateway/src/gateway/check.rs",
        &["exec-gateway"],
    ),
    ("crates/exec-live/src/tracker.rs", &["exec-live"]),
    (
        "crates/exec-journal/src/lib.rs",
        &["exec-journal", "exec-gateway"],
    ),
];

/// `cargo xtask mutants [FILE ...] [-- ARGS]`: installs cargo-mutants from crates.io when it
/// is missing and runs it over each `FILE` (default: every file of [`MUTATED`]) with its
/// test packages; ARGS go to cargo-mutants (`--list`, `--jobs 2`, …). Each file's outcomes
/// land in `target/mutants/<file stem>/mutants.out` (`missed.txt` lists the survivors).
fn mutants(args: Vec<String>) -> Result<()> {
    let installed = cargo()
        .args(["mutants", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        let mut install = cargo();
        install.args(["install", "--locked", "cargo-mutants"]);
        run(install)?;
    }
    let (files, extra) = match args.iter().position(|a| a == "--") {
        Some(i) => (args[..i].to_vec(), args[i + 1..].to_vec()),
        None => (args, Vec::new()),
    };
    let chosen: Vec<(String, Vec<String>)> = if files.is_empty() {
        MUTATED
            .iter()
            .map(|(f, p)| ((*f).to_owned(), p.iter().map(|p| (*p).to_owned()).collect()))
            .collect()
    } else {
        let mut chosen = Vec::new();
        for file in files {
            let Some((_, packages)) = MUTATED.iter().find(|(f, _)| *f == file) else {
                bail!(
                    "{file} is not one of the mutated files: {:?}",
                    MUTATED.iter().map(|(f, _)| *f).collect::<Vec<_>>()
                );
            };
            chosen.push((file, packages.iter().map(|p| (*p).to_owned()).collect()));
        }
        chosen
    };
    let mut failed = Vec::new();
    for (file, packages) in chosen {
        let stem = Path::new(&file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("mutants")
            .to_owned();
        // cargo-mutants creates the output directory but not its parents (a fresh clone
        // has no target/mutants).
        let output = format!("target/mutants/{stem}");
        std::fs::create_dir_all(workspace().join(&output))
            .with_context(|| format!("creating {output}"))?;
        let mut one = cargo();
        one.current_dir(workspace())
            .args(["mutants", "--output", &output, "--file", &file]);
        for package in &packages {
            one.args(["--test-package", package]);
        }
        one.args(&extra);
        // A survivor makes cargo-mutants exit non-zero: every file is still run.
        if let Err(e) = run(one) {
            eprintln!("{e:#}");
            failed.push(file);
        }
    }
    if !failed.is_empty() {
        bail!("mutants survived (or the run failed) in {failed:?}");
    }
    Ok(())
}

/// What `cargo xtask testnet` does, decided from its arguments and the key variables.
#[derive(Debug, PartialEq, Eq)]
enum Suite {
    /// Print this and exit 0.
    Skip(&'static str),
    /// `cargo run -p exec-suite --` with these arguments and environment.
    Run {
        args: Vec<String>,
        env: Vec<(&'static str, &'static str)>,
    },
}

const SKIPPED: &str = "testnet suite SKIPPED: BYBIT_API_KEY and BYBIT_API_SECRET are not set \
                       (run `cargo xtask testnet --local` for the emulator)";

fn decide_suite(args: &[String], key: Option<&str>, secret: Option<&str>) -> Result<Suite> {
    let usage = "usage: cargo xtask testnet [--local] [--symbol SYMBOL]";
    let mut local = false;
    let mut suite: Vec<String> = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--local" => local = true,
            "--symbol" => {
                let symbol = rest
                    .next()
                    .with_context(|| format!("--symbol needs a value ({usage})"))?;
                suite.extend(["--symbol".to_owned(), symbol.clone()]);
            }
            other => bail!("unknown argument {other:?} ({usage})"),
        }
    }
    if local {
        suite.insert(0, "--local".to_owned());
        return Ok(Suite::Run {
            args: suite,
            env: vec![],
        });
    }
    let set = |v: Option<&str>| v.is_some_and(|v| !v.trim().is_empty());
    if !set(key) || !set(secret) {
        return Ok(Suite::Skip(SKIPPED));
    }
    // Testnet only, whatever the shell says: the suite places real orders.
    Ok(Suite::Run {
        args: suite,
        env: vec![("BYBIT_ENV", "testnet"), ("EXECUTION_DRY_RUN", "false")],
    })
}

/// How `testnet` runs its `cargo run`.
#[derive(Debug, Clone, Copy)]
enum Handoff {
    /// Becomes the child (`exec` on unix; `cargo run` then execs the suite in turn), so a
    /// SIGTERM or SIGINT sent to this process's id reaches the suite, which cancels and closes
    /// what it opened on the exchange. Elsewhere, waits as [`Handoff::Wait`].
    Replace,
    /// Waits for the child (`ci` goes on after it).
    Wait,
}

fn testnet(args: Vec<String>, handoff: Handoff) -> Result<()> {
    let key = std::env::var("BYBIT_API_KEY").ok();
    let secret = std::env::var("BYBIT_API_SECRET").ok();
    match decide_suite(&args, key.as_deref(), secret.as_deref())? {
        Suite::Skip(message) => {
            println!("{message}");
            Ok(())
        }
        Suite::Run { args, env } => {
            let mut cmd = cargo();
            cmd.args(["run", "--quiet", "--package", "exec-suite", "--"]);
            cmd.args(args);
            cmd.envs(env);
            #[cfg(unix)]
            if let Handoff::Replace = handoff {
                use std::os::unix::process::CommandExt;
                eprintln!("$ {cmd:?}");
                let err = cmd.exec();
                bail!("cannot start {cmd:?}: {err}");
            }
            let _ = handoff;
            run(cmd)
        }
    }
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
    use super::{decide_suite, forbidden_in, Suite, FORBIDDEN, LAYERS, SKIPPED};

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn without_both_keys_the_testnet_suite_is_skipped() {
        for (key, secret) in [
            (None, None),
            (Some("k"), None),
            (None, Some("s")),
            (Some(""), Some("s")),
            (Some("k"), Some("  ")),
        ] {
            assert_eq!(
                decide_suite(&[], key, secret).unwrap(),
                Suite::Skip(SKIPPED),
                "{key:?} {secret:?}"
            );
        }
        assert!(SKIPPED.starts_with("testnet suite SKIPPED: BYBIT_API_KEY and BYBIT_API_SECRET"));
        assert!(SKIPPED.contains("cargo xtask testnet --local"));
    }

    #[test]
    fn with_both_keys_the_suite_runs_on_testnet_only() {
        assert_eq!(
            decide_suite(&[], Some("k"), Some("s")).unwrap(),
            Suite::Run {
                args: args(&[]),
                env: vec![("BYBIT_ENV", "testnet"), ("EXECUTION_DRY_RUN", "false")],
            }
        );
    }

    #[test]
    fn local_runs_on_the_emulator_with_or_without_keys() {
        let local = Suite::Run {
            args: args(&["--local"]),
            env: vec![],
        };
        assert_eq!(
            decide_suite(&args(&["--local"]), None, None).unwrap(),
            local
        );
        assert_eq!(
            decide_suite(&args(&["--local"]), Some("k"), Some("s")).unwrap(),
            local
        );
        assert!(decide_suite(&args(&["--mainnet"]), Some("k"), Some("s")).is_err());
        assert_eq!(
            decide_suite(&args(&["--symbol", "ETHUSDT", "--local"]), None, None).unwrap(),
            Suite::Run {
                args: args(&["--local", "--symbol", "ETHUSDT"]),
                env: vec![],
            }
        );
        assert!(decide_suite(&args(&["--local", "--symbol"]), None, None).is_err());
    }

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
        // Positive controls: an adapter's machinery anywhere under the gateway is caught.
        for (adapter, tree) in [
            ("rusqlite", "exec-gateway v0.1.0 (/w)\nrusqlite v0.37.0\n"),
            (
                "reqwest",
                "exec-gateway v0.1.0 (/w)\nfoo v1\nreqwest v0.12.0\n",
            ),
            (
                "tungstenite",
                "exec-gateway v0.1.0 (/w)\ntungstenite v0.29.0\n",
            ),
            (
                "tokio-tungstenite",
                "exec-gateway v0.1.0 (/w)\ntokio-tungstenite v0.29.0\n",
            ),
        ] {
            assert_eq!(
                forbidden_in(krate, tree, forbidden),
                Ok(vec![adapter.to_owned()]),
                "{adapter}"
            );
        }
        let tree = "exec-gateway v0.1.0 (/w)\nasync-nats v0.52.0\n";
        assert_eq!(
            forbidden_in(krate, tree, forbidden),
            Ok(vec!["async-nats".to_owned()])
        );
        let layer = |name: &str| LAYERS.iter().find(|(k, _, _)| *k == name).copied().unwrap();
        let (krate, forbidden, _) = layer("exec-events");
        let tree = "exec-events v0.1.0 (/w)\nbybit-types v0.1.0 (/w)\n";
        assert_eq!(
            forbidden_in(krate, tree, forbidden),
            Ok(vec!["bybit-types".to_owned()])
        );
        // The bus adapter on another adapter (the SQLite journal) is caught.
        let (krate, forbidden, _) = layer("exec-nats");
        let tree = "exec-nats v0.1.0 (/w)\nexec-journal v0.1.0 (/w)\nrusqlite v0.37.0\n";
        assert_eq!(
            forbidden_in(krate, tree, forbidden),
            Ok(vec!["exec-journal".to_owned(), "rusqlite".to_owned()])
        );
    }

    #[test]
    fn the_rest_client_may_not_depend_on_the_instrument_cache() {
        let (krate, forbidden, _) = LAYERS
            .iter()
            .find(|(k, _, _)| *k == "bybit-rest")
            .copied()
            .unwrap();
        let tree = "bybit-rest v0.1.0 (/w)\nbybit-sign v0.1.0 (/w)\nbybit-meta v0.1.0 (/w)\n";
        assert_eq!(
            forbidden_in(krate, tree, forbidden),
            Ok(vec!["bybit-meta".to_owned()])
        );
        let tree = "bybit-rest v0.1.0 (/w)\nbybit-sign v0.1.0 (/w)\nbybit-types v0.1.0 (/w)\n";
        assert_eq!(forbidden_in(krate, tree, forbidden), Ok(vec![]));
    }
}
