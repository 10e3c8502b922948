//! exec-sim integration tests.
