//! Bybit V5 public and private WebSocket streams that never die silently (SPEC §4).
//!
//! One task owns each socket ([`WsStream`]): commands (subscribe, unsubscribe) go in over a
//! channel, typed [`WsEvent`]s come out over another, and the stream is closed by a
//! cancellation token. The task pings every 20 s (configurable), treats a missing pong or a
//! silent socket as dead, reconnects with capped exponential backoff and jitter, re-authenticates
//! (private) and resubscribes every topic in batches without the caller's help. Public streams
//! keep a local [`OrderBook`] per book topic (continuity on `u`, resync on a gap, a crossed
//! book or a delta before a snapshot) and a merged ticker per symbol. [`HealthSnapshot`] is
//! readable at any moment without involving the task.
//!
//! What it is not: it does not know the gateway's ports, the event bus, strategy, or the REST
//! client (a clock offset comes in as a closure, [`ClockOffset`]); when to fall back to REST
//! polling is the caller's decision, from [`WsStream::last_message_unix_ms`].
//!
//! Metrics (`bybit_ws_*`, [`telemetry`]) go through the `metrics` facade: no-ops unless the
//! application installs a recorder.
//!
//! Main types: [`WsStream`], [`WsConfig`], [`PrivateAuth`], [`WsEvent`], [`OrderBook`],
//! [`HealthSnapshot`], [`WsError`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), bybit_ws::WsError> {
//! use bybit_ws::{WsConfig, WsEvent, WsStream};
//!
//! let config = WsConfig::new("wss://stream.bybit.com/v5/public/linear");
//! let (stream, mut events) = WsStream::public(config)?;
//! stream.subscribe_orderbook(&["BTCUSDT"], 50).await?;
//! while let Some(event) = events.recv().await {
//!     if let WsEvent::Book { symbol, .. } = event {
//!         let mid = stream.book(&symbol, 50, |book| book.mid());
//!         println!("{symbol} mid {mid:?}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod backoff;
mod book;
mod config;
mod error;
mod event;
mod health;
mod shared;
mod stream;
mod task;
pub mod telemetry;
mod ticker;

pub use backoff::BackoffConfig;
pub use book::{Applied, BookError, OrderBook};
pub use config::{ClockOffset, PrivateAuth, WsConfig};
pub use error::{AuthFailure, WsError};
pub use event::WsEvent;
pub use health::HealthSnapshot;
pub use stream::{EventReceiver, PrivateTopic, WsStream, LINEAR_BOOK_DEPTHS};
pub use ticker::merge_ticker;
