//! The engine: commands in, Bybit's answers and pushed updates out. This file holds the state and
//! the shared helpers; the `impl Engine` is spread by concern over `engine/` (orders, matching,
//! margin, book, queries).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use bybit_meta::{InstrumentRules, RoundingMode};
use bybit_types::rest::market::InstrumentInfo;
use rand::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::config::{EngineConfig, FeeRates, Limits};
use crate::market::{Market, PriceSource, PublicTrade};
use crate::reject::Reject;
use crate::state::{ExecRecord, OrderState, PositionState};
use crate::{ConfigError, EngineEvent};

mod account;
mod book;
mod funding;
mod margin;
mod matching;
mod orders;
mod position_mode;
mod price_limit;
mod queries;
mod rules;
mod time;

pub use time::{
    query_window, DAY_MS, EXECUTIONS_KEPT_MS, MAX_PASS_MS, QUERY_WINDOW_MS, UNFILLED_CLOSED_KEPT_MS,
};

pub use price_limit::{LimitPxAction, LimitPxCategory, PriceLimit};
pub use rules::RulesChange;

pub use account::RestoreError;
pub use queries::Retained;

/// Maintenance margin rate used for reporting (Bybit's first risk tier is around 0.5 %).
const MAINTENANCE_RATE: Decimal = dec!(0.005);
/// Cascades (a trigger whose fill moves the price into another trigger) stop after this many
/// rounds, so a pathological setup cannot hang the engine.
const MAX_CASCADE: usize = 1000;
/// A random walk catches up at most this many steps per advance.
const MAX_WALK_STEPS: i64 = 10_000;
/// The largest wallet balance or book level value the engine accepts (10^15 USDT): far
/// beyond any account, and far enough below `Decimal`'s range that no sum or product of
/// validated values can overflow.
pub const MAX_BALANCE: Decimal = dec!(1_000_000_000_000_000);
/// The most levels (and the widest spacing) a synthetic book may have.
const MAX_BOOK_LEVELS: u32 = 10_000;

/// Time between the steps of a living market's random walk.
const LIVING_STEP_MS: i64 = 200;

/// The default price source of a living market: a seeded random walk every
/// [`LIVING_STEP_MS`] whose largest step is about 0.7 basis points of the price (at least one
/// tick). Uniform steps of that size give about 0.4 bp per step, 0.9 bp per second: roughly
/// the 50 % annual volatility of a major perpetual.
fn living_walk(rules: &InstrumentRules, price: Decimal) -> PriceSource {
    let ticks = (price * dec!(0.00007) / rules.tick_size())
        .round()
        .to_u32()
        .unwrap_or(1)
        .max(1);
    PriceSource::RandomWalk {
        interval_ms: LIVING_STEP_MS,
        max_step_ticks: ticks,
    }
}

/// Rounds onto the tick. Rounding fails only on overflow, for prices far beyond any
/// instrument's `maxPrice`; those keep their value and are refused by the range check.
fn round_price(rules: &InstrumentRules, price: Decimal, mode: RoundingMode) -> Decimal {
    rules.round_price(price, mode).unwrap_or(price)
}

pub(crate) struct Instrument {
    pub(crate) info: InstrumentInfo,
    pub(crate) rules: InstrumentRules,
    /// How far from the last price a market order may fill.
    pub(crate) protection: Decimal,
    /// The limit-price band: a buy may not be priced more than this fraction above the
    /// reference price, a sell not this fraction below (instruments-info
    /// `riskParameters.priceLimitRatioY`; none when the instrument does not say).
    pub(crate) band: Option<Decimal>,
}

/// How many used orderLinkIds the engine remembers for the duplicate check (bounded memory;
/// a million is far beyond any test or session).
pub(crate) const LINK_IDS_KEPT: usize = 1_000_000;

/// A deterministic Bybit-rules matching engine with one USDT account (one-way mode).
///
/// Every command takes the current time in ms; the engine never reads a clock. Randomness
/// comes from the configured seed. Commands return Bybit's answer (an ack or a [`Reject`]
/// with Bybit's retCode) and queue the private-stream updates they cause, which
/// [`Engine::take_events`] drains.
pub struct Engine {
    pub(crate) instruments: BTreeMap<String, Instrument>,
    pub(crate) markets: BTreeMap<String, Market>,
    pub(crate) orders: BTreeMap<u64, OrderState>,
    pub(crate) by_id: HashMap<String, u64>,
    pub(crate) by_link: HashMap<String, u64>,
    /// Every orderLinkId the account has used, oldest first, up to [`LINK_IDS_KEPT`]: an
    /// orderLinkId is unique for the life of the account, not only among the orders still
    /// kept.
    pub(crate) used_links: HashSet<String>,
    pub(crate) used_links_order: VecDeque<String>,
    pub(crate) closed: VecDeque<u64>,
    /// Orders that can still trade or trigger, in creation order: what the matching loops
    /// scan, so their cost follows the open orders rather than the retained history.
    pub(crate) open: BTreeSet<u64>,
    pub(crate) positions: BTreeMap<String, PositionState>,
    /// Symbols switched to hedge mode (`engine/position_mode.rs`); every other is one-way.
    pub(crate) hedge: BTreeSet<String>,
    pub(crate) executions: VecDeque<ExecRecord>,
    pub(crate) wallet: Decimal,
    pub(crate) cum_realised: Decimal,
    pub(crate) fees: FeeRates,
    pub(crate) funding_rate: Decimal,
    pub(crate) limits: Limits,
    pub(crate) default_leverage: Decimal,
    pub(crate) ids: XorShiftRng,
    pub(crate) next_seq: u64,
    /// The last match event's number: the `seq` its fills and the position update it
    /// causes share (v5/websocket/private/execution).
    pub(crate) match_seq: i64,
    pub(crate) now: i64,
    /// When the exchange last restarted: `/v5/order/realtime` no longer shows orders closed
    /// before it (`engine/time.rs`). `i64::MIN`: never.
    pub(crate) realtime_since: i64,
    /// How long after it closes an order appears in order history, ms.
    pub(crate) history_lag_ms: i64,
    /// The account's price-limit action (`engine/price_limit.rs`).
    pub(crate) limit_px: LimitPxAction,
    pub(crate) outbox: Outbox,
    pub(crate) events: Vec<EngineEvent>,
    /// Whether commands queue events ([`Engine::set_publishing`]).
    pub(crate) publishing: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("symbols", &self.instruments.keys().collect::<Vec<_>>())
            .field("orders", &self.orders.len())
            .field("wallet", &self.wallet)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// Which symbols a query or cancel covers.
struct Scope<'a> {
    symbol: Option<&'a str>,
    base_coin: Option<&'a str>,
    settle_coin: Option<&'a str>,
}

/// An order the outbox will push: its state when the command ends, or a state it passed
/// through on the way (a conditional's instantaneous `Triggered`), rendered when it happened.
#[derive(Debug)]
pub(crate) enum OrderMark {
    /// Pushed as it is when the command ends.
    Live(u64),
    /// Pushed as it was.
    Passed(u64, Box<bybit_types::rest::order::Order>),
}

impl OrderMark {
    fn seq(&self) -> u64 {
        match self {
            OrderMark::Live(seq) | OrderMark::Passed(seq, _) => *seq,
        }
    }
}

/// What changed during one command, turned into events when the command ends.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) orders: Vec<OrderMark>,
    pub(crate) executions: Vec<usize>,
    pub(crate) positions: BTreeSet<String>,
    pub(crate) wallet: bool,
    pub(crate) trades: Vec<PublicTrade>,
    pub(crate) markets: BTreeSet<String>,
}

impl Engine {
    /// Builds an engine. Refuses instruments whose rules make no sense (zero tick or step, …)
    /// and prices that are not positive.
    pub fn new(config: EngineConfig) -> Result<Engine, ConfigError> {
        let mut seed_rng = XorShiftRng::seed_from_u64(config.seed);
        let mut instruments = BTreeMap::new();
        let mut markets = BTreeMap::new();
        for info in config.instruments {
            let rules =
                InstrumentRules::try_from(&info).map_err(|err| ConfigError::Instrument {
                    symbol: info.symbol.clone(),
                    reason: err.to_string(),
                })?;
            let band = info
                .risk_parameters
                .as_ref()
                .and_then(|r| r.price_limit_ratio_y)
                .filter(|y| *y > Decimal::ZERO && *y < Decimal::ONE);
            let price = match config.initial_prices.get(&info.symbol) {
                Some(p) if *p > Decimal::ZERO => round_price(&rules, *p, RoundingMode::Nearest),
                Some(p) => {
                    return Err(ConfigError::Price {
                        symbol: info.symbol.clone(),
                        price: *p,
                    })
                }
                None => round_price(
                    &rules,
                    (rules.min_price() + rules.max_price()) / dec!(2),
                    RoundingMode::Nearest,
                ),
            };
            let book = config
                .book_overrides
                .get(&info.symbol)
                .copied()
                .unwrap_or(config.book);
            let mut market = Market::new(price, book, seed_rng.next_u64());
            if !config.static_prices {
                market.living = true;
                market.source = living_walk(&rules, price);
            }
            markets.insert(info.symbol.clone(), market);
            instruments.insert(
                info.symbol.clone(),
                Instrument {
                    info,
                    rules,
                    protection: config.market_protection,
                    band,
                },
            );
        }
        if config.usdt < Decimal::ZERO {
            return Err(ConfigError::Balance(config.usdt));
        }
        if config.market_protection <= Decimal::ZERO || config.market_protection >= Decimal::ONE {
            return Err(ConfigError::Protection(config.market_protection));
        }
        Ok(Engine {
            instruments,
            markets,
            orders: BTreeMap::new(),
            by_id: HashMap::new(),
            by_link: HashMap::new(),
            used_links: HashSet::new(),
            used_links_order: VecDeque::new(),
            closed: VecDeque::new(),
            open: BTreeSet::new(),
            positions: BTreeMap::new(),
            hedge: BTreeSet::new(),
            executions: VecDeque::new(),
            wallet: config.usdt,
            cum_realised: Decimal::ZERO,
            fees: config.fees,
            funding_rate: config.funding_rate,
            limits: config.limits,
            default_leverage: config.default_leverage,
            ids: XorShiftRng::seed_from_u64(seed_rng.next_u64()),
            next_seq: 1,
            match_seq: 0,
            now: 0,
            realtime_since: i64::MIN,
            history_lag_ms: 0,
            limit_px: LimitPxAction::default(),
            outbox: Outbox::default(),
            publishing: true,
            events: Vec::new(),
        })
    }

    /// Takes the caller's time. It may step back (the emulator's clock-skew fault is undone,
    /// say); nothing here depends on time only moving forward.
    fn touch(&mut self, now: i64) {
        self.now = now;
    }

    pub(crate) fn instrument(&self, symbol: &str) -> Result<&Instrument, Reject> {
        self.instruments
            .get(symbol)
            .ok_or_else(|| Reject::unknown_symbol(symbol))
    }

    pub(crate) fn last_price(&self, symbol: &str) -> Decimal {
        self.markets.get(symbol).map_or(Decimal::ZERO, |m| m.last)
    }

    fn uuid(&mut self) -> String {
        let a = self.ids.next_u64();
        let b = self.ids.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    pub(crate) fn position(&mut self, symbol: &str) -> &mut PositionState {
        let leverage = self.default_leverage;
        let now = self.now;
        self.positions
            .entry(symbol.to_owned())
            .or_insert_with(|| PositionState::flat(leverage, now))
    }

    pub(crate) fn position_view(&self, symbol: &str) -> PositionState {
        self.positions
            .get(symbol)
            .cloned()
            .unwrap_or_else(|| PositionState::flat(self.default_leverage, self.now))
    }

    /// The open orders, oldest first.
    fn open_iter(&self) -> impl Iterator<Item = &OrderState> + '_ {
        self.open.iter().filter_map(|seq| self.orders.get(seq))
    }

    /// Opens a match event: one order taking liquidity, or one print filling resting orders.
    fn next_match_event(&mut self) -> i64 {
        self.match_seq += 1;
        self.match_seq
    }

    fn next_order_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Queues order `seq`'s end-of-command state, unless it is already queued after the last
    /// state it passed through.
    fn mark_order(&mut self, seq: u64) {
        let queued = self
            .outbox
            .orders
            .iter()
            .rev()
            .find(|m| m.seq() == seq)
            .is_some_and(|m| matches!(m, OrderMark::Live(_)));
        if !queued {
            self.outbox.orders.push(OrderMark::Live(seq));
        }
        // A limit order resting, changing or leaving changes the public book.
        if let Some(o) = self.orders.get(&seq) {
            if o.order_type == bybit_types::OrderType::Limit && !o.is_conditional_waiting() {
                self.outbox.markets.insert(o.symbol.clone());
            }
        }
    }

    /// Queues order `seq` as it is now: a state it passes through within this command.
    fn mark_order_passing(&mut self, seq: u64) {
        if let Some(o) = self.orders.get(&seq) {
            let wire = Box::new(self.order_on_stream(o));
            self.outbox
                .orders
                .retain(|m| !(m.seq() == seq && matches!(m, OrderMark::Live(_))));
            self.outbox.orders.push(OrderMark::Passed(seq, wire));
        }
    }

    fn mark_position(&mut self, symbol: &str) {
        self.outbox.positions.insert(symbol.to_owned());
    }

    /// Whether the commands that follow queue their updates for [`Engine::take_events`] (on
    /// by default). Off, they change the engine alike and queue nothing: for a caller with
    /// nobody to hand the updates to, which would otherwise pay for building every wire
    /// record of every command only to drop it.
    pub fn set_publishing(&mut self, on: bool) {
        self.publishing = on;
    }

    /// Drains the updates queued since the last call, in the order they happened.
    pub fn take_events(&mut self) -> Vec<EngineEvent> {
        std::mem::take(&mut self.events)
    }

    /// Turns what the last command changed into events.
    fn flush(&mut self) {
        let outbox = std::mem::take(&mut self.outbox);
        if !self.publishing {
            return;
        }
        for mark in outbox.orders {
            match mark {
                OrderMark::Live(seq) => {
                    if let Some(o) = self.orders.get(&seq) {
                        self.events
                            .push(EngineEvent::Order(Box::new(self.order_on_stream(o))));
                    }
                }
                OrderMark::Passed(_, wire) => self.events.push(EngineEvent::Order(wire)),
            }
        }
        for index in outbox.executions {
            if let Some(e) = self.executions.get(index) {
                self.events
                    .push(EngineEvent::Execution(Box::new(self.execution_wire(e))));
            }
        }
        for symbol in outbox.positions {
            let p = self.position_view(&symbol);
            self.events.push(EngineEvent::Position(Box::new(
                self.position_wire(&symbol, &p),
            )));
        }
        if outbox.wallet {
            self.events
                .push(EngineEvent::Wallet(Box::new(self.wallet_wire())));
        }
        for trade in outbox.trades {
            self.events.push(EngineEvent::Trade(trade));
        }
        for symbol in outbox.markets {
            self.events.push(EngineEvent::Market { symbol });
        }
    }
}
