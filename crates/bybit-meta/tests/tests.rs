//! bybit-meta's tests: rounding (SPEC R-META-1's example included), building rules from
//! instruments-info, every validation error with its exact values, market splitting, the
//! cache, the recorded Bybit instruments, and property tests for rounding and splitting.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod cache;
mod fixtures;
mod props;
mod rounding;
mod rules;
mod split;
mod support;
mod validation;
