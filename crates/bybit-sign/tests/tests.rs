//! bybit-sign's tests: the pinned vectors of REFERENCE.md §2, request signing round trips,
//! verification, the timestamp window and secret redaction (SPEC R-REST-1, R-CFG-4).

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod redaction;
mod vectors;
mod verify;
