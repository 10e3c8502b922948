//! Cross-crate tests live in `cross/`; this library is empty.
