//! The SPEC §9 suite on the embedded emulator, run through the library: every case present
//! by name, none failed. Once as `cargo xtask testnet --local` runs it (fault injection and
//! price moves), once on testnet's paths (`--testnet-paths`: the private stream silenced
//! client-side, a marketable TP1, a plan above the balance, a market that moves by itself),
//! so the code a testnet run takes is exercised without keys or network.

#![allow(clippy::unwrap_used, reason = "tests")]

use bybit_exec::config::ConfigArgs;
use exec_suite::{run_suite, Report, SuiteArgs, CASES};

async fn run(testnet_paths: bool) -> Report {
    let args = SuiteArgs {
        local: true,
        testnet_paths,
        inject_stray_order: false,
        symbol: "BTCUSDT".to_owned(),
    };
    run_suite(&args, &ConfigArgs::default()).await.unwrap()
}

fn check(report: &Report) {
    let names: Vec<&str> = report.cases.iter().map(|c| c.name).collect();
    assert_eq!(names, CASES, "every SPEC §9 case, once, in order");
    let failed: Vec<String> = report
        .cases
        .iter()
        .filter(|c| !c.passed)
        .map(ToString::to_string)
        .collect();
    assert!(failed.is_empty(), "failed cases:\n{}", failed.join("\n"));
    assert_eq!(report.summary(), "10 passed, 0 failed");
}

#[test]
fn the_cases_are_the_spec_9_requirements_by_name() {
    assert_eq!(CASES.len(), 10);
    let per_requirement = |r: &str| CASES.iter().filter(|c| c.starts_with(r)).count();
    assert_eq!(per_requirement("R-TEST-1 "), 4);
    assert_eq!(per_requirement("R-TEST-2 "), 3);
    assert_eq!(per_requirement("R-TEST-3 "), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_suite_runs_every_case_and_all_pass() {
    check(&run(false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_on_testnets_paths_runs_every_case_and_all_pass() {
    let report = run(true).await;
    assert!(report.venue.contains("testnet's paths"), "{}", report.venue);
    check(&report);
}

/// The negative control: an order the layer never sent, under one of the run's trades, makes
/// exactly the R-TEST-3 order case fail, and the summary says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_behind_the_layers_back_fails_the_order_case() {
    let args = SuiteArgs {
        local: true,
        testnet_paths: false,
        inject_stray_order: true,
        symbol: "BTCUSDT".to_owned(),
    };
    let report = run_suite(&args, &ConfigArgs::default()).await.unwrap();
    let failed: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect();
    assert_eq!(failed, ["R-TEST-3 every order visible, zero duplicates"]);
    let visible = report.cases.iter().find(|c| !c.passed).unwrap();
    assert!(
        visible.reason.contains("DCA9") && visible.reason.contains("not in the journal"),
        "{}",
        visible.reason
    );
    assert_eq!(report.summary(), "9 passed, 1 failed");
}
