//! exec-sim integration tests: the gateway end to end on the paper router (sim-engine
//! in-process) and on the dry-run router.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod dry_run;
mod ownership;
mod paper;
mod restart;
mod support;
