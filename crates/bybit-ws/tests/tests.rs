//! bybit-ws integration tests: one binary (ripgrep style), one module per area.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod deps;
mod metrics;
mod private;
mod public;
mod replay;
mod support;
mod trade;
