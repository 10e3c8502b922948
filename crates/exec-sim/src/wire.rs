//! Bybit's wire records in the gateway's vocabulary: the shared mapping lives in
//! [`exec_gateway::wire`] (one copy for the paper and the live routers); only the engine's
//! refusal type is translated here.

pub use exec_gateway::wire::*;
use exec_gateway::PortError;

/// A refusal as the outcome policy classifies it.
pub fn reject(r: sim_engine::Reject) -> PortError {
    PortError::from_ret_code(r.ret_code, r.ret_msg)
}
