//! The gateway on the dry-run router: nothing sent, everything published as "would send",
//! market orders answered as filled at the current price and marked simulated.

use std::sync::Arc;

use async_trait::async_trait;
use exec_events::{Event, EventBus, Received};
use exec_gateway::{
    Balance, Gateway, GatewayConfig, ManualClock, MemoryJournal, Phase, PortResult, Ports,
    PriceService, Symbol,
};
use exec_sim::DryRunRouter;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::plan;

#[derive(Debug)]
struct FixedPrice(Decimal);

#[async_trait]
impl PriceService for FixedPrice {
    async fn last_price(&self, _symbol: &Symbol) -> PortResult<Decimal> {
        Ok(self.0)
    }
}

#[tokio::test]
async fn a_dry_run_trade_goes_end_to_end_and_sends_nothing() {
    let bus = EventBus::new(1024);
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let meta = Arc::new(
        exec_sim::CachedSymbolMeta::new(|| Ok(sim_engine::defaults::instruments())).unwrap(),
    );
    let prices = Arc::new(FixedPrice(dec!(50000)));
    let journal = Arc::new(MemoryJournal::new());
    let router = Arc::new(DryRunRouter::new(
        meta.clone(),
        prices.clone(),
        bus.clone(),
        clock.clone(),
        journal.clone(),
        Balance {
            wallet: dec!(1000),
            available: dec!(1000),
            equity: Some(dec!(1000)),
        },
    ));
    let ports = Ports {
        router: router.clone(),
        positions: router.clone(),
        account: router.clone(),
        meta,
        prices,
        journal: journal.clone(),
        clock,
    };
    let mut config = GatewayConfig::new(dec!(5000));
    config.stream_silence = std::time::Duration::from_millis(1);
    let gw = Gateway::new(ports, config, bus.clone(), None).unwrap();
    let mut sub = bus.subscribe();

    let entry = gw.execute_entry(&plan("T1")).await.unwrap();
    assert_eq!(
        (entry.entry_price, entry.filled_qty),
        (dec!(50000), dec!(0.020))
    );
    let position = exec_gateway::PositionService::get_position(
        router.as_ref(),
        &Symbol::new("BTCUSDT").unwrap(),
    )
    .await
    .unwrap();
    gw.setup_tps(&plan("T1"), &position).await.unwrap();
    gw.setup_dcas(&plan("T1"), &position).await.unwrap();
    let state = gw.trade("T1").unwrap();
    let state = gw.close_all(&state, "dry run over").await.unwrap();
    assert_eq!(state.phase, Phase::Closed);
    // Refused the same way as live and paper (R-SAFE-1, R-SAFE-2), nothing "would send":
    // the finished tag, and a TP on the loss side.
    let again = gw.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(again.is_conflict(), "{again}");
    let mut bad = plan("T2");
    bad.tp_levels[0].price = dec!(49000);
    let refused = gw.execute_entry(&bad).await.unwrap_err();
    assert!(refused.is_plan_refused(), "{refused}");

    let mut would = Vec::new();
    let mut fills = Vec::new();
    while let Some(Received::Event(env)) = sub.try_recv() {
        match &*env.event {
            Event::WouldSend(w) => would.push(w.operation.clone()),
            Event::Fill(f) => fills.push(f.clone()),
            Event::Order(o) => assert!(o.simulated),
            _ => {}
        }
    }
    assert_eq!(
        would,
        [
            "set_leverage",
            "place_market_entry",
            "place_tp_order",
            "place_tp_order",
            "place_tp_order",
            "place_dca_order",
            "place_dca_order",
            "cancel_order",
            "cancel_order",
            "cancel_order",
            "cancel_order",
            "cancel_order",
            "close_position_market",
        ]
    );
    assert_eq!(fills.len(), 2, "the entry and the close");
    assert!(fills.iter().all(|f| f.simulated && f.price == dec!(50000)));
    assert_eq!(fills[1].qty, dec!(0.020));
    // The router journals each fill itself (no bus subscriber does), once: the journal holds
    // exactly the fills published.
    let journaled = exec_gateway::Journal::fills(journal.as_ref(), "")
        .await
        .unwrap();
    assert_eq!(journaled, fills);
}
