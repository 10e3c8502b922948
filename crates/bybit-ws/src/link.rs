//! What every socket task shares, in one place: opening the socket (within the connect
//! timeout, abandoned when the stream is closed) and handing events to the caller without ever
//! waiting (the slow-consumer policy of [`WsEvent`]).

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::health::Health;
use crate::telemetry;
use crate::{WsConfig, WsEvent};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How much a socket asks of the kernel per read. tungstenite zero-fills that much of its read
/// buffer on every read attempt, including each one that finds nothing, so a large chunk
/// costs every small frame: the trade stream's answers are a few hundred bytes (a batch's a few
/// KiB, read in a few goes) and ask for 1 KiB; the market streams' snapshots run to hundreds
/// of KiB and keep tungstenite's 128 KiB.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReadChunk {
    /// tungstenite's default.
    Large,
    /// 1 KiB: for a stream of small answers.
    Small,
}

/// Opens `config.url`: the error says why in words (it goes to the health and the log).
pub(crate) async fn connect(
    config: &WsConfig,
    connector: Option<Connector>,
    cancel: &CancellationToken,
    chunk: ReadChunk,
) -> Result<Socket, String> {
    let socket = match chunk {
        ReadChunk::Large => None,
        ReadChunk::Small => Some(WebSocketConfig::default().read_buffer_size(1024)),
    };
    let attempt = tokio_tungstenite::connect_async_tls_with_config(
        config.url.as_str(),
        socket,
        true,
        connector,
    );
    tokio::select! {
        () = cancel.cancelled() => Err("closed".to_owned()),
        result = timeout(config.connect_timeout, attempt) => match result {
            Err(_) => Err(format!("no connection within {:?}", config.connect_timeout)),
            Ok(Err(error)) => Err(error.to_string()),
            Ok(Ok((socket, _))) => Ok(socket),
        },
    }
}

/// The caller's event channel. A full channel never blocks the socket: the event is dropped
/// and counted, and a [`WsEvent::Lagged`] with the count goes ahead of the next one that fits.
#[derive(Debug)]
pub(crate) struct Events {
    tx: mpsc::Sender<WsEvent>,
    lagged: u64,
    /// The `stream` label of the dropped-events metric.
    kind: &'static str,
}

impl Events {
    pub(crate) fn new(tx: mpsc::Sender<WsEvent>, kind: &'static str) -> Self {
        Events {
            tx,
            lagged: 0,
            kind,
        }
    }

    /// Sends `event` without waiting; counts it in `health` when it is dropped.
    pub(crate) fn emit(&mut self, event: WsEvent, health: &Health) {
        if self.lagged > 0 {
            match self.tx.try_send(WsEvent::Lagged {
                dropped: self.lagged,
            }) {
                Ok(()) => self.lagged = 0,
                Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.dropped(health);
                    return;
                }
            }
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(event) {
            self.dropped(health);
        }
    }

    fn dropped(&mut self, health: &Health) {
        self.lagged += 1;
        Health::count(&health.dropped_events);
        telemetry::count(telemetry::DROPPED_EVENTS_TOTAL, self.kind);
    }
}
