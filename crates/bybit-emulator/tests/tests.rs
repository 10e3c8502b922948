//! bybit-emulator's tests: REST over real sockets, WebSocket streams, fault injection.
//! Everything talks to an in-process emulator on 127.0.0.1.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod batch;
mod binary;
mod faults;
mod fidelity;
mod rest;
mod review;
mod support;
mod transport;
mod ws;

// Issue 6 hardening, kept apart so parallel additions above merge cleanly.
mod hardening;

// Issue 6 follow-up: one `u` sequence per book feed, shared by every connection and REST.
mod book_u;

// Issue 6 must-show: flat RSS over hours of living market (the binary, stepped clock).
mod memory;

// Issue 10: position mode (switch-mode, hedge-mode position list).
mod position_mode;

// Issue 16 (Step 9): query windows, retention, time that passes, exchange restarts.
mod records;
mod subscriptions;
mod time_windows;

// Issue 16 item 6: the order price limit and the account's price-limit action.
mod price_limit;

// Issue 16 items 5 and 6 (the rest): closeOnTrigger only reduces; TP/SL children's parent.
mod closing;

// Issue 17 item 6: the control API's decimals in the REST API's strict grammar.
mod control_decimals;
