//! The SPEC §9 suite on the embedded emulator (`cargo xtask testnet --local`), run through
//! the library: every case present by name, none failed.

use bybit_exec::suite::{run_suite, SuiteArgs, CASES};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_suite_runs_every_spec_9_case_and_all_pass() {
    let args = SuiteArgs {
        local: true,
        symbol: "BTCUSDT".to_owned(),
    };
    let report = run_suite(&args).await.unwrap();
    let names: Vec<&str> = report.cases.iter().map(|c| c.name).collect();
    assert_eq!(names, CASES, "every SPEC §9 case, once, in order");
    for name in CASES {
        assert!(name.starts_with("R-TEST-"), "{name}");
    }
    let failed: Vec<String> = report
        .cases
        .iter()
        .filter(|c| !c.passed)
        .map(ToString::to_string)
        .collect();
    assert!(failed.is_empty(), "failed cases:\n{}", failed.join("\n"));
    assert_eq!(report.summary(), "10 passed, 0 failed");
}
