//! The REST response envelope: `retCode`, `retMsg`, `result`, `retExtInfo`, `time`.
//!
//! Replies are read in two steps. [`RawEnvelope::parse`] reads the envelope and keeps `result`
//! as unparsed JSON; only a success (`retCode == 0`) is then decoded into its payload type with
//! [`RawEnvelope::decode`]. Error replies carry `{}` or `null` as `result`, which would not fit
//! the success type, so they are never decoded as one.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::Error;

/// A reply envelope with a typed `result`. Used to write replies (the emulator) and in tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// 0 on success; otherwise a Bybit error code (REFERENCE.md §12).
    pub ret_code: i64,
    /// `OK`, `success`, `""` or an error message.
    #[serde(default)]
    pub ret_msg: String,
    /// The payload.
    pub result: T,
    /// Per-item results of batch endpoints; `{}` elsewhere. Some replies omit it.
    #[serde(default, deserialize_with = "crate::serde_helpers::null_as_default")]
    pub ret_ext_info: RetExtInfo,
    /// Server time in ms. Some documented replies omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
}

/// An envelope whose `result` is kept as raw JSON until the caller knows what it should be.
pub type RawEnvelope = Envelope<Option<Box<RawValue>>>;

impl RawEnvelope {
    /// Reads an envelope from the raw body bytes.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(body).map_err(|e| Error::decode("response envelope", &e))
    }

    /// Whether Bybit answered success.
    pub fn is_success(&self) -> bool {
        self.ret_code == 0
    }

    /// Decodes `result` into its payload type. `what` names the payload for the error.
    /// A missing or `null` result decodes as `{}` so that `result: {}` payloads still work.
    pub fn decode<T: DeserializeOwned>(&self, what: &'static str) -> Result<T, Error> {
        let text = self.result.as_deref().map_or("{}", RawValue::get);
        let text = if text == "null" { "{}" } else { text };
        serde_json::from_str(text).map_err(|e| Error::decode(what, &e))
    }
}

/// `retExtInfo`: per-item `{code, msg}` for batch endpoints, aligned with `result.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetExtInfo {
    /// Per-item results; empty for non-batch endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub list: Vec<ItemResult>,
}

/// One batch item's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResult {
    /// 0 on success, else a Bybit error code.
    #[serde(default)]
    pub code: i64,
    /// `OK` or the error message.
    #[serde(default)]
    pub msg: String,
}

/// An empty `result: {}` (set-leverage, trading-stop, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}
