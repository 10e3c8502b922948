//! Shared test code (the `testing` feature; never in a production build): the reference
//! lifecycle, written once against [`LifecycleBackend`] and run by exec-sim's paper test and
//! exec-live's emulator test (the same assertions as the paper lifecycle).
//!
//! Panics are the point here: every check is an assertion of a test.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use exec_events::{Event, EventBus, Fill, Received, Subscription};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::{
    DcaLevel, Gateway, Journal, OrderRouter, Outcome, Phase, PositionService, Side, Symbol,
    TpLevel, TradePlan,
};

/// One backend the lifecycle runs on: a gateway on BTCUSDT at 50 000 (a still market, so every
/// fill is exact) with 10 000 USDT, its journal and bus, and a way to print prices.
#[async_trait]
pub trait LifecycleBackend: Send + Sync {
    /// The gateway under test.
    fn gateway(&self) -> &Gateway;
    /// The journal the gateway writes to.
    fn journal(&self) -> Arc<dyn Journal>;
    /// The bus fills are published on.
    fn bus(&self) -> &EventBus;
    /// The router (its `sync_open_orders` is the exchange's view).
    fn router(&self) -> &dyn OrderRouter;
    /// The position service.
    fn positions(&self) -> &dyn PositionService;
    /// Prints a trade at `price` on BTCUSDT; the fills it causes arrive on the bus (maybe later).
    async fn move_price(&self, price: Decimal);
    /// The stop-loss the exchange (engine) holds on the BTCUSDT position.
    async fn stop_loss(&self) -> Option<Decimal>;
    /// Catches up on fills from the exchange's history (a no-op where there is none).
    async fn catch_up(&self) {}
}

/// The BTCUSDT plan of the lifecycle: 100 USDT × 10, DCAs at 49 000 and 48 000, TPs at
/// 51 000 / 52 000 / 53 000 with shares 0.5 / 0.3 / 0.2.
pub fn lifecycle_plan(tag: &str) -> TradePlan {
    TradePlan {
        symbol: btc(),
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
        adopt_position: false,
    }
}

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

/// Open orders by orderLinkId → qty (non-empty ids only).
async fn open(b: &dyn LifecycleBackend) -> BTreeMap<String, Decimal> {
    b.router()
        .sync_open_orders(&btc())
        .await
        .unwrap()
        .into_iter()
        .filter(|o| !o.order_link_id.is_empty())
        .map(|o| (o.order_link_id, o.qty))
        .collect()
}

fn map(items: &[(&str, Decimal)]) -> BTreeMap<String, Decimal> {
    items.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

async fn phases(j: &dyn Journal) -> Vec<Phase> {
    j.states("T1")
        .await
        .unwrap()
        .iter()
        .map(|s| s.phase)
        .collect()
}

/// The fills published since the last call (without waiting).
pub fn drain_fills(sub: &mut Subscription) -> Vec<Fill> {
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

/// Waits (up to 10 s) until `want` fills have arrived, then checks no more are already queued.
async fn exactly_fills(sub: &mut Subscription, want: usize) -> Vec<Fill> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < want {
        match tokio::time::timeout_at(deadline, sub.recv()).await {
            Ok(Received::Event(env)) => {
                if let Event::Fill(f) = &*env.event {
                    out.push(f.clone());
                }
            }
            Ok(Received::Lagged { missed }) => panic!("test subscriber lagged by {missed}"),
            Ok(Received::Closed) => panic!("bus closed"),
            Err(_) => panic!("timed out with {} of {want} fills: {out:?}", out.len()),
        }
    }
    let extra = drain_fills(sub);
    assert!(extra.is_empty(), "more fills than {want}: {extra:?}");
    out
}

/// The reference lifecycle of trade `T1`: entry, three TPs and two DCAs (idempotent when called
/// again), DCA1 fills and the TPs are resized, TP1 fills, breakeven (DCA2 gone, a stop at the
/// average entry), TP2 and TP3 fill, close; each fill exactly once on the bus and in the
/// journal, and a catch-up publishes none again. The journal must be empty at the start.
pub async fn run_lifecycle(b: &dyn LifecycleBackend) {
    let journal = b.journal();
    let gateway = b.gateway();
    let mut sub = b.bus().subscribe();
    let mut all_fills = Vec::new();
    let plan = lifecycle_plan("T1");

    // Entry: 100 USDT margin × 10 at 50 000 → 0.020 BTC, filled on the first ask level.
    let entry = gateway.execute_entry(&plan).await.unwrap();
    assert_eq!(entry.filled_qty, dec!(0.020));
    assert_eq!(entry.entry_price, dec!(50000.1));
    let f = exactly_fills(&mut sub, 1).await;
    assert_eq!(f[0].order_link_id, "andre_ENTRY_T1");
    all_fills.extend(f);
    assert_eq!(gateway.trade("T1").unwrap().phase, Phase::InPosition);
    assert_eq!(
        phases(journal.as_ref()).await,
        [Phase::Entering, Phase::InPosition]
    );

    // Three TPs, then two DCAs.
    let position = b.positions().get_position(&btc()).await.unwrap();
    assert_eq!(position.size, dec!(0.020));
    gateway.setup_tps(&plan, &position).await.unwrap();
    gateway.setup_dcas(&plan, &position).await.unwrap();
    assert_eq!(
        open(b).await,
        map(&[
            ("andre_TP1_T1", dec!(0.010)),
            ("andre_TP2_T1", dec!(0.006)),
            ("andre_TP3_T1", dec!(0.004)),
            ("andre_DCA1_T1", dec!(0.020)),
            ("andre_DCA2_T1", dec!(0.020)),
        ])
    );
    // Called again: nothing new.
    gateway.setup_tps(&plan, &position).await.unwrap();
    gateway.setup_dcas(&plan, &position).await.unwrap();
    assert_eq!(open(b).await.len(), 5);
    let intents = journal.intents("T1").await.unwrap();
    let legs: Vec<_> = intents.iter().map(|r| r.intent.leg.as_str()).collect();
    assert_eq!(legs, ["ENTRY", "TP1", "TP2", "TP3", "DCA1", "DCA2"]);
    assert!(intents
        .iter()
        .all(|r| r.outcomes.len() == 1 && matches!(r.outcomes[0], Outcome::Acked { .. })));

    // The price dips through DCA1: it fills; the TPs are resized to the grown position.
    b.move_price(dec!(48990)).await;
    let f = exactly_fills(&mut sub, 1).await;
    assert_eq!(
        (f[0].order_link_id.as_str(), f[0].qty),
        ("andre_DCA1_T1", dec!(0.020))
    );
    all_fills.extend(f);
    let position = b.positions().get_position(&btc()).await.unwrap();
    assert_eq!(position.size, dec!(0.040));
    gateway.setup_tps(&plan, &position).await.unwrap();
    assert_eq!(
        open(b).await,
        map(&[
            ("andre_TP1_T1", dec!(0.020)),
            ("andre_TP2_T1", dec!(0.012)),
            ("andre_TP3_T1", dec!(0.008)),
            ("andre_DCA2_T1", dec!(0.020)),
        ])
    );
    let names: Vec<_> = journal
        .intent("andre_TP1_T1")
        .await
        .unwrap()
        .unwrap()
        .outcomes
        .iter()
        .map(Outcome::name)
        .collect();
    assert_eq!(names, ["acked", "amend_requested", "amended"]);

    // Up through TP1.
    b.move_price(dec!(51010)).await;
    let f = exactly_fills(&mut sub, 1).await;
    assert_eq!(
        (f[0].order_link_id.as_str(), f[0].qty),
        ("andre_TP1_T1", dec!(0.020))
    );
    all_fills.extend(f);

    // Breakeven: DCA2 gone, TP2 and TP3 kept, a stop at the average entry.
    let state = gateway.trade("T1").unwrap();
    let state = gateway.move_to_breakeven(&state).await.unwrap();
    assert_eq!(state.phase, Phase::Breakeven);
    assert_eq!(
        open(b).await,
        map(&[("andre_TP2_T1", dec!(0.012)), ("andre_TP3_T1", dec!(0.008))])
    );
    // (50000.1 + 49000) / 2 = 49500.05, on the 0.10 tick: 49500.1.
    assert_eq!(b.stop_loss().await, Some(dec!(49500.1)));

    // TP2 and TP3: flat.
    b.move_price(dec!(52010)).await;
    b.move_price(dec!(53010)).await;
    let f = exactly_fills(&mut sub, 2).await;
    let links: Vec<_> = f.iter().map(|f| f.order_link_id.as_str()).collect();
    assert_eq!(links, ["andre_TP2_T1", "andre_TP3_T1"]);
    all_fills.extend(f);
    assert!(b.positions().get_position(&btc()).await.unwrap().is_flat());

    let state = gateway.close_all(&state, "all targets hit").await.unwrap();
    assert_eq!(state.phase, Phase::Closed);
    assert!(open(b).await.is_empty());
    assert_eq!(
        phases(journal.as_ref()).await,
        [
            Phase::Entering,
            Phase::InPosition,
            Phase::Breakeven,
            Phase::Closing,
            Phase::Closed
        ]
    );
    assert_eq!(
        journal.intents("T1").await.unwrap().len(),
        6,
        "no close was needed"
    );

    // A catch-up sees every fill again: none is published twice. Each fill exactly once on
    // the bus, and the same fills in the journal.
    b.catch_up().await;
    assert!(drain_fills(&mut sub).is_empty());
    let mut ids: Vec<_> = all_fills.iter().map(|f| f.exec_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while journal.fills("andre_").await.unwrap().len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out: the journal has every fill"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(journal.fills("andre_").await.unwrap(), all_fills);
}
