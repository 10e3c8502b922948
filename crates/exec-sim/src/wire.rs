//! Bybit's wire records in the gateway's vocabulary: the shared mapping lives in
//! [`exec_wire`] (one copy for the paper and the live routers); only the engine's refusal
//! type is translated here.

use exec_gateway::PortError;
pub use exec_wire::*;

/// A refusal as the outcome policy classifies it.
pub fn reject(r: sim_engine::Reject) -> PortError {
    exec_wire::ret_code_error(r.ret_code, r.ret_msg)
}
