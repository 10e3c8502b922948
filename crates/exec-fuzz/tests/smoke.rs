//! A few hundred cases a target inside the normal test suite, so the harness cannot rot
//! between the release runs of `cargo xtask fuzz` (a million a target).

use std::time::Duration;

use exec_fuzz::{Plan, TARGETS};

#[test]
fn every_target_runs_a_few_hundred_cases_without_a_failure() {
    if testkit::fixtures_dir().is_none() {
        return; // testkit said SKIPPED (and fails under CI instead).
    }
    for name in TARGETS {
        let plan = Plan {
            seed: 19,
            from: 0,
            cases: if *name == "serve" { 300 } else { 500 },
            deadline: Duration::from_secs(10),
            stop_at_first: true,
        };
        let summary = exec_fuzz::run(name, plan).unwrap();
        println!("{}", summary.line());
        assert_eq!(summary.inputs, plan.cases, "{name}");
        assert!(
            summary.failures.is_empty(),
            "{name}: {:?}",
            summary.failures
        );
    }
}
