//! An order re-rounded after a rule refusal (journal `Outcome::Rerounded`, written by the
//! router before the re-send) is compared, wherever the gateway finds it by orderLinkId, with
//! the re-rounded values, not the original intent: the outcome policy's lookup after an
//! unknown outcome and `recover()`. Rule refusals: docs/v5/error.mdx (10001 qty
//! not on the step).

use futures_util::FutureExt;
use std::sync::Arc;

use exec_events::{ErrorKind, Event, ExecutionError};
use exec_gateway::{
    Intent, Journal, MemoryJournal, OrderAck, OrderSnapshot, OrderStatus, Outcome, Phase,
    PortError, Side,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::{drain, long, plan, snapshot, Mocks};

const TP1: &str = "andre_TP1_T1";

/// TP1 resting at 51 000 with `qty`.
fn tp1(qty: Decimal) -> OrderSnapshot {
    OrderSnapshot {
        price: Some(dec!(51000)),
        reduce_only: true,
        ..snapshot(TP1, Side::Sell, qty, OrderStatus::Open)
    }
}

fn others(events: &[Event]) -> Vec<ExecutionError> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ExecutionError(x) if x.kind == ErrorKind::Other => Some(x.clone()),
            _ => None,
        })
        .collect()
}

/// setup_tps on a 0.025 position: TP1 is 0.012 (step 0.001). The router is refused for the
/// step, reloads rules with a step of 0.01, journals `Rerounded {qty: 0.01}` and re-sends;
/// that answer is lost (10016), so the gateway looks TP1 up and finds `found_qty`.
async fn tp1_found_after_a_reround(found_qty: Decimal) -> (Vec<ExecutionError>, Vec<String>) {
    let mut m = Mocks::new();
    let journal = Arc::new(MemoryJournal::new());
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let j = journal.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(move |req| {
            if req.order_link_id.as_str() == TP1 {
                assert_eq!(req.qty, dec!(0.012));
                j.record_outcome(
                    TP1,
                    &Outcome::Rerounded {
                        qty: dec!(0.01),
                        price: Some(dec!(51000)),
                        trigger_price: None,
                        reason: "retCode 10001: qty not on the step".into(),
                    },
                    1,
                )
                .now_or_never()
                .unwrap()
                .unwrap();
                return Err(PortError::UnknownOutcome {
                    reason: "retCode 10016: System error".into(),
                });
            }
            Ok(OrderAck {
                order_id: "id".into(),
                order_link_id: req.order_link_id.as_str().into(),
            })
        });
    m.router
        .expect_get_order()
        .returning(move |_, link| Ok((link.as_str() == TP1).then(|| tp1(found_qty))));
    let gw = m.build(journal.clone(), None);
    let mut sub = gw.bus().subscribe();
    gw.setup_tps(&plan("T1"), &long(dec!(0.025), dec!(50000)))
        .await
        .unwrap();
    let outcomes = journal
        .intent(TP1)
        .await
        .unwrap()
        .unwrap()
        .outcomes
        .iter()
        .map(|o| o.name().to_owned())
        .collect();
    (others(&drain(&mut sub)), outcomes)
}

#[tokio::test]
async fn a_rerounded_tp_found_after_an_unknown_outcome_is_the_same_order() {
    let (errors, outcomes) = tp1_found_after_a_reround(dec!(0.01)).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(outcomes, ["rerounded", "unknown", "resolved"]);
}

#[tokio::test]
async fn a_tp_found_at_the_pre_reround_qty_is_reported() {
    let (errors, _) = tp1_found_after_a_reround(dec!(0.012)).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].order_link_id.as_deref(), Some(TP1));
    assert!(
        errors[0]
            .message
            .contains("qty 0.012 on the exchange, 0.01 in the journal"),
        "{}",
        errors[0].message
    );
}

/// A journal from before a restart: the entry filled, TP1 was intended at 0.012, refused,
/// re-rounded to 0.01 and acked; the exchange has TP1 resting at `exchange_qty`.
async fn recover_with_tp1_at(exchange_qty: Decimal) -> Vec<String> {
    let journal = Arc::new(MemoryJournal::new());
    let p = plan("T1");
    journal.record_plan(&p, 1).await.unwrap();
    journal
        .record_state("T1", Phase::InPosition, "", 1)
        .await
        .unwrap();
    let intent = |leg: &str, side: &str, qty, price, kind: &str| Intent {
        trade_tag: "T1".into(),
        leg: leg.into(),
        order_link_id: format!("andre_{leg}_T1"),
        symbol: "BTCUSDT".into(),
        side: side.into(),
        qty,
        price,
        trigger_price: None,
        kind: kind.into(),
        reason: "test".into(),
        at_ms: 1,
    };
    let acked = Outcome::Acked {
        order_id: "id".into(),
    };
    journal
        .record_intent(&intent("ENTRY", "Buy", dec!(0.025), None, "market"))
        .await
        .unwrap();
    journal
        .record_outcome("andre_ENTRY_T1", &acked, 1)
        .await
        .unwrap();
    journal
        .record_intent(&intent(
            "TP1",
            "Sell",
            dec!(0.012),
            Some(dec!(51000)),
            "limit",
        ))
        .await
        .unwrap();
    let reround = Outcome::Rerounded {
        qty: dec!(0.01),
        price: Some(dec!(51000)),
        trigger_price: None,
        reason: "retCode 10001".into(),
    };
    journal.record_outcome(TP1, &reround, 1).await.unwrap();
    journal.record_outcome(TP1, &acked, 1).await.unwrap();

    let mut m = Mocks::new();
    m.positions
        .expect_get_all_positions()
        .returning(|| Ok(vec![long(dec!(0.025), dec!(50000))]));
    m.positions
        .expect_get_position()
        .returning(|_| Ok(long(dec!(0.025), dec!(50000))));
    m.router
        .expect_sync_open_orders()
        .returning(move |_| Ok(vec![tp1(exchange_qty)]));
    m.router.expect_recent_orders().returning(|| Ok(vec![]));
    // recover() finishes the trade (R-SAFE-4): TP1 resized, TP2/TP3 and the DCAs placed.
    m.router
        .expect_amend_order_qty()
        .returning(|_, _, _| Ok(()));
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(|o| {
            Ok(exec_gateway::OrderAck {
                order_id: "id".into(),
                order_link_id: o.order_link_id.as_str().into(),
            })
        });
    m.router
        .expect_place()
        .withf(crate::support::is_dca)
        .returning(|o| {
            Ok(exec_gateway::OrderAck {
                order_id: "id".into(),
                order_link_id: o.order_link_id.as_str().into(),
            })
        });
    m.router.expect_get_order().returning(move |_, link| {
        Ok(match link.as_str() {
            TP1 => Some(tp1(exchange_qty)),
            "andre_ENTRY_T1" => Some(snapshot(
                "andre_ENTRY_T1",
                Side::Buy,
                dec!(0.025),
                OrderStatus::Filled,
            )),
            _ => None,
        })
    });
    let gw = m.build(journal, None);
    let recovered = gw.recover().await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].state.phase, Phase::InPosition);
    recovered[0].disagreements.clone()
}

#[tokio::test]
async fn recover_compares_a_rerounded_tp_with_its_rerounded_qty() {
    let disagreements = recover_with_tp1_at(dec!(0.01)).await;
    assert!(disagreements.is_empty(), "{disagreements:?}");
}

#[tokio::test]
async fn recover_reports_a_tp_at_the_qty_before_the_reround() {
    let disagreements = recover_with_tp1_at(dec!(0.012)).await;
    assert_eq!(
        disagreements,
        ["andre_TP1_T1: qty 0.012 on the exchange, 0.01 in the journal"]
    );
}

/// What an order found by orderLinkId is compared with: a re-rounding replaces the intent's
/// qty and price; an amend not yet answered allows the old or the new qty; an answered amend
/// only the new one.
#[test]
fn intended_follows_rerounds_and_amends() {
    let mut row = exec_gateway::IntentRow {
        intent: Intent {
            trade_tag: "T1".into(),
            leg: "TP1".into(),
            order_link_id: TP1.into(),
            symbol: "BTCUSDT".into(),
            side: "Sell".into(),
            qty: dec!(0.012),
            price: Some(dec!(51000.05)),
            trigger_price: None,
            kind: "limit".into(),
            reason: "test".into(),
            at_ms: 1,
        },
        outcomes: vec![],
    };
    let at = |qty, price| OrderSnapshot {
        price: Some(price),
        ..tp1(qty)
    };
    assert!(row.differs_from(&at(dec!(0.012), dec!(51000.05))).is_none());
    row.outcomes.push(Outcome::Rerounded {
        qty: dec!(0.01),
        price: Some(dec!(51000.1)),
        trigger_price: None,
        reason: "10001".into(),
    });
    assert!(row.differs_from(&at(dec!(0.01), dec!(51000.1))).is_none());
    assert_eq!(
        row.differs_from(&at(dec!(0.01), dec!(51000.05))).unwrap(),
        "andre_TP1_T1: price 51000.05 on the exchange, 51000.1 in the journal"
    );
    row.outcomes
        .push(Outcome::AmendRequested { qty: dec!(0.02) });
    assert!(row.differs_from(&at(dec!(0.01), dec!(51000.1))).is_none());
    assert!(row.differs_from(&at(dec!(0.02), dec!(51000.1))).is_none());
    row.outcomes.push(Outcome::Amended { qty: dec!(0.02) });
    assert_eq!(
        row.differs_from(&at(dec!(0.01), dec!(51000.1))).unwrap(),
        "andre_TP1_T1: qty 0.01 on the exchange, 0.02 in the journal"
    );
}

/// BTCUSDT with the quantity step (and minimum) raised to 0.01, as Bybit may change it.
fn rules_step_001() -> bybit_meta::InstrumentRules {
    rules_step(dec!(0.01))
}

/// BTCUSDT with the quantity step (and minimum) at `step`.
fn rules_step(step: Decimal) -> bybit_meta::InstrumentRules {
    crate::support::rules_from(
        &crate::support::price_filter(),
        &bybit_types::rest::market::LotSizeFilter {
            min_order_qty: step,
            qty_step: step,
            ..crate::support::lot_size()
        },
    )
}

/// setup_tps on a 0.025 position (TP1 0.012) where every TP1 create is refused with `code`
/// until `accept_after` refusals; the rules reloaded through the meta port have the step
/// `changed` to 0.01 (or stay as they were). Returns the TP1 quantities sent, the journal's
/// outcome names for TP1, the result, and the journal.
async fn tp1_refused_for_a_rule(
    code: i64,
    accept_after: usize,
    changed: bool,
    max_send_attempts: u32,
) -> (
    Vec<Decimal>,
    Vec<String>,
    Result<exec_gateway::TradeState, exec_gateway::GatewayError>,
    Arc<MemoryJournal>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    let mut m = Mocks::new();
    m.config.max_send_attempts = max_send_attempts;
    let reloaded = Arc::new(AtomicBool::new(false));
    let mut meta = exec_gateway::MockSymbolMetaService::new();
    let r = reloaded.clone();
    meta.expect_refresh_symbol_meta().returning(move || {
        r.store(true, Ordering::SeqCst);
        Ok(1)
    });
    let r = reloaded.clone();
    meta.expect_get_symbol_meta().returning(move |_| {
        Ok(Arc::new(if changed && r.load(Ordering::SeqCst) {
            rules_step_001()
        } else {
            crate::support::rules()
        }))
    });
    m.meta = meta;
    let journal = Arc::new(MemoryJournal::new());
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let (j, s) = (journal.clone(), sent.clone());
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(move |req| {
            if req.order_link_id.as_str() == TP1 {
                let mut sent = s.lock().unwrap();
                sent.push(req.qty);
                if sent.len() > 1 {
                    // Nothing is sent that was not journaled (SPEC R-GW-6): the re-send's
                    // values are in the journal first.
                    let row = j.intent(TP1).now_or_never().unwrap().unwrap().unwrap();
                    assert!(
                        row.outcomes.iter().any(
                            |o| matches!(o, Outcome::Rerounded { qty, .. } if *qty == req.qty)
                        ),
                        "re-sent before the re-rounded qty was journaled: {:?}",
                        row.outcomes
                    );
                }
                if sent.len() <= accept_after {
                    return Err(PortError::RuleRefused {
                        code,
                        message: "qty not on the step".into(),
                    });
                }
            }
            Ok(OrderAck {
                order_id: "id".into(),
                order_link_id: req.order_link_id.as_str().into(),
            })
        });
    let gw = m.build(journal.clone(), None);
    let result = gw
        .setup_tps(&plan("T1"), &long(dec!(0.025), dec!(50000)))
        .await;
    let outcomes = journal
        .intent(TP1)
        .await
        .unwrap()
        .unwrap()
        .outcomes
        .iter()
        .map(|o| o.name().to_owned())
        .collect();
    let sent = sent.lock().unwrap().clone();
    (sent, outcomes, result, journal)
}

/// Rule 9 of the outcome policy: a rule refusal reloads the rules through the meta port,
/// re-rounds, journals `Rerounded` through the gateway's clock, and sends once more with the
/// same orderLinkId (docs/v5/error.mdx 10001).
#[tokio::test]
async fn a_rule_refusal_reloads_the_rules_and_resends_rerounded_after_journaling_it() {
    let (sent, outcomes, result, journal) = tp1_refused_for_a_rule(10001, 1, true, 3).await;
    result.unwrap();
    assert_eq!(sent, [dec!(0.012), dec!(0.01)]);
    assert_eq!(outcomes, ["rerounded", "acked"]);
    let row = journal.intent(TP1).await.unwrap().unwrap();
    assert!(matches!(
        &row.outcomes[0],
        Outcome::Rerounded { qty, price, reason, .. }
            if *qty == dec!(0.01) && *price == Some(dec!(51000)) && reason.contains("10001")
    ));
}

/// Reloaded rules that do not change the order: the refusal stands, sent once.
#[tokio::test]
async fn a_rule_refusal_the_reloaded_rules_do_not_explain_is_final() {
    let (sent, outcomes, result, _) = tp1_refused_for_a_rule(110003, 1, false, 3).await;
    assert!(
        matches!(
            result,
            Err(exec_gateway::GatewayError::Rejected {
                code: Some(110003),
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(sent, [dec!(0.012)]);
    assert_eq!(outcomes, ["rejected"]);
}

/// Re-sends after rule refusals count within `max_send_attempts`, like every other re-send.
#[tokio::test]
async fn rule_refusals_resend_within_max_send_attempts() {
    let (sent, outcomes, result, _) = tp1_refused_for_a_rule(10001, usize::MAX, true, 2).await;
    assert!(result.is_err());
    assert_eq!(
        sent,
        [dec!(0.012), dec!(0.01)],
        "two sends, the policy's limit"
    );
    assert_eq!(outcomes, ["rerounded", "rejected"]);
}

/// Rule 2 after a re-rounding: TP1 was intended at 0.012, refused, journaled `Rerounded` to
/// 0.01, and that send's answer was lost. The next `setup_tps` (another call, after a
/// restart) finds nothing by orderLinkId and sends TP1 again: with the journal's 0.01, not
/// the 0.012 it computes anew (which the exchange already refused, and which the journal
/// does not hold as what was sent).
#[tokio::test]
async fn a_resend_of_a_rerounded_intent_sends_what_the_journal_holds() {
    let journal = Arc::new(MemoryJournal::new());
    journal
        .record_intent(&Intent {
            trade_tag: "T1".into(),
            leg: "TP1".into(),
            order_link_id: TP1.into(),
            symbol: "BTCUSDT".into(),
            side: "Sell".into(),
            qty: dec!(0.012),
            price: Some(dec!(51000)),
            trigger_price: None,
            kind: "limit".into(),
            reason: "setup_tps".into(),
            at_ms: 1,
        })
        .await
        .unwrap();
    for outcome in [
        Outcome::Rerounded {
            qty: dec!(0.01),
            price: Some(dec!(51000)),
            trigger_price: None,
            reason: "retCode 10001: qty not on the step".into(),
        },
        Outcome::Unknown {
            reason: "retCode 10016: System error".into(),
        },
    ] {
        journal.record_outcome(TP1, &outcome, 2).await.unwrap();
    }
    let mut m = Mocks::new();
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router.expect_get_order().returning(|_, _| Ok(None));
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = sent.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(move |req| {
            s.lock()
                .unwrap()
                .push((req.order_link_id.as_str().to_owned(), req.qty));
            Ok(OrderAck {
                order_id: "id".into(),
                order_link_id: req.order_link_id.as_str().into(),
            })
        });
    let gw = m.build(journal.clone(), None);
    gw.setup_tps(&plan("T1"), &long(dec!(0.025), dec!(50000)))
        .await
        .unwrap();
    let tp1: Vec<Decimal> = sent
        .lock()
        .unwrap()
        .iter()
        .filter(|(link, _)| link == TP1)
        .map(|(_, qty)| *qty)
        .collect();
    assert_eq!(
        tp1,
        [dec!(0.01)],
        "TP1 sent again with the journal's values"
    );
}

/// Rule 9's bound holds even when every reload changes the rules again (so every refusal
/// could be "fixed" by one more re-rounding): at most `max_send_attempts` sends, then the
/// refusal is final.
#[tokio::test]
async fn rules_that_change_at_every_reload_still_cost_at_most_max_send_attempts() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    let mut m = Mocks::new();
    m.config.max_send_attempts = 2;
    // Each reload brings another step: 0.001 (the support rules), then 0.01, then 0.004.
    let reloads = Arc::new(AtomicUsize::new(0));
    let mut meta = exec_gateway::MockSymbolMetaService::new();
    let r = reloads.clone();
    meta.expect_refresh_symbol_meta().returning(move || {
        r.fetch_add(1, Ordering::SeqCst);
        Ok(1)
    });
    let r = reloads.clone();
    meta.expect_get_symbol_meta().returning(move |_| {
        Ok(Arc::new(match r.load(Ordering::SeqCst) {
            0 => crate::support::rules(),
            1 => rules_step(dec!(0.01)),
            _ => rules_step(dec!(0.004)),
        }))
    });
    m.meta = meta;
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s = sent.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_tp)
        .returning(move |req| {
            if req.order_link_id.as_str() == TP1 {
                s.lock().unwrap().push(req.qty);
                return Err(PortError::RuleRefused {
                    code: 10001,
                    message: "qty not on the step".into(),
                });
            }
            Ok(OrderAck {
                order_id: "id".into(),
                order_link_id: req.order_link_id.as_str().into(),
            })
        });
    let gw = m.build(Arc::new(MemoryJournal::new()), None);
    let result = gw
        .setup_tps(&plan("T1"), &long(dec!(0.025), dec!(50000)))
        .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(
        *sent.lock().unwrap(),
        [dec!(0.012), dec!(0.01)],
        "two sends, the policy's limit, though a third re-rounding (0.008) was possible"
    );
}
