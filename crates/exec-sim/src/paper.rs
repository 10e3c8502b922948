//! The paper router: every port on one `sim-engine` in-process.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bybit_meta::InstrumentRules;
use bybit_types::OrderLinkId;
use exec_events::{Event, EventBus};
use exec_gateway::{
    cancel_matching, AccountService, Balance, BybitStatus, CancelScope, Clock, HealthCheck,
    Journal, OrderAck, OrderRequest, OrderRouter, OrderSnapshot, PortResult, PositionService,
    PositionState, PriceService, RestHealth, Symbol, SymbolMetaService, TriggerDirection, WsHealth,
};
use rust_decimal::Decimal;
use sim_engine::{
    Amend, Engine, EngineEvent, NewOrder, OrderKey, OrderQuery, PriceSource, TradingStop,
};

use crate::wire;

struct Inner {
    engine: Engine,
    /// Orders already reported, so a later `New` reads as an update.
    seen: HashSet<String>,
}

/// The ports over an in-process [`Engine`]. Cheap to share (`Arc`); every call locks the
/// engine briefly (never across an await), runs one command at the clock's time, and
/// publishes what the engine reports, in the engine's order, before unlocking. With a
/// journal each fill is recorded before it is published.
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
    /// A router over `engine`, publishing on `bus`, with `clock` for engine time. Every fill
    /// is recorded in `journal` (the gateway's) before it is published, so a bus subscriber
    /// that lags can re-read fills there; it is not optional (SPEC R-GW-6).
    pub fn new(
        engine: Engine,
        bus: EventBus,
        clock: Arc<dyn Clock>,
        journal: Arc<dyn Journal>,
    ) -> Self {
        PaperRouter {
            inner: Mutex::new(Inner {
                engine,
                seen: HashSet::new(),
            }),
            bus,
            clock,
            journal,
        }
    }

    /// Runs `f` on the engine at the clock's time and publishes what it reports.
    pub fn with_engine<T>(&self, f: impl FnOnce(&mut Engine, i64) -> T) -> T {
        let now = self.clock.now_ms();
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let result = f(&mut inner.engine, now);
        let events = inner.engine.take_events();
        for event in events {
            let out = match event {
                EngineEvent::Order(o) => {
                    let seen = !inner.seen.insert(o.order_id.clone());
                    Some(Event::Order(wire::order_event(&o, seen)))
                }
                EngineEvent::Execution(e) => {
                    let fill = wire::fill(&e);
                    if let Err(err) = self.journal.record_fill(&fill) {
                        self.bus.publish(Event::Health(exec_events::HealthUpdate {
                            component: "journal".into(),
                            ok: false,
                            detail: Some(err.to_string()),
                        }));
                    }
                    Some(Event::Fill(fill))
                }
                EngineEvent::Position(p) => Some(Event::Position(wire::position_event(&p))),
                EngineEvent::Wallet(w) => Some(Event::Wallet(wire::wallet_event(&w))),
                EngineEvent::Trade(_) | EngineEvent::Market { .. } => None,
            };
            if let Some(event) = out {
                self.bus.publish(event);
            }
        }
        result
    }

    /// Prints a trade at `price` (the price path's next step).
    pub fn set_price(&self, symbol: &str, price: Decimal) -> PortResult<()> {
        self.with_engine(|e, now| e.set_price(now, symbol, price))
            .map_err(wire::reject)
    }

    /// Replaces a symbol's price source (e.g. [`PriceSource::path`]).
    pub fn set_price_source(&self, symbol: &str, source: PriceSource) -> PortResult<()> {
        self.with_engine(|e, _| e.set_price_source(symbol, source))
            .map_err(wire::reject)
    }

    /// Moves the engine to the clock's time: price sources print what is due.
    pub fn advance(&self) {
        self.with_engine(|e, now| e.advance(now));
    }

    fn place(&self, req: &OrderRequest) -> PortResult<OrderAck> {
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
            .with_engine(|e, now| e.create_order(now, &order))
            .map_err(wire::reject)?;
        Ok(OrderAck {
            order_id: ack.order_id,
            order_link_id: ack.order_link_id,
        })
    }

    fn orders(&self, query: &OrderQuery) -> Vec<OrderSnapshot> {
        self.with_engine(|e, _| e.open_orders(query))
            .iter()
            .map(wire::snapshot)
            .collect()
    }
}

#[async_trait]
impl OrderRouter for PaperRouter {
    async fn place_market_entry(&self, order: &OrderRequest) -> PortResult<OrderAck> {
        self.place(order)
    }

    async fn place_dca_order(&self, order: &OrderRequest) -> PortResult<OrderAck> {
        self.place(order)
    }

    async fn place_tp_order(&self, order: &OrderRequest) -> PortResult<OrderAck> {
        self.place(order)
    }

    async fn close_position_market(
        &self,
        order: &OrderRequest,
        _reason: &str,
    ) -> PortResult<OrderAck> {
        self.place(order)
    }

    async fn cancel_all_tp_dca(
        &self,
        symbol: &Symbol,
        scope: &CancelScope,
    ) -> PortResult<Vec<String>> {
        cancel_matching(self, symbol, scope).await
    }

    async fn sync_open_orders(&self, symbol: &Symbol) -> PortResult<Vec<OrderSnapshot>> {
        Ok(self.orders(&OrderQuery {
            symbol: Some(symbol.as_str().to_owned()),
            ..OrderQuery::default()
        }))
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
            .into_iter()
            .next())
    }

    async fn cancel_order(&self, symbol: &Symbol, order_link_id: &OrderLinkId) -> PortResult<()> {
        let key = OrderKey::LinkId(order_link_id.as_str().to_owned());
        self.with_engine(|e, now| e.cancel_order(now, symbol.as_str(), &key))
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
        self.with_engine(|e, now| e.amend_order(now, &amend))
            .map(drop)
            .map_err(wire::reject)
    }

    async fn set_stop_loss(&self, symbol: &Symbol, price: Decimal) -> PortResult<()> {
        let stop = TradingStop {
            symbol: symbol.as_str().to_owned(),
            take_profit: None,
            stop_loss: Some(price),
        };
        self.with_engine(|e, now| e.set_trading_stop(now, &stop))
            .map_err(wire::reject)
    }
}

#[async_trait]
impl PositionService for PaperRouter {
    async fn get_position(&self, symbol: &Symbol) -> PortResult<PositionState> {
        let p = self
            .with_engine(|e, _| e.position_of(symbol.as_str()))
            .map_err(wire::reject)?;
        wire::position(&p)
    }

    async fn get_all_positions(&self) -> PortResult<Vec<PositionState>> {
        self.with_engine(|e, _| e.open_positions())
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
        Ok(wire::balance(&self.with_engine(|e, _| e.wallet())))
    }

    async fn set_leverage(&self, symbol: &Symbol, leverage: Decimal) -> PortResult<()> {
        match self.with_engine(|e, now| e.set_leverage(now, symbol.as_str(), leverage, leverage)) {
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
        Ok(self.with_engine(|e, _| e.instruments().len()))
    }

    async fn get_symbol_meta(&self, symbol: &Symbol) -> PortResult<Arc<InstrumentRules>> {
        self.with_engine(|e, _| e.rules(symbol.as_str()).cloned())
            .map(Arc::new)
            .map_err(wire::reject)
    }
}

#[async_trait]
impl PriceService for PaperRouter {
    async fn last_price(&self, symbol: &Symbol) -> PortResult<Decimal> {
        self.with_engine(|e, _| e.price(symbol.as_str()))
            .map_err(wire::reject)
    }

    /// The engine's band, the one its orders are judged by.
    async fn price_limit(&self, symbol: &Symbol) -> PortResult<Option<exec_gateway::PriceLimit>> {
        self.with_engine(|e, _| e.price_limit(symbol.as_str()))
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
