//! The whole engine state as one JSON-able value, so tests can compare any client's view with
//! the exchange's truth.

use std::collections::BTreeMap;

use bybit_types::rest::account::WalletAccount;
use bybit_types::rest::execution::Execution;
use bybit_types::rest::order::Order;
use bybit_types::rest::position::Position;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::command::{ExecutionQuery, OrderQuery};
use crate::engine::Engine;

/// Everything the exchange knows, in Bybit's shapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineSnapshot {
    /// Engine time, ms.
    pub time: i64,
    /// The account.
    pub wallet: WalletAccount,
    /// Open positions.
    pub positions: Vec<Position>,
    /// Open orders, newest first.
    pub open_orders: Vec<Order>,
    /// Closed orders still kept, newest first.
    pub closed_orders: Vec<Order>,
    /// Fills, newest first.
    pub executions: Vec<Execution>,
    /// Last price per symbol.
    pub prices: BTreeMap<String, Decimal>,
}

impl Engine {
    /// A snapshot of everything.
    pub fn snapshot(&self) -> EngineSnapshot {
        EngineSnapshot {
            time: self.now(),
            wallet: self.wallet(),
            positions: self.open_positions(),
            open_orders: self.open_orders(&OrderQuery::default()),
            closed_orders: self.order_history(&OrderQuery::default()),
            executions: self.executions(&ExecutionQuery::default()),
            prices: self
                .markets
                .iter()
                .map(|(s, m)| (s.clone(), m.last))
                .collect(),
        }
    }
}
