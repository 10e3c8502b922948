//! exec-gateway integration tests: the operations and the outcome policy over mockall mocks
//! of the ports, the journals, orderLinkIds and error classification.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod support;

mod history;
mod journal;
mod link_ids;
mod operations;
mod plan_check;
mod policy;
mod recovery;
mod rerounded;
mod review;
mod safety;
mod sequence;
mod stream;
mod trade_regressions;
