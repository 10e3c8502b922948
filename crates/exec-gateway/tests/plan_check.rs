//! R-SAFE-1 and R-SAFE-2 at their edges: each limit of the whole-plan check holds exactly at
//! its boundary and refuses one tick (or one cent) past it, naming the field and the rule;
//! every phase in which a trade owns its symbol keeps a second trade off it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bybit_meta::InstrumentRules;
use bybit_types::rest::market::PriceFilter;
use exec_gateway::{
    Gateway, GatewayError, Journal, JournalError, MemoryJournal, MockSymbolMetaService, OrderAck,
    OrderStatus, PortError, Side, TpLevel, TradePlan,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::{long, lot_size, plan, price_filter, rules_from, snapshot, Mocks};

/// The field and the rule of a refusal; anything else fails the test.
fn refused(err: GatewayError) -> (String, String) {
    match err {
        GatewayError::PlanRefused { field, rule, .. } => (field, rule),
        other => panic!("expected a plan refusal, got {other}"),
    }
}

/// Checks `plan` on a gateway built from `m`.
async fn check(m: Mocks, plan: &TradePlan) -> Result<(), GatewayError> {
    let (gw, _) = m.build_mem();
    gw.check_plan(plan).await
}

/// Asserts `plan` is refused on `field` with a rule containing `words`.
async fn assert_refused(m: Mocks, plan: &TradePlan, field: &str, words: &str) {
    let (got, rule) = refused(check(m, plan).await.unwrap_err());
    assert_eq!(got, field, "{rule}");
    assert!(rule.contains(words), "{field}: {rule}");
}

/// The test instrument with its price filter narrowed to `min..=max` (tick 0.10), so that
/// the filter, not the price band, is the rule a price meets first.
fn rules_with_prices(min: Decimal, max: Decimal) -> InstrumentRules {
    rules_from(
        &PriceFilter {
            min_price: min,
            max_price: max,
            ..price_filter()
        },
        &lot_size(),
    )
}

fn narrow_filter() -> Mocks {
    let mut m = Mocks::new();
    let mut meta = MockSymbolMetaService::new();
    meta.expect_get_symbol_meta()
        .returning(|_| Ok(Arc::new(rules_with_prices(dec!(45000), dec!(55000)))));
    m.meta = meta;
    m
}

/// A price exactly at the instrument's minimum or maximum is one it accepts; a tick beyond
/// is refused by the price filter (the band around 50 000 is ±50 %, wider than the filter).
#[tokio::test]
async fn a_price_at_the_instruments_limits_passes_and_a_tick_beyond_is_refused() {
    let mut at_min = plan("F1");
    at_min.dca_levels[1].price = dec!(45000);
    check(narrow_filter(), &at_min).await.unwrap();
    let mut below = plan("F1");
    below.dca_levels[1].price = dec!(44999.9);
    assert_refused(
        narrow_filter(),
        &below,
        "dca_levels[1].price",
        "price filter",
    )
    .await;

    let mut at_max = plan("F2");
    at_max.tp_levels[2].price = dec!(55000);
    check(narrow_filter(), &at_max).await.unwrap();
    let mut above = plan("F2");
    above.tp_levels[2].price = dec!(55000.1);
    assert_refused(
        narrow_filter(),
        &above,
        "tp_levels[2].price",
        "price filter",
    )
    .await;
}

/// The price band (±50 % of 50 000: 25 000..=75 000) includes its edges; a tick past either
/// is refused by the band, not by the instrument's filter (0.10..=1 999 999.80).
#[tokio::test]
async fn a_price_at_the_band_edges_passes_and_a_tick_past_is_refused() {
    let mut at_low = plan("B1");
    at_low.dca_levels[1].price = dec!(25000);
    check(Mocks::new(), &at_low).await.unwrap();
    let mut below = plan("B1");
    below.dca_levels[1].price = dec!(24999.9);
    assert_refused(
        Mocks::new(),
        &below,
        "dca_levels[1].price",
        "outside the price band 25000.0..=75000.0",
    )
    .await;

    let mut at_high = plan("B2");
    at_high.tp_levels[2].price = dec!(75000);
    check(Mocks::new(), &at_high).await.unwrap();
    let mut above = plan("B2");
    above.tp_levels[2].price = dec!(75000.1);
    assert_refused(
        Mocks::new(),
        &above,
        "tp_levels[2].price",
        "outside the price band 25000.0..=75000.0",
    )
    .await;
}

/// Levels are strictly ordered away from the current price: a first level at the current
/// price is on neither side, a later level equal to the one before is not beyond it; each
/// refusal says which of the two rules it broke.
#[tokio::test]
async fn levels_equal_to_the_price_or_to_the_level_before_are_refused() {
    let mut tp_at_price = plan("O1");
    tp_at_price.tp_levels[0].price = dec!(50000);
    assert_refused(
        Mocks::new(),
        &tp_at_price,
        "tp_levels[0].price",
        "not on the profit side of the current price 50000 for a long (must be above)",
    )
    .await;
    let mut tp_repeated = plan("O1");
    tp_repeated.tp_levels[1].price = dec!(51000);
    assert_refused(
        Mocks::new(),
        &tp_repeated,
        "tp_levels[1].price",
        "is not beyond tp_levels[0].price 51000",
    )
    .await;

    let mut dca_at_price = plan("O2");
    dca_at_price.dca_levels[0].price = dec!(50000);
    assert_refused(
        Mocks::new(),
        &dca_at_price,
        "dca_levels[0].price",
        "not on the loss side of the current price 50000 for a long (must be below)",
    )
    .await;
    let mut dca_repeated = plan("O2");
    dca_repeated.dca_levels[1].price = dec!(49000);
    assert_refused(
        Mocks::new(),
        &dca_repeated,
        "dca_levels[1].price",
        "is not beyond dca_levels[0].price 49000",
    )
    .await;
}

/// A short plan, the mirror of the long one.
fn short(tag: &str) -> TradePlan {
    let mut p = plan(tag);
    p.side = Side::Sell;
    for (level, price) in p.tp_levels.iter_mut().zip([49000, 48000, 47000]) {
        level.price = Decimal::from(price);
    }
    for (level, price) in p.dca_levels.iter_mut().zip([51000, 52000]) {
        level.price = Decimal::from(price);
    }
    p
}

/// The same ordering for a short: take-profits below the price, DCAs above, each strictly
/// beyond the one before.
#[tokio::test]
async fn a_shorts_levels_equal_to_the_price_or_to_the_level_before_are_refused() {
    check(Mocks::new(), &short("O3")).await.unwrap();
    let mut tp_at_price = short("O3");
    tp_at_price.tp_levels[0].price = dec!(50000);
    assert_refused(
        Mocks::new(),
        &tp_at_price,
        "tp_levels[0].price",
        "for a short (must be below)",
    )
    .await;
    let mut tp_repeated = short("O3");
    tp_repeated.tp_levels[2].price = dec!(48000);
    assert_refused(
        Mocks::new(),
        &tp_repeated,
        "tp_levels[2].price",
        "is not beyond tp_levels[1].price 48000",
    )
    .await;
    let mut dca_at_price = short("O3");
    dca_at_price.dca_levels[0].price = dec!(50000);
    assert_refused(
        Mocks::new(),
        &dca_at_price,
        "dca_levels[0].price",
        "for a short (must be above)",
    )
    .await;
}

fn with_max(max: Decimal) -> Mocks {
    let mut m = Mocks::new();
    m.config.max_notional_usdt = max;
    m
}

/// The notional limits include the maximum. The test plan's entry is 0.020 at 50 000
/// (1 000 USDT) and each DCA 0.020, valued at the current 50 000 (1 000 USDT): 0.060 and
/// 3 000 USDT with every DCA filled.
#[tokio::test]
async fn notionals_exactly_at_the_maximum_pass_and_above_it_are_refused() {
    // The entry alone.
    let mut entry_only = plan("N1");
    entry_only.dca_levels.clear();
    check(with_max(dec!(1000)), &entry_only).await.unwrap();
    assert_refused(
        with_max(dec!(999.99)),
        &entry_only,
        "margin_usdt",
        "entry notional 1000.000 USDT above the configured maximum 999.99",
    )
    .await;

    // The whole trade with every DCA filled.
    check(with_max(dec!(3000)), &plan("N2")).await.unwrap();
    assert_refused(
        with_max(dec!(2999.99)),
        &plan("N2"),
        "dca_levels",
        "the whole trade with every DCA filled (0.060) is worth 3000.000 USDT",
    )
    .await;

    // Each DCA is worth exactly the maximum: no single DCA is above it, the whole trade is.
    assert_refused(
        with_max(dec!(1000)),
        &plan("N3"),
        "dca_levels",
        "the whole trade with every DCA filled (0.060)",
    )
    .await;
    // One DCA a step above it is refused on its own.
    let mut bigger = plan("N3");
    bigger.dca_levels[1].margin_usdt = dec!(110);
    assert_refused(
        with_max(dec!(1000)),
        &bigger,
        "dca_levels[1].margin_usdt",
        "above the configured maximum 1000",
    )
    .await;
}

/// At most nine take-profit and nine DCA levels (the ids `TP9` and `DCA9` are the longest a
/// plan may produce): nine pass, ten are refused.
#[tokio::test]
async fn nine_levels_pass_and_ten_are_refused() {
    let mut nine = plan("L1");
    nine.tp_levels = (1..=9)
        .map(|i| TpLevel {
            price: Decimal::from(50000 + 1000 * i),
            share: if i == 9 { dec!(0.12) } else { dec!(0.11) },
        })
        .collect();
    nine.dca_levels = (1..=9)
        .map(|i| exec_gateway::DcaLevel {
            price: Decimal::from(50000 - 1000 * i),
            margin_usdt: dec!(10),
        })
        .collect();
    check(Mocks::new(), &nine).await.unwrap();

    let mut ten_tps = nine.clone();
    ten_tps.tp_levels[8].share = dec!(0.06);
    ten_tps.tp_levels.push(TpLevel {
        price: dec!(60000),
        share: dec!(0.06),
    });
    assert_refused(Mocks::new(), &ten_tps, "tp_levels", "at most 9 levels").await;

    let mut ten_dcas = nine;
    ten_dcas.dca_levels.push(exec_gateway::DcaLevel {
        price: dec!(40000),
        margin_usdt: dec!(10),
    });
    assert_refused(Mocks::new(), &ten_dcas, "dca_levels", "at most 9 levels").await;
}

/// The exchange's price limit includes its bounds: for a long, a DCA (a buy) exactly at
/// `buy_max` and a take-profit (a sell) exactly at `sell_min` pass; a tick beyond is refused,
/// naming the leg and the side.
#[tokio::test]
async fn legs_at_the_exchanges_price_limit_pass_and_a_tick_beyond_is_refused() {
    use exec_gateway::{MockPriceService, PriceLimit};
    let limited = |buy_max: Decimal, sell_min: Decimal| {
        let mut m = Mocks::new();
        let mut prices = MockPriceService::new();
        prices.expect_last_price().returning(|_| Ok(dec!(50000)));
        prices
            .expect_price_limit()
            .returning(move |_| Ok(Some(PriceLimit { buy_max, sell_min })));
        m.prices = prices;
        m
    };
    // Long: TPs sell at 51 000.., DCAs buy at 49 000 and 48 000.
    check(limited(dec!(49000), dec!(51000)), &plan("X1"))
        .await
        .unwrap();
    assert_refused(
        limited(dec!(48999.9), dec!(51000)),
        &plan("X1"),
        "dca_levels[0].price",
        "a buy at 49000 is above the exchange's price limit 48999.9",
    )
    .await;
    assert_refused(
        limited(dec!(49000), dec!(51000.1)),
        &plan("X1"),
        "tp_levels[0].price",
        "a sell at 51000 is below the exchange's price limit 51000.1",
    )
    .await;
    // Short: TPs buy at 49 000.., DCAs sell at 51 000 and 52 000.
    check(limited(dec!(49000), dec!(51000)), &short("X2"))
        .await
        .unwrap();
    assert_refused(
        limited(dec!(48999.9), dec!(51000)),
        &short("X2"),
        "tp_levels[0].price",
        "a buy at 49000 is above",
    )
    .await;
    assert_refused(
        limited(dec!(49000), dec!(51000.1)),
        &short("X2"),
        "dca_levels[0].price",
        "a sell at 51000 is below",
    )
    .await;
}

/// An exchange where an entry fills 0.02 at 50 000 (or, with `lands` false, has no known
/// outcome) and T2's entry must never be sent.
fn exchange(lands: bool) -> Mocks {
    let mut m = Mocks::new();
    m.config.retry_backoff = vec![];
    m.router
        .expect_place()
        .withf(|o| o.order_link_id.as_str() == "andre_ENTRY_T2")
        .never();
    let entered = Arc::new(AtomicBool::new(false));
    let e = entered.clone();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .returning(move |o| {
            if !lands {
                return Err(PortError::UnknownOutcome {
                    reason: "timeout".into(),
                });
            }
            e.store(true, Ordering::SeqCst);
            Ok(OrderAck {
                order_id: "id-entry".into(),
                order_link_id: o.order_link_id.as_str().into(),
            })
        });
    m.router.expect_get_order().returning(move |_, link| {
        Ok((lands && link.as_str().starts_with("andre_ENTRY_"))
            .then(|| snapshot(link.as_str(), Side::Buy, dec!(0.02), OrderStatus::Filled)))
    });
    m.router.expect_sync_open_orders().returning(|_| Ok(vec![]));
    m.router.expect_set_stop_loss().returning(|_, _| Ok(()));
    m.positions.expect_get_position().returning(move |s| {
        Ok(if entered.load(Ordering::SeqCst) {
            long(dec!(0.02), dec!(50000))
        } else {
            exec_gateway::PositionState::flat(s.clone())
        })
    });
    m
}

/// T2's entry on T1's symbol is refused, naming T1 and its phase, and nothing is sent.
async fn second_trade_is_refused(gw: &Gateway, phase: exec_gateway::Phase) {
    assert_eq!(gw.trade("T1").unwrap().phase, phase);
    let err = gw.execute_entry(&plan("T2")).await.unwrap_err();
    match &err {
        GatewayError::Conflict { reason, .. } => assert!(
            reason.contains(&format!("trade T1 is open on it ({})", phase.as_str())),
            "{err}"
        ),
        other => panic!("expected a conflict, got {other}"),
    }
}

/// R-SAFE-2: one open trade per symbol in every phase that owns it — ENTERING (its entry's
/// outcome unknown), IN_POSITION, BREAKEVEN and CLOSING (a close waiting on that outcome).
#[tokio::test]
async fn a_trade_in_every_owning_phase_keeps_a_second_trade_off_its_symbol() {
    use exec_gateway::Phase;
    // ENTERING: the entry's outcome is unknown.
    let (gw, _) = exchange(false).build_mem();
    let err = gw.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    second_trade_is_refused(&gw, Phase::Entering).await;

    // CLOSING: a close waiting on an entry sent just before a crash (journaled, no outcome).
    let journal = Arc::new(MemoryJournal::new());
    let gw = exchange(false).build(journal.clone(), None);
    journal.record_plan(&plan("T1"), 1).await.unwrap();
    journal
        .record_intent(&crate::support::entry_intent("andre_ENTRY_T1"))
        .await
        .unwrap();
    let state = exec_gateway::TradeState::new(&plan("T1"));
    let err = gw.close_all(&state, "exit").await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    second_trade_is_refused(&gw, Phase::Closing).await;

    // IN_POSITION, then BREAKEVEN.
    let (gw, _) = exchange(true).build_mem();
    gw.execute_entry(&plan("T1")).await.unwrap();
    second_trade_is_refused(&gw, Phase::InPosition).await;
    let state = gw.trade("T1").unwrap();
    gw.move_to_breakeven(&state).await.unwrap();
    second_trade_is_refused(&gw, Phase::Breakeven).await;
}

/// With a list of symbols configured, a plan on one of them passes and a plan on any other
/// is refused, naming the list.
#[tokio::test]
async fn only_a_configured_symbol_is_traded() {
    let configured = |name: &str| {
        let mut m = Mocks::new();
        m.config.symbols = Some([bybit_types::Symbol::new(name).unwrap()].into());
        m
    };
    check(configured("BTCUSDT"), &plan("C1")).await.unwrap();
    assert_refused(
        configured("ETHUSDT"),
        &plan("C1"),
        "symbol",
        "BTCUSDT is not one of the configured symbols [ETHUSDT]",
    )
    .await;
}

/// Take-profit shares add up to exactly 1 when there are take-profits; a plan without any
/// has nothing to add up.
#[tokio::test]
async fn tp_shares_add_up_to_one_unless_there_are_none() {
    let mut short_of_one = plan("S1");
    short_of_one.tp_levels[2].share = dec!(0.1);
    assert_refused(
        Mocks::new(),
        &short_of_one,
        "tp_levels",
        "shares add up to 0.9, not 1",
    )
    .await;
    let mut none = plan("S2");
    none.tp_levels.clear();
    check(Mocks::new(), &none).await.unwrap();
}

/// A process that has not run `recover()` yet knows the journal's open trades only there: a
/// trade the journal holds as open on the symbol keeps a second trade off it; one on another
/// symbol does not.
#[tokio::test]
async fn a_trade_open_only_in_the_journal_keeps_a_second_trade_off_its_symbol() {
    let journal = Arc::new(MemoryJournal::new());
    journal.record_plan(&plan("T1"), 1).await.unwrap();
    journal
        .record_state("T1", exec_gateway::Phase::InPosition, "entry filled", 2)
        .await
        .unwrap();
    let gw = exchange(true).build(journal, None);
    let err = gw.execute_entry(&plan("T2")).await.unwrap_err();
    match &err {
        GatewayError::Conflict { reason, .. } => {
            assert!(reason.contains("trade T1 is open on it"), "{err}")
        }
        other => panic!("expected a conflict, got {other}"),
    }

    let journal = Arc::new(MemoryJournal::new());
    let mut elsewhere = plan("E1");
    elsewhere.symbol = bybit_types::Symbol::new("ETHUSDT").unwrap();
    journal.record_plan(&elsewhere, 1).await.unwrap();
    let gw = exchange(true).build(journal, None);
    let done = gw.execute_entry(&plan("T3")).await.unwrap();
    assert_eq!(done.filled_qty, dec!(0.02));
}

/// A memory journal that cannot write one phase: a trade's move to it fails (its state in
/// memory is what the gateway does then), and the journal still holds it as open.
struct StateNotJournaled(MemoryJournal, exec_gateway::Phase);

#[async_trait::async_trait]
impl Journal for StateNotJournaled {
    async fn record_plan(&self, plan: &TradePlan, at_ms: i64) -> Result<(), JournalError> {
        self.0.record_plan(plan, at_ms).await
    }
    async fn record_intent(&self, intent: &exec_gateway::Intent) -> Result<(), JournalError> {
        self.0.record_intent(intent).await
    }
    async fn record_outcome(
        &self,
        order_link_id: &str,
        outcome: &exec_gateway::Outcome,
        at_ms: i64,
    ) -> Result<(), JournalError> {
        self.0.record_outcome(order_link_id, outcome, at_ms).await
    }
    async fn record_write(&self, write: &exec_gateway::WriteRecord) -> Result<(), JournalError> {
        self.0.record_write(write).await
    }
    async fn record_fill(&self, fill: &exec_events::Fill) -> Result<bool, JournalError> {
        self.0.record_fill(fill).await
    }
    async fn record_state(
        &self,
        trade_tag: &str,
        phase: exec_gateway::Phase,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), JournalError> {
        if phase == self.1 {
            return Err(JournalError::Io("disk I/O error".into()));
        }
        self.0.record_state(trade_tag, phase, detail, at_ms).await
    }
    async fn plan(&self, trade_tag: &str) -> Result<Option<TradePlan>, JournalError> {
        self.0.plan(trade_tag).await
    }
    async fn plans(&self) -> Result<Vec<exec_gateway::PlanRow>, JournalError> {
        self.0.plans().await
    }
    async fn intent(
        &self,
        order_link_id: &str,
    ) -> Result<Option<exec_gateway::IntentRow>, JournalError> {
        self.0.intent(order_link_id).await
    }
    async fn intents(&self, trade_tag: &str) -> Result<Vec<exec_gateway::IntentRow>, JournalError> {
        self.0.intents(trade_tag).await
    }
    async fn fills(&self, link_prefix: &str) -> Result<Vec<exec_events::Fill>, JournalError> {
        self.0.fills(link_prefix).await
    }
    async fn writes(
        &self,
        trade_tag: &str,
    ) -> Result<Vec<exec_gateway::WriteRecord>, JournalError> {
        self.0.writes(trade_tag).await
    }
    async fn states(&self, trade_tag: &str) -> Result<Vec<exec_gateway::StateRow>, JournalError> {
        self.0.states(trade_tag).await
    }
    async fn open_trades(&self) -> Result<Vec<String>, JournalError> {
        self.0.open_trades().await
    }
    async fn save_paper_account(
        &self,
        account: &str,
        fills: &[exec_events::Fill],
        at_ms: i64,
    ) -> Result<(), JournalError> {
        self.0.save_paper_account(account, fills, at_ms).await
    }
    async fn paper_account(&self) -> Result<Option<String>, JournalError> {
        self.0.paper_account().await
    }
}

/// A trade this process aborted (ERROR in memory: `abort_trade` is best effort) owns
/// nothing, even while the journal, which could not record the abort, still holds it as open: a second trade on the symbol goes
/// ahead.
#[tokio::test]
async fn a_trade_aborted_in_memory_but_open_in_the_journal_does_not_hold_the_symbol() {
    let mut m = Mocks::new();
    m.config.retry_backoff = vec![];
    m.router
        .expect_place()
        .withf(|o| o.order_link_id.as_str() == "andre_ENTRY_T1")
        .returning(|_| {
            Err(PortError::Rejected {
                code: 110007,
                message: "insufficient balance".into(),
            })
        });
    m.router
        .expect_place()
        .withf(|o| o.order_link_id.as_str() == "andre_ENTRY_T2")
        .times(1)
        .returning(|o| {
            Ok(OrderAck {
                order_id: "id-entry".into(),
                order_link_id: o.order_link_id.as_str().into(),
            })
        });
    m.router.expect_get_order().returning(|_, link| {
        Ok((link.as_str() == "andre_ENTRY_T2")
            .then(|| snapshot(link.as_str(), Side::Buy, dec!(0.02), OrderStatus::Filled)))
    });
    let journal = Arc::new(StateNotJournaled(
        MemoryJournal::new(),
        exec_gateway::Phase::Error,
    ));
    let gw = m.build(journal.clone(), None);
    let err = gw.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(!err.is_plan_refused() && !err.is_conflict(), "{err}");
    assert_eq!(gw.trade("T1").unwrap().phase, exec_gateway::Phase::Error);
    assert_eq!(journal.open_trades().await.unwrap(), ["T1"]);

    let done = gw.execute_entry(&plan("T2")).await.unwrap();
    assert_eq!(done.filled_qty, dec!(0.02));
}

/// A trade whose entry stopped before anything was sent because its ENTERING state could
/// not be journaled is back to IDLE in memory, but the journal holds its plan as open: it
/// keeps the symbol until it is finished or retried, and a second trade is refused.
#[tokio::test]
async fn a_trade_idle_in_memory_but_open_in_the_journal_keeps_a_second_trade_off_its_symbol() {
    let mut m = Mocks::new();
    m.router.expect_place().never();
    let journal = Arc::new(StateNotJournaled(
        MemoryJournal::new(),
        exec_gateway::Phase::Entering,
    ));
    let gw = m.build(journal.clone(), None);
    let err = gw.execute_entry(&plan("T1")).await.unwrap_err();
    assert!(matches!(err, GatewayError::Journal(_)), "{err}");
    assert_eq!(gw.trade("T1").unwrap().phase, exec_gateway::Phase::Idle);
    assert_eq!(journal.open_trades().await.unwrap(), ["T1"]);

    let err = gw.execute_entry(&plan("T2")).await.unwrap_err();
    match &err {
        GatewayError::Conflict { reason, .. } => {
            assert!(reason.contains("trade T1 is open on it"), "{err}")
        }
        other => panic!("expected a conflict, got {other}"),
    }
}

/// The reason of a conflict; anything else fails the test.
fn conflict(err: GatewayError) -> String {
    match err {
        GatewayError::Conflict { reason, .. } => reason,
        other => panic!("expected a conflict, got {other}"),
    }
}

/// A long position no trade owns is taken over only by a long plan that adopts it. A plan
/// refused for it gives the symbol back (IDLE), so the next plan is judged on the position
/// again, not refused because of the first.
#[tokio::test]
async fn a_foreign_position_is_adopted_only_on_request_and_on_its_side() {
    let mut m = Mocks::new();
    m.router.expect_place().never();
    m.positions
        .expect_get_position()
        .returning(|_| Ok(long(dec!(0.5), dec!(48000))));
    let (gw, _) = m.build_mem();
    for tag in ["T1", "T2"] {
        let reason = conflict(gw.execute_entry(&plan(tag)).await.unwrap_err());
        assert!(
            reason.contains("a Buy position of 0.5 (entry 48000) is open that no open trade owns"),
            "{tag}: {reason}"
        );
        assert_eq!(gw.trade(tag).unwrap().phase, exec_gateway::Phase::Idle);
    }
    let mut other_side = short("T3");
    other_side.adopt_position = true;
    let reason = conflict(gw.execute_entry(&other_side).await.unwrap_err());
    assert!(
        reason.contains("on the other side of this Sell plan: it cannot be adopted"),
        "{reason}"
    );
}

/// Prices whose price-limit read waits until the test lets it go: the first entry stops
/// there, after it claimed the symbol and before it journaled anything.
struct HeldPriceLimit {
    reached: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl exec_gateway::PriceService for HeldPriceLimit {
    async fn last_price(&self, _: &bybit_types::Symbol) -> exec_gateway::PortResult<Decimal> {
        Ok(dec!(50000))
    }

    async fn price_limit(
        &self,
        _: &bybit_types::Symbol,
    ) -> exec_gateway::PortResult<Option<exec_gateway::PriceLimit>> {
        self.reached.notify_one();
        self.release.notified().await;
        Ok(None)
    }
}

/// The claim is atomic: a trade that claimed the symbol is ENTERING in memory from that
/// moment, so a second trade arriving while the first still waits on the exchange (nothing
/// journaled yet) is refused at once.
#[tokio::test]
async fn a_claimed_symbol_is_held_before_anything_is_journaled() {
    let reached = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let mut m = Mocks::new();
    m.router.expect_place().never();
    m.positions
        .expect_get_position()
        .returning(|s| Ok(exec_gateway::PositionState::flat(s.clone())));
    let ports = exec_gateway::Ports {
        router: Arc::new(m.router),
        positions: Arc::new(m.positions),
        account: Arc::new(m.account),
        meta: Arc::new(m.meta),
        prices: Arc::new(HeldPriceLimit {
            reached: reached.clone(),
            release,
        }),
        journal: Arc::new(MemoryJournal::new()),
        clock: Arc::new(exec_gateway::ManualClock::new(1_700_000_000_000)),
    };
    let gw =
        Arc::new(Gateway::new(ports, m.config, exec_events::EventBus::new(1024), None).unwrap());
    let first = tokio::spawn({
        let gw = gw.clone();
        async move { gw.execute_entry(&plan("T1")).await }
    });
    let wait = std::time::Duration::from_secs(5);
    tokio::time::timeout(wait, reached.notified())
        .await
        .expect("T1 reached the price limit");
    let second = tokio::time::timeout(wait, gw.execute_entry(&plan("T2")))
        .await
        .expect("T2 answered without waiting on the exchange");
    let reason = conflict(second.unwrap_err());
    assert!(
        reason.contains("trade T1 is open on it (ENTERING)"),
        "{reason}"
    );
    first.abort();
}
