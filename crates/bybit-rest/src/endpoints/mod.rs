//! Typed endpoints (SPEC R-REST-5), one module per area of Bybit's docs: the request builders
//! take validated newtypes and the methods return `bybit-types` models. The endpoint table
//! itself (paths, signing, host) is `routes.rs`.

pub(crate) mod account;
pub(crate) mod market;
pub(crate) mod order;
pub(crate) mod position;

/// Whether a change was made or the exchange says it was already so (110043 leverage not
/// modified, 34040 TP/SL not modified): both leave the account in the state asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The exchange applied it.
    Applied,
    /// It was already so.
    AlreadySet,
}
