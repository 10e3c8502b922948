//! SPEC R-TEST-3 / R-GW-6: the gateway stops mid-trade, TP1 fills while it is down, a new
//! gateway on the same journal recovers the trade, reports the TP1 fill once, and the rest of
//! the lifecycle completes.

use std::sync::Arc;

use exec_gateway::journal::spawn_fill_recorder;
use exec_gateway::{Journal, OrderStatus, Phase, PositionService, SqliteJournal};
use rust_decimal_macros::dec;

use crate::support::{btc, connect, eventually, fills, live, plan, wait_fills};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_trade_recovers_it_and_reports_the_tp1_fill_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    let l = live(dec!(10000), journal.clone(), None).await;
    l.ticker_ready().await;
    let recorder =
        spawn_fill_recorder(&l.bus, journal.clone(), Arc::new(exec_gateway::SystemClock));
    let plan = plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    l.gateway.setup_dcas(&plan, &position).await.unwrap();
    eventually("the entry fill is journaled", || {
        journal.fills("andre_").unwrap().len() == 1
    })
    .await;

    // The process stops.
    recorder.abort();
    l.exchange.stop();
    let emu = {
        let crate::support::Live {
            emu,
            exchange,
            gateway,
            ..
        } = l;
        drop(gateway);
        drop(exchange);
        emu
    };
    drop(journal);

    // TP1 fills while nobody watches.
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", dec!(51010)))
        .unwrap();

    // A new process on the same journal.
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    let crate::support::Process {
        exchange,
        gateway,
        mut sub,
        ..
    } = connect(&emu, journal.clone(), None).await;
    let recovered = gateway.recover().await.unwrap();
    assert_eq!(recovered.len(), 1);
    let found = &recovered[0];
    assert!(found.disagreements.is_empty(), "{:?}", found.disagreements);
    assert_eq!(found.state.tag, "T1");
    assert_eq!(found.state.phase, Phase::InPosition);
    assert_eq!(found.state.filled_qty, dec!(0.020));
    assert_eq!(
        found.state.orders.get("TP1").unwrap().1,
        Some(OrderStatus::Filled)
    );
    assert_eq!(
        found.state.orders.get("TP2").unwrap().1,
        Some(OrderStatus::Open)
    );
    // The start catch-up reported TP1, and only TP1 (the entry was journaled before).
    let f = wait_fills(&mut sub, 1).await;
    assert_eq!(
        (f[0].order_link_id.as_str(), f[0].qty),
        ("andre_TP1_T1", dec!(0.010))
    );
    exchange.catch_up().await.unwrap();
    assert!(fills(&mut sub).is_empty());

    // Monitoring continues: breakeven, TP2 and TP3, flat, closed.
    let state = gateway.trade("T1").unwrap();
    let state = gateway.move_to_breakeven(&state).await.unwrap();
    assert_eq!(state.phase, Phase::Breakeven);
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", dec!(52010)))
        .unwrap();
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", dec!(53010)))
        .unwrap();
    let f = wait_fills(&mut sub, 2).await;
    let links: Vec<_> = f.iter().map(|f| f.order_link_id.as_str()).collect();
    assert_eq!(links, ["andre_TP2_T1", "andre_TP3_T1"]);
    assert!(exchange.get_position(&btc()).await.unwrap().is_flat());
    let state = gateway.close_all(&state, "all targets hit").await.unwrap();
    assert_eq!(state.phase, Phase::Closed);
    // One order per leg on the exchange, never a duplicate.
    let orders = emu.state().read(|e| {
        e.order_history(&sim_engine::OrderQuery {
            symbol: Some("BTCUSDT".into()),
            ..sim_engine::OrderQuery::default()
        })
    });
    let mut links: Vec<_> = orders.iter().map(|o| o.order_link_id.clone()).collect();
    let n = links.len();
    links.sort();
    links.dedup();
    assert_eq!(links.len(), n, "duplicate orders: {orders:?}");
}
