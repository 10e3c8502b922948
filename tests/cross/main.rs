//! Cross-crate tests: behaviour that only exists when several crates work together.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod defaults_match_captures;
mod order_pipeline;
