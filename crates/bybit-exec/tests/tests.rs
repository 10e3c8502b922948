//! bybit-exec's integration tests: one binary, one module per area, each against an
//! in-process emulator on loopback.

#![allow(clippy::unwrap_used, reason = "tests")]

mod api;
mod bus;
mod cli;
mod demo;
mod docs;
mod edge;
mod history;
mod logs;
mod messages;
mod ops;
mod paper;
mod runtime;
mod serve;
mod support;
