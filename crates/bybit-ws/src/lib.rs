//! Bybit V5 public and private WebSocket streams: one task per socket, heartbeat, reconnect
//! with backoff and jitter, re-auth and resubscribe, a local order book with `u` continuity.
//!
//! Empty until Step 4 of the roadmap. It will authenticate with `bybit-sign` and parse messages
//! into `bybit-types`. It must not know orders' meaning to the strategy, the gateway or the
//! REST fallback (the gateway decides when to poll).
