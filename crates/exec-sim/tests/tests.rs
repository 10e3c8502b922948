//! exec-sim integration tests.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
