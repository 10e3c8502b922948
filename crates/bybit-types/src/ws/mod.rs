//! WebSocket messages: public topics, private topics and operation replies, and
//! [`WsMessage`], which tells one incoming text frame from another.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::Error;

pub mod op;
pub mod private;
pub mod public;

use op::OpReply;
use private::{
    ExecutionMessage, FastExecutionMessage, OrderMessage, PositionMessage, WalletMessage,
};
use public::{OrderbookMessage, TickerMessage, TradeMessage};

/// Any incoming text frame, classified.
///
/// A frame with a `topic` is a topic message, routed by the topic's name (categorised private
/// topics such as `order.linear` included); a frame without one that has `op`, `retCode` or
/// `success` is an operation reply. Anything else, or a topic this crate does not model, is
/// kept as [`WsMessage::Other`] so a stream can log it and go on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum WsMessage {
    /// A reply to auth, subscribe, ping or an `order.*` operation.
    Op(OpReply),
    /// `tickers.{symbol}`. Boxed: a ticker holds some thirty optional decimals, and every
    /// other frame would otherwise pay for its size.
    Ticker(Box<TickerMessage>),
    /// `orderbook.{depth}.{symbol}`.
    Orderbook(OrderbookMessage),
    /// `publicTrade.{symbol}`.
    Trade(TradeMessage),
    /// `order`.
    Order(OrderMessage),
    /// `execution`.
    Execution(ExecutionMessage),
    /// `execution.fast`.
    FastExecution(FastExecutionMessage),
    /// `position`.
    Position(PositionMessage),
    /// `wallet`.
    Wallet(WalletMessage),
    /// A frame this crate does not model, as received.
    Other(Value),
}

impl WsMessage {
    /// Parses and classifies one text frame. Malformed JSON, or a known topic whose payload
    /// does not fit its type, is [`Error::Decode`].
    ///
    /// ```
    /// use bybit_types::ws::WsMessage;
    ///
    /// let pong = WsMessage::parse(r#"{"req_id":"1","op":"pong","args":["1675418560633"]}"#).unwrap();
    /// let WsMessage::Op(reply) = pong else { panic!("not an op reply") };
    /// assert!(reply.is_pong() && reply.is_success());
    ///
    /// let fills = WsMessage::parse(r#"{"topic":"execution.fast","creationTime":1,"data":[]}"#).unwrap();
    /// assert!(matches!(fills, WsMessage::FastExecution(_)));
    /// assert!(WsMessage::parse("{oops").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Error> {
        // Order-book frames are most of a public stream, and hundreds of levels each: they are
        // read straight into their type, without the `Value` tree of every other frame (a
        // string and an allocation per price). Only a frame whose typed reading succeeds with
        // an order-book topic is taken here; anything else goes the general way below, which
        // stays the one judge of what a frame is and of its error.
        if text.contains(r#""topic":"orderbook."#) {
            if let Ok(message) = serde_json::from_str::<OrderbookMessage>(text) {
                if message.topic.starts_with("orderbook.") {
                    return Ok(WsMessage::Orderbook(message));
                }
            }
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| Error::decode("WebSocket message", &e))?;
        Self::classify(value).map_err(|e| Error::decode("WebSocket message", &e))
    }

    /// The topic of a topic message, `None` for an operation reply.
    pub fn topic(&self) -> Option<&str> {
        match self {
            WsMessage::Op(_) => None,
            WsMessage::Ticker(m) => Some(&m.topic),
            WsMessage::Orderbook(m) => Some(&m.topic),
            WsMessage::Trade(m) => Some(&m.topic),
            WsMessage::Order(m) => Some(&m.topic),
            WsMessage::Execution(m) => Some(&m.topic),
            WsMessage::FastExecution(m) => Some(&m.topic),
            WsMessage::Position(m) => Some(&m.topic),
            WsMessage::Wallet(m) => Some(&m.topic),
            WsMessage::Other(v) => v.get("topic").and_then(Value::as_str),
        }
    }

    fn classify(value: Value) -> Result<Self, serde_json::Error> {
        // Owned, because the value is moved into the typed parse below.
        let topic = value
            .get("topic")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let Some(topic) = topic.as_deref() else {
            let is_reply = ["op", "retCode", "success"]
                .iter()
                .any(|key| value.get(key).is_some());
            return Ok(if is_reply {
                WsMessage::Op(serde_json::from_value(value)?)
            } else {
                WsMessage::Other(value)
            });
        };
        // `execution.fast` is tested before `execution`, whose name is its prefix.
        let message = if topic.starts_with("tickers.") {
            WsMessage::Ticker(Box::new(serde_json::from_value(value)?))
        } else if topic.starts_with("orderbook.") {
            WsMessage::Orderbook(serde_json::from_value(value)?)
        } else if topic.starts_with("publicTrade.") {
            WsMessage::Trade(serde_json::from_value(value)?)
        } else if is_topic(topic, "order") {
            WsMessage::Order(serde_json::from_value(value)?)
        } else if is_topic(topic, "execution.fast") {
            WsMessage::FastExecution(serde_json::from_value(value)?)
        } else if is_topic(topic, "execution") {
            WsMessage::Execution(serde_json::from_value(value)?)
        } else if is_topic(topic, "position") {
            WsMessage::Position(serde_json::from_value(value)?)
        } else if is_topic(topic, "wallet") {
            WsMessage::Wallet(serde_json::from_value(value)?)
        } else {
            WsMessage::Other(value)
        };
        Ok(message)
    }
}

/// Whether `topic` is the private topic `name` or one of its categorised forms
/// (`order` matches `order` and `order.linear`, not `orderbook.50.BTCUSDT`).
fn is_topic(topic: &str, name: &str) -> bool {
    topic
        .strip_prefix(name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

impl<'de> Deserialize<'de> for WsMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        WsMessage::classify(value).map_err(serde::de::Error::custom)
    }
}
