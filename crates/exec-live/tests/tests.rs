//! exec-live integration tests: the error mapping and the tracker on their own, and the
//! gateway end to end through the live adapters against the in-process emulator.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod downtime;
mod emulator;
mod faults;
mod instruments;
mod mapping;
mod order_entry;
mod plans;
mod preflight;
mod price_limit;
mod recovery;
mod resends;
mod resume;
mod rules;
mod support;
mod tracking;

// TP/SL children tied to their parent's trade.
mod children;
