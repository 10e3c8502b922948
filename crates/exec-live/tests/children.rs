//! Take-profit / stop-loss child orders carry `parentOrderLinkId`
//! (docs/v5/websocket/private/order.mdx, docs/v5/order/open-order.mdx; added in
//! docs/changelog/v5.mdx) and no orderLinkId of their own. The tracker ties a child to its
//! parent: the child's fill is published and journaled under the parent's orderLinkId (the
//! parent's trade intent), with the child's own orderId, instead of as a foreign fill with
//! an empty orderLinkId. Both paths: the private stream, and a new process's REST catch-up.

use std::sync::Arc;

use bybit_types::WireSide;
use exec_gateway::{Journal, MemoryJournal, Side as GwSide};
use rust_decimal_macros::dec;
use sim_engine::NewOrder;

use crate::support::{connect, eventually, start_emulator, wait_fills};

const PARENT: &str = "andre_ENTRY_CHILD1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tp_child_fill_is_published_under_its_parent_order_link_id() {
    let emu = start_emulator(dec!(10000)).await;
    let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::new());
    let mut p = connect(&emu, journal.clone(), None).await;

    // An entry with an attached take-profit (placed straight on the exchange: the layer
    // itself sets its stop-loss with trading-stop, but an order may carry its own TP/SL).
    let mut entry = NewOrder::market("BTCUSDT", WireSide::Buy, dec!(0.01)).link_id(PARENT);
    entry.take_profit = Some(dec!(51000));
    let ack = emu
        .state()
        .execute(|e, now| e.create_order(now, &entry))
        .unwrap();
    let first = wait_fills(&mut p.sub, 1).await;
    assert_eq!(first[0].order_link_id, PARENT);

    // The market reaches the TP: the child triggers and fills.
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", dec!(51000)))
        .unwrap();
    let tp = wait_fills(&mut p.sub, 1).await;
    let tp = &tp[0];
    assert_eq!(tp.order_link_id, PARENT, "tied to the parent: {tp:?}");
    assert_ne!(tp.order_id, ack.order_id, "the child's own orderId");
    assert_eq!(tp.side, GwSide::Sell);
    assert_eq!(tp.qty, dec!(0.01));
    eventually("both fills journaled under the parent", async || {
        journal.fills(PARENT).await.unwrap().len() == 2
    })
    .await;
    p.exchange.shutdown().await;

    // A new process with an empty journal: its start catch-up (REST only: order history
    // names the child's parent before the executions are published) ties it the same way.
    let fresh: Arc<dyn Journal> = Arc::new(MemoryJournal::new());
    let mut q = connect(&emu, fresh.clone(), None).await;
    let mut again = wait_fills(&mut q.sub, 2).await;
    again.sort_by_key(|f| f.side == GwSide::Sell);
    assert_eq!(again[1].exec_id, tp.exec_id);
    assert_eq!(again[1].order_link_id, PARENT, "{again:?}");
    q.exchange.shutdown().await;
}
