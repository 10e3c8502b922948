//! Request parameters: the query string of a GET or the JSON object of a POST, read the way
//! Bybit reads them. Every problem is a 10001 with a message naming the parameter; nothing
//! here panics on any input.

use std::collections::HashMap;

use bybit_types::parse_decimal;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use sim_engine::Reject;

/// Bybit's product types besides `linear` (docs v5/enum, `category`): a read there answers
/// empty (`categories`), a write is refused ([`Params::linear`]).
pub(crate) const UNTRADED: [&str; 3] = ["inverse", "spot", "option"];

/// Parameters from either source, as text.
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: HashMap<String, Value>,
}

impl Params {
    /// Reads a raw query string (`a=1&b=2`).
    pub(crate) fn from_query(raw: &str) -> Result<Self, Reject> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| Reject::params("params error: malformed query string"))?;
        Ok(Params {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        })
    }

    /// Reads a JSON object body. An empty body is an empty object.
    pub(crate) fn from_json(body: &[u8]) -> Result<Self, Reject> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params::default());
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Reject::params(format!("params error: invalid JSON body: {e}")))?;
        match value {
            Value::Object(map) => Ok(Self::from_map(map)),
            _ => Err(Reject::params(
                "params error: the body must be a JSON object",
            )),
        }
    }

    pub(crate) fn from_map(map: Map<String, Value>) -> Self {
        Params {
            values: map.into_iter().collect(),
        }
    }

    /// A parameter as text: strings as they are, numbers and booleans as JSON writes them.
    /// `null` and `""` count as absent.
    pub(crate) fn text(&self, name: &str) -> Result<Option<String>, Reject> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(invalid(name)),
        }
    }

    pub(crate) fn required(&self, name: &str) -> Result<String, Reject> {
        self.text(name)?
            .ok_or_else(|| Reject::params(format!("params error: {name} is required")))
    }

    /// A decimal parameter in `bybit_types::parse_decimal`'s strict grammar, never negative:
    /// every decimal the emulator reads is a price, a quantity or a leverage. `"1_0"`, `"1e3"`,
    /// `"+1"`, `".5"`, `"5."`, padded text, `"-0"` and more than 28 fractional digits are all
    /// 10001 — `rust_decimal`'s own reading would turn some of them into a different order.
    /// Whether zero is allowed is the endpoint's rule (a zero `takeProfit` clears it).
    ///
    /// In a JSON body the value must be a string, the type Bybit documents for it
    /// (v5/order/create-order); SDK users report Bybit's 10001 "Request parameter error." for a
    /// number there. A float has also lost its text (`1e3`, `0.30000000000000004`) before
    /// anyone could check it.
    pub(crate) fn decimal(&self, name: &str) -> Result<Option<Decimal>, Reject> {
        let value = match self.values.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => return Ok(None),
            Some(Value::Bool(_) | Value::Array(_) | Value::Object(_)) => return Err(invalid(name)),
            Some(value) => value,
        };
        match json_decimal(name, value) {
            Ok(value) if !value.is_sign_negative() => Ok(Some(value)),
            Ok(_) => Err(Reject::params(format!(
                "params error: {name} invalid: must not be negative"
            ))),
            Err(message) => Err(Reject::params(format!("params error: {message}"))),
        }
    }

    pub(crate) fn required_decimal(&self, name: &str) -> Result<Decimal, Reject> {
        self.decimal(name)?
            .ok_or_else(|| Reject::params(format!("params error: {name} is required")))
    }

    /// An integer parameter, in [`strict_int`]'s grammar.
    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, Reject> {
        self.text(name)?
            .map(|t| strict_int(&t).ok_or_else(|| invalid(name)))
            .transpose()
    }

    pub(crate) fn bool(&self, name: &str) -> Result<bool, Reject> {
        match self.text(name)?.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(_) => Err(invalid(name)),
        }
    }

    /// A JSON array parameter (batch `request`).
    pub(crate) fn array(&self, name: &str) -> Result<Vec<Value>, Reject> {
        match self.values.get(name) {
            Some(Value::Array(items)) => Ok(items.clone()),
            None | Some(Value::Null) => {
                Err(Reject::params(format!("params error: {name} is required")))
            }
            Some(_) => Err(invalid(name)),
        }
    }

    /// `category` must be `linear`: the emulator trades USDT perpetuals only. Reads in the
    /// other categories never get here (`categories::empty_read` answers them); writes there
    /// are refused with a message that says so.
    pub(crate) fn linear(&self) -> Result<(), Reject> {
        match self.required("category")?.as_str() {
            "linear" => Ok(()),
            other if UNTRADED.contains(&other) => Err(Reject::params(format!(
                "params error: category {other} is not traded here; the emulator trades linear USDT perpetuals only"
            ))),
            other => Err(Reject::params(format!(
                "params error: category {other} invalid (spot, linear, inverse or option)"
            ))),
        }
    }

    /// `limit` within `1..=max`, `default` when absent.
    pub(crate) fn limit(&self, default: usize, max: usize) -> Result<usize, Reject> {
        match self.int("limit")? {
            None => Ok(default),
            Some(n) if n >= 1 && usize::try_from(n).is_ok_and(|n| n <= max) => {
                Ok(usize::try_from(n).unwrap_or(default))
            }
            Some(_) => Err(invalid("limit")),
        }
    }

    /// The page offset a `cursor` carries (ours are plain offsets).
    pub(crate) fn cursor(&self) -> Result<usize, Reject> {
        match self.text("cursor")? {
            None => Ok(0),
            Some(c) => c.parse().map_err(|_| invalid("cursor")),
        }
    }
}

/// The one reading of a decimal from a JSON value, for the REST parameters and the
/// emulator's control API alike: a JSON string in `bybit_types::parse_decimal`'s strict
/// grammar. A JSON number is refused, as Bybit refuses one for a decimal (10001): a float has
/// lost its text (`1e3`, `0.30000000000000004`) before anyone could check it. The error names
/// the field and says what is wrong with it. Signs and ranges are the caller's rule.
pub(crate) fn json_decimal(name: &str, value: &Value) -> Result<Decimal, String> {
    match value {
        Value::String(text) => {
            parse_decimal(text).map_err(|e| format!("{name} invalid: {}", e.reason()))
        }
        Value::Number(_) => Err(format!(
            "{name} invalid: must be a string (a decimal such as \"1.5\")"
        )),
        _ => Err(format!("{name} invalid: must be a decimal string")),
    }
}

/// An integer as text, `-?[0-9]+`: std's parser would also take a leading `+`.
pub(crate) fn strict_int(text: &str) -> Option<i64> {
    if text.starts_with('+') {
        return None;
    }
    text.parse::<i64>().ok()
}

fn invalid(name: &str) -> Reject {
    Reject::params(format!("params error: {name} invalid"))
}

/// One page of `items` from `offset`, and the cursor of the next page (`""` on the last).
pub(crate) fn page<T>(items: Vec<T>, offset: usize, limit: usize) -> (Vec<T>, String) {
    let total = items.len();
    let end = offset.saturating_add(limit).min(total);
    let next = if end < total {
        end.to_string()
    } else {
        String::new()
    };
    let list = items.into_iter().skip(offset).take(limit).collect();
    (list, next)
}
