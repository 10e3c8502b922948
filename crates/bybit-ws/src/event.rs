//! What a stream tells its consumer.

use std::time::Duration;

use bybit_types::rest::market::Ticker;
use bybit_types::ws::private::{
    ExecutionMessage, FastExecutionMessage, OrderMessage, PositionMessage, WalletMessage,
};
use bybit_types::ws::public::TradeMessage;

use crate::{BookError, WsError};

/// One event of a stream, in the order the socket task saw it.
///
/// Slow consumers: the channel is bounded ([`crate::WsConfig::event_capacity`]) and the socket
/// task never waits on it (a blocked task would stop answering heartbeats and lose the
/// socket). When it is full the event is dropped and counted; the next event the consumer
/// receives is [`WsEvent::Lagged`] with the count. Books and merged tickers live in the stream
/// itself and stay correct regardless; a private consumer that lags should reconcile from REST.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WsEvent {
    /// A socket is open (`reconnects` counts the ones before it).
    Connected {
        /// Connections opened before this one.
        reconnects: u64,
    },
    /// The private socket is authenticated.
    Authenticated,
    /// Bybit acknowledged these topics (first time or after a reconnect).
    Subscribed {
        /// The topics.
        topics: Vec<String>,
    },
    /// Bybit refused a topic; it is dropped from the subscription set, not retried.
    SubscribeRefused {
        /// The topic.
        topic: String,
        /// Bybit's `ret_msg`.
        reason: String,
    },
    /// The socket was lost; a reconnect follows.
    Disconnected {
        /// Why (server close, read error, heartbeat timeout, ...).
        reason: String,
    },
    /// A connection attempt failed.
    ConnectFailed {
        /// Why.
        error: String,
    },
    /// The next connection attempt waits this long.
    Reconnecting {
        /// Attempts since the last stable connection, this one included.
        attempt: u32,
        /// The delay.
        delay: Duration,
    },
    /// Authentication failed. A bad key or signature ends the stream (followed by
    /// [`WsEvent::Closed`]); an expiry problem is retried with a fresh timestamp.
    AuthFailed(WsError),
    /// A book could not be trusted and its topic was resubscribed for a fresh snapshot.
    BookResync {
        /// The `orderbook.{depth}.{symbol}` topic.
        topic: String,
        /// What was wrong.
        reason: BookError,
    },
    /// A book changed; read it with [`crate::WsStream::book`].
    Book {
        /// The symbol.
        symbol: String,
        /// Its `u` now.
        update_id: i64,
        /// Whether the book was replaced by a snapshot.
        snapshot: bool,
    },
    /// A merged ticker (snapshot plus every delta so far).
    Ticker(Box<Ticker>),
    /// Public trades, oldest first.
    Trades(TradeMessage),
    /// `order` records.
    Order(OrderMessage),
    /// `execution` records.
    Execution(ExecutionMessage),
    /// `execution.fast` records.
    FastExecution(FastExecutionMessage),
    /// `position` records.
    Position(PositionMessage),
    /// `wallet` records.
    Wallet(WalletMessage),
    /// This many events were dropped because the channel was full.
    Lagged {
        /// How many.
        dropped: u64,
    },
    /// The stream has stopped: closed by the caller, or ended by `error`.
    Closed {
        /// The fatal error, if any.
        error: Option<WsError>,
    },
}
