//! exec-journal's integration tests: one binary, one module per concern.

#![allow(clippy::unwrap_used, reason = "tests")]

mod owner;
