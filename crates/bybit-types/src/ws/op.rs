//! Operation requests and replies: auth, subscribe, ping/pong and the trade stream's
//! `order.*` operations.
//!
//! Bybit answers in two shapes. The public and private streams use snake case
//! (`success`, `ret_msg`, `conn_id`, `req_id`); the order-entry stream (`/v5/trade`) uses camel
//! case (`retCode`, `retMsg`, `connId`, `reqId`). [`OpReply`] accepts either and answers the
//! questions callers ask (did it succeed, is it a pong) the same way for both.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::envelope::RetExtInfo;
use crate::{serde_helpers, Error};

/// A reply on the public or private stream (snake case): auth, subscribe, ping.
///
/// Shapes seen: auth and subscribe `{success, ret_msg, op, conn_id, req_id?}`; public pong
/// `{success, ret_msg:"pong", conn_id, req_id, op:"ping"}`; private pong
/// `{req_id, op:"pong", args:[ts], conn_id}`; option subscribe
/// `{success, conn_id, data:{...}, type:"COMMAND_RESP"}` (no `op`). Everything is optional and
/// only what was received is written back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamReply {
    /// Whether the operation succeeded; pongs of the private stream have no flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Message: `""`, `"pong"`, `"subscribe"` or an error such as `"Params Error"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret_msg: Option<String>,
    /// Connection id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_id: Option<String>,
    /// The request id echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req_id: Option<String>,
    /// The operation: `auth`, `subscribe`, `unsubscribe`, `pong` or (public pong) `ping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// Pong arguments: the server time in ms, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Value>>,
    /// Option/spread subscribe detail (`successTopics`, `failTopics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// `COMMAND_RESP` on option/spread replies.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A reply on the order-entry stream (camel case): auth, pong and `order.*` operations.
///
/// `data` holds what the REST endpoint would return as `result` and is kept as JSON until the
/// caller has checked `retCode`, because an error reply's `data` does not fit the success type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TradeReply {
    /// The request id echoed back (absent on auth and pong).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req_id: Option<String>,
    /// 0 on success, else a Bybit error code.
    pub ret_code: i64,
    /// `OK` or an error message.
    #[serde(default)]
    pub ret_msg: String,
    /// The operation: `auth`, `pong`, `order.create`, `order.create-batch`, ...
    #[serde(default)]
    pub op: String,
    /// The operation's result, as JSON.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    /// Per-item results of batch operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret_ext_info: Option<RetExtInfo>,
    /// Rate-limit and tracing headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<TradeHeader>,
    /// Connection id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_id: Option<String>,
}

impl TradeReply {
    /// Decodes `data` into the operation's result type. `what` names it for the error.
    /// `null` or missing data decodes as `{}`, as in [`crate::RawEnvelope::decode`].
    pub fn decode<T: DeserializeOwned>(&self, what: &'static str) -> Result<T, Error> {
        let empty = Value::Object(serde_json::Map::new());
        let data = if self.data.is_null() {
            &empty
        } else {
            &self.data
        };
        T::deserialize(data).map_err(|e| Error::decode(what, &e))
    }
}

/// The `header` of an order-entry reply. Bybit writes every value as a string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeHeader {
    /// The rate limit of this operation.
    #[serde(
        rename = "X-Bapi-Limit",
        default,
        with = "serde_helpers::opt_int_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub limit: Option<i64>,
    /// Requests left in the current window.
    #[serde(
        rename = "X-Bapi-Limit-Status",
        default,
        with = "serde_helpers::opt_int_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub limit_status: Option<i64>,
    /// When the window resets, ms.
    #[serde(
        rename = "X-Bapi-Limit-Reset-Timestamp",
        default,
        with = "serde_helpers::opt_int_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub limit_reset_timestamp: Option<i64>,
    /// Trace id, for Bybit support.
    #[serde(rename = "Traceid", default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Server time, ms.
    #[serde(
        rename = "Timenow",
        default,
        with = "serde_helpers::opt_int_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_now: Option<i64>,
}

/// Any operation reply, in either shape. Reading tries the camel-case shape first (it is the
/// only one with `retCode`) and falls back to the snake-case one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OpReply {
    /// Order-entry stream shape.
    Trade(TradeReply),
    /// Public/private stream shape.
    Stream(StreamReply),
}

/// An auth reply is an [`OpReply`] with `op == "auth"`; the alias names the use.
pub type AuthReply = OpReply;

impl OpReply {
    /// Parses one reply from a text frame.
    pub fn parse(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| Error::decode("WebSocket op reply", &e))
    }

    /// The operation, `""` when the reply names none.
    pub fn op(&self) -> &str {
        match self {
            OpReply::Trade(r) => &r.op,
            OpReply::Stream(r) => r.op.as_deref().unwrap_or_default(),
        }
    }

    /// Whether the operation succeeded: `retCode == 0`, or `success: true`.
    ///
    /// A reply without a success flag counts as success only if it is a pong, the one reply
    /// Bybit sends without one; an auth or subscribe reply missing the flag is not trusted.
    pub fn is_success(&self) -> bool {
        match self {
            OpReply::Trade(r) => r.ret_code == 0,
            OpReply::Stream(r) => r.success.unwrap_or_else(|| self.is_pong()),
        }
    }

    /// Whether this answers a ping. The public streams reply with `op: "ping"` and
    /// `ret_msg: "pong"`, the others with `op: "pong"`.
    pub fn is_pong(&self) -> bool {
        matches!(self.op(), "pong" | "ping")
    }

    /// Whether this answers an auth request.
    pub fn is_auth(&self) -> bool {
        self.op() == "auth"
    }

    /// The message (`ret_msg` / `retMsg`), `""` when absent.
    pub fn message(&self) -> &str {
        match self {
            OpReply::Trade(r) => &r.ret_msg,
            OpReply::Stream(r) => r.ret_msg.as_deref().unwrap_or_default(),
        }
    }

    /// The error code of the order-entry shape; the snake-case shape has none.
    pub fn ret_code(&self) -> Option<i64> {
        match self {
            OpReply::Trade(r) => Some(r.ret_code),
            OpReply::Stream(_) => None,
        }
    }

    /// The connection id, if sent.
    pub fn conn_id(&self) -> Option<&str> {
        match self {
            OpReply::Trade(r) => r.conn_id.as_deref(),
            OpReply::Stream(r) => r.conn_id.as_deref(),
        }
    }

    /// The echoed request id, if sent and not empty.
    pub fn req_id(&self) -> Option<&str> {
        let id = match self {
            OpReply::Trade(r) => r.req_id.as_deref(),
            OpReply::Stream(r) => r.req_id.as_deref(),
        };
        id.filter(|id| !id.is_empty())
    }

    /// The server time a pong carries (`args[0]` or `data[0]`), in ms.
    pub fn pong_time(&self) -> Option<i64> {
        let first = match self {
            OpReply::Trade(r) => r.data.get(0),
            OpReply::Stream(r) => r.args.as_ref().and_then(|args| args.first()),
        }?;
        match first {
            Value::String(text) => text.parse().ok(),
            other => other.as_i64(),
        }
    }
}

/// A request on the public or private stream: `{req_id?, op, args}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRequest {
    /// Optional id, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req_id: Option<String>,
    /// `auth`, `subscribe`, `unsubscribe` or `ping`.
    pub op: String,
    /// Arguments; their types depend on the operation (auth mixes strings and a number).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Value>,
}

impl OpRequest {
    /// `{"op":"ping"}` with an optional request id.
    pub fn ping(req_id: Option<String>) -> Self {
        OpRequest {
            req_id,
            op: "ping".to_owned(),
            args: Vec::new(),
        }
    }

    /// `{"op":"auth","args":[key, expires, signature]}`; `expires` is a future time in ms
    /// and the signature is computed elsewhere (`bybit-sign`).
    pub fn auth(api_key: &str, expires_ms: i64, signature: &str) -> Self {
        OpRequest {
            req_id: None,
            op: "auth".to_owned(),
            args: vec![
                Value::from(api_key),
                Value::from(expires_ms),
                Value::from(signature),
            ],
        }
    }

    /// `{"op":"subscribe","args":[topics...]}`.
    pub fn subscribe<I, S>(req_id: Option<String>, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        OpRequest {
            req_id,
            op: "subscribe".to_owned(),
            args: topics.into_iter().map(|t| Value::from(t.into())).collect(),
        }
    }
}

/// A request on the order-entry stream: `{reqId, header, op, args}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TradeRequest {
    /// Unique request id (at most 36 characters), echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req_id: Option<String>,
    /// Headers: `X-BAPI-TIMESTAMP`, `X-BAPI-RECV-WINDOW`, optional `Referer`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub header: std::collections::BTreeMap<String, String>,
    /// `order.create`, `order.amend`, `order.cancel` or a `-batch` form.
    pub op: String,
    /// One argument: the REST request body.
    #[serde(default)]
    pub args: Vec<Value>,
}
