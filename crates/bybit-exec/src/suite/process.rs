//! One process of the layer as the suite drives it: REST client, streams, live adapters,
//! journal and gateway, started on a journal file and stopped again (the restart case stops
//! one and starts the next on the same file).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bybit_rest::{RestClient, RestConfig};
use bybit_sign::Credentials;
use bybit_ws::{BackoffConfig, PrivateAuth, WsConfig, WsStream};
use exec_events::EventBus;
use exec_gateway::{
    Gateway, GatewayConfig, Journal, Ports, PriceService, SqliteJournal, Symbol, SystemClock,
};
use exec_live::{LiveConfig, LiveExchange};
use rust_decimal_macros::dec;
use tokio::task::JoinHandle;

/// Where a process connects, and how eagerly it watches.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub(crate) rest: String,
    pub(crate) public_ws: String,
    pub(crate) private_ws: String,
    pub(crate) credentials: Credentials,
    /// Loopback: short pings and a 200 ms REST poll, so a dropped stream shows within a
    /// second. Testnet keeps the production pacing (it has rate limits).
    pub(crate) loopback: bool,
}

/// One running process of the layer.
pub(crate) struct Process {
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) exchange: Arc<LiveExchange>,
    pub(crate) bus: EventBus,
    pub(crate) journal: Arc<dyn Journal>,
    recorder: JoinHandle<()>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process").finish_non_exhaustive()
    }
}

impl Process {
    /// Starts a process on `journal` (created if missing). Without `private_stream` it
    /// never opens the private WebSocket, so every order and fill it sees comes from REST
    /// polling (how the suite kills the private stream where it cannot inject faults).
    pub(crate) async fn start(
        at: &Endpoints,
        journal: &Path,
        symbol: &Symbol,
        private_stream: bool,
    ) -> Result<Process> {
        let journal: Arc<dyn Journal> = Arc::new(
            SqliteJournal::open(journal)
                .with_context(|| format!("opening the journal {}", journal.display()))?,
        );
        let rest = RestClient::new(
            RestConfig::with_base_url(at.rest.clone()).credentials(at.credentials.clone()),
        )
        .context("building the REST client")?;
        let ws = |url: &str| {
            if at.loopback {
                loopback_ws(url)
            } else {
                WsConfig::new(url)
            }
        };
        let (private, private_events) = if private_stream {
            let (stream, events) =
                WsStream::private(ws(&at.private_ws), PrivateAuth::new(at.credentials.clone()))
                    .context("starting the private stream")?;
            (Some(Arc::new(stream)), Some(events))
        } else {
            (None, None)
        };
        let (public, _public_events) =
            WsStream::public(ws(&at.public_ws)).context("starting the public stream")?;
        public
            .subscribe_tickers(&[symbol.as_str()])
            .await
            .context("subscribing the ticker")?;
        let bus = EventBus::new(4096);
        let mut live = LiveConfig::default();
        if at.loopback {
            live.poll_interval = Duration::from_millis(200);
            live.silence_threshold = Duration::from_secs(2);
        } else {
            live.poll_interval = Duration::from_secs(2);
        }
        let exchange = Arc::new(LiveExchange::new(
            Arc::new(rest),
            bus.clone(),
            journal.clone(),
            live,
            private,
            Some(Arc::new(public)),
        ));
        let prefix = exec_gateway::DEFAULT_LINK_PREFIX;
        exchange.tracker().remember_fills(
            &journal
                .fills(prefix)
                .context("reading the journal's fills")?,
        );
        let recorder = exec_gateway::journal::spawn_fill_recorder(
            &bus,
            journal.clone(),
            Arc::new(SystemClock),
        );
        exchange
            .start_tracking(private_events)
            .await
            .context("starting order and fill tracking")?;
        let ports = Ports {
            router: exchange.clone(),
            positions: exchange.clone(),
            account: exchange.clone(),
            meta: exchange.clone(),
            prices: exchange.clone(),
            journal: journal.clone(),
            clock: Arc::new(SystemClock),
        };
        // The notional guard sits far above what any case sends, except the balance case,
        // which must reach the exchange to be refused there.
        let mut config = GatewayConfig::new(dec!(100000000));
        config.poll_interval = Duration::from_millis(if at.loopback { 20 } else { 250 });
        config.fill_timeout = Duration::from_secs(15);
        let gateway = Arc::new(Gateway::new(ports, config, bus.clone(), None)?);
        let process = Process {
            gateway,
            exchange,
            bus,
            journal,
            recorder,
        };
        process.price_ready(symbol).await?;
        Ok(process)
    }

    /// Waits until the layer has a price for `symbol` (entries are sized with it).
    async fn price_ready(&self, symbol: &Symbol) -> Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            match self.exchange.last_price(symbol).await {
                Ok(_) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(e).context(format!("no price for {symbol} within 15 s"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Stops the process: tracking first (nothing is published after), then the fill
    /// recorder once the journal holds what was published.
    pub(crate) async fn shutdown(self) {
        self.exchange.shutdown().await;
        // The tracker journals every fill before publishing it; the recorder only repeats
        // that, so stopping it here loses nothing.
        self.recorder.abort();
    }
}

/// Short pings and timeouts: on loopback a dead stream is noticed within a second.
fn loopback_ws(url: &str) -> WsConfig {
    let mut config = WsConfig::new(url);
    config.ping_interval = Duration::from_millis(300);
    config.pong_timeout = Duration::from_millis(700);
    config.idle_timeout = Duration::from_secs(3);
    config.connect_timeout = Duration::from_secs(3);
    config.reply_timeout = Duration::from_secs(3);
    config.backoff = BackoffConfig {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        stable_after: Duration::from_secs(5),
    };
    config
}
