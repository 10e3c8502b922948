//! Signed Bybit V5 REST client: typed endpoints, one error taxonomy (definitive reject versus
//! unknown outcome), retry that re-signs every attempt, clock-offset sync and header-aware rate
//! limiting.
//!
//! Empty until Step 3 of the roadmap. It will build requests with `bybit-sign`, parse replies
//! with `bybit-types` and is, with `bybit-ws`, the only crate that opens a socket to Bybit.
//! It must not know the trading strategy, the gateway's ports or the event bus.
