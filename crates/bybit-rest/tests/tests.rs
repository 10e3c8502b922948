//! Integration tests: the real client against the workspace's emulator on loopback, and a
//! plain HTTP server (`wiremock`) for replies the emulator never sends.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod support;

mod batch;
mod burst;
mod clock;
mod endpoints;
mod errors;
mod malformed;
mod metrics;
mod outcomes;
mod review;
mod routing;
mod spans;
