//! A gateway over a paper router on a still BTCUSDT market at 50 000.

use std::sync::Arc;
use std::time::Duration;

use exec_events::{ErrorLog, Event, EventBus, Fill, Received, Subscription};
use exec_gateway::{
    DcaLevel, Gateway, GatewayConfig, Journal, ManualClock, Ports, Side, Symbol, TpLevel, TradePlan,
};
use exec_sim::PaperRouter;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::{defaults, Engine, EngineConfig};

pub(crate) fn plan(tag: &str) -> TradePlan {
    TradePlan {
        symbol: Symbol::new("BTCUSDT").unwrap(),
        side: Side::Buy,
        margin_usdt: dec!(100),
        leverage: dec!(10),
        dca_levels: vec![
            DcaLevel {
                price: dec!(49000),
                margin_usdt: dec!(100),
            },
            DcaLevel {
                price: dec!(48000),
                margin_usdt: dec!(100),
            },
        ],
        tp_levels: vec![
            TpLevel {
                price: dec!(51000),
                share: dec!(0.5),
            },
            TpLevel {
                price: dec!(52000),
                share: dec!(0.3),
            },
            TpLevel {
                price: dec!(53000),
                share: dec!(0.2),
            },
        ],
        client_tag: tag.to_owned(),
    }
}

pub(crate) struct Paper {
    pub(crate) router: Arc<PaperRouter>,
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) bus: EventBus,
    pub(crate) clock: Arc<ManualClock>,
}

/// A still market (static prices) so every fill is exact.
pub(crate) fn paper(usdt: Decimal, journal: Arc<dyn Journal>, log: Option<Arc<ErrorLog>>) -> Paper {
    let mut config =
        EngineConfig::new(defaults::instruments(), usdt, 7).with_price("BTCUSDT", dec!(50000));
    config.static_prices = true;
    let bus = EventBus::new(4096);
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let router = Arc::new(PaperRouter::new(
        Engine::new(config).unwrap(),
        bus.clone(),
        clock.clone(),
    ));
    let ports = Ports {
        router: router.clone(),
        positions: router.clone(),
        account: router.clone(),
        meta: router.clone(),
        prices: router.clone(),
        journal,
        clock: clock.clone(),
    };
    let mut config = GatewayConfig::new(dec!(5000));
    config.poll_interval = Duration::from_millis(1);
    let gateway = Arc::new(Gateway::new(ports, config, bus.clone(), log).unwrap());
    Paper {
        router,
        gateway,
        bus,
        clock,
    }
}

/// The fills published since the last call.
pub(crate) fn fills(sub: &mut Subscription) -> Vec<Fill> {
    let mut out = Vec::new();
    loop {
        match sub.try_recv() {
            Some(Received::Event(env)) => {
                if let Event::Fill(f) = &*env.event {
                    out.push(f.clone());
                }
            }
            Some(Received::Lagged { missed }) => panic!("test subscriber lagged by {missed}"),
            Some(Received::Closed) | None => return out,
        }
    }
}

/// Waits (polling under a deadline) until `check` holds.
pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
