//! Mocks of every port, a BTCUSDT-like instrument and a plan.

use std::sync::Arc;

use bybit_meta::InstrumentRules;
use bybit_types::rest::market::{LeverageFilter, LotSizeFilter, PriceFilter};
use bybit_types::{InstrumentStatus, Symbol};
use exec_events::{ErrorLog, Event, EventBus, Received, Subscription};
use exec_gateway::{
    Gateway, GatewayConfig, Journal, ManualClock, MemoryJournal, MockAccountService,
    MockOrderRouter, MockPositionService, MockPriceService, MockSymbolMetaService, OrderSnapshot,
    OrderStatus, Ports, PositionState, Side, TradePlan,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

pub(crate) fn symbol() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

/// BTCUSDT's price filter (docs v5/market/instrument): tick 0.10.
pub(crate) fn price_filter() -> PriceFilter {
    PriceFilter {
        min_price: dec!(0.10),
        max_price: dec!(1999999.80),
        tick_size: dec!(0.10),
    }
}

/// BTCUSDT's lot size filter: step 0.001, market max 150.
pub(crate) fn lot_size() -> LotSizeFilter {
    LotSizeFilter {
        max_order_qty: dec!(1500.000),
        min_order_qty: dec!(0.001),
        qty_step: dec!(0.001),
        post_only_max_order_qty: None,
        max_mkt_order_qty: Some(dec!(150.000)),
        min_notional_value: Some(dec!(5)),
    }
}

/// The test instrument with these filters (leverage 1..=100), so a test changes one value
/// with struct update syntax: `rules_from(&PriceFilter { min_price, ..price_filter() }, &lot_size())`.
pub(crate) fn rules_from(price: &PriceFilter, lot: &LotSizeFilter) -> InstrumentRules {
    InstrumentRules::from_parts(
        symbol(),
        InstrumentStatus::Trading,
        price,
        lot,
        &LeverageFilter {
            min_leverage: dec!(1),
            max_leverage: dec!(100),
            leverage_step: dec!(0.01),
        },
        Some(2),
    )
    .unwrap()
}

/// BTCUSDT's filters (docs v5/market/instrument): tick 0.10, step 0.001, market max 150.
pub(crate) fn rules() -> InstrumentRules {
    rules_from(&price_filter(), &lot_size())
}

/// Buy 100 USDT margin × 10 at 50 000: 0.02 BTC.
pub(crate) fn plan(tag: &str) -> TradePlan {
    // The same plan the shared lifecycle driver runs on both routers.
    exec_gateway::testing::lifecycle_plan(tag)
}

/// T1's entry intent as `execute_entry` journals it (market Buy 0.020 BTCUSDT), named `link`.
pub(crate) fn entry_intent(link: &str) -> exec_gateway::Intent {
    exec_gateway::Intent {
        trade_tag: "T1".into(),
        leg: "ENTRY".into(),
        order_link_id: link.into(),
        symbol: "BTCUSDT".into(),
        side: "Buy".into(),
        qty: dec!(0.020),
        price: None,
        trigger_price: None,
        kind: "market".into(),
        reason: "execute_entry".into(),
        at_ms: 1,
    }
}

pub(crate) fn long(size: Decimal, entry: Decimal) -> PositionState {
    PositionState {
        side: Some(Side::Buy),
        size,
        entry_price: Some(entry),
        leverage: Some(dec!(10)),
        ..PositionState::flat(symbol())
    }
}

pub(crate) fn snapshot(link: &str, side: Side, qty: Decimal, status: OrderStatus) -> OrderSnapshot {
    let filled = status == OrderStatus::Filled;
    OrderSnapshot {
        symbol: "BTCUSDT".into(),
        side,
        order_id: format!("id-{link}"),
        order_link_id: link.to_owned(),
        qty,
        price: None,
        trigger_price: None,
        filled_qty: if filled { qty } else { Decimal::ZERO },
        avg_price: filled.then_some(dec!(50000)),
        status,
        reduce_only: false,
    }
}

/// Every port mocked; meta, prices and leverage answer by default.
pub(crate) struct Mocks {
    pub(crate) router: MockOrderRouter,
    pub(crate) positions: MockPositionService,
    pub(crate) account: MockAccountService,
    pub(crate) meta: MockSymbolMetaService,
    pub(crate) prices: MockPriceService,
    pub(crate) config: GatewayConfig,
}

impl Mocks {
    pub(crate) fn new() -> Self {
        let mut meta = MockSymbolMetaService::new();
        meta.expect_get_symbol_meta()
            .returning(|_| Ok(Arc::new(rules())));
        let mut prices = MockPriceService::new();
        prices.expect_last_price().returning(|_| Ok(dec!(50000)));
        prices.expect_price_limit().returning(|_| Ok(None));
        let mut account = MockAccountService::new();
        account.expect_set_leverage().returning(|_, _| Ok(()));
        let mut config = GatewayConfig::new(dec!(5000));
        config.stream_silence = std::time::Duration::from_millis(1);
        Mocks {
            router: MockOrderRouter::new(),
            positions: MockPositionService::new(),
            account,
            meta,
            prices,
            config,
        }
    }

    pub(crate) fn build(self, journal: Arc<dyn Journal>, log: Option<Arc<ErrorLog>>) -> Gateway {
        self.build_with_clock(journal, log, Arc::new(ManualClock::new(1_700_000_000_000)))
    }

    /// As [`Mocks::build`], on a clock the test moves.
    pub(crate) fn build_with_clock(
        mut self,
        journal: Arc<dyn Journal>,
        log: Option<Arc<ErrorLog>>,
        clock: Arc<ManualClock>,
    ) -> Gateway {
        // A fallback after each test's own answers (mockall takes the first expectation that
        // matches and is not used up): no position on the symbol before the entry (R-SAFE-2).
        self.positions
            .expect_get_position()
            .returning(|s| Ok(PositionState::flat(s.clone())));
        let ports = Ports {
            router: Arc::new(self.router),
            positions: Arc::new(self.positions),
            account: Arc::new(self.account),
            meta: Arc::new(self.meta),
            prices: Arc::new(self.prices),
            journal,
            clock,
        };
        Gateway::new(ports, self.config, EventBus::new(1024), log).unwrap()
    }

    pub(crate) fn build_mem(self) -> (Gateway, Arc<MemoryJournal>) {
        let journal = Arc::new(MemoryJournal::new());
        (self.build(journal.clone(), None), journal)
    }
}

/// Everything published so far.
pub(crate) fn drain(sub: &mut Subscription) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(Received::Event(env)) = sub.try_recv() {
        events.push((*env.event).clone());
    }
    events
}

/// The entry: a market IOC, not reduce-only (R-ORD-2). For `expect_place().withf(..)`.
pub(crate) fn is_entry(r: &exec_gateway::OrderRequest) -> bool {
    !r.reduce_only && r.price.is_none() && r.trigger_price.is_none()
}

/// A DCA: a limit or conditional on the entry side, not reduce-only (R-ORD-4).
pub(crate) fn is_dca(r: &exec_gateway::OrderRequest) -> bool {
    !r.reduce_only && (r.price.is_some() || r.trigger_price.is_some())
}

/// A take-profit: a reduce-only limit (R-ORD-3).
pub(crate) fn is_tp(r: &exec_gateway::OrderRequest) -> bool {
    r.reduce_only && r.price.is_some()
}

/// A close: a reduce-only market order.
pub(crate) fn is_close(r: &exec_gateway::OrderRequest) -> bool {
    r.reduce_only && r.price.is_none() && r.trigger_price.is_none()
}
