//! exec-gateway integration tests.
