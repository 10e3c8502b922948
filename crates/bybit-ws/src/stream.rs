//! [`WsStream`]: the caller's handle to one socket task.

use std::sync::Arc;

use bybit_types::rest::market::Ticker;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::Connector;
use tokio_util::sync::CancellationToken;

use crate::shared::Shared;
use crate::task::{Command, Task};
use crate::{HealthSnapshot, OrderBook, PrivateAuth, WsConfig, WsError, WsEvent};

/// Order-book depths the linear public stream serves (docs/v5/websocket/public/orderbook.mdx;
/// 500 was retired on 2025-09-11).
pub const LINEAR_BOOK_DEPTHS: [u32; 4] = [1, 50, 200, 1000];

/// The private topics this crate types (the all-in-one forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrivateTopic {
    /// `order`.
    Order,
    /// `execution`.
    Execution,
    /// `execution.fast`.
    FastExecution,
    /// `position`.
    Position,
    /// `wallet`.
    Wallet,
}

impl PrivateTopic {
    /// The topic's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            PrivateTopic::Order => "order",
            PrivateTopic::Execution => "execution",
            PrivateTopic::FastExecution => "execution.fast",
            PrivateTopic::Position => "position",
            PrivateTopic::Wallet => "wallet",
        }
    }
}

/// The events of a stream; see [`WsEvent`] for the slow-consumer policy.
pub type EventReceiver = mpsc::Receiver<WsEvent>;

/// A handle to one WebSocket and the task that owns it. Commands go to the task over a
/// channel, events come back on the [`EventReceiver`], and books, tickers and health are read
/// from shared state without waiting for the task. Dropping the handle stops the task.
#[derive(Debug)]
pub struct WsStream {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl WsStream {
    /// Opens a public stream (`/v5/public/linear`). Must be called inside a tokio runtime;
    /// the connection is made by the task, which retries until closed.
    pub fn public(config: WsConfig) -> Result<(WsStream, EventReceiver), WsError> {
        Self::spawn(config, None)
    }

    /// Opens a private stream (`/v5/private`) that authenticates on every connection.
    pub fn private(
        config: WsConfig,
        auth: PrivateAuth,
    ) -> Result<(WsStream, EventReceiver), WsError> {
        Self::spawn(config, Some(auth))
    }

    fn spawn(
        config: WsConfig,
        auth: Option<PrivateAuth>,
    ) -> Result<(WsStream, EventReceiver), WsError> {
        let connector = if config.url.starts_with("wss://") {
            Some(tls_connector()?)
        } else {
            None
        };
        let (commands, command_rx) = mpsc::channel(64);
        let (events, event_rx) = mpsc::channel(config.event_capacity.max(1));
        let shared = Arc::new(Shared::new());
        let cancel = CancellationToken::new();
        let task = Task::new(
            config,
            auth,
            connector,
            command_rx,
            events,
            shared.clone(),
            cancel.clone(),
        );
        let task = tokio::spawn(task.run());
        Ok((
            WsStream {
                commands,
                shared,
                cancel,
                task: Some(task),
            },
            event_rx,
        ))
    }

    /// Subscribes `topics` and waits until Bybit has acknowledged every one (across
    /// reconnects if need be). A refused topic answers [`WsError::SubscribeRefused`] and is
    /// not retried; wrap the call in a timeout to bound the wait.
    pub async fn subscribe(&self, topics: Vec<String>) -> Result<(), WsError> {
        if topics.is_empty() {
            return Err(WsError::InvalidArgument("no topics".to_owned()));
        }
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Subscribe { topics, reply })
            .await
            .map_err(|_| WsError::Closed)?;
        answer.await.map_err(|_| WsError::Closed)?
    }

    /// Unsubscribes `topics`; they are no longer restored after a reconnect.
    pub async fn unsubscribe(&self, topics: Vec<String>) -> Result<(), WsError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Unsubscribe { topics, reply })
            .await
            .map_err(|_| WsError::Closed)?;
        answer.await.map_err(|_| WsError::Closed)?
    }

    /// `tickers.{symbol}` for each symbol (SPEC R-WS-1).
    pub async fn subscribe_tickers(&self, symbols: &[&str]) -> Result<(), WsError> {
        self.subscribe(topics("tickers", symbols)?).await
    }

    /// `orderbook.{depth}.{symbol}` for each symbol; `depth` must be one the linear stream
    /// serves ([`LINEAR_BOOK_DEPTHS`]). Read the books with [`WsStream::book`].
    pub async fn subscribe_orderbook(&self, symbols: &[&str], depth: u32) -> Result<(), WsError> {
        if !LINEAR_BOOK_DEPTHS.contains(&depth) {
            return Err(WsError::InvalidArgument(format!(
                "order-book depth {depth}: the linear stream serves {LINEAR_BOOK_DEPTHS:?}"
            )));
        }
        self.subscribe(topics(&format!("orderbook.{depth}"), symbols)?)
            .await
    }

    /// `publicTrade.{symbol}` for each symbol.
    pub async fn subscribe_trades(&self, symbols: &[&str]) -> Result<(), WsError> {
        self.subscribe(topics("publicTrade", symbols)?).await
    }

    /// Private topics (SPEC R-WS-3).
    pub async fn subscribe_private(&self, topics: &[PrivateTopic]) -> Result<(), WsError> {
        self.subscribe(topics.iter().map(|t| t.name().to_owned()).collect())
            .await
    }

    /// Reads the book of `symbol` at `depth` under a short read lock; `None` if there is
    /// none. The closure should copy out what it needs (the views are slices: no allocation).
    pub fn book<R>(&self, symbol: &str, depth: u32, f: impl FnOnce(&OrderBook) -> R) -> Option<R> {
        self.shared
            .with_book(&format!("orderbook.{depth}.{symbol}"), f)
    }

    /// The merged ticker of `symbol`.
    pub fn ticker(&self, symbol: &str) -> Option<Ticker> {
        self.shared.ticker(symbol)
    }

    /// Health now, read without involving the socket task.
    pub fn health(&self) -> HealthSnapshot {
        self.shared.health.snapshot()
    }

    /// Wall-clock time of the last frame received (Unix ms): the layer above decides from it
    /// when to fall back to REST polling (SPEC R-WS-4).
    pub fn last_message_unix_ms(&self) -> Option<i64> {
        self.shared.health.last_message_unix_ms()
    }

    /// Closes the socket and waits for the task to end.
    pub async fn close(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for WsStream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn topics(prefix: &str, symbols: &[&str]) -> Result<Vec<String>, WsError> {
    if symbols.is_empty() {
        return Err(WsError::InvalidArgument("no symbols".to_owned()));
    }
    symbols
        .iter()
        .map(|symbol| {
            if symbol.is_empty() || !symbol.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Err(WsError::InvalidArgument(format!("symbol {symbol:?}")))
            } else {
                Ok(format!("{prefix}.{symbol}"))
            }
        })
        .collect()
}

/// rustls on ring with the webpki roots: the same stack reqwest builds, so no second TLS
/// library or root store is compiled.
pub(crate) fn tls_connector() -> Result<Connector, WsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| WsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Connector::Rustls(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;

    #[test]
    fn a_wss_url_gets_a_tls_connector() {
        assert!(matches!(tls_connector(), Ok(Connector::Rustls(_))));
    }

    #[test]
    fn symbols_are_checked_before_sending() {
        assert!(topics("tickers", &[]).is_err());
        assert!(topics("tickers", &["BTC\"USDT"]).is_err());
        assert_eq!(
            topics("tickers", &["BTCUSDT"]).unwrap(),
            ["tickers.BTCUSDT"]
        );
    }

    // Paused clock: against a port nobody listens on, attempts are spaced by the capped
    // exponential schedule (measured on tokio's virtual clock).
    #[tokio::test(start_paused = true)]
    async fn reconnect_attempts_follow_the_backoff_schedule() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut config = WsConfig::new(format!("ws://127.0.0.1:{port}/v5/public/linear"));
        config.backoff = crate::BackoffConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
            stable_after: Duration::from_secs(60),
        };
        let (stream, mut events) = WsStream::public(config).unwrap();
        let mut last = Instant::now();
        let mut attempts = Vec::new();
        while attempts.len() < 6 {
            match events.recv().await.unwrap() {
                WsEvent::Reconnecting { attempt, delay } => attempts.push((attempt, delay)),
                WsEvent::ConnectFailed { .. } => {
                    if let Some((_, delay)) = attempts.last() {
                        // The failure came no sooner than the delay announced before it.
                        assert!(last.elapsed() >= *delay);
                    }
                    last = Instant::now();
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        for (i, (attempt, delay)) in attempts.iter().enumerate() {
            assert_eq!(*attempt as usize, i + 1);
            let base = Duration::from_secs(1 << i.min(3));
            assert!(
                *delay >= base / 2 && *delay <= base,
                "attempt {attempt}: {delay:?}"
            );
        }
        assert!(stream.health().connect_failures >= 5);
        stream.close().await;
    }
}
