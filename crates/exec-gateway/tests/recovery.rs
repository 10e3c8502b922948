//! Recovery after a restart (R-GW-6, R-SAFE-2, R-SAFE-3, R-SAFE-4): a trade is written to the
//! journal as the process left it, the exchange is one book of orders and one position that
//! the mocked ports answer from, and what `recover()` and `reconcile()` make of them is
//! checked: the phase, what the trade owns, whether it is protected, what is journaled and
//! what is sent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use exec_gateway::{
    Gateway, GatewayError, Intent, Journal, MemoryJournal, MockSymbolMetaService, OrderAck,
    OrderRequest, OrderSnapshot, OrderStatus, Outcome, Phase, PortError, PositionState, Recovered,
    Side,
};
use rust_decimal_macros::dec;

use crate::support::{long, plan, rules, snapshot, symbol, Mocks};

/// When the restarted process runs (the clock `Mocks::build` starts at).
const NOW: i64 = 1_700_000_000_000;
/// So long ago that no send of it can still land (the landing window is 30 s).
const LONG_AGO: i64 = NOW - 3_600_000;

fn link(tag: &str, leg: &str) -> String {
    format!("andre_{leg}_{tag}")
}

fn acked(tag: &str, leg: &str) -> Outcome {
    Outcome::Acked {
        order_id: format!("id-{}", link(tag, leg)),
    }
}

fn unknown() -> Outcome {
    Outcome::Unknown {
        reason: "timeout".into(),
    }
}

/// A leg of the test plan (`support::plan`) as its operation journals it before sending.
fn intent(tag: &str, leg: &str, at_ms: i64) -> Intent {
    let (side, qty, price, kind) = match leg {
        "ENTRY" => ("Buy", dec!(0.020), None, "market"),
        "TP1" => ("Sell", dec!(0.010), Some(dec!(51000)), "limit"),
        "TP2" => ("Sell", dec!(0.006), Some(dec!(52000)), "limit"),
        "TP3" => ("Sell", dec!(0.004), Some(dec!(53000)), "limit"),
        "DCA1" => ("Buy", dec!(0.020), Some(dec!(49000)), "limit"),
        "DCA2" => ("Buy", dec!(0.020), Some(dec!(48000)), "limit"),
        other => panic!("the test plan has no leg {other}"),
    };
    Intent {
        trade_tag: tag.into(),
        leg: leg.into(),
        order_link_id: link(tag, leg),
        symbol: "BTCUSDT".into(),
        side: side.into(),
        qty,
        price,
        trigger_price: None,
        kind: kind.into(),
        reason: "before the restart".into(),
        at_ms,
    }
}

/// The journal as the process left it: the plan of `tag`, its last phase (none: the plan
/// was all it wrote), and each leg's intent with its outcomes.
async fn journaled(
    journal: &MemoryJournal,
    tag: &str,
    phase: Option<Phase>,
    legs: &[(&str, i64, Vec<Outcome>)],
) {
    journal.record_plan(&plan(tag), LONG_AGO).await.unwrap();
    if let Some(phase) = phase {
        journal
            .record_state(tag, phase, "before the restart", LONG_AGO)
            .await
            .unwrap();
    }
    for (leg, at_ms, outcomes) in legs {
        journal
            .record_intent(&intent(tag, leg, *at_ms))
            .await
            .unwrap();
        for outcome in outcomes {
            journal
                .record_outcome(&link(tag, leg), outcome, *at_ms)
                .await
                .unwrap();
        }
    }
}

/// The fill of `link` (all of `qty`), as the tracker journals it.
fn fill(link: &str, qty: rust_decimal::Decimal) -> exec_events::Fill {
    exec_events::Fill {
        exec_id: format!("e-{link}"),
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        order_id: format!("id-{link}"),
        order_link_id: link.into(),
        price: dec!(49000),
        qty,
        fee: dec!(0.01),
        fee_currency: "USDT".into(),
        is_maker: true,
        pnl: None,
        exec_kind: exec_events::ExecKind::Trade,
        time_ms: LONG_AGO,
        simulated: false,
    }
}

/// The exchange the restarted process finds.
struct Exchange {
    /// What a lookup by orderLinkId finds (the open ones are the open orders, all of them
    /// the recent order history).
    orders: Mutex<BTreeMap<String, OrderSnapshot>>,
    /// The symbol's position.
    position: Mutex<PositionState>,
    /// The orders sent after the restart.
    sent: Mutex<Vec<OrderRequest>>,
    /// Orders whose orderLinkId starts with this are refused with this error.
    refuse: Mutex<Option<(String, PortError)>>,
    /// The instrument's rules cannot be read: setup_tps and setup_dcas stop before looking at
    /// any leg, so what a pass shows is what recovery itself decided.
    meta_down: AtomicBool,
}

impl Exchange {
    fn new() -> Arc<Self> {
        Arc::new(Exchange {
            orders: Mutex::new(BTreeMap::new()),
            position: Mutex::new(PositionState::flat(symbol())),
            sent: Mutex::new(Vec::new()),
            refuse: Mutex::new(None),
            meta_down: AtomicBool::new(false),
        })
    }

    /// The exchange holds `tag`'s `leg` as journaled, with `status` (filled: all of it at
    /// 50 000).
    fn holds(&self, tag: &str, leg: &str, status: OrderStatus) {
        let i = intent(tag, leg, LONG_AGO);
        let side = if i.side == "Buy" {
            Side::Buy
        } else {
            Side::Sell
        };
        self.put(OrderSnapshot {
            price: i.price,
            reduce_only: side == Side::Sell,
            ..snapshot(&i.order_link_id, side, i.qty, status)
        });
    }

    fn put(&self, order: OrderSnapshot) {
        self.orders
            .lock()
            .unwrap()
            .insert(order.order_link_id.clone(), order);
    }

    /// No lookup finds `link` any more (closed orders age out of them).
    fn forget(&self, link: &str) {
        self.orders.lock().unwrap().remove(link);
    }

    fn set_position(&self, position: PositionState) {
        *self.position.lock().unwrap() = position;
    }

    fn refuse(&self, link_prefix: &str, error: PortError) {
        *self.refuse.lock().unwrap() = Some((link_prefix.to_owned(), error));
    }

    fn open(&self) -> Vec<OrderSnapshot> {
        self.orders
            .lock()
            .unwrap()
            .values()
            .filter(|o| o.status.is_open())
            .cloned()
            .collect()
    }

    fn place(&self, r: &OrderRequest) -> Result<OrderAck, PortError> {
        let link = r.order_link_id.as_str();
        self.sent.lock().unwrap().push(r.clone());
        if let Some((prefix, error)) = &*self.refuse.lock().unwrap() {
            if link.starts_with(prefix.as_str()) {
                return Err(error.clone());
            }
        }
        self.put(OrderSnapshot {
            price: r.price,
            trigger_price: r.trigger_price,
            reduce_only: r.reduce_only,
            ..snapshot(link, r.side, r.qty, OrderStatus::Open)
        });
        Ok(OrderAck {
            order_id: format!("id-{link}"),
            order_link_id: link.to_owned(),
        })
    }

    fn set_order(&self, link: &str, change: impl FnOnce(&mut OrderSnapshot)) {
        if let Some(o) = self.orders.lock().unwrap().get_mut(link) {
            change(o);
        }
    }

    /// The orderLinkIds sent after the restart.
    fn sent(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.order_link_id.as_str().to_owned())
            .collect()
    }
}

/// A gateway started on `journal` (a restart) whose ports answer from `exchange`.
fn restarted(exchange: &Arc<Exchange>, journal: Arc<MemoryJournal>) -> Gateway {
    let mut m = Mocks::new();
    m.config.retry_backoff = vec![];
    let ex = exchange.clone();
    m.router
        .expect_get_order()
        .returning(move |_, l| Ok(ex.orders.lock().unwrap().get(l.as_str()).cloned()));
    let ex = exchange.clone();
    m.router
        .expect_sync_open_orders()
        .returning(move |_| Ok(ex.open()));
    let ex = exchange.clone();
    m.router
        .expect_recent_orders()
        .returning(move || Ok(ex.orders.lock().unwrap().values().cloned().collect()));
    let ex = exchange.clone();
    m.router.expect_place().returning(move |r| ex.place(r));
    let ex = exchange.clone();
    m.router.expect_cancel_order().returning(move |_, l| {
        ex.set_order(l.as_str(), |o| o.status = OrderStatus::Cancelled);
        Ok(())
    });
    let ex = exchange.clone();
    m.router
        .expect_amend_order_qty()
        .returning(move |_, l, qty| {
            ex.set_order(l.as_str(), |o| o.qty = qty);
            Ok(())
        });
    let ex = exchange.clone();
    m.positions
        .expect_get_position()
        .returning(move |_| Ok(ex.position.lock().unwrap().clone()));
    let ex = exchange.clone();
    m.positions.expect_get_all_positions().returning(move || {
        let position = ex.position.lock().unwrap().clone();
        Ok(if position.is_flat() {
            vec![]
        } else {
            vec![position]
        })
    });
    let mut meta = MockSymbolMetaService::new();
    let ex = exchange.clone();
    meta.expect_get_symbol_meta().returning(move |_| {
        if ex.meta_down.load(Ordering::SeqCst) {
            Err(PortError::UnknownOutcome {
                reason: "instruments-info timed out".into(),
            })
        } else {
            Ok(Arc::new(rules()))
        }
    });
    m.meta = meta;
    m.build(journal, None)
}

async fn phases(journal: &MemoryJournal, tag: &str) -> Vec<Phase> {
    journal
        .states(tag)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.phase)
        .collect()
}

async fn outcomes(journal: &MemoryJournal, link: &str) -> Vec<Outcome> {
    journal.intent(link).await.unwrap().unwrap().outcomes
}

fn only(found: &[Recovered]) -> &Recovered {
    assert_eq!(found.len(), 1, "{found:?}");
    &found[0]
}

/// A trade whose entry filled 0.020 and whose TPs all rest on the exchange (the TP intents
/// acked), the position open: a trade protected as planned.
async fn protected_trade(exchange: &Exchange, journal: &MemoryJournal, tag: &str, phase: Phase) {
    let mut legs = vec![("ENTRY", LONG_AGO, vec![acked(tag, "ENTRY")])];
    for tp in ["TP1", "TP2", "TP3"] {
        legs.push((tp, LONG_AGO, vec![acked(tag, tp)]));
        exchange.holds(tag, tp, OrderStatus::Open);
    }
    journaled(journal, tag, Some(phase), &legs).await;
    exchange.holds(tag, "ENTRY", OrderStatus::Filled);
    exchange.set_position(long(dec!(0.02), dec!(50000)));
}

/// R-SAFE-4: an intent younger than the landing window may still land and stays unresolved;
/// from the moment the window has passed (not a millisecond later) a lookup that finds
/// nothing settles it as not placed, journaled, and the trade it left ENTERING is closed.
#[tokio::test]
async fn an_unknown_entry_is_settled_as_not_placed_once_the_landing_window_has_passed() {
    for (age, settled) in [(29_999, false), (30_000, true)] {
        let journal = Arc::new(MemoryJournal::new());
        let tag = "LW1";
        journaled(
            &journal,
            tag,
            Some(Phase::Entering),
            &[("ENTRY", NOW - age, vec![unknown()])],
        )
        .await;
        let exchange = Exchange::new();
        let gw = restarted(&exchange, journal.clone());
        let found = gw.recover().await.unwrap();
        let trade = only(&found);
        let entry = link(tag, "ENTRY");
        if settled {
            assert_eq!(
                trade.resolved,
                [format!("{entry}: not placed")],
                "{trade:?}"
            );
            assert!(trade.unresolved.is_empty(), "{trade:?}");
            assert_eq!(
                outcomes(&journal, &entry).await.last(),
                Some(&Outcome::Resolved {
                    found: false,
                    order_id: None
                })
            );
            assert_eq!(trade.state.phase, Phase::Closed, "{trade:?}");
        } else {
            assert_eq!(outcomes(&journal, &entry).await, [unknown()]);
            assert_eq!(trade.unresolved, [entry], "{trade:?}");
            assert_eq!(trade.state.phase, Phase::Entering, "{trade:?}");
        }
        assert!(exchange.sent().is_empty());
    }
}

/// A plan the process journaled and then died before sending anything: nothing of it is on
/// the exchange, so there is nothing to recover and nothing to journal.
#[tokio::test]
async fn recovery_skips_a_plan_that_never_sent_anything() {
    let journal = Arc::new(MemoryJournal::new());
    journaled(&journal, "IDLE1", None, &[]).await;
    let gw = restarted(&Exchange::new(), journal.clone());
    assert!(gw.recover().await.unwrap().is_empty());
    assert!(phases(&journal, "IDLE1").await.is_empty());
}

/// A trade in ERROR stays in ERROR: recovery settles its last unresolved intent (the entry,
/// found cancelled with nothing filled) and reports nothing new of the trade itself; it
/// does not rewrite the ERROR as CLOSED.
#[tokio::test]
async fn recovery_leaves_a_trade_in_error_as_it_is_while_settling_its_last_intent() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "ERR1";
    journaled(
        &journal,
        tag,
        Some(Phase::Error),
        &[("ENTRY", LONG_AGO, vec![unknown()])],
    )
    .await;
    let exchange = Exchange::new();
    exchange.holds(tag, "ENTRY", OrderStatus::Cancelled);
    let gw = restarted(&exchange, journal.clone());
    let found = gw.recover().await.unwrap();
    let trade = only(&found);
    assert_eq!(trade.state.phase, Phase::Error, "{trade:?}");
    assert_eq!(phases(&journal, tag).await, [Phase::Error]);
    assert_eq!(
        trade.resolved,
        [format!("{}: found", link(tag, "ENTRY"))],
        "{trade:?}"
    );
    assert!(
        trade.disagreements.iter().all(|d| !d.contains("ERROR")),
        "{trade:?}"
    );
}

/// An entry that was cancelled with nothing filled gives the trade no entry price, even
/// when the exchange shows an average price for it (Bybit's avgPrice is "0" on an order
/// that filled nothing): the trade's entry price is the price of a fill.
#[tokio::test]
async fn a_recovered_entry_that_filled_nothing_gives_the_trade_no_entry_price() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "NP1";
    journaled(
        &journal,
        tag,
        Some(Phase::Entering),
        &[("ENTRY", LONG_AGO, vec![acked(tag, "ENTRY")])],
    )
    .await;
    let exchange = Exchange::new();
    exchange.put(OrderSnapshot {
        avg_price: Some(dec!(0)),
        ..snapshot(
            &link(tag, "ENTRY"),
            Side::Buy,
            dec!(0.02),
            OrderStatus::Cancelled,
        )
    });
    let gw = restarted(&exchange, journal);
    let found = gw.recover().await.unwrap();
    let trade = only(&found);
    assert_eq!(trade.state.entry_price, None, "{trade:?}");
    assert!(trade.state.filled_qty.is_zero(), "{trade:?}");
    assert_eq!(trade.state.phase, Phase::Closed, "{trade:?}");
}

/// R-SAFE-4, R-SAFE-2: an ENTERING trade whose entry is not found yet but may still land
/// (its outcome unknown, inside the landing window), on a symbol with a position open, waits
/// for the entry: the position may be its fill arriving. It is neither closed as "the
/// position is not this trade's" (its entry would then land on a closed trade, unprotected)
/// nor adopted.
#[tokio::test]
async fn recovery_waits_for_an_entry_that_may_still_land_beside_an_open_position() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "WAIT1";
    journaled(
        &journal,
        tag,
        Some(Phase::Entering),
        &[("ENTRY", NOW - 1_000, vec![unknown()])],
    )
    .await;
    let exchange = Exchange::new();
    exchange.set_position(long(dec!(0.05), dec!(50000)));
    let gw = restarted(&exchange, journal.clone());
    let found = gw.recover().await.unwrap();
    let trade = only(&found);
    assert_eq!(trade.unresolved, [link(tag, "ENTRY")], "{trade:?}");
    assert_eq!(trade.state.phase, Phase::Entering, "{trade:?}");
    assert_eq!(phases(&journal, tag).await, [Phase::Entering]);
    assert!(trade.state.filled_qty.is_zero(), "{trade:?}");
    assert!(
        trade
            .disagreements
            .iter()
            .any(|d| d.contains("its entry is not found yet")),
        "{trade:?}"
    );
    assert!(exchange.sent().is_empty());
}

/// R-SAFE-3: an entry still filling (partly filled, the rest working) is not yet an entry
/// that filled: recovery takes nothing of it as the trade's and sizes no take-profit on a
/// part of it (the pass after the entry finishes does).
#[tokio::test]
async fn recovery_sizes_nothing_on_an_entry_still_filling() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "PF1";
    journaled(
        &journal,
        tag,
        Some(Phase::Entering),
        &[("ENTRY", LONG_AGO, vec![acked(tag, "ENTRY")])],
    )
    .await;
    let exchange = Exchange::new();
    exchange.put(OrderSnapshot {
        filled_qty: dec!(0.01),
        avg_price: Some(dec!(50000)),
        ..snapshot(
            &link(tag, "ENTRY"),
            Side::Buy,
            dec!(0.02),
            OrderStatus::PartiallyFilled,
        )
    });
    exchange.set_position(long(dec!(0.01), dec!(50000)));
    let gw = restarted(&exchange, journal);
    let found = gw.recover().await.unwrap();
    let trade = only(&found);
    assert!(trade.state.filled_qty.is_zero(), "{trade:?}");
    assert!(exchange.sent().is_empty(), "{:?}", exchange.sent());
}

/// R-SAFE-2: the journal says IN_POSITION but the exchange shows the entry cancelled with
/// nothing filled: the position on the symbol is not this trade's, and recovery sends
/// nothing for it (no take-profit over someone else's position, no DCA growing it).
#[tokio::test]
async fn recovery_sends_nothing_for_a_position_the_trade_does_not_own() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "NO1";
    journaled(
        &journal,
        tag,
        Some(Phase::InPosition),
        &[("ENTRY", LONG_AGO, vec![acked(tag, "ENTRY")])],
    )
    .await;
    let exchange = Exchange::new();
    exchange.holds(tag, "ENTRY", OrderStatus::Cancelled);
    exchange.set_position(long(dec!(0.05), dec!(50000)));
    let gw = restarted(&exchange, journal);
    let found = gw.recover().await.unwrap();
    let trade = only(&found);
    assert!(trade.state.filled_qty.is_zero(), "{trade:?}");
    assert!(trade.resumed.is_empty(), "{trade:?}");
    assert!(exchange.sent().is_empty(), "{:?}", exchange.sent());
}

/// R-GW-4: a trade at breakeven has had its DCAs cancelled for good. Recovery finishes its
/// take-profits but never places a DCA for it, even one it never placed.
#[tokio::test]
async fn recovering_a_breakeven_trade_places_no_dca() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "BE1";
    let exchange = Exchange::new();
    protected_trade(&exchange, &journal, tag, Phase::Breakeven).await;
    let gw = restarted(&exchange, journal);
    let found = gw.recover().await.unwrap();
    let trade = only(&found);
    assert_eq!(trade.resumed, ["take-profits complete"], "{trade:?}");
    assert!(
        exchange.sent().iter().all(|l| !l.contains("DCA")),
        "{:?}",
        exchange.sent()
    );
}

/// An IN_POSITION trade with nothing placed after its entry filled: recovery places its
/// take-profits and DCAs, and the pass ends with `refused` answering the first order whose
/// orderLinkId starts with `refused.0`.
async fn recover_legs_refused(
    tag: &str,
    refused: (&str, PortError),
) -> (Result<Vec<Recovered>, GatewayError>, Vec<String>) {
    let journal = Arc::new(MemoryJournal::new());
    journaled(
        &journal,
        tag,
        Some(Phase::InPosition),
        &[("ENTRY", LONG_AGO, vec![acked(tag, "ENTRY")])],
    )
    .await;
    let exchange = Exchange::new();
    exchange.holds(tag, "ENTRY", OrderStatus::Filled);
    exchange.set_position(long(dec!(0.02), dec!(50000)));
    exchange.refuse(&format!("andre_{}", refused.0), refused.1);
    let gw = restarted(&exchange, journal);
    (gw.recover().await, exchange.sent())
}

fn auth() -> PortError {
    PortError::Auth {
        code: 10003,
        message: "API key is invalid.".into(),
    }
}

fn rejected() -> PortError {
    PortError::Rejected {
        code: 110017,
        message: "current position is zero, cannot fix reduce-only order qty".into(),
    }
}

/// R-ERR-2: an API key refused while recovery places take-profits stops the pass with that
/// error, the cause the caller must see; it is not listed as one more failed leg while the
/// pass goes on to the DCAs (which would only meet the halt it caused).
#[tokio::test]
async fn recovery_stops_at_an_auth_failure_while_placing_take_profits() {
    let (result, sent) = recover_legs_refused("AUTH1", ("TP", auth())).await;
    let err = result.unwrap_err();
    assert!(matches!(err, GatewayError::Auth { .. }), "{err}");
    assert!(sent.iter().all(|l| !l.contains("DCA")), "{sent:?}");
}

/// R-ERR-2: the same for the DCAs.
#[tokio::test]
async fn recovery_stops_at_an_auth_failure_while_placing_dcas() {
    let (result, _) = recover_legs_refused("AUTH2", ("DCA", auth())).await;
    let err = result.unwrap_err();
    assert!(matches!(err, GatewayError::Auth { .. }), "{err}");
}

/// R-SAFE-3: a DCA the exchange refuses is listed (and reported by the operation); the
/// recovery pass itself succeeds, with the take-profits placed.
#[tokio::test]
async fn a_dca_refused_during_recovery_is_listed_and_the_pass_goes_on() {
    let (result, sent) = recover_legs_refused("REJ1", ("DCA", rejected())).await;
    let found = result.unwrap();
    let trade = only(&found);
    assert_eq!(trade.resumed.len(), 2, "{trade:?}");
    assert_eq!(trade.resumed[0], "take-profits complete", "{trade:?}");
    assert!(trade.resumed[1].starts_with("DCAs: "), "{trade:?}");
    assert_eq!(
        sent.iter().filter(|l| l.contains("TP")).count(),
        3,
        "{sent:?}"
    );
}

/// A CLOSING trade: its entry filled, the position open, nothing else on the exchange.
async fn recover_closing(
    tag: &str,
    close_refused: PortError,
) -> Result<Vec<Recovered>, GatewayError> {
    let journal = Arc::new(MemoryJournal::new());
    journaled(
        &journal,
        tag,
        Some(Phase::Closing),
        &[("ENTRY", LONG_AGO, vec![acked(tag, "ENTRY")])],
    )
    .await;
    let exchange = Exchange::new();
    exchange.holds(tag, "ENTRY", OrderStatus::Filled);
    exchange.set_position(long(dec!(0.02), dec!(50000)));
    exchange.refuse("andre_CLOSE", close_refused);
    let gw = restarted(&exchange, journal);
    gw.recover().await
}

/// R-ERR-2: an API key refused while recovery finishes a close stops the pass.
#[tokio::test]
async fn recovery_stops_at_an_auth_failure_while_finishing_a_close() {
    let err = recover_closing("CLA1", auth()).await.unwrap_err();
    assert!(matches!(err, GatewayError::Auth { .. }), "{err}");
}

/// A close refused during recovery is listed on the trade and the pass goes on (the
/// operation has reported it; the next pass tries again).
#[tokio::test]
async fn a_close_refused_during_recovery_is_listed_and_the_pass_goes_on() {
    let found = recover_closing("CLR1", rejected()).await.unwrap();
    let trade = only(&found);
    assert_eq!(trade.resumed.len(), 1, "{trade:?}");
    assert!(
        trade.resumed[0].starts_with("CLOSING: close failed: "),
        "{trade:?}"
    );
}

/// R-GW-6: a flat position does not end a trade that still has an order resting on the
/// exchange (a DCA could still fill and open a position nobody tracks): the trade stays
/// open, the flat position reported.
#[tokio::test]
async fn recovery_keeps_a_flat_trade_open_while_one_of_its_orders_rests() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "REST1";
    journaled(
        &journal,
        tag,
        Some(Phase::InPosition),
        &[
            ("ENTRY", LONG_AGO, vec![acked(tag, "ENTRY")]),
            ("DCA1", LONG_AGO, vec![acked(tag, "DCA1")]),
        ],
    )
    .await;
    let exchange = Exchange::new();
    exchange.holds(tag, "ENTRY", OrderStatus::Filled);
    exchange.holds(tag, "DCA1", OrderStatus::Open);
    let gw = restarted(&exchange, journal.clone());
    let found = gw.recover().await.unwrap();
    let trade = only(&found);
    assert_eq!(trade.state.phase, Phase::InPosition, "{trade:?}");
    assert_eq!(phases(&journal, tag).await, [Phase::InPosition]);
    assert!(
        trade
            .disagreements
            .iter()
            .any(|d| d.contains("the position is flat")),
        "{trade:?}"
    );
}

/// R-GW-6: only the trade's own open orders keep it open. Another trade's order resting on
/// the symbol does not: the trade, flat with nothing of its own open, is closed.
#[tokio::test]
async fn another_trades_open_order_does_not_keep_a_flat_trade_open() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "MINE1";
    journaled(
        &journal,
        tag,
        Some(Phase::InPosition),
        &[("ENTRY", LONG_AGO, vec![acked(tag, "ENTRY")])],
    )
    .await;
    let exchange = Exchange::new();
    exchange.holds(tag, "ENTRY", OrderStatus::Filled);
    exchange.put(snapshot(
        &link("THEIRS1", "DCA1"),
        Side::Buy,
        dec!(0.02),
        OrderStatus::Open,
    ));
    let gw = restarted(&exchange, journal.clone());
    let found = gw.recover().await.unwrap();
    let trade = only(&found);
    assert_eq!(trade.state.phase, Phase::Closed, "{trade:?}");
    assert_eq!(
        phases(&journal, tag).await,
        [Phase::InPosition, Phase::Closed]
    );
}

/// The journal and the exchange of a trade whose DCA1 was acked and no lookup finds any
/// more (closed orders age out), with DCA2 still resting and the position flat.
async fn dca1_aged_out(tag: &str, filled: bool) -> (Arc<MemoryJournal>, Arc<Exchange>) {
    let journal = Arc::new(MemoryJournal::new());
    journaled(
        &journal,
        tag,
        Some(Phase::InPosition),
        &[
            ("ENTRY", LONG_AGO, vec![acked(tag, "ENTRY")]),
            ("DCA1", LONG_AGO, vec![acked(tag, "DCA1")]),
            ("DCA2", LONG_AGO, vec![acked(tag, "DCA2")]),
        ],
    )
    .await;
    if filled {
        journal
            .record_fill(&fill(&link(tag, "DCA1"), dec!(0.02)))
            .await
            .unwrap();
    }
    let exchange = Exchange::new();
    exchange.holds(tag, "ENTRY", OrderStatus::Filled);
    exchange.holds(tag, "DCA2", OrderStatus::Open);
    (journal, exchange)
}

/// R-GW-6: an order the exchange had, that no lookup finds any more and of which no fill is
/// journaled, closed with nothing filled: it is journaled as cancelled (once, however many
/// passes meet it) and reported as unknown to the exchange.
#[tokio::test]
async fn an_order_aged_out_unfilled_is_journaled_cancelled_once() {
    let tag = "AGE1";
    let (journal, exchange) = dca1_aged_out(tag, false).await;
    let dca1 = link(tag, "DCA1");
    let gw = restarted(&exchange, journal.clone());
    let report = gw.reconcile().await.unwrap();
    let trade = only(&report.trades);
    assert_eq!(
        outcomes(&journal, &dca1).await.last(),
        Some(&Outcome::Cancelled)
    );
    assert!(
        trade.resolved.iter().any(|r| r.starts_with(&dca1)),
        "{trade:?}"
    );
    assert_eq!(
        trade.state.orders["DCA1"],
        (dca1.clone(), Some(OrderStatus::Cancelled))
    );

    let report = gw.reconcile().await.unwrap();
    let trade = only(&report.trades);
    assert!(trade.resolved.is_empty(), "{trade:?}");
    let cancels = outcomes(&journal, &dca1)
        .await
        .into_iter()
        .filter(|o| *o == Outcome::Cancelled)
        .count();
    assert_eq!(cancels, 1);
}

/// R-SAFE-2: an order that filled (its fill journaled) and then aged out of the exchange's
/// lookups is not journaled as cancelled with nothing filled: that would lose what it
/// filled. It is reported as unknown to the exchange.
#[tokio::test]
async fn an_order_aged_out_after_filling_is_not_journaled_cancelled() {
    let tag = "AGE2";
    let (journal, exchange) = dca1_aged_out(tag, true).await;
    let dca1 = link(tag, "DCA1");
    let gw = restarted(&exchange, journal.clone());
    let found = gw.recover().await.unwrap();
    let trade = only(&found);
    assert_eq!(outcomes(&journal, &dca1).await, [acked(tag, "DCA1")]);
    assert!(trade.resolved.is_empty(), "{trade:?}");
    assert!(
        trade.disagreements.contains(&format!(
            "{dca1}: journaled as placed but unknown to the exchange"
        )),
        "{trade:?}"
    );
}

/// R-SAFE-3: take-profits whose sends were in flight at the crash (outcome unknown, not
/// found yet) leave the trade unprotected; when they land, the trade stays flagged until
/// setup_tps has checked them (here it cannot run until the rules can be read), and only
/// then is the pass settled.
#[tokio::test]
async fn take_profits_in_flight_at_a_crash_leave_the_trade_unprotected_until_checked() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "FLY1";
    let mut legs = vec![("ENTRY", LONG_AGO, vec![acked(tag, "ENTRY")])];
    for tp in ["TP1", "TP2", "TP3"] {
        legs.push((tp, NOW - 1_000, vec![unknown()]));
    }
    journaled(&journal, tag, Some(Phase::InPosition), &legs).await;
    let exchange = Exchange::new();
    exchange.holds(tag, "ENTRY", OrderStatus::Filled);
    exchange.set_position(long(dec!(0.02), dec!(50000)));
    exchange.meta_down.store(true, Ordering::SeqCst);
    let gw = restarted(&exchange, journal);

    let report = gw.reconcile().await.unwrap();
    let trade = only(&report.trades);
    assert_eq!(trade.unresolved.len(), 3, "{trade:?}");
    assert!(trade.state.unprotected, "{trade:?}");

    // The three land.
    for tp in ["TP1", "TP2", "TP3"] {
        exchange.holds(tag, tp, OrderStatus::Open);
    }
    let report = gw.reconcile().await.unwrap();
    let trade = only(&report.trades);
    assert!(trade.unresolved.is_empty(), "{trade:?}");
    assert!(trade.state.problems.is_empty(), "{trade:?}");
    assert!(trade.state.unprotected, "{trade:?}");
    assert!(!report.is_settled(), "{report:?}");

    exchange.meta_down.store(false, Ordering::SeqCst);
    let report = gw.reconcile().await.unwrap();
    let trade = only(&report.trades);
    assert!(!trade.state.unprotected, "{trade:?}");
    assert!(report.is_settled(), "{report:?}");
    assert!(
        exchange.sent().iter().all(|l| !l.contains("TP")),
        "{:?}",
        exchange.sent()
    );
}

/// R-SAFE-3: a trade whose take-profits all rest is protected, pass after pass; once one is
/// cancelled on the exchange (by hand, say) it is unprotected, whatever the other legs.
#[tokio::test]
async fn a_take_profit_cancelled_on_the_exchange_unprotects_a_protected_trade() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "CXL1";
    let exchange = Exchange::new();
    protected_trade(&exchange, &journal, tag, Phase::InPosition).await;
    exchange.meta_down.store(true, Ordering::SeqCst);
    let gw = restarted(&exchange, journal);
    for _ in 0..2 {
        let report = gw.reconcile().await.unwrap();
        assert!(!only(&report.trades).state.unprotected, "{report:?}");
    }
    exchange.set_order(&link(tag, "TP1"), |o| o.status = OrderStatus::Cancelled);
    let report = gw.reconcile().await.unwrap();
    assert!(only(&report.trades).state.unprotected, "{report:?}");
    assert!(!report.is_settled(), "{report:?}");
}

/// A trade whose position was closed while the process was down (its TPs never placed) is
/// closed, and not flagged unprotected: there is no position left to protect.
#[tokio::test]
async fn a_trade_whose_position_closed_while_down_is_not_unprotected() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "GONE1";
    journaled(
        &journal,
        tag,
        Some(Phase::InPosition),
        &[("ENTRY", LONG_AGO, vec![acked(tag, "ENTRY")])],
    )
    .await;
    let exchange = Exchange::new();
    exchange.holds(tag, "ENTRY", OrderStatus::Filled);
    let gw = restarted(&exchange, journal);
    let report = gw.reconcile().await.unwrap();
    let trade = only(&report.trades);
    assert_eq!(trade.state.phase, Phase::Closed, "{trade:?}");
    assert_eq!(trade.state.filled_qty, dec!(0.02), "{trade:?}");
    assert!(!trade.state.unprotected, "{trade:?}");
    assert!(report.is_settled(), "{report:?}");
}

/// R-SAFE-2: what this process saw the entry fill is kept when the entry has aged out of
/// the exchange's lookups since (its fill journaled): a later pass still knows the trade
/// owns 0.020 at 50 000.
#[tokio::test]
async fn a_reconcile_keeps_the_entry_fill_seen_before_the_entry_aged_out() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "KEEP1";
    let exchange = Exchange::new();
    protected_trade(&exchange, &journal, tag, Phase::InPosition).await;
    let gw = restarted(&exchange, journal.clone());
    let report = gw.reconcile().await.unwrap();
    assert_eq!(only(&report.trades).state.filled_qty, dec!(0.02));

    let entry = link(tag, "ENTRY");
    journal
        .record_fill(&fill(&entry, dec!(0.02)))
        .await
        .unwrap();
    exchange.forget(&entry);
    let report = gw.reconcile().await.unwrap();
    let trade = only(&report.trades);
    assert_eq!(trade.state.filled_qty, dec!(0.02), "{trade:?}");
    assert_eq!(trade.state.entry_price, Some(dec!(50000)), "{trade:?}");
}

/// R-SAFE-2: after recovery, repeating the trade's entry (a caller retrying after the
/// restart) answers the fill recovery found, and journals nothing: the trade is not taken
/// back to ENTERING while the repeat looks the entry up again.
#[tokio::test]
async fn after_recovery_a_repeated_entry_answers_the_recovered_fill() {
    let journal = Arc::new(MemoryJournal::new());
    let tag = "REP1";
    let exchange = Exchange::new();
    protected_trade(&exchange, &journal, tag, Phase::InPosition).await;
    let gw = restarted(&exchange, journal.clone());
    gw.recover().await.unwrap();
    let before = phases(&journal, tag).await;

    let done = gw.execute_entry(&plan(tag)).await.unwrap();
    assert_eq!(done.filled_qty, dec!(0.02), "{done:?}");
    assert_eq!(done.entry_price, dec!(50000), "{done:?}");
    assert_eq!(phases(&journal, tag).await, before);
    assert_eq!(gw.trade(tag).unwrap().phase, Phase::InPosition);
}
