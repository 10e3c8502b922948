//! Private topics: the `{id, topic, creationTime, data:[...]}` envelope and its payloads, which
//! reuse the REST records (an order is an order whichever way it arrives).

use serde::{Deserialize, Serialize};

use crate::rest::account::WalletAccount;
use crate::rest::execution::{Execution, FastExecution};
use crate::rest::order::Order;
use crate::rest::position::Position;

/// A private topic message. `data` is always an array, possibly of several records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateMessage<T> {
    /// Message id; `execution.fast` messages have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Topic: `order`, `execution`, `execution.fast`, `position`, `wallet`, or a categorised
    /// form such as `order.linear`.
    pub topic: String,
    /// When the message was created, ms.
    #[serde(default)]
    pub creation_time: i64,
    /// The records.
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

/// An `order` message.
pub type OrderMessage = PrivateMessage<Order>;

/// An `execution` message.
pub type ExecutionMessage = PrivateMessage<Execution>;

/// An `execution.fast` message.
pub type FastExecutionMessage = PrivateMessage<FastExecution>;

/// A `position` message.
pub type PositionMessage = PrivateMessage<Position>;

/// A `wallet` message.
pub type WalletMessage = PrivateMessage<WalletAccount>;
