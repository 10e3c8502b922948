//! The runner's positive control, in a process of its own: the runner counts every panic in
//! the process, so a test that panics on purpose must not share one with the smoke run.

use std::time::Duration;

use exec_fuzz::Plan;

/// The positive control: a target that panics on some inputs is caught, counted, shrunk and
/// reported with its case, and the run goes on to the end.
#[test]
fn a_panicking_target_is_reported_not_fatal() {
    use exec_fuzz::runner::{Describe, Target};
    use proptest::prelude::*;
    use std::sync::Arc;

    #[derive(Debug)]
    struct Picky;
    impl Target for Picky {
        type Input = u32;
        fn name(&self) -> &'static str {
            "picky"
        }
        fn strategy(&self) -> BoxedStrategy<u32> {
            any::<u32>().boxed()
        }
        fn describer(&self) -> Describe<u32> {
            Arc::new(|n| n.to_string())
        }
        fn check(&mut self, n: &u32) -> Result<(), String> {
            assert!(*n < 1_000_000_000, "too big");
            if n % 7 == 0 {
                return Err("a multiple of seven".to_owned());
            }
            Ok(())
        }
    }
    let plan = Plan {
        seed: 3,
        from: 0,
        cases: 200,
        deadline: Duration::from_secs(10),
        stop_at_first: false,
    };
    let summary = exec_fuzz::runner::run(Picky, plan).unwrap();
    assert_eq!(summary.inputs, 200);
    assert!(!summary.failures.is_empty());
    let panic = summary
        .failures
        .iter()
        .find(|f| f.reason.contains("too big"))
        .expect("a panic among the failures");
    // Shrunk to the smallest failing value proptest reaches from there.
    assert_eq!(panic.input, "1000000000", "{panic:?}");
    assert!(summary
        .failures
        .iter()
        .any(|f| f.reason == "a multiple of seven"));
}
