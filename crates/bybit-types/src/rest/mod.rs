//! `result` payloads of the REST endpoints, one module per area of Bybit's docs.

pub mod market;
