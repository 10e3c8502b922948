//! Cross-crate tests: behaviour that only exists when several crates work together.
