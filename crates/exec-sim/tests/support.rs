//! A gateway over a paper router on a still BTCUSDT market at 50 000.

use std::sync::Arc;
use std::time::Duration;

use exec_events::{ErrorLog, EventBus};
use exec_gateway::{Gateway, GatewayConfig, Journal, ManualClock, Ports, TradePlan};
use exec_sim::PaperRouter;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::{defaults, Engine, EngineConfig};

pub(crate) fn plan(tag: &str) -> TradePlan {
    exec_gateway::testing::lifecycle_plan(tag)
}

pub(crate) struct Paper {
    pub(crate) router: Arc<PaperRouter>,
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) bus: EventBus,
    pub(crate) clock: Arc<ManualClock>,
}

/// A still market (static prices) so every fill is exact.
pub(crate) async fn paper(
    usdt: Decimal,
    journal: Arc<dyn Journal>,
    log: Option<Arc<ErrorLog>>,
) -> Paper {
    let mut config = GatewayConfig::new(dec!(5000));
    config.stream_silence = Duration::from_millis(1);
    paper_with(usdt, journal, log, config).await
}

/// [`paper`] with the gateway's configuration given.
pub(crate) async fn paper_with(
    usdt: Decimal,
    journal: Arc<dyn Journal>,
    log: Option<Arc<ErrorLog>>,
    gateway_config: GatewayConfig,
) -> Paper {
    let mut config =
        EngineConfig::new(defaults::instruments(), usdt, 7).with_price("BTCUSDT", dec!(50000));
    config.static_prices = true;
    let bus = EventBus::new(4096);
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let router = Arc::new(
        PaperRouter::new(
            Engine::new(config).unwrap(),
            bus.clone(),
            clock.clone(),
            journal.clone(),
        )
        .await
        .unwrap(),
    );
    let ports = Ports {
        router: router.clone(),
        positions: router.clone(),
        account: router.clone(),
        meta: router.clone(),
        prices: router.clone(),
        journal,
        clock: clock.clone(),
    };
    let gateway = Arc::new(Gateway::new(ports, gateway_config, bus.clone(), log).unwrap());
    Paper {
        router,
        gateway,
        bus,
        clock,
    }
}
