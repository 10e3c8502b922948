//! The binary itself: help on every subcommand, start-up refusals with a clear message, the
//! demo's exit code.

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bybit-exec"));
    // Only what the test sets: no key or environment leaks in from the caller.
    for (k, _) in std::env::vars() {
        if k.starts_with("BYBIT_") || k.starts_with("EXECUTION_") || k == "PAPER_USDT" {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "demo",
        "status",
        "balance",
        "positions",
        "orders",
        "preflight",
        "recover",
        "close-all",
        "journal",
        "emulator",
    ] {
        let out = bin().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub} --help");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Usage: bybit-exec"), "{sub}: {text}");
    }
}

#[test]
fn mainnet_without_the_opt_in_is_refused_before_anything_is_sent() {
    let out = bin()
        .arg("status")
        .env("BYBIT_ENV", "mainnet")
        // Loopback, so a regression of the guard cannot reach Bybit's mainnet from a test.
        .env("BYBIT_REST_URL", "http://127.0.0.1:1")
        .env("BYBIT_WS_PUBLIC_URL", "ws://127.0.0.1:1/v5/public/linear")
        .env("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:1/v5/private")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("BYBIT_MAINNET_CONFIRM=yes"), "{err}");
    assert!(!err.contains("backtrace"), "{err}");
}

#[test]
fn serve_routing_live_cannot_override_dry_run() {
    let out = bin()
        .args(["serve", "--routing", "live", "--listen", "127.0.0.1:0"])
        .env("EXECUTION_DRY_RUN", "true")
        .env("BYBIT_API_KEY", "k")
        .env("BYBIT_API_SECRET", "s")
        .env("BYBIT_REST_URL", "http://127.0.0.1:9")
        .env("BYBIT_WS_PUBLIC_URL", "ws://127.0.0.1:9/v5/public/linear")
        .env("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:9/v5/private")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("EXECUTION_DRY_RUN") && err.contains("live routing"),
        "{err}"
    );
}

#[test]
fn status_prints_the_health_json_and_exits_1_when_unreachable() {
    // SPEC R-HEALTH-1: nothing listens on port 1.
    let out = bin()
        .args(["status", "--json"])
        .env("BYBIT_REST_URL", "http://127.0.0.1:1")
        .env("BYBIT_WS_PUBLIC_URL", "ws://127.0.0.1:1/v5/public/linear")
        .env("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:1/v5/private")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["rest"]["ok"], false, "{v}");
    assert_eq!(v["wsPublic"]["ok"], false, "{v}");
}

#[test]
fn a_bad_value_names_the_key() {
    let out = bin()
        .arg("balance")
        .env("EXECUTION_LEVERAGE", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("EXECUTION_LEVERAGE") && err.contains("1 to 200"),
        "{err}"
    );
}

#[test]
fn the_demo_binary_exits_zero_with_an_agreeing_table() {
    let out = bin().args(["demo", "--quiet"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("reconciliation") && text.contains("agree"),
        "{text}"
    );
    assert!(!text.contains('✗'), "{text}");
    // The exchange's own count of the requests the trade cost (a figure, not a bound).
    assert!(
        text.lines().any(
            |l| l.starts_with("the layer and the exchange agree (5 fills, ")
                && l.contains(" requests over REST and the order-entry stream, ")
        ),
        "{text}"
    );
    // It ends with what the trade made: the journal's figure, which the table's P&L row has
    // just compared with the exchange's Σ execPnl − execFee.
    assert!(
        text.trim_end()
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("trade DEMO: realised P&L +86.8383989 USDT")),
        "{text}"
    );
    // The negative controls (one per row, each exiting 1) are in demo.rs.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_subcommand_serves_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let mut child = bin()
        .args(["emulator", "--listen", "127.0.0.1:0", "--static-prices"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    // docs/v5/market/time.mdx: the server time, unauthenticated.
    let reply: serde_json::Value = reqwest::get(format!("{url}/v5/market/time"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["retCode"], 0, "{reply}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success());
}

/// The commands that only read the journal print no note about trading on the environment
/// (the thin testnet market): they never reach it.
#[test]
fn journal_readers_print_no_environment_note() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.sqlite");
    let out = bin()
        .args(["demo", "--quiet", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = bin()
        .arg("trades")
        .env("EXECUTION_JOURNAL", &journal)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("note:"), "{stderr}");
    // A command that talks to the exchange still says it.
    let out = bin().arg("balance").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("note: testnet"));
}
