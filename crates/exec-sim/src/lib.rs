//! Dry-run and paper implementations: a deterministic matching engine with Bybit's rules and a
//! simulated USDT account.
//!
//! Empty until Step 2 of the roadmap. The engine is pure: time and randomness are injected and
//! it performs no I/O. It must not depend on the gateway's implementations or on any network
//! crate; the emulator server puts a socket in front of it.
