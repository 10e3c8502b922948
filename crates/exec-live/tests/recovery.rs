//! SPEC R-TEST-3 / R-GW-6: the gateway stops mid-trade, TP1 fills while it is down, a new
//! gateway on the same journal recovers the trade, reports the TP1 fill once, and the rest of
//! the lifecycle completes.

use std::sync::Arc;

use exec_gateway::{Journal, OrderStatus, Phase, PositionService};
use exec_journal::SqliteJournal;
use rust_decimal_macros::dec;

use crate::support::{btc, connect, eventually, fills, live, plan, wait_fills};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_trade_recovers_it_and_reports_the_tp1_fill_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    let l = live(dec!(10000), journal.clone(), None).await;
    l.ticker_ready().await;
    let plan = plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    l.gateway.setup_dcas(&plan, &position).await.unwrap();
    eventually("the entry fill is journaled", async || {
        journal.fills("andre_").await.unwrap().len() == 1
    })
    .await;

    // The process stops.
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

/// Places and cancels `n` orders that are not this layer's (another client on the account),
/// so they are newer in the order history than everything before them.
fn unrelated_orders(emu: &bybit_emulator::Emulator, n: usize) {
    for i in 0..n {
        let link = format!("other-{i}");
        emu.state().execute(|e, now| {
            let order = sim_engine::NewOrder::limit(
                "BTCUSDT",
                bybit_types::WireSide::Buy,
                dec!(0.001),
                dec!(40000),
            )
            .link_id(&link);
            e.create_order(now, &order).unwrap();
            e.cancel_order(now, "BTCUSDT", &sim_engine::OrderKey::LinkId(link.clone()))
                .unwrap();
        });
    }
}

/// SPEC R-GW-6: the trade's entry and TPs filled while the process was
/// down, then 60 other orders were placed and cancelled, so the trade's orders are behind the
/// first page (50, docs/v5/order/order-list.mdx) of the order history.
/// - A process with an empty journal still finds the trade's tag in the history (the cursor
///   is followed) and reports orders without a plan.
/// - A process on the trade's journal recovers it from the journal's open trades: the
///   exchange has no position and no open order of it, so that is reported and the trade is
///   set CLOSED (the exchange wins), once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_reads_past_the_first_history_page_and_closes_a_trade_the_exchange_finished() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    let l = live(dec!(10000), journal.clone(), None).await;
    l.ticker_ready().await;
    let plan = plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    l.gateway.setup_tps(&plan, &position).await.unwrap();
    l.exchange.shutdown().await;
    let crate::support::Live {
        emu,
        exchange,
        gateway,
        ..
    } = l;
    drop(gateway);
    drop(exchange);
    drop(journal);

    // While down: every TP fills (flat, nothing open), then 60 orders of someone else.
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", dec!(53010)))
        .unwrap();
    unrelated_orders(&emu, 60);
    let history = emu
        .state()
        .read(|e| e.order_history(&sim_engine::OrderQuery::default()));
    let first = history
        .iter()
        .position(|o| o.order_link_id.starts_with("andre_"))
        .unwrap();
    assert!(
        first >= 50,
        "the trade's orders must be past the first page"
    );

    // An empty journal: the trade is found through the history's later pages.
    let empty: Arc<dyn Journal> = Arc::new(exec_gateway::MemoryJournal::new());
    let mut p = connect(&emu, empty, None).await;
    let history = exec_gateway::OrderRouter::recent_orders(p.exchange.as_ref())
        .await
        .unwrap();
    assert!(history.len() > 60, "{}", history.len());
    assert!(history.iter().any(|o| o.order_link_id == "andre_TP3_T1"));
    assert!(p.gateway.recover().await.unwrap().is_empty());
    let mut reported = Vec::new();
    while let Some(exec_events::Received::Event(env)) = p.sub.try_recv() {
        if let exec_events::Event::ExecutionError(x) = &*env.event {
            reported.push(x.message.clone());
        }
    }
    assert!(
        reported
            .iter()
            .any(|m| m == "trade T1: orders on the exchange but no plan in the journal"),
        "{reported:?}"
    );
    p.exchange.shutdown().await;
    drop(p);

    // The trade's own journal: open there, finished on the exchange.
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    assert_eq!(journal.open_trades().await.unwrap(), ["T1"]);
    let p = connect(&emu, journal.clone(), None).await;
    let recovered = p.gateway.recover().await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].state.phase, Phase::Closed);
    assert_eq!(
        recovered[0].disagreements,
        ["trade T1: journal says IN_POSITION but the exchange has no position and no open order of it"]
    );
    assert_eq!(
        recovered[0].state.orders.get("TP3").unwrap().1,
        Some(OrderStatus::Filled)
    );
    assert!(journal.open_trades().await.unwrap().is_empty());
    assert!(
        p.gateway.recover().await.unwrap().is_empty(),
        "reported once"
    );
}
