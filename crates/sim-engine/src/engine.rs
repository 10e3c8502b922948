//! The engine: commands in, Bybit's answers and pushed updates out.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use bybit_meta::{InstrumentRules, RoundingMode};
use bybit_types::rest::market::InstrumentInfo;
use bybit_types::{
    CancelType, CreateType, InstrumentStatus, OrderStatus, OrderType, Side, StopOrderType,
    TimeInForce,
};
use rand::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;

use crate::command::{
    Amend, CancelAll, ExecutionQuery, NewOrder, OrderFilter, OrderKey, OrderQuery, TradingStop,
    TriggerDirection,
};
use crate::config::{BookShape, EngineConfig, FeeRates, Limits};
use crate::market::{BookSnapshot, Level, Market, PriceSource, PublicTrade};
use crate::reject::Reject;
use crate::state::{ExecRecord, OrderState, PositionState};
use crate::{ConfigError, EngineEvent, OrderAck};

/// Maintenance margin rate used for reporting (Bybit's first risk tier is around 0.5 %).
const MAINTENANCE_RATE: Decimal = dec!(0.005);
/// Market orders fill no further than this fraction from the last price when the instrument
/// does not say (instruments-info `riskParameters.priceLimitRatioX` does).
const DEFAULT_PROTECTION: Decimal = dec!(0.05);
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

/// Rounds onto the tick. Rounding fails only on overflow, for prices far beyond any
/// instrument's `maxPrice`; those keep their value and are refused by the range check.
fn round_price(rules: &InstrumentRules, price: Decimal, mode: RoundingMode) -> Decimal {
    rules.round_price(price, mode).unwrap_or(price)
}

pub(crate) struct Instrument {
    pub(crate) info: InstrumentInfo,
    pub(crate) rules: InstrumentRules,
    pub(crate) protection: Decimal,
}

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
    pub(crate) closed: VecDeque<u64>,
    /// Orders that can still trade or trigger, in creation order: what the matching loops
    /// scan, so their cost follows the open orders rather than the retained history.
    pub(crate) open: BTreeSet<u64>,
    pub(crate) positions: BTreeMap<String, PositionState>,
    pub(crate) executions: VecDeque<ExecRecord>,
    pub(crate) wallet: Decimal,
    pub(crate) cum_realised: Decimal,
    pub(crate) fees: FeeRates,
    pub(crate) limits: Limits,
    pub(crate) default_leverage: Decimal,
    pub(crate) ids: XorShiftRng,
    pub(crate) next_seq: u64,
    pub(crate) exec_seq: u64,
    pub(crate) now: i64,
    pub(crate) outbox: Outbox,
    pub(crate) events: Vec<EngineEvent>,
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

/// What changed during one command, turned into events when the command ends.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) orders: Vec<u64>,
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
            let protection = info
                .risk_parameters
                .as_ref()
                .and_then(|r| r.price_limit_ratio_x)
                .filter(|x| *x > Decimal::ZERO && *x < Decimal::ONE)
                .unwrap_or(DEFAULT_PROTECTION);
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
            markets.insert(
                info.symbol.clone(),
                Market::new(price, book, seed_rng.next_u64()),
            );
            instruments.insert(
                info.symbol.clone(),
                Instrument {
                    info,
                    rules,
                    protection,
                },
            );
        }
        if config.usdt < Decimal::ZERO {
            return Err(ConfigError::Balance(config.usdt));
        }
        Ok(Engine {
            instruments,
            markets,
            orders: BTreeMap::new(),
            by_id: HashMap::new(),
            by_link: HashMap::new(),
            closed: VecDeque::new(),
            open: BTreeSet::new(),
            positions: BTreeMap::new(),
            executions: VecDeque::new(),
            wallet: config.usdt,
            cum_realised: Decimal::ZERO,
            fees: config.fees,
            limits: config.limits,
            default_leverage: config.default_leverage,
            ids: XorShiftRng::seed_from_u64(seed_rng.next_u64()),
            next_seq: 1,
            exec_seq: 1,
            now: 0,
            outbox: Outbox::default(),
            events: Vec::new(),
        })
    }

    // ------------------------------------------------------------------ helpers

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

    fn book_shape(&self, symbol: &str) -> BookShape {
        self.markets.get(symbol).map(|m| m.book).unwrap_or_default()
    }

    /// Size of one synthetic level at `price`: `level_notional / price`, floored to the step,
    /// never below the minimum order quantity.
    fn level_qty(&self, symbol: &str, price: Decimal) -> Decimal {
        let Ok(inst) = self.instrument(symbol) else {
            return Decimal::ZERO;
        };
        if price <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        let shape = self.book_shape(symbol);
        let raw = shape
            .level_notional
            .checked_div(price)
            .unwrap_or(Decimal::ZERO);
        inst.rules
            .round_qty(raw)
            .unwrap_or(Decimal::ZERO)
            .max(inst.rules.min_order_qty())
    }

    /// The synthetic book around the last price, `depth` levels per side.
    pub fn book(&self, symbol: &str, depth: usize) -> Result<BookSnapshot, Reject> {
        let inst = self.instrument(symbol)?;
        let last = self.last_price(symbol);
        let shape = self.book_shape(symbol);
        let tick = inst.rules.tick_size();
        let step = tick * Decimal::from(shape.spacing_ticks.max(1));
        let levels = usize::try_from(shape.levels)
            .unwrap_or(usize::MAX)
            .min(depth);
        let mut bids = Vec::with_capacity(levels.min(1024));
        let mut asks = Vec::with_capacity(levels.min(1024));
        for i in 1..=levels {
            let offset = step * Decimal::from(i);
            // Past both ends of the price filter nothing more can be quoted.
            if last - offset < inst.rules.min_price() && last + offset > inst.rules.max_price() {
                break;
            }
            let bid = last - offset;
            if bid >= inst.rules.min_price() && bid > Decimal::ZERO {
                bids.push(Level {
                    price: bid,
                    qty: self.level_qty(symbol, bid),
                });
            }
            let ask = last + offset;
            if ask <= inst.rules.max_price() {
                asks.push(Level {
                    price: ask,
                    qty: self.level_qty(symbol, ask),
                });
            }
        }
        Ok(BookSnapshot { bids, asks })
    }

    /// The open orders, oldest first.
    fn open_iter(&self) -> impl Iterator<Item = &OrderState> + '_ {
        self.open.iter().filter_map(|seq| self.orders.get(seq))
    }

    fn next_order_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn mark_order(&mut self, seq: u64) {
        if !self.outbox.orders.contains(&seq) {
            self.outbox.orders.push(seq);
        }
    }

    fn mark_position(&mut self, symbol: &str) {
        self.outbox.positions.insert(symbol.to_owned());
    }

    // ------------------------------------------------------------------ margin

    /// Initial margin of the open position of `symbol`.
    pub(crate) fn position_im(&self, symbol: &str) -> Decimal {
        self.positions.get(symbol).map_or(Decimal::ZERO, |p| {
            if p.leverage.is_zero() {
                Decimal::ZERO
            } else {
                p.size * p.avg / p.leverage
            }
        })
    }

    /// Initial margin held by `symbol`'s open orders: orders that would add to the position,
    /// and the part of opposite orders beyond the position they would close. Conditional
    /// orders hold nothing until they trigger; reduce-only orders hold nothing.
    pub(crate) fn order_im(&self, symbol: &str) -> Decimal {
        self.order_im_with(symbol, None, None)
    }

    /// [`Engine::order_im`] as it would be with `extra` (side, qty, price) added and the order
    /// `without` left out: the margin a new or amended order adds is the difference.
    fn order_im_with(
        &self,
        symbol: &str,
        extra: Option<(Side, Decimal, Decimal)>,
        without: Option<u64>,
    ) -> Decimal {
        let pos = self.position_view(symbol);
        let leverage = pos.leverage.max(Decimal::ONE);
        let mut buy = (Decimal::ZERO, Decimal::ZERO); // (qty, value)
        let mut sell = (Decimal::ZERO, Decimal::ZERO);
        let resting = self
            .open_iter()
            .filter(|o| {
                o.symbol == symbol
                    && matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled)
                    && !o.reduce_only
                    && Some(o.seq) != without
            })
            .map(|o| (o.side, o.leaves, o.price));
        for (side, qty, price) in resting.chain(extra) {
            let book = if side == Side::Buy {
                &mut buy
            } else {
                &mut sell
            };
            book.0 += qty;
            book.1 += qty * price;
        }
        let excess = |(qty, value): (Decimal, Decimal), covered: Decimal| -> Decimal {
            if qty.is_zero() || qty <= covered {
                Decimal::ZERO
            } else {
                value * (qty - covered) / qty
            }
        };
        let (buy_covered, sell_covered) = match pos.side {
            Some(Side::Buy) => (Decimal::ZERO, pos.size),
            Some(Side::Sell) => (pos.size, Decimal::ZERO),
            None => (Decimal::ZERO, Decimal::ZERO),
        };
        (excess(buy, buy_covered) + excess(sell, sell_covered)) / leverage
    }

    pub(crate) fn unrealised(&self) -> Decimal {
        self.positions
            .iter()
            .map(|(s, p)| p.unrealised(self.last_price(s)))
            .sum()
    }

    pub(crate) fn total_position_im(&self) -> Decimal {
        self.positions.keys().map(|s| self.position_im(s)).sum()
    }

    pub(crate) fn total_order_im(&self) -> Decimal {
        self.instruments.keys().map(|s| self.order_im(s)).sum()
    }

    pub(crate) fn total_maintenance(&self) -> Decimal {
        self.positions
            .iter()
            .map(|(s, p)| p.size * self.last_price(s) * MAINTENANCE_RATE)
            .sum()
    }

    /// Margin balance minus initial margin in use: what a new order may spend.
    pub(crate) fn available(&self) -> Decimal {
        self.wallet + self.unrealised() - self.total_position_im() - self.total_order_im()
    }

    /// Margin and opening fee a new order needs: the initial margin it adds to the symbol's
    /// open orders (an order that only closes the position adds none, one that goes beyond it
    /// or joins other orders on that side adds its share) plus the taker fee on that share.
    fn order_cost(&self, symbol: &str, side: Side, qty: Decimal, price: Decimal) -> Decimal {
        self.order_cost_replacing(symbol, side, qty, price, None)
    }

    fn order_cost_replacing(
        &self,
        symbol: &str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        replacing: Option<u64>,
    ) -> Decimal {
        let before = self.order_im_with(symbol, None, None);
        let after = self.order_im_with(symbol, Some((side, qty, price)), replacing);
        let added = (after - before).max(Decimal::ZERO);
        let leverage = self.position_view(symbol).leverage.max(Decimal::ONE);
        added + added * leverage * self.fees.taker
    }

    // ------------------------------------------------------------------ commands

    /// `POST /v5/order/create`.
    pub fn create_order(&mut self, now: i64, req: &NewOrder) -> Result<OrderAck, Reject> {
        self.touch(now);
        let result = self.create_inner(req);
        self.flush();
        result
    }

    /// `POST /v5/order/create-batch`: each item is placed (or refused) on its own, in order.
    pub fn create_batch(&mut self, now: i64, reqs: &[NewOrder]) -> Vec<Result<OrderAck, Reject>> {
        self.touch(now);
        let results = reqs.iter().map(|req| self.create_inner(req)).collect();
        self.flush();
        results
    }

    fn create_inner(&mut self, req: &NewOrder) -> Result<OrderAck, Reject> {
        let inst = self.instrument(&req.symbol)?;
        let rules = inst.rules.clone();
        if inst.info.status != InstrumentStatus::Trading {
            return Err(Reject::not_live());
        }
        let is_market = match &req.order_type {
            OrderType::Market => true,
            OrderType::Limit => false,
            OrderType::Unknown(other) => {
                return Err(Reject::params(format!(
                    "params error: orderType invalid: {other}"
                )))
            }
        };
        let tif = if is_market {
            // Market orders are IOC unless the caller asks for all-or-nothing.
            if req.time_in_force == Some(TimeInForce::Fok) {
                TimeInForce::Fok
            } else {
                TimeInForce::Ioc
            }
        } else {
            match req.time_in_force.clone().unwrap_or(TimeInForce::Gtc) {
                tif @ (TimeInForce::Gtc
                | TimeInForce::Ioc
                | TimeInForce::Fok
                | TimeInForce::PostOnly) => tif,
                other => {
                    return Err(Reject::params(format!(
                        "params error: timeInForce invalid: {other}"
                    )))
                }
            }
        };
        if let Some(link) = &req.order_link_id {
            if bybit_types::OrderLinkId::new(link.as_str()).is_err() {
                return Err(Reject::params(format!(
                    "params error: orderLinkId invalid: {link:?}"
                )));
            }
            if self.by_link.contains_key(link) {
                return Err(Reject::duplicate_order_link_id());
            }
        }
        let close_all = req.qty.is_zero() && req.reduce_only && req.close_on_trigger;
        if !close_all {
            if req.qty <= Decimal::ZERO {
                return Err(Reject::qty_below_min());
            }
            if !rules.is_on_step(req.qty) {
                return Err(Reject::qty_not_on_step(req.qty, rules.qty_step()));
            }
            if req.qty < rules.min_order_qty() {
                return Err(Reject::qty_below_min());
            }
            let max = if is_market {
                rules.max_mkt_order_qty()
            } else {
                rules.max_order_qty()
            };
            // A reduce-only order is cut to the position it closes (Bybit splits a large one);
            // one that waits for a trigger has no position to be cut to yet.
            if req.qty > max && !(req.reduce_only && req.trigger_price.is_none()) {
                return Err(Reject::qty_above_max());
            }
        }
        let price = if is_market {
            None
        } else {
            let price = req.price.ok_or_else(|| {
                Reject::params("params error: price is required for Limit orders")
            })?;
            Some(Self::check_price(&rules, price)?)
        };
        let last = self.last_price(&req.symbol);
        let trigger = match req.trigger_price {
            None => None,
            Some(tp) => {
                let tp = Self::check_price(&rules, tp)?;
                let direction = req
                    .trigger_direction
                    .ok_or_else(|| Reject::params("params error: triggerDirection is required"))?;
                match direction {
                    TriggerDirection::Rise if tp <= last => {
                        return Err(Reject::trigger_expect_rising(tp, last))
                    }
                    TriggerDirection::Fall if tp >= last => {
                        return Err(Reject::trigger_expect_falling(tp, last))
                    }
                    _ => {}
                }
                Some((tp, direction))
            }
        };
        // TP/SL given with the order must sit on the profitable / protective side of the price
        // the order opens at, as set_trading_stop requires of a position's.
        let entry = price.or(trigger.map(|t| t.0)).unwrap_or(last);
        for (value, is_tp) in [(req.take_profit, true), (req.stop_loss, false)] {
            if let Some(v) = value {
                let v = Self::check_price(&rules, v)?;
                Self::check_stop_side(req.side, v, entry, is_tp)?;
            }
        }
        let pos = self.position_view(&req.symbol);
        let mut qty = req.qty;
        if req.reduce_only {
            // A conditional reduce-only order is checked when it triggers: the position it
            // closes may not exist yet.
            if trigger.is_none() {
                match pos.side {
                    None => return Err(Reject::reduce_only_zero_position()),
                    Some(held) if held == req.side => {
                        return Err(Reject::reduce_only_not_satisfied())
                    }
                    Some(_) => {}
                }
                if close_all || qty > pos.size {
                    qty = pos.size;
                }
            }
        } else {
            let reference = price.or(trigger.map(|t| t.0)).unwrap_or(last);
            let min_notional = rules.min_notional();
            if qty * reference < min_notional {
                return Err(Reject::below_min_notional(min_notional));
            }
        }
        let open_here = |o: &&OrderState| o.symbol == req.symbol;
        if trigger.is_some() {
            let waiting = self
                .open_iter()
                .filter(open_here)
                .filter(|o| o.is_conditional_waiting())
                .count();
            if waiting >= self.limits.max_conditional_orders_per_symbol {
                return Err(Reject::too_many_stop_orders());
            }
        } else {
            let active = self
                .open_iter()
                .filter(open_here)
                .filter(|o| matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled))
                .count();
            if active >= self.limits.max_active_orders_per_symbol {
                return Err(Reject::too_many_active_orders());
            }
            if !req.reduce_only {
                if self.wallet <= Decimal::ZERO {
                    return Err(Reject::insufficient_wallet());
                }
                let reference = price.unwrap_or(last);
                if self.order_cost(&req.symbol, req.side, qty, reference) > self.available() {
                    return Err(Reject::insufficient_available());
                }
            }
        }

        let seq = self.next_order_seq();
        let order_id = self.uuid();
        let link_id = req.order_link_id.clone().unwrap_or_default();
        let now = self.now;
        let order = OrderState {
            seq,
            order_id: order_id.clone(),
            link_id: link_id.clone(),
            symbol: req.symbol.clone(),
            side: req.side,
            order_type: if is_market {
                OrderType::Market
            } else {
                OrderType::Limit
            },
            price: price.unwrap_or(Decimal::ZERO),
            qty,
            leaves: qty,
            cum_qty: Decimal::ZERO,
            cum_value: Decimal::ZERO,
            cum_fee: Decimal::ZERO,
            closed_pnl: Decimal::ZERO,
            status: if trigger.is_some() {
                OrderStatus::Untriggered
            } else {
                OrderStatus::New
            },
            tif,
            reduce_only: req.reduce_only,
            close_on_trigger: req.close_on_trigger,
            close_all,
            trigger_price: trigger.map(|t| t.0),
            trigger_direction: trigger.map(|t| t.1),
            stop_order_type: trigger.map(|_| StopOrderType::Stop),
            create_type: CreateType::CreateByUser,
            cancel_type: None,
            reject_reason: "EC_NoError",
            take_profit: req.take_profit,
            stop_loss: req.stop_loss,
            last_price_on_created: last,
            created: now,
            updated: now,
        };
        self.by_id.insert(order_id.clone(), seq);
        if !link_id.is_empty() {
            self.by_link.insert(link_id.clone(), seq);
        }
        self.orders.insert(seq, order);
        self.open.insert(seq);
        self.mark_order(seq);
        // Bybit pushes a position message on every order create, amend and cancel.
        self.mark_position(&req.symbol);
        if trigger.is_none() {
            self.activate(seq);
        }
        self.settle_market(&req.symbol);
        Ok(OrderAck {
            order_id,
            order_link_id: link_id,
        })
    }

    /// A long's take-profit above `base` and stop-loss below it; a short's the other way.
    fn check_stop_side(
        side: Side,
        value: Decimal,
        base: Decimal,
        is_tp: bool,
    ) -> Result<(), Reject> {
        let above = (side == Side::Buy) == is_tp;
        let name = if is_tp { "TakeProfit" } else { "StopLoss" };
        if above && value <= base {
            return Err(Reject::params(format!(
                "{name}:{value} set for {side} position should be higher than base_price:{base}??LastPrice"
            )));
        }
        if !above && value >= base {
            return Err(Reject::params(format!(
                "{name}:{value} set for {side} position should be lower than base_price:{base}??LastPrice"
            )));
        }
        Ok(())
    }

    fn check_price(rules: &InstrumentRules, price: Decimal) -> Result<Decimal, Reject> {
        if price <= Decimal::ZERO {
            return Err(Reject::params(format!(
                "params error: price invalid: {price}"
            )));
        }
        if price < rules.min_price() || price > rules.max_price() {
            return Err(Reject::price_out_of_range());
        }
        if !rules.is_on_tick(price) {
            return Err(Reject::price_not_on_tick(price, rules.tick_size()));
        }
        Ok(price)
    }

    /// `POST /v5/order/amend`: quantity, price or trigger price of an open order.
    pub fn amend_order(&mut self, now: i64, req: &Amend) -> Result<OrderAck, Reject> {
        self.touch(now);
        let result = self.amend_inner(req);
        self.flush();
        result
    }

    fn amend_inner(&mut self, req: &Amend) -> Result<OrderAck, Reject> {
        let rules = self.instrument(&req.symbol)?.rules.clone();
        let seq = self
            .find(&req.key, &req.symbol)
            .ok_or_else(Reject::order_not_exists)?;
        let order = self.orders.get(&seq).ok_or_else(Reject::order_not_exists)?;
        if !order.is_open() {
            return Err(Reject::order_not_exists());
        }
        let mut changed = false;
        let mut new_qty = order.qty;
        if let Some(qty) = req.qty {
            if qty <= Decimal::ZERO || qty < rules.min_order_qty() {
                return Err(Reject::qty_below_min());
            }
            if !rules.is_on_step(qty) {
                return Err(Reject::qty_not_on_step(qty, rules.qty_step()));
            }
            if qty > rules.max_order_qty() {
                return Err(Reject::qty_above_max());
            }
            if qty <= order.cum_qty {
                return Err(Reject::amend_qty_not_above_filled());
            }
            changed |= qty != order.qty;
            new_qty = qty;
        }
        let mut new_price = order.price;
        if let Some(price) = req.price {
            if order.order_type == OrderType::Market {
                return Err(Reject::params(
                    "params error: cannot amend the price of a market order",
                ));
            }
            let price = Self::check_price(&rules, price)?;
            changed |= price != order.price;
            new_price = price;
        }
        let mut new_trigger = order.trigger_price;
        if let Some(tp) = req.trigger_price {
            if !order.is_conditional_waiting() {
                return Err(Reject::params(
                    "params error: triggerPrice can only be amended before it triggers",
                ));
            }
            let tp = Self::check_price(&rules, tp)?;
            let last = self.last_price(&req.symbol);
            match order.trigger_direction {
                Some(TriggerDirection::Rise) if tp <= last => {
                    return Err(Reject::trigger_expect_rising(tp, last))
                }
                Some(TriggerDirection::Fall) if tp >= last => {
                    return Err(Reject::trigger_expect_falling(tp, last))
                }
                _ => {}
            }
            changed |= Some(tp) != order.trigger_price;
            new_trigger = Some(tp);
        }
        if !changed {
            return Err(Reject::params("order not modified"));
        }
        // A larger or dearer resting order needs the margin for the difference.
        if !order.reduce_only && !order.is_conditional_waiting() {
            let cost = self.order_cost_replacing(
                &order.symbol,
                order.side,
                new_qty - order.cum_qty,
                new_price,
                Some(seq),
            );
            if cost > Decimal::ZERO && cost > self.available() {
                return Err(Reject::insufficient_available());
            }
        }
        let ack = OrderAck {
            order_id: order.order_id.clone(),
            order_link_id: order.link_id.clone(),
        };
        let symbol = order.symbol.clone();
        let now = self.now;
        if let Some(order) = self.orders.get_mut(&seq) {
            order.leaves = new_qty - order.cum_qty;
            order.qty = new_qty;
            order.price = new_price;
            order.trigger_price = new_trigger;
            order.updated = now;
        }
        self.mark_order(seq);
        self.mark_position(&symbol);
        // A limit amended through the market trades now, as on the exchange.
        let crosses = self.orders.get(&seq).is_some_and(|o| {
            o.order_type == OrderType::Limit
                && !o.is_conditional_waiting()
                && self.is_marketable(&symbol, o.side, o.price)
        });
        if crosses {
            self.activate(seq);
        }
        self.settle_market(&symbol);
        Ok(ack)
    }

    /// `POST /v5/order/cancel`.
    pub fn cancel_order(
        &mut self,
        now: i64,
        symbol: &str,
        key: &OrderKey,
    ) -> Result<OrderAck, Reject> {
        self.touch(now);
        let result = (|| {
            self.instrument(symbol)?;
            let seq = self
                .find(key, symbol)
                .ok_or_else(Reject::order_not_exists)?;
            let order = self.orders.get(&seq).ok_or_else(Reject::order_not_exists)?;
            if !order.is_open() {
                return Err(Reject::order_not_exists());
            }
            let ack = OrderAck {
                order_id: order.order_id.clone(),
                order_link_id: order.link_id.clone(),
            };
            self.close_order(
                seq,
                OrderStatus::Cancelled,
                Some(CancelType::CancelByUser),
                "EC_NoError",
            );
            self.mark_position(symbol);
            Ok(ack)
        })();
        self.flush();
        result
    }

    /// `POST /v5/order/cancel-all`: cancels every open order that matches, in creation order.
    pub fn cancel_all(&mut self, now: i64, req: &CancelAll) -> Result<Vec<OrderAck>, Reject> {
        self.touch(now);
        let result = (|| {
            if let Some(symbol) = &req.symbol {
                self.instrument(symbol)?;
            } else if req.settle_coin.is_none() && req.base_coin.is_none() {
                return Err(Reject::params(
                    "params error: symbol, baseCoin or settleCoin is required",
                ));
            }
            let matching: Vec<u64> = self
                .open_iter()
                .filter(|o| o.is_open())
                .filter(|o| {
                    self.order_matches(
                        o,
                        &Scope {
                            symbol: req.symbol.as_deref(),
                            base_coin: req.base_coin.as_deref(),
                            settle_coin: req.settle_coin.as_deref(),
                        },
                        req.filter,
                    )
                })
                .map(|o| o.seq)
                .collect();
            let mut acks = Vec::with_capacity(matching.len());
            for seq in matching {
                if let Some(o) = self.orders.get(&seq) {
                    acks.push(OrderAck {
                        order_id: o.order_id.clone(),
                        order_link_id: o.link_id.clone(),
                    });
                    let symbol = o.symbol.clone();
                    self.close_order(
                        seq,
                        OrderStatus::Cancelled,
                        Some(CancelType::CancelByUser),
                        "EC_NoError",
                    );
                    self.mark_position(&symbol);
                }
            }
            Ok(acks)
        })();
        self.flush();
        result
    }

    fn order_matches(
        &self,
        o: &OrderState,
        scope: &Scope<'_>,
        filter: Option<OrderFilter>,
    ) -> bool {
        // Bybit's priority: symbol, then base coin, then settle coin.
        let info = self.instruments.get(&o.symbol).map(|i| &i.info);
        let in_scope = if let Some(symbol) = scope.symbol {
            o.symbol == symbol
        } else if let Some(coin) = scope.base_coin {
            info.is_some_and(|i| i.base_coin == coin)
        } else if let Some(coin) = scope.settle_coin {
            info.is_some_and(|i| i.settle_coin == coin)
        } else {
            true
        };
        if !in_scope {
            return false;
        }
        match filter {
            None => true,
            Some(OrderFilter::Order) => o.stop_order_type.is_none(),
            Some(OrderFilter::StopOrder) => o.stop_order_type.is_some(),
        }
    }

    /// `POST /v5/position/set-leverage` (one-way: buy and sell must match).
    pub fn set_leverage(
        &mut self,
        now: i64,
        symbol: &str,
        buy: Decimal,
        sell: Decimal,
    ) -> Result<(), Reject> {
        self.touch(now);
        let result = (|| {
            let inst = self.instrument(symbol)?;
            let filter = &inst.info.leverage_filter;
            if buy != sell {
                return Err(Reject::params(
                    "params error: buyLeverage must equal sellLeverage in one-way mode",
                ));
            }
            if buy < filter.min_leverage || buy > filter.max_leverage {
                return Err(Reject::params(format!(
                    "params error: leverage {buy} outside [{}, {}]",
                    filter.min_leverage, filter.max_leverage
                )));
            }
            if !filter.leverage_step.is_zero() && !(buy % filter.leverage_step).is_zero() {
                return Err(Reject::params(format!(
                    "params error: leverage {buy} is not a multiple of {}",
                    filter.leverage_step
                )));
            }
            if self.position_view(symbol).leverage == buy {
                return Err(Reject::leverage_not_modified());
            }
            let previous = self.position(symbol).leverage;
            self.position(symbol).leverage = buy;
            if self.available() < Decimal::ZERO {
                self.position(symbol).leverage = previous;
                return Err(Reject::new(110044, "Available margin is insufficient."));
            }
            self.position(symbol).updated = self.now;
            self.mark_position(symbol);
            self.outbox.wallet = true;
            Ok(())
        })();
        self.flush();
        result
    }

    /// `POST /v5/position/trading-stop` (Full mode): take-profit and stop-loss on the position,
    /// triggered by the last price; `0` removes one.
    pub fn set_trading_stop(&mut self, now: i64, req: &TradingStop) -> Result<(), Reject> {
        self.touch(now);
        let result = (|| {
            let rules = self.instrument(&req.symbol)?.rules.clone();
            let pos = self.position_view(&req.symbol);
            let Some(side) = pos.side else {
                return Err(Reject::params("can not set tp/sl/ts for zero position"));
            };
            let last = self.last_price(&req.symbol);
            let check =
                |value: Option<Decimal>, is_tp: bool| -> Result<Option<Option<Decimal>>, Reject> {
                    let Some(v) = value else { return Ok(None) };
                    if v.is_zero() {
                        return Ok(Some(None));
                    }
                    let v = Self::check_price(&rules, v)?;
                    Self::check_stop_side(side, v, last, is_tp)?;
                    Ok(Some(Some(v)))
                };
            let tp = check(req.take_profit, true)?;
            let sl = check(req.stop_loss, false)?;
            let new_tp = tp.unwrap_or(pos.take_profit);
            let new_sl = sl.unwrap_or(pos.stop_loss);
            if new_tp == pos.take_profit && new_sl == pos.stop_loss {
                return Err(Reject::not_modified());
            }
            let now = self.now;
            let p = self.position(&req.symbol);
            p.take_profit = new_tp;
            p.stop_loss = new_sl;
            p.updated = now;
            self.mark_position(&req.symbol);
            Ok(())
        })();
        self.flush();
        result
    }

    // ------------------------------------------------------------------ market and time

    /// Prints a trade at `price` (rounded to the tick) and lets everything that reacts to the
    /// price react: conditional orders trigger, position TP/SL fire, resting orders fill.
    pub fn set_price(&mut self, now: i64, symbol: &str, price: Decimal) -> Result<(), Reject> {
        self.touch(now);
        let result = (|| {
            let rules = self.instrument(symbol)?.rules.clone();
            let price = round_price(&rules, price, RoundingMode::Nearest);
            if price <= Decimal::ZERO || price < rules.min_price() || price > rules.max_price() {
                return Err(Reject::price_out_of_range());
            }
            let qty = rules.min_order_qty();
            self.print(symbol, price, qty, None);
            self.settle_market(symbol);
            Ok(())
        })();
        self.flush();
        result
    }

    /// Replaces where a symbol's prices come from.
    pub fn set_price_source(&mut self, symbol: &str, source: PriceSource) -> Result<(), Reject> {
        self.instrument(symbol)?;
        if let Some(m) = self.markets.get_mut(symbol) {
            m.source = source;
            m.next_walk_at = i64::MIN;
        }
        Ok(())
    }

    /// Replaces a symbol's book shape (e.g. a thin book for partial-fill tests).
    pub fn set_book_shape(&mut self, symbol: &str, shape: BookShape) -> Result<(), Reject> {
        self.instrument(symbol)?;
        let sane = (1..=MAX_BOOK_LEVELS).contains(&shape.levels)
            && (1..=MAX_BOOK_LEVELS).contains(&shape.spacing_ticks)
            && shape.level_notional > Decimal::ZERO
            && shape.level_notional <= MAX_BALANCE;
        if !sane {
            return Err(Reject::params(
                "book shape out of range: levels and spacingTicks 1..=10000, levelNotional > 0",
            ));
        }
        if let Some(m) = self.markets.get_mut(symbol) {
            m.book = shape;
            m.book_update_id += 1;
            self.outbox.markets.insert(symbol.to_owned());
        }
        self.flush();
        Ok(())
    }

    /// Sets the USDT wallet balance (a deposit or withdrawal outside trading), between 0 and
    /// [`MAX_BALANCE`].
    pub fn set_balance(&mut self, now: i64, usdt: Decimal) -> Result<(), Reject> {
        if usdt < Decimal::ZERO || usdt > MAX_BALANCE {
            return Err(Reject::params(format!(
                "balance must be between 0 and {MAX_BALANCE}"
            )));
        }
        self.touch(now);
        self.wallet = usdt;
        self.outbox.wallet = true;
        self.flush();
        Ok(())
    }

    /// Moves time to `now`: every symbol's price source prints what is due, and the book
    /// reacts to each print.
    pub fn advance(&mut self, now: i64) {
        self.touch(now);
        let symbols: Vec<String> = self.markets.keys().cloned().collect();
        for symbol in symbols {
            let Some(inst) = self.instruments.get(&symbol) else {
                continue;
            };
            let rules = inst.rules.clone();
            let source = self.markets.get(&symbol).map(|m| m.source.clone());
            match source {
                Some(PriceSource::RandomWalk {
                    interval_ms,
                    max_step_ticks,
                }) if interval_ms > 0 => {
                    let mut steps = 0;
                    while let Some(m) = self.markets.get_mut(&symbol) {
                        if m.next_walk_at == i64::MIN {
                            m.next_walk_at = now.saturating_add(interval_ms);
                            break;
                        }
                        if m.next_walk_at > now.saturating_add(interval_ms) {
                            // Time stepped back (a clock fault undone): restart the cadence.
                            m.next_walk_at = now.saturating_add(interval_ms);
                        }
                        if m.next_walk_at > now {
                            break;
                        }
                        steps += 1;
                        if steps > MAX_WALK_STEPS {
                            // Far behind: skip the missed steps rather than replay them all.
                            m.next_walk_at = now.saturating_add(interval_ms);
                            break;
                        }
                        m.next_walk_at = m.next_walk_at.saturating_add(interval_ms);
                        let ticks = m.draw_step(max_step_ticks);
                        let price = m.last + rules.tick_size() * Decimal::from(ticks);
                        if ticks != 0
                            && price >= rules.min_price()
                            && price <= rules.max_price()
                            && price > Decimal::ZERO
                        {
                            self.print(&symbol, price, rules.min_order_qty(), None);
                            self.settle_market(&symbol);
                        }
                    }
                }
                Some(PriceSource::Path { .. }) => loop {
                    let point = match self.markets.get_mut(&symbol).map(|m| &mut m.source) {
                        Some(PriceSource::Path { points }) => match points.front() {
                            Some(p) if p.at_ms <= now => points.pop_front(),
                            _ => None,
                        },
                        _ => None,
                    };
                    let Some(point) = point else { break };
                    let price = round_price(&rules, point.price, RoundingMode::Nearest);
                    if price > Decimal::ZERO
                        && price >= rules.min_price()
                        && price <= rules.max_price()
                    {
                        let qty = point.qty.unwrap_or(rules.min_order_qty());
                        self.print(&symbol, price, qty, None);
                        self.settle_market(&symbol);
                    }
                },
                _ => {}
            }
        }
        self.flush();
    }

    /// Records a print on the tape. `taker` is the side that took liquidity when an order of
    /// ours did; synthetic prints take the side of the move.
    fn print(&mut self, symbol: &str, price: Decimal, qty: Decimal, taker: Option<Side>) {
        let now = self.now;
        let trade_id = self.uuid();
        let Some(m) = self.markets.get_mut(symbol) else {
            return;
        };
        let side = taker.unwrap_or(if price >= m.last {
            Side::Buy
        } else {
            Side::Sell
        });
        m.print(price, qty);
        m.last_taker = side;
        let seq = m.cross_seq;
        self.outbox.trades.push(PublicTrade {
            symbol: symbol.to_owned(),
            time_ms: now,
            taker_side: side,
            price,
            qty,
            trade_id,
            seq,
        });
        self.outbox.markets.insert(symbol.to_owned());
        if self.positions.get(symbol).is_some_and(|p| p.side.is_some()) {
            // Mark price follows the last price here, so unrealised PnL moves with it.
            self.mark_position(symbol);
        }
    }

    /// Reacts to the current last price until nothing more happens: conditional orders,
    /// position TP/SL, resting limit orders.
    fn settle_market(&mut self, symbol: &str) {
        for _ in 0..MAX_CASCADE {
            let Some(m) = self.markets.get_mut(symbol) else {
                return;
            };
            if m.cross_seq == m.settled_seq {
                return;
            }
            m.settled_seq = m.cross_seq;
            self.fire_conditionals(symbol);
            self.fire_position_stops(symbol);
            self.fill_resting(symbol);
        }
    }

    fn fire_conditionals(&mut self, symbol: &str) {
        let last = self.last_price(symbol);
        let due: Vec<u64> = self
            .open_iter()
            .filter(|o| o.symbol == symbol && o.is_conditional_waiting())
            .filter(|o| match (o.trigger_price, o.trigger_direction) {
                (Some(tp), Some(TriggerDirection::Rise)) => last >= tp,
                (Some(tp), Some(TriggerDirection::Fall)) => last <= tp,
                _ => false,
            })
            .map(|o| o.seq)
            .collect();
        for seq in due {
            self.trigger(seq);
        }
    }

    /// A conditional order's trigger was reached: it becomes a live order, or is deactivated
    /// when it can no longer be placed (no margin, nothing left to reduce).
    fn trigger(&mut self, seq: u64) {
        let Some(o) = self.orders.get(&seq) else {
            return;
        };
        let symbol = o.symbol.clone();
        let (side, is_reduce) = (o.side, o.reduce_only || o.close_on_trigger);
        let price = if o.order_type == OrderType::Limit {
            o.price
        } else {
            self.last_price(&symbol)
        };
        let qty = o.qty;
        let pos = self.position_view(&symbol);
        let now = self.now;
        if is_reduce {
            let reduces = pos.side.is_some_and(|held| held != side);
            if !reduces {
                self.close_order(
                    seq,
                    OrderStatus::Deactivated,
                    Some(CancelType::CancelByReduceOnly),
                    "EC_NoError",
                );
                return;
            }
            if let Some(o) = self.orders.get_mut(&seq) {
                if o.close_all || o.qty > pos.size {
                    o.qty = pos.size;
                    o.leaves = pos.size;
                }
            }
        } else if self.order_cost(&symbol, side, qty, price) > self.available() {
            self.close_order(
                seq,
                OrderStatus::Deactivated,
                Some(CancelType::CancelByUser),
                "EC_Others",
            );
            return;
        }
        if let Some(o) = self.orders.get_mut(&seq) {
            o.status = OrderStatus::New;
            o.updated = now;
        }
        self.mark_order(seq);
        self.activate(seq);
    }

    fn fire_position_stops(&mut self, symbol: &str) {
        let pos = self.position_view(symbol);
        let Some(held) = pos.side else { return };
        let last = self.last_price(symbol);
        let long = held == Side::Buy;
        let tp_hit = pos
            .take_profit
            .is_some_and(|tp| if long { last >= tp } else { last <= tp });
        let sl_hit = pos
            .stop_loss
            .is_some_and(|sl| if long { last <= sl } else { last >= sl });
        let (stop_type, create_type, trigger) = if tp_hit {
            (
                StopOrderType::TakeProfit,
                CreateType::CreateByTakeProfit,
                pos.take_profit,
            )
        } else if sl_hit {
            (
                StopOrderType::StopLoss,
                CreateType::CreateByStopLoss,
                pos.stop_loss,
            )
        } else {
            return;
        };
        {
            let p = self.position(symbol);
            p.take_profit = None;
            p.stop_loss = None;
        }
        let seq = self.next_order_seq();
        let order_id = self.uuid();
        let now = self.now;
        self.orders.insert(
            seq,
            OrderState {
                seq,
                order_id: order_id.clone(),
                link_id: String::new(),
                symbol: symbol.to_owned(),
                side: held.opposite(),
                order_type: OrderType::Market,
                price: Decimal::ZERO,
                qty: pos.size,
                leaves: pos.size,
                cum_qty: Decimal::ZERO,
                cum_value: Decimal::ZERO,
                cum_fee: Decimal::ZERO,
                closed_pnl: Decimal::ZERO,
                status: OrderStatus::New,
                tif: TimeInForce::Ioc,
                reduce_only: true,
                close_on_trigger: true,
                close_all: true,
                trigger_price: trigger,
                trigger_direction: None,
                stop_order_type: Some(stop_type),
                create_type,
                cancel_type: None,
                reject_reason: "EC_NoError",
                take_profit: None,
                stop_loss: None,
                last_price_on_created: last,
                created: now,
                updated: now,
            },
        );
        self.by_id.insert(order_id, seq);
        self.open.insert(seq);
        self.mark_order(seq);
        self.activate(seq);
    }

    /// Resting limit orders against the last print by a taker on their other side: a print
    /// through the price fills the whole order; a print exactly at it fills at most one book
    /// level (partial fills).
    fn fill_resting(&mut self, symbol: &str) {
        let last = self.last_price(symbol);
        let taker = self.markets.get(symbol).map_or(Side::Buy, |m| m.last_taker);
        let resting: Vec<(u64, Side, Decimal)> = self
            .open_iter()
            .filter(|o| {
                o.symbol == symbol
                    && o.order_type == OrderType::Limit
                    && matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled)
            })
            .map(|o| (o.seq, o.side, o.price))
            .collect();
        for (seq, side, price) in resting {
            // Only a taker on the other side trades with a resting order: a buyer's print never
            // fills a bid, including the remainder of the order that printed it.
            if taker != side.opposite() {
                continue;
            }
            let through = match side {
                Side::Buy => last < price,
                Side::Sell => last > price,
            };
            let touch = last == price;
            if !through && !touch {
                continue;
            }
            let leaves = self.orders.get(&seq).map_or(Decimal::ZERO, |o| o.leaves);
            let qty = if through {
                leaves
            } else {
                leaves.min(self.level_qty(symbol, price))
            };
            if qty > Decimal::ZERO {
                self.fill(seq, price, qty, true);
            }
        }
    }

    fn best_opposite(&self, symbol: &str, side: Side) -> Decimal {
        let Ok(inst) = self.instrument(symbol) else {
            return Decimal::ZERO;
        };
        let spacing =
            inst.rules.tick_size() * Decimal::from(self.book_shape(symbol).spacing_ticks.max(1));
        let last = self.last_price(symbol);
        match side {
            Side::Buy => last + spacing,
            Side::Sell => last - spacing,
        }
    }

    fn is_marketable(&self, symbol: &str, side: Side, price: Decimal) -> bool {
        let best = self.best_opposite(symbol, side);
        match side {
            Side::Buy => price >= best,
            Side::Sell => price <= best,
        }
    }

    /// Levels a taker on `side` can reach up to `limit`, best first.
    fn reachable(&self, symbol: &str, side: Side, limit: Decimal) -> Vec<Level> {
        let Ok(book) = self.book(symbol, usize::MAX) else {
            return Vec::new();
        };
        let levels = if side == Side::Buy {
            book.asks
        } else {
            book.bids
        };
        levels
            .into_iter()
            .take_while(|l| match side {
                Side::Buy => l.price <= limit,
                Side::Sell => l.price >= limit,
            })
            .collect()
    }

    /// A live order meets the book: it takes what it can, then rests, or is cancelled as its
    /// time in force says.
    fn activate(&mut self, seq: u64) {
        let Some(o) = self.orders.get(&seq) else {
            return;
        };
        let symbol = o.symbol.clone();
        let side = o.side;
        let tif = o.tif.clone();
        let is_market = o.order_type == OrderType::Market;
        let Ok(inst) = self.instrument(&symbol) else {
            return;
        };
        let protection = inst.protection;
        let rules = inst.rules.clone();
        let last = self.last_price(&symbol);
        let limit = if is_market {
            let cap = match side {
                Side::Buy => round_price(
                    &rules,
                    last * (Decimal::ONE + protection),
                    RoundingMode::Down,
                ),
                Side::Sell => {
                    round_price(&rules, last * (Decimal::ONE - protection), RoundingMode::Up)
                }
            };
            if let Some(o) = self.orders.get_mut(&seq) {
                o.price = cap;
            }
            cap
        } else {
            o.price
        };
        let marketable = self.is_marketable(&symbol, side, limit);
        if !is_market && tif == TimeInForce::PostOnly && marketable {
            self.close_order(
                seq,
                OrderStatus::Cancelled,
                Some(CancelType::CancelByUser),
                "EC_PostOnlyWillTakeLiquidity",
            );
            return;
        }
        let levels = if marketable {
            self.reachable(&symbol, side, limit)
        } else {
            Vec::new()
        };
        if tif == TimeInForce::Fok {
            let available: Decimal = levels.iter().map(|l| l.qty).sum();
            let leaves = self.orders.get(&seq).map_or(Decimal::ZERO, |o| o.leaves);
            if available < leaves {
                self.close_order(
                    seq,
                    OrderStatus::Cancelled,
                    Some(CancelType::CancelByUser),
                    "EC_CancelForNoFullFill",
                );
                return;
            }
        }
        let mut last_fill = None;
        let mut traded = Decimal::ZERO;
        for level in levels {
            let leaves = self.orders.get(&seq).map_or(Decimal::ZERO, |o| o.leaves);
            if leaves.is_zero() {
                break;
            }
            let take = leaves.min(level.qty);
            let filled = self.fill(seq, level.price, take, false);
            if filled.is_zero() {
                break;
            }
            traded += filled;
            last_fill = Some(level.price);
        }
        if let Some(price) = last_fill {
            self.print(&symbol, price, traded, Some(side));
        }
        let (leaves, status) = self
            .orders
            .get(&seq)
            .map_or((Decimal::ZERO, OrderStatus::Filled), |o| {
                (o.leaves, o.status.clone())
            });
        if !leaves.is_zero()
            && status.is_open()
            && (is_market || tif == TimeInForce::Ioc || tif == TimeInForce::Fok)
        {
            let reason = if traded.is_zero() {
                "EC_NoImmediateQtyToFill"
            } else {
                "EC_CancelForNoFullFill"
            };
            self.close_order(
                seq,
                OrderStatus::Cancelled,
                Some(CancelType::CancelByUser),
                reason,
            );
        }
    }

    /// Fills `qty` of order `seq` at `price`. Returns what was filled: a reduce-only order
    /// never fills beyond the position it reduces.
    fn fill(&mut self, seq: u64, price: Decimal, qty: Decimal, is_maker: bool) -> Decimal {
        let Some(o) = self.orders.get(&seq) else {
            return Decimal::ZERO;
        };
        let symbol = o.symbol.clone();
        let side = o.side;
        let reduce = o.reduce_only;
        let pos = self.position_view(&symbol);
        let qty = if reduce {
            match pos.side {
                Some(held) if held != side => qty.min(pos.size),
                _ => Decimal::ZERO,
            }
        } else {
            qty
        };
        if qty <= Decimal::ZERO {
            if reduce {
                self.close_order(
                    seq,
                    OrderStatus::Cancelled,
                    Some(CancelType::CancelByReduceOnly),
                    "EC_NoError",
                );
            }
            return Decimal::ZERO;
        }
        let now = self.now;
        let rate = if is_maker {
            self.fees.maker
        } else {
            self.fees.taker
        };
        let value = price * qty;
        let fee = (value * rate).round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero);
        let held_before = self.position_view(&symbol).side;
        let (closed, pnl) = self.position(&symbol).apply_fill(side, qty, price, now);
        self.wallet += pnl - fee;
        self.cum_realised += pnl - fee;
        {
            let p = self.position(&symbol);
            p.cum_realised += pnl - fee;
            if held_before.is_some() && p.side == Some(side) && held_before != p.side {
                // Flipped: the new position's own realised PnL is only its opening fee share.
                p.cur_realised = -(fee * (qty - closed) / qty);
            } else {
                p.cur_realised += pnl - fee;
            }
            p.seq += 1;
        }
        let (
            order_id,
            link_id,
            order_type,
            stop_type,
            create_type,
            order_price,
            order_qty,
            leaves_after,
            tp,
            sl,
        );
        {
            let Some(o) = self.orders.get_mut(&seq) else {
                return Decimal::ZERO;
            };
            o.cum_qty += qty;
            o.cum_value += value;
            o.cum_fee += fee;
            o.closed_pnl += pnl - fee;
            o.leaves -= qty;
            o.updated = now;
            o.status = if o.leaves.is_zero() {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            };
            order_id = o.order_id.clone();
            link_id = o.link_id.clone();
            order_type = o.order_type.clone();
            stop_type = o.stop_order_type.clone();
            create_type = o.create_type.clone();
            order_price = o.price;
            order_qty = o.qty;
            leaves_after = o.leaves;
            tp = o.take_profit;
            sl = o.stop_loss;
        }
        if self.orders.get(&seq).is_some_and(|o| !o.is_open()) {
            self.retire(seq);
        }
        let exec_id = self.uuid();
        let exec_seq = self.exec_seq;
        self.exec_seq += 1;
        self.executions.push_back(ExecRecord {
            exec_id,
            order_id,
            link_id,
            symbol: symbol.clone(),
            side,
            order_type,
            stop_order_type: stop_type,
            create_type,
            order_price,
            order_qty,
            leaves_after,
            price,
            qty,
            fee,
            fee_rate: rate,
            is_maker,
            closed_size: closed,
            pnl,
            mark_price: self.last_price(&symbol),
            time: now,
            seq: exec_seq,
        });
        self.outbox.executions.push(self.executions.len() - 1);
        while self.executions.len() > self.limits.executions_kept {
            self.executions.pop_front();
            self.outbox.executions.retain(|i| *i > 0);
            for i in &mut self.outbox.executions {
                *i -= 1;
            }
        }
        // TP/SL given with the order attach to the position it opened.
        if tp.is_some() || sl.is_some() {
            let p = self.position(&symbol);
            if p.side == Some(side) {
                if tp.is_some() {
                    p.take_profit = tp;
                }
                if sl.is_some() {
                    p.stop_loss = sl;
                }
            }
        }
        self.mark_order(seq);
        self.mark_position(&symbol);
        self.outbox.wallet = true;
        self.cancel_stale_reduce_only(&symbol);
        qty
    }

    /// Reduce-only orders that can no longer reduce (the position closed or flipped) are
    /// cancelled, as Bybit does.
    fn cancel_stale_reduce_only(&mut self, symbol: &str) {
        let pos = self.position_view(symbol);
        let stale: Vec<u64> = self
            .open_iter()
            .filter(|o| {
                o.symbol == symbol
                    && o.reduce_only
                    && matches!(o.status, OrderStatus::New | OrderStatus::PartiallyFilled)
            })
            .filter(|o| pos.side.is_none_or(|held| held == o.side))
            .map(|o| o.seq)
            .collect();
        for seq in stale {
            self.close_order(
                seq,
                OrderStatus::Cancelled,
                Some(CancelType::CancelByReduceOnly),
                "EC_NoError",
            );
        }
    }

    fn close_order(
        &mut self,
        seq: u64,
        status: OrderStatus,
        cancel: Option<CancelType>,
        reason: &'static str,
    ) {
        let now = self.now;
        if let Some(o) = self.orders.get_mut(&seq) {
            o.status = status;
            o.cancel_type = cancel;
            o.reject_reason = reason;
            o.updated = now;
        }
        self.retire(seq);
        self.mark_order(seq);
        self.outbox.wallet = true;
    }

    /// Keeps a closed order for lookups (and duplicate-orderLinkId checks) until the window of
    /// recent closed orders moves past it.
    fn retire(&mut self, seq: u64) {
        if !self.open.remove(&seq) {
            return;
        }
        self.closed.push_back(seq);
        while self.closed.len() > self.limits.recent_closed_orders {
            let Some(old) = self.closed.pop_front() else {
                break;
            };
            if let Some(o) = self.orders.remove(&old) {
                self.by_id.remove(&o.order_id);
                if !o.link_id.is_empty() {
                    self.by_link.remove(&o.link_id);
                }
            }
        }
    }

    pub(crate) fn find(&self, key: &OrderKey, symbol: &str) -> Option<u64> {
        let seq = match key {
            OrderKey::Id(id) => self.by_id.get(id),
            OrderKey::LinkId(id) => self.by_link.get(id),
        }?;
        self.orders
            .get(seq)
            .filter(|o| o.symbol == symbol)
            .map(|o| o.seq)
    }

    // ------------------------------------------------------------------ queries

    /// Open orders (and, by id or link id, recently closed ones), newest first, as
    /// `GET /v5/order/realtime` lists them.
    pub fn open_orders(&self, query: &OrderQuery) -> Vec<bybit_types::rest::order::Order> {
        self.select_orders(query, |o| o.is_open() || query.key.is_some())
    }

    /// Closed orders still kept, newest first (`GET /v5/order/history`).
    pub fn order_history(&self, query: &OrderQuery) -> Vec<bybit_types::rest::order::Order> {
        self.select_orders(query, |o| !o.is_open() || query.key.is_some())
    }

    fn select_orders(
        &self,
        query: &OrderQuery,
        keep: impl Fn(&OrderState) -> bool,
    ) -> Vec<bybit_types::rest::order::Order> {
        let by_key = query.key.as_ref().and_then(|k| match k {
            OrderKey::Id(id) => self.by_id.get(id).copied(),
            OrderKey::LinkId(id) => self.by_link.get(id).copied(),
        });
        if query.key.is_some() && by_key.is_none() {
            return Vec::new();
        }
        self.orders
            .values()
            .rev()
            .filter(|o| by_key.is_none_or(|seq| o.seq == seq))
            .filter(|o| {
                self.order_matches(
                    o,
                    &Scope {
                        symbol: query.symbol.as_deref(),
                        base_coin: query.base_coin.as_deref(),
                        settle_coin: query.settle_coin.as_deref(),
                    },
                    query.filter,
                )
            })
            .filter(|o| keep(o))
            .map(|o| self.order_wire(o))
            .collect()
    }

    /// Fills, newest first (`GET /v5/execution/list`).
    pub fn executions(
        &self,
        query: &ExecutionQuery,
    ) -> Vec<bybit_types::rest::execution::Execution> {
        self.executions
            .iter()
            .rev()
            .filter(|e| query.symbol.as_deref().is_none_or(|s| e.symbol == s))
            .filter(|e| match &query.key {
                None => true,
                Some(OrderKey::Id(id)) => &e.order_id == id,
                Some(OrderKey::LinkId(id)) => &e.link_id == id,
            })
            .filter(|e| query.start_ms.is_none_or(|t| e.time >= t))
            .filter(|e| query.end_ms.is_none_or(|t| e.time <= t))
            .map(|e| self.execution_wire(e))
            .collect()
    }

    /// The position of one symbol; a flat row when there is none, as Bybit answers.
    pub fn position_of(
        &self,
        symbol: &str,
    ) -> Result<bybit_types::rest::position::Position, Reject> {
        self.instrument(symbol)?;
        Ok(self.position_wire(symbol, &self.position_view(symbol)))
    }

    /// Every non-flat position (the `settleCoin` form of the position list).
    pub fn open_positions(&self) -> Vec<bybit_types::rest::position::Position> {
        self.positions
            .iter()
            .filter(|(_, p)| p.side.is_some())
            .map(|(s, p)| self.position_wire(s, p))
            .collect()
    }

    /// The unified account as wallet-balance reports it.
    pub fn wallet(&self) -> bybit_types::rest::account::WalletAccount {
        self.wallet_wire()
    }

    /// Instruments as instruments-info lists them.
    pub fn instruments(&self) -> Vec<InstrumentInfo> {
        self.instruments.values().map(|i| i.info.clone()).collect()
    }

    /// The rules of one instrument.
    pub fn rules(&self, symbol: &str) -> Result<&InstrumentRules, Reject> {
        Ok(&self.instrument(symbol)?.rules)
    }

    /// The last traded price of a symbol.
    pub fn price(&self, symbol: &str) -> Result<Decimal, Reject> {
        self.instrument(symbol)?;
        Ok(self.last_price(symbol))
    }

    /// The fee rates the account pays.
    pub fn fees(&self) -> FeeRates {
        self.fees
    }

    /// The symbol's running book update id and cross sequence: the `u` and `seq` a Bybit
    /// order-book message would carry now. Both rise with every print.
    pub fn sequence(&self, symbol: &str) -> Result<(u64, u64), Reject> {
        self.instrument(symbol)?;
        Ok(self
            .markets
            .get(symbol)
            .map_or((1, 1), |m| (m.book_update_id, m.cross_seq)))
    }

    /// Engine time: the latest `now` any command has passed.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Drains the updates queued since the last call, in the order they happened.
    pub fn take_events(&mut self) -> Vec<EngineEvent> {
        std::mem::take(&mut self.events)
    }

    /// Turns what the last command changed into events.
    fn flush(&mut self) {
        let outbox = std::mem::take(&mut self.outbox);
        for seq in outbox.orders {
            if let Some(o) = self.orders.get(&seq) {
                self.events
                    .push(EngineEvent::Order(Box::new(self.order_wire(o))));
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
