//! Read-only queries: orders, executions, positions, wallet, instruments, sequences.

use bybit_meta::InstrumentRules;
use bybit_types::rest::market::InstrumentInfo;
use rust_decimal::Decimal;

use super::{Engine, Scope};
use crate::command::{ExecutionQuery, OrderKey, OrderQuery};
use crate::config::FeeRates;
use crate::reject::Reject;
use crate::state::OrderState;

impl Engine {
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

    /// Open orders (and, by id or link id, recently closed ones: those closed since the
    /// exchange last restarted, `engine/time.rs`), newest first, as `GET /v5/order/realtime`
    /// lists them.
    pub fn open_orders(&self, query: &OrderQuery) -> Vec<bybit_types::rest::order::Order> {
        self.select_orders(query, |o| {
            o.is_open() || (query.key.is_some() && self.in_realtime_cache(o))
        })
    }

    /// Every closed order still kept, newest first, whatever its age (what `GET
    /// /v5/order/history` lists is [`Engine::order_history_at`]).
    pub fn order_history(&self, query: &OrderQuery) -> Vec<bybit_types::rest::order::Order> {
        self.select_orders(query, |o| !o.is_open() || query.key.is_some())
    }

    pub(super) fn select_orders(
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
            .map(|o| self.order_on_rest(o))
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

    /// How many records the engine holds in each of its growing collections: what a
    /// long-running emulator's memory follows. Every one is bounded (open orders by Bybit's
    /// order limits, closed orders and executions by [`crate::Limits`], queued events by the
    /// caller draining them).
    pub fn retained(&self) -> Retained {
        Retained {
            orders: self.orders.len(),
            open_orders: self.open.len(),
            closed_orders: self.closed.len(),
            order_ids: self.by_id.len() + self.by_link.len(),
            executions: self.executions.len(),
            positions: self.positions.len(),
            queued_events: self.events.len(),
        }
    }
}

/// The sizes [`Engine::retained`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    /// Orders kept (open and recently closed).
    pub orders: usize,
    /// Orders that can still trade or trigger.
    pub open_orders: usize,
    /// Closed orders kept for lookups.
    pub closed_orders: usize,
    /// Entries of the order-id and link-id indexes.
    pub order_ids: usize,
    /// Executions kept.
    pub executions: usize,
    /// Position records (one per symbol ever touched).
    pub positions: usize,
    /// Events not yet taken.
    pub queued_events: usize,
}
