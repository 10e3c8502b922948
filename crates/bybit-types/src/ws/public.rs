//! Public topics: the topic message envelope, tickers, order book and public trades.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::enums::{TickDirection, UpdateType};
use crate::rest::market::Ticker;
use crate::serde_helpers;
use crate::WireSide;

/// A public topic message: `{topic, type, ts, data, cs?, cts?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMessage<T> {
    /// Topic, e.g. `orderbook.50.BTCUSDT`.
    pub topic: String,
    /// Snapshot (replace local state) or delta (patch it).
    #[serde(rename = "type")]
    pub kind: UpdateType,
    /// When the system generated the message, ms.
    pub ts: i64,
    /// The payload.
    pub data: T,
    /// Cross sequence (tickers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cs: Option<i64>,
    /// Matching-engine time, ms (order book); correlates with a trade's `T`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cts: Option<i64>,
}

impl<T> TopicMessage<T> {
    /// Whether this message replaces the local state.
    pub fn is_snapshot(&self) -> bool {
        self.kind == UpdateType::Snapshot
    }

    /// The last dot-separated part of the topic: the symbol of every public topic.
    pub fn topic_symbol(&self) -> &str {
        self.topic.rsplit('.').next().unwrap_or_default()
    }
}

/// A `tickers.{symbol}` message; `data` is one object, a full snapshot or a delta.
pub type TickerMessage = TopicMessage<Ticker>;

/// An `orderbook.{depth}.{symbol}` message.
pub type OrderbookMessage = TopicMessage<OrderbookData>;

/// A `publicTrade.{symbol}` message; `data` is sorted by match time, oldest first.
pub type TradeMessage = TopicMessage<Vec<PublicTrade>>;

/// One price level: `(price, size)`. In a delta, size zero deletes the level.
pub type Level = (Decimal, Decimal);

/// Order book `data`: `{s, b, a, u, seq}`.
///
/// Snapshot bids are sorted high to low and asks low to high. Delta sizes are absolute, not
/// increments; `u == 1` is a snapshot after a service restart and must overwrite the book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderbookData {
    /// Symbol.
    #[serde(rename = "s")]
    pub symbol: String,
    /// Bid levels.
    #[serde(rename = "b", default, with = "levels")]
    pub bids: Vec<Level>,
    /// Ask levels.
    #[serde(rename = "a", default, with = "levels")]
    pub asks: Vec<Level>,
    /// Update id; rises by one per message on the depths observed so far.
    #[serde(rename = "u")]
    pub update_id: i64,
    /// Cross sequence, comparable across depths (smaller is older).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}

/// `[["price", "size"], ...]` as `Vec<(Decimal, Decimal)>`, written back as strings.
mod levels {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Level;
    use crate::serde_helpers;

    /// A decimal that must be present, read with the crate's decimal rules.
    struct Required(Decimal);

    impl<'de> Deserialize<'de> for Required {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            serde_helpers::decimal::deserialize(d).map(Required)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Level>, D::Error> {
        let raw: Option<Vec<(Required, Required)>> = Deserialize::deserialize(d)?;
        Ok(raw
            .unwrap_or_default()
            .into_iter()
            .map(|(price, size)| (price.0, size.0))
            .collect())
    }

    pub(super) fn serialize<S: Serializer>(v: &[Level], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            v.iter()
                .map(|(price, size)| [price.to_string(), size.to_string()]),
        )
    }
}

/// One public trade: `{T, s, S, v, p, L, i, BT, RPI?, seq}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicTrade {
    /// Match time, ms.
    #[serde(rename = "T")]
    pub time: i64,
    /// Symbol.
    #[serde(rename = "s")]
    pub symbol: String,
    /// Taker side.
    #[serde(rename = "S")]
    pub side: WireSide,
    /// Size.
    #[serde(rename = "v", with = "serde_helpers::decimal")]
    pub size: Decimal,
    /// Price.
    #[serde(rename = "p", with = "serde_helpers::decimal")]
    pub price: Decimal,
    /// Tick direction (derivatives).
    #[serde(
        rename = "L",
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub tick_direction: Option<TickDirection>,
    /// Trade id.
    #[serde(rename = "i")]
    pub trade_id: String,
    /// Whether it was a block trade.
    #[serde(rename = "BT", default)]
    pub block_trade: bool,
    /// Whether it matched an RPI order (newer payloads).
    #[serde(rename = "RPI", default, skip_serializing_if = "Option::is_none")]
    pub rpi: Option<bool>,
    /// Cross sequence; several messages may share one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}
