//! One process of the layer as the suite drives it: the application's own
//! [`Runtime`] (REST client, streams, live adapters, journal, gateway) built from
//! [`Settings`], started on the run's journal file and stopped again (the restart case stops
//! one and starts the next on the same file).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bybit_ws::PrivateTopic;
use exec_events::EventBus;
use exec_gateway::{Gateway, Journal, PriceService, Symbol};
use exec_live::LiveExchange;

use bybit_exec::config::{Routing, Settings};
use bybit_exec::runtime::Runtime;

/// One running process of the layer, with handles to the parts the cases use.
pub(crate) struct Process {
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) exchange: Arc<LiveExchange>,
    pub(crate) bus: EventBus,
    pub(crate) journal: Arc<dyn Journal>,
    runtime: Runtime,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl Process {
    /// Starts a [`Runtime`] with live routing from `settings` and waits until it has a price
    /// for `symbol` (entries are sized with it).
    pub(crate) async fn start(settings: Settings, symbol: &Symbol) -> Result<Process> {
        anyhow::ensure!(
            settings.routing == Routing::Live,
            "the suite needs live routing, not {}",
            settings.routing
        );
        let runtime = Runtime::start(settings).await?;
        let Some(exchange) = runtime.live().cloned() else {
            runtime.shutdown().await;
            anyhow::bail!("a live runtime without live adapters");
        };
        let process = Process {
            gateway: runtime.gateway.clone(),
            exchange,
            bus: runtime.bus.clone(),
            journal: runtime.journal.clone(),
            runtime,
        };
        if let Err(e) = process.price_ready(symbol).await {
            process.shutdown().await;
            return Err(e);
        }
        Ok(process)
    }

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

    /// Kills this process's private stream from the client side: once it is live, every
    /// private topic is unsubscribed (and so never restored on a reconnect), so the stream
    /// delivers nothing more and the layer must fall back to REST polling.
    pub(crate) async fn silence_private_stream(&self) -> Result<()> {
        let private = self
            .runtime
            .private()
            .cloned()
            .context("this runtime has no private stream")?;
        // Wait for the start's own subscription first, or it could land after ours.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.exchange.private_stream_quiet() {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the private stream never came up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let topics = [
            PrivateTopic::Order,
            PrivateTopic::Execution,
            PrivateTopic::Position,
            PrivateTopic::Wallet,
        ];
        private
            .unsubscribe(topics.iter().map(|t| t.name().to_owned()).collect())
            .await
            .context("unsubscribing the private topics")
    }

    /// Stops the process (tracking first, so nothing is published after), closing its
    /// streams: the handles held here go first so the runtime holds the last ones.
    pub(crate) async fn shutdown(self) {
        let Process {
            gateway,
            exchange,
            bus,
            journal,
            runtime,
        } = self;
        drop((gateway, exchange, bus, journal));
        runtime.shutdown().await;
    }
}
