//! Typed execution events (fills, order, position and wallet updates, health changes,
//! `execution.error`), the event bus that publishes them and the append-only error log.
//!
//! Empty until Step 5 of the roadmap. Events are in the gateway's vocabulary, never Bybit's
//! wire format: this crate must not depend on `bybit-types`, `bybit-rest` or `bybit-ws`.
