//! Bybit V5 request signing.
