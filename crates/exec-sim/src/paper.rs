//! The paper router: every port on one `sim-engine` in-process.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::Mutex;

use async_trait::async_trait;
use bybit_meta::InstrumentRules;
use bybit_types::OrderLinkId;
use exec_events::{Event, EventBus};
use exec_gateway::{
    AccountService, Balance, BybitStatus, Clock, HealthCheck, Journal, JournalError, OrderAck,
    OrderRequest, OrderRouter, OrderSnapshot, PortError, PortResult, PositionService,
    PositionState, PriceService, RestHealth, Symbol, SymbolMetaService, TriggerDirection, WsHealth,
};
use rust_decimal::Decimal;
use sim_engine::{
    Amend, Engine, EngineEvent, NewOrder, OrderKey, OrderQuery, PriceSource, RestoreError,
    TradingStop,
};

use crate::wire;

/// The error of every port call once the account could not be saved.
fn unsaved(why: &str) -> PortError {
    PortError::UnknownOutcome {
        reason: format!(
            "the paper account could not be saved in the journal ({why}); restart to continue \
             from the last saved account"
        ),
    }
}

struct Inner {
    engine: Engine,
    /// Orders already reported, so a later `New` reads as an update.
    seen: HashSet<String>,
    /// Why the account could not be saved. From then on the engine is ahead of what a
    /// restart would restore, so every port call is refused until the process restarts.
    unsaved: Option<String>,
}

/// Why a paper router could not start on its journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PaperError {
    /// The journal could not be read or written.
    #[error("the paper account in the journal: {0}")]
    Journal(#[from] JournalError),
    /// The journal holds an account this engine cannot continue.
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

/// The ports over an in-process [`Engine`]. Cheap to share (`Arc`); every call locks the
/// engine briefly (never across an await), runs one command at the clock's time, saves the
/// account in the journal when the command changed it (with the command's fills, in one
/// write: [`Journal::save_paper_account`]), and only then publishes what the engine reported,
/// in the engine's order, and answers. So a process killed at any point restarts on an
/// account that has every order the journal says was answered, and no fill the journal lacks.
pub struct PaperRouter {
    inner: Mutex<Inner>,
    bus: EventBus,
    clock: Arc<dyn Clock>,
    journal: Arc<dyn Journal>,
}

impl std::fmt::Debug for PaperRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperRouter")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl PaperRouter {
    /// A router over `engine`, publishing on `bus`, with `clock` for engine time. The account
    /// is kept in `journal` (the gateway's; not optional, SPEC R-GW-6): when the journal
    /// holds one (an earlier process), the engine continues it (its balance, positions,
    /// orders, fills, leverage; the market stays `engine`'s); otherwise `engine`'s fresh
    /// account is saved at once. Every fill is recorded in the journal before it is
    /// published, so a bus subscriber that lags can re-read fills there.
    pub async fn new(
        mut engine: Engine,
        bus: EventBus,
        clock: Arc<dyn Clock>,
        journal: Arc<dyn Journal>,
    ) -> Result<Self, PaperError> {
        match journal.paper_account().await? {
            Some(saved) => engine.restore_account(&saved)?,
            None => {
                journal
                    .save_paper_account(&engine.account_json(), &[], clock.now_ms())
                    .await?
            }
        }
        engine.take_events();
        let seen = engine
            .open_orders(&OrderQuery::default())
            .into_iter()
            .chain(engine.order_history(&OrderQuery::default()))
            .map(|o| o.order_id)
            .collect();
        Ok(PaperRouter {
            inner: Mutex::new(Inner {
                engine,
                seen,
                unsaved: None,
            }),
            bus,
            clock,
            journal,
        })
    }

    /// Runs `f` on the engine at the clock's time, saves the account if `f` changed it, and
    /// publishes what the engine reports. For reads and tests: a failed save is reported on
    /// the bus (and refuses every later port call) but `f`'s result is returned.
    pub async fn with_engine<T>(&self, f: impl FnOnce(&mut Engine, i64) -> T) -> T {
        self.step(|inner, now| f(&mut inner.engine, now)).await.0
    }

    /// [`with_engine`](Self::with_engine) for a port call: refused without touching the
    /// engine once a save has failed, and an error when this call's save fails (the outcome
    /// is then unknown to the gateway, and the account is not published as changed).
    async fn run<T>(&self, f: impl FnOnce(&mut Engine, i64) -> T) -> PortResult<T> {
        let (result, saved) = self
            .step(|inner, now| match &inner.unsaved {
                Some(why) => Err(unsaved(why)),
                None => Ok(f(&mut inner.engine, now)),
            })
            .await;
        saved?;
        result
    }

    /// Runs `f` under the lock, saves the account when the engine reports a change to it,
    /// then publishes; the second value says whether the save failed.
    async fn step<T>(&self, f: impl FnOnce(&mut Inner, i64) -> T) -> (T, PortResult<()>) {
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock().await;
        let result = f(&mut inner, now);
        let events = inner.engine.take_events();
        let changed = events.iter().any(|e| {
            matches!(
                e,
                EngineEvent::Order(_)
                    | EngineEvent::Execution(_)
                    | EngineEvent::Position(_)
                    | EngineEvent::Wallet(_)
            )
        });
        let fills: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                EngineEvent::Execution(x) => Some(wire::fill(x)),
                _ => None,
            })
            .collect();
        if changed && inner.unsaved.is_none() {
            let account = inner.engine.account_json();
            if let Err(err) = self.journal.save_paper_account(&account, &fills, now).await {
                let why = err.to_string();
                self.bus.publish(Event::Health(exec_events::HealthUpdate {
                    component: "journal".into(),
                    ok: false,
                    detail: Some(format!("paper account not saved: {why}")),
                }));
                inner.unsaved = Some(why.clone());
                return (result, Err(unsaved(&why)));
            }
        }
        let mut fills = fills.into_iter();
        for event in events {
            let out = match event {
                EngineEvent::Order(o) => {
                    let seen = !inner.seen.insert(o.order_id.clone());
                    Some(Event::Order(wire::order_event(&o, seen)))
                }
                EngineEvent::Execution(_) => match fills.next() {
                    Some(fill) => {
                        // Saved with the account above: its one log line.
                        exec_gateway::journal::log_fill(self.journal.as_ref(), &fill, true).await;
                        Some(Event::Fill(fill))
                    }
                    None => None,
                },
                EngineEvent::Position(p) => Some(Event::Position(wire::position_event(&p))),
                EngineEvent::Wallet(w) => Some(Event::Wallet(wire::wallet_event(&w))),
                EngineEvent::Trade(_) | EngineEvent::Market { .. } => None,
            };
            if let Some(event) = out {
                self.bus.publish(event);
            }
        }
        (result, Ok(()))
    }

    /// The paper account's wallet balance and what is available, from memory (no command).
    pub async fn balance(&self) -> Balance {
        wire::balance(&self.with_engine(|e, _| e.wallet()).await)
    }

    /// Prints a trade at `price` (the price path's next step).
    pub async fn set_price(&self, symbol: &str, price: Decimal) -> PortResult<()> {
        self.run(|e, now| e.set_price(now, symbol, price))
            .await?
            .map_err(wire::reject)
    }

    /// Replaces a symbol's price source (e.g. [`PriceSource::path`]).
    pub async fn set_price_source(&self, symbol: &str, source: PriceSource) -> PortResult<()> {
        self.run(|e, _| e.set_price_source(symbol, source))
            .await?
            .map_err(wire::reject)
    }

    /// Moves the engine to the clock's time: price sources print what is due. Nothing
    /// moves once the account could not be saved.
    pub async fn advance(&self) {
        // A failed save was already reported on the bus and refuses every later call.
        let _ = self.run(|e, now| e.advance(now)).await;
    }

    async fn create(&self, req: &OrderRequest) -> PortResult<OrderAck> {
        let side = wire::wire_side(req.side);
        let symbol = req.symbol.as_str();
        let mut order = match req.price {
            Some(price) => NewOrder::limit(symbol, side, req.qty, price),
            None => NewOrder::market(symbol, side, req.qty),
        };
        if let (Some(trigger), Some(direction)) = (req.trigger_price, req.trigger_direction) {
            let direction = match direction {
                TriggerDirection::Rise => sim_engine::TriggerDirection::Rise,
                TriggerDirection::Fall => sim_engine::TriggerDirection::Fall,
            };
            order = order.trigger(trigger, direction);
        }
        order = order.link_id(req.order_link_id.as_str());
        if req.reduce_only {
            order = order.reduce_only();
        }
        let ack = self
            .run(|e, now| e.create_order(now, &order))
            .await?
            .map_err(wire::reject)?;
        Ok(OrderAck {
            order_id: ack.order_id,
            order_link_id: ack.order_link_id,
        })
    }

    async fn orders(&self, query: &OrderQuery) -> PortResult<Vec<OrderSnapshot>> {
        Ok(self
            .run(|e, _| e.open_orders(query))
            .await?
            .iter()
            .map(wire::snapshot)
            .collect())
    }
}

#[async_trait]
impl OrderRouter for PaperRouter {
    async fn place(&self, order: &OrderRequest) -> PortResult<OrderAck> {
        self.create(order).await
    }

    async fn sync_open_orders(&self, symbol: &Symbol) -> PortResult<Vec<OrderSnapshot>> {
        self.orders(&OrderQuery {
            symbol: Some(symbol.as_str().to_owned()),
            ..OrderQuery::default()
        })
        .await
    }

    async fn get_order(
        &self,
        symbol: &Symbol,
        order_link_id: &OrderLinkId,
    ) -> PortResult<Option<OrderSnapshot>> {
        Ok(self
            .orders(&OrderQuery {
                symbol: Some(symbol.as_str().to_owned()),
                key: Some(OrderKey::LinkId(order_link_id.as_str().to_owned())),
                ..OrderQuery::default()
            })
            .await?
            .into_iter()
            .next())
    }

    async fn cancel_order(&self, symbol: &Symbol, order_link_id: &OrderLinkId) -> PortResult<()> {
        let key = OrderKey::LinkId(order_link_id.as_str().to_owned());
        self.run(|e, now| e.cancel_order(now, symbol.as_str(), &key))
            .await?
            .map(drop)
            .map_err(wire::reject)
    }

    async fn amend_order_qty(
        &self,
        symbol: &Symbol,
        order_link_id: &OrderLinkId,
        qty: Decimal,
    ) -> PortResult<()> {
        let amend = Amend {
            symbol: symbol.as_str().to_owned(),
            key: OrderKey::LinkId(order_link_id.as_str().to_owned()),
            qty: Some(qty),
            price: None,
            trigger_price: None,
        };
        self.run(|e, now| e.amend_order(now, &amend))
            .await?
            .map(drop)
            .map_err(wire::reject)
    }

    async fn set_stop_loss(&self, symbol: &Symbol, price: Decimal) -> PortResult<()> {
        let stop = TradingStop {
            symbol: symbol.as_str().to_owned(),
            take_profit: None,
            stop_loss: Some(price),
        };
        self.run(|e, now| e.set_trading_stop(now, &stop))
            .await?
            .map_err(wire::reject)
    }
}

#[async_trait]
impl PositionService for PaperRouter {
    async fn get_position(&self, symbol: &Symbol) -> PortResult<PositionState> {
        let p = self
            .run(|e, _| e.position_of(symbol.as_str()))
            .await?
            .map_err(wire::reject)?;
        wire::position(&p)
    }

    async fn get_all_positions(&self) -> PortResult<Vec<PositionState>> {
        self.run(|e, _| e.open_positions())
            .await?
            .iter()
            .map(wire::position)
            .collect()
    }

    async fn get_open_orders(&self, symbol: &Symbol) -> PortResult<Vec<OrderSnapshot>> {
        self.sync_open_orders(symbol).await
    }
}

#[async_trait]
impl AccountService for PaperRouter {
    async fn get_balance(&self) -> PortResult<Balance> {
        Ok(wire::balance(&self.run(|e, _| e.wallet()).await?))
    }

    async fn set_leverage(&self, symbol: &Symbol, leverage: Decimal) -> PortResult<()> {
        match self
            .run(|e, now| e.set_leverage(now, symbol.as_str(), leverage, leverage))
            .await?
        {
            Ok(()) => Ok(()),
            Err(r) if r.ret_code == sim_engine::codes::LEVERAGE_NOT_MODIFIED => Ok(()),
            Err(r) => Err(wire::reject(r)),
        }
    }

    async fn set_isolated(&self, _symbol: &Symbol) -> PortResult<()> {
        // The engine keeps one margin mode; there is nothing to switch.
        Ok(())
    }

    async fn get_wallet_summary(&self) -> PortResult<Balance> {
        self.get_balance().await
    }
}

#[async_trait]
impl SymbolMetaService for PaperRouter {
    async fn refresh_symbol_meta(&self) -> PortResult<usize> {
        Ok(self.with_engine(|e, _| e.instruments().len()).await)
    }

    async fn get_symbol_meta(&self, symbol: &Symbol) -> PortResult<Arc<InstrumentRules>> {
        self.with_engine(|e, _| e.rules(symbol.as_str()).cloned())
            .await
            .map(Arc::new)
            .map_err(wire::reject)
    }
}

#[async_trait]
impl PriceService for PaperRouter {
    async fn last_price(&self, symbol: &Symbol) -> PortResult<Decimal> {
        self.with_engine(|e, _| e.price(symbol.as_str()))
            .await
            .map_err(wire::reject)
    }

    /// The engine's band, the one its orders are judged by.
    async fn price_limit(&self, symbol: &Symbol) -> PortResult<Option<exec_gateway::PriceLimit>> {
        self.with_engine(|e, _| e.price_limit(symbol.as_str()))
            .await
            .map(|limit| {
                limit.map(|l| exec_gateway::PriceLimit {
                    buy_max: l.buy_max,
                    sell_min: l.sell_min,
                })
            })
            .map_err(wire::reject)
    }
}

#[async_trait]
impl HealthCheck for PaperRouter {
    async fn check_rest_health(&self) -> PortResult<RestHealth> {
        Ok(RestHealth {
            ok: true,
            latency_ms: 0,
        })
    }

    async fn check_ws_health(&self) -> PortResult<(WsHealth, WsHealth)> {
        let ok = WsHealth {
            ok: true,
            last_msg_ago_sec: 0,
            error: None,
        };
        Ok((ok.clone(), ok))
    }

    async fn get_bybit_status(&self) -> PortResult<BybitStatus> {
        let (ws_public, ws_private) = self.check_ws_health().await?;
        Ok(BybitStatus {
            rest: self.check_rest_health().await?,
            ws_public,
            ws_private,
        })
    }
}
