//! bybit-exec's integration tests (one binary, modules by area).

mod suite;
