//! sim-engine's tests: every trading rule with Bybit's exact retCode, fills, positions and
//! PnL, conditional orders, TP/SL, price sources, determinism.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod support;

mod account;
mod accounting;
mod fidelity;
mod invariants;
mod living;
mod matching;
mod prices;
mod review;
mod rules;
