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

// Hardening found by hostile clients: strict decimals, bad keys, exposure checks.
mod hardening;

// One `u` sequence per book feed, shared by every connection and REST.
mod book_u;

// Flat RSS over hours of living market (the binary, stepped clock).
mod memory;

// Position mode (switch-mode, hedge-mode position list).
mod position_mode;

// Position records and their parameters; subscription replies as Bybit sends them; query
// windows, retention, time that passes, exchange restarts.
mod records;
mod subscriptions;
mod time_windows;

// The order price limit and the account's price-limit action.
mod price_limit;

// closeOnTrigger only reduces; TP/SL children name their parent.
mod closing;

// The control API's decimals in the REST API's strict grammar.
mod control_decimals;

// The order-entry stream `/v5/trade` over REST's code paths.
mod trade_stream;
