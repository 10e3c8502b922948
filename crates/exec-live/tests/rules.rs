//! A create refused for a quantity rule reloads the instrument rules, re-rounds and sends
//! once more (issue 10.5; docs/v5/error.mdx 10001, docs/v5/market/instrument.mdx lotSizeFilter).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bybit_rest::{ErrorContext, MockBybitRest, RestError};
use bybit_types::rest::order::OrderAck;
use exec_events::EventBus;
use exec_gateway::{
    Intent, Journal, MemoryJournal, OrderRequest, OrderRouter, Outcome, PortError, Side,
};
use exec_live::{LiveConfig, LiveExchange};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::btc;

fn refused(code: i64) -> RestError {
    RestError::Exchange {
        ctx: ErrorContext {
            endpoint: "POST /v5/order/create",
            symbol: None,
            order_link_id: None,
            write: true,
        },
        code,
        message: "params error".into(),
    }
}

fn tp(qty: Decimal) -> OrderRequest {
    OrderRequest {
        symbol: btc(),
        side: Side::Sell,
        qty,
        price: Some(dec!(51000)),
        trigger_price: None,
        trigger_direction: None,
        reduce_only: true,
        order_link_id: exec_gateway::OrderLinkId::new("andre_TP1_T1").unwrap(),
    }
}

/// A journal holding `req`'s intent, as the gateway records it before the first send.
async fn journaled(req: &OrderRequest) -> Arc<dyn Journal> {
    let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::new());
    journal
        .record_intent(&Intent {
            trade_tag: "T1".into(),
            leg: "TP1".into(),
            order_link_id: req.order_link_id.as_str().to_owned(),
            symbol: "BTCUSDT".into(),
            side: "Sell".into(),
            qty: req.qty,
            price: req.price,
            trigger_price: None,
            kind: req.kind().into(),
            reason: "place_tp_order".into(),
            at_ms: 1,
        })
        .await
        .unwrap();
    journal
}

/// A client whose BTCUSDT qty step becomes 0.01 after the first instruments call, and whose
/// first create is refused with `code`. A re-send of `andre_TP1_T1` panics unless `journal`
/// already holds its re-rounded quantity (nothing sent that was not journaled).
fn client(code: i64, journal: Arc<dyn Journal>) -> (MockBybitRest, Arc<Mutex<Vec<Decimal>>>) {
    let mut mock = MockBybitRest::new();
    let loads = Arc::new(AtomicUsize::new(0));
    mock.expect_instruments().returning(move |_| {
        let mut infos = sim_engine::defaults::instruments();
        if loads.fetch_add(1, Ordering::SeqCst) > 0 {
            for i in infos.iter_mut().filter(|i| i.symbol == "BTCUSDT") {
                i.lot_size_filter.qty_step = dec!(0.01);
                i.lot_size_filter.min_order_qty = dec!(0.01);
            }
        }
        Ok(infos)
    });
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = sent.clone();
    mock.expect_create_order().returning(move |order| {
        let mut sent = seen.lock().unwrap();
        sent.push(order.as_wire().qty);
        if sent.len() == 1 {
            return Err(refused(code));
        }
        // The in-memory journal answers at once.
        let row = futures_util::FutureExt::now_or_never(journal.intent("andre_TP1_T1"))
            .unwrap()
            .unwrap()
            .unwrap();
        let journaled = row
            .outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Rerounded { qty, .. } if *qty == order.as_wire().qty));
        assert!(journaled, "re-sent before the re-rounded qty was journaled");
        Ok(OrderAck {
            order_id: "o-2".into(),
            order_link_id: "andre_TP1_T1".into(),
        })
    });
    (mock, sent)
}

#[tokio::test]
async fn a_qty_rule_refusal_reloads_the_rules_and_resends_rerounded_once() {
    let journal = journaled(&tp(dec!(0.015))).await;
    let (mock, sent) = client(10001, journal.clone());
    let live = LiveExchange::new(
        Arc::new(mock),
        EventBus::new(16),
        journal,
        LiveConfig::default(),
        None,
        None,
    );
    exec_gateway::SymbolMetaService::refresh_symbol_meta(&live)
        .await
        .unwrap();
    let ack = live.place_tp_order(&tp(dec!(0.015))).await.unwrap();
    assert_eq!(ack.order_id, "o-2");
    assert_eq!(*sent.lock().unwrap(), [dec!(0.015), dec!(0.01)]);
}

#[tokio::test]
async fn a_refusal_the_new_rules_do_not_explain_is_returned_unchanged() {
    let journal = journaled(&tp(dec!(0.02))).await;
    let (mock, sent) = client(110003, journal.clone());
    let live = LiveExchange::new(
        Arc::new(mock),
        EventBus::new(16),
        journal,
        LiveConfig::default(),
        None,
        None,
    );
    exec_gateway::SymbolMetaService::refresh_symbol_meta(&live)
        .await
        .unwrap();
    // Already on the new step: nothing to re-round, so the refusal stands, sent once.
    let err = live.place_tp_order(&tp(dec!(0.02))).await.unwrap_err();
    assert!(
        matches!(err, PortError::Rejected { code: 110003, .. }),
        "{err}"
    );
    assert_eq!(sent.lock().unwrap().len(), 1);
}

/// The re-rounded values are journaled (an outcome of the intent) before the re-send, so
/// nothing is sent that the journal does not hold (SPEC R-GW-6; docs/v5/error.mdx 10001).
#[tokio::test]
async fn a_rerounded_resend_is_journaled_before_it_is_sent() {
    let req = tp(dec!(0.015));
    let journal = journaled(&req).await;
    let (mock, sent) = client(10001, journal.clone());
    let live = LiveExchange::new(
        Arc::new(mock),
        EventBus::new(16),
        journal.clone(),
        LiveConfig::default(),
        None,
        None,
    );
    exec_gateway::SymbolMetaService::refresh_symbol_meta(&live)
        .await
        .unwrap();
    live.place_tp_order(&req).await.unwrap();
    assert_eq!(*sent.lock().unwrap(), [dec!(0.015), dec!(0.01)]);
    let row = journal.intent("andre_TP1_T1").await.unwrap().unwrap();
    assert_eq!(
        row.outcomes,
        [Outcome::Rerounded {
            qty: dec!(0.01),
            price: Some(dec!(51000)),
            trigger_price: None,
            reason: "rejected: retCode 10001: params error".into(),
        }]
    );
}

/// An order whose intent the journal does not hold is not re-sent after a rule refusal:
/// the re-rounded values would have nowhere to be recorded (SPEC R-GW-6).
#[tokio::test]
async fn an_unjournaled_order_is_not_resent_rerounded() {
    let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::new());
    let (mock, sent) = client(10001, journal.clone());
    let live = LiveExchange::new(
        Arc::new(mock),
        EventBus::new(16),
        journal,
        LiveConfig::default(),
        None,
        None,
    );
    exec_gateway::SymbolMetaService::refresh_symbol_meta(&live)
        .await
        .unwrap();
    let err = live.place_tp_order(&tp(dec!(0.015))).await.unwrap_err();
    assert!(
        matches!(err, PortError::Rejected { code: 10001, .. }),
        "{err}"
    );
    assert_eq!(*sent.lock().unwrap(), [dec!(0.015)]);
}

/// End to end against the emulator (issue 10 item 3): the gateway sized the trade with
/// BTCUSDT's old lot size (step 0.001); the exchange then changes it to 0.003
/// (`/emulator/instrument`, docs/v5/market/instrument.mdx lotSizeFilter). TP1 (0.010) and
/// TP3 (0.004) are refused with 10001 (docs/v5/error.mdx: params error, qty not on the step);
/// the adapters reload the rules, re-round down (0.009, 0.003), journal `Rerounded` and send
/// once more with the same orderLinkId. Each TP is then on the exchange once, at the new qty,
/// and a second `setup_tps` (now sized with the new rules) sends nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lot_size_change_mid_trade_rerounds_the_tp_once_on_the_emulator() {
    use exec_events::{ErrorKind, Event, Received};
    use exec_gateway::PositionService;

    let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::new());
    let l = crate::support::live(dec!(10000), journal.clone(), None).await;
    l.ticker_ready().await;
    let plan = crate::support::plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    assert_eq!(position.size, dec!(0.020));
    l.control(
        "/instrument",
        serde_json::json!({"symbol": "BTCUSDT", "qtyStep": "0.003", "minOrderQty": "0.003"}),
    )
    .await;
    let mut sub = l.bus.subscribe();
    l.gateway.setup_tps(&plan, &position).await.unwrap();

    let tp_orders = |leg: &str| -> Vec<Decimal> {
        let link = format!("andre_{leg}_T1");
        l.exchange_orders()
            .iter()
            .filter(|o| o.order_link_id == link)
            .map(|o| o.qty)
            .collect()
    };
    assert_eq!(tp_orders("TP1"), [dec!(0.009)]);
    assert_eq!(tp_orders("TP2"), [dec!(0.006)]);
    assert_eq!(tp_orders("TP3"), [dec!(0.003)]);
    for (leg, qty) in [("TP1", dec!(0.009)), ("TP3", dec!(0.003))] {
        let row = journal
            .intent(&format!("andre_{leg}_T1"))
            .await
            .unwrap()
            .unwrap();
        let names: Vec<_> = row.outcomes.iter().map(Outcome::name).collect();
        assert_eq!(names, ["rerounded", "acked"], "{leg}");
        assert!(
            matches!(&row.outcomes[0], Outcome::Rerounded { qty: q, reason, .. }
                if *q == qty && reason.contains("10001")),
            "{leg}: {:?}",
            row.outcomes
        );
        assert!(row
            .differs_from(&exec_wire::snapshot(
                &l.exchange_orders()
                    .into_iter()
                    .find(|o| o.order_link_id == row.intent.order_link_id)
                    .unwrap()
            ))
            .is_none());
    }
    let tp2 = journal.intent("andre_TP2_T1").await.unwrap().unwrap();
    assert_eq!(tp2.outcomes.len(), 1, "TP2 was on the new step: sent once");

    l.gateway.setup_tps(&plan, &position).await.unwrap();
    for leg in ["TP1", "TP2", "TP3"] {
        assert_eq!(tp_orders(leg).len(), 1, "{leg} sent again");
    }
    let mut errors = Vec::new();
    while let Some(Received::Event(env)) = sub.try_recv() {
        if let Event::ExecutionError(e) = &*env.event {
            errors.push(e.clone());
        }
    }
    assert!(
        errors.iter().all(|e| e.kind != ErrorKind::Rejected),
        "{errors:?}"
    );
    assert!(errors.is_empty(), "{errors:?}");
}
