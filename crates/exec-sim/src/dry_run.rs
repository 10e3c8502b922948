//! The dry-run router: validates, rounds and publishes what it would send; sends nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bybit_meta::{OrderDraft, RoundingMode};
use bybit_types::OrderLinkId;
use exec_events::{Event, EventBus, ExecKind, Fill, OrderEvent, OrderEventKind, Side, WouldSend};
use exec_gateway::{
    AccountService, Balance, Clock, Journal, OrderAck, OrderRequest, OrderRouter, OrderSnapshot,
    OrderStatus, PortError, PortResult, PositionService, PositionState, PriceService, Symbol,
    SymbolMetaService,
};
use rust_decimal::Decimal;

#[derive(Debug, Default)]
struct Book {
    orders: Vec<OrderSnapshot>,
    /// Per symbol: side, size, average price.
    positions: HashMap<String, (Side, Decimal, Decimal)>,
    next_id: u64,
}

/// A router for dry runs: each order is checked against the instrument's rules
/// (`bybit-meta`), published as a [`WouldSend`] event and answered as if the exchange had
/// taken it: a market order fills at once at the current price (no fee, events marked
/// `simulated`); a limit or conditional order rests in this router's own book and never
/// fills. Positions follow the simulated fills, so the gateway's operations run end to end.
/// Each simulated fill is journaled (through `record_fill_logged`, like the paper router's
/// and the live tracker's) before it is published: no other component journals fills.
pub struct DryRunRouter {
    meta: Arc<dyn SymbolMetaService>,
    prices: Arc<dyn PriceService>,
    bus: EventBus,
    clock: Arc<dyn Clock>,
    journal: Arc<dyn Journal>,
    balance: Balance,
    book: Mutex<Book>,
}

impl std::fmt::Debug for DryRunRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DryRunRouter")
            .field("balance", &self.balance)
            .finish_non_exhaustive()
    }
}

impl DryRunRouter {
    /// A dry-run router taking rules from `meta` and prices from `prices` (live market data,
    /// or a simulation), reporting `balance` as the account's and journaling its fills in
    /// `journal`.
    pub fn new(
        meta: Arc<dyn SymbolMetaService>,
        prices: Arc<dyn PriceService>,
        bus: EventBus,
        clock: Arc<dyn Clock>,
        journal: Arc<dyn Journal>,
        balance: Balance,
    ) -> Self {
        DryRunRouter {
            meta,
            prices,
            bus,
            clock,
            journal,
            balance,
            book: Mutex::new(Book::default()),
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn would_send(&self, would: WouldSend) {
        self.bus.publish(Event::WouldSend(would));
    }

    fn publish_order(&self, o: &OrderSnapshot, kind: OrderEventKind) {
        self.bus.publish(Event::Order(OrderEvent {
            kind,
            symbol: o.symbol.clone(),
            side: o.side,
            order_id: o.order_id.clone(),
            order_link_id: o.order_link_id.clone(),
            qty: o.qty,
            price: o.price,
            trigger_price: o.trigger_price,
            filled_qty: o.filled_qty,
            avg_price: o.avg_price,
            reduce_only: o.reduce_only,
            reason: None,
            simulated: true,
        }));
    }

    async fn create(&self, operation: &str, req: &OrderRequest) -> PortResult<OrderAck> {
        let rules = self.meta.get_symbol_meta(&req.symbol).await?;
        let price = self.prices.last_price(&req.symbol).await?;
        let draft = match req.price.or(req.trigger_price) {
            Some(limit) => OrderDraft::limit(req.qty, limit),
            None => OrderDraft::market(req.qty, price),
        };
        let checked = rules
            .prepare_order(&draft, RoundingMode::Nearest)
            .map_err(|e| PortError::InvalidInput(e.to_string()))?;
        let qty = checked.qty().get();
        let (order_id, order, fill) = {
            let mut book = self.book();
            if book
                .orders
                .iter()
                .any(|o| o.order_link_id == req.order_link_id.as_str())
            {
                return Err(PortError::DuplicateLinkId {
                    message: "OrderLinkedID is duplicate (dry run)".to_owned(),
                });
            }
            self.would_send(WouldSend {
                side: Some(req.side),
                qty: Some(qty),
                price: req.price,
                trigger_price: req.trigger_price,
                order_link_id: Some(req.order_link_id.as_str().to_owned()),
                ..WouldSend::new(operation, req.symbol.as_str())
            });
            book.next_id += 1;
            let order_id = format!("dry-{}", book.next_id);
            let market = req.price.is_none() && req.trigger_price.is_none();
            let mut order = OrderSnapshot {
                symbol: req.symbol.as_str().to_owned(),
                side: req.side,
                order_id: order_id.clone(),
                order_link_id: req.order_link_id.as_str().to_owned(),
                qty,
                price: req.price,
                trigger_price: req.trigger_price,
                filled_qty: Decimal::ZERO,
                avg_price: None,
                status: if req.trigger_price.is_some() {
                    OrderStatus::Untriggered
                } else {
                    OrderStatus::Open
                },
                reduce_only: req.reduce_only,
            };
            let fill = market.then(|| {
                let filled = fill_position(&mut book, req, qty, price);
                order.status = OrderStatus::Filled;
                order.filled_qty = filled;
                order.avg_price = Some(price);
                Fill {
                    exec_id: format!("{order_id}-1"),
                    symbol: order.symbol.clone(),
                    side: req.side,
                    order_id: order_id.clone(),
                    order_link_id: order.order_link_id.clone(),
                    price,
                    qty: filled,
                    fee: Decimal::ZERO,
                    fee_currency: "USDT".to_owned(),
                    is_maker: false,
                    pnl: None,
                    exec_kind: ExecKind::Trade,
                    time_ms: self.clock.now_ms(),
                    simulated: true,
                }
            });
            book.orders.push(order.clone());
            (order_id, order, fill)
        };
        match fill {
            Some(fill) => {
                // Journaled (and logged once) before it is published, as every router does.
                exec_gateway::journal::journal_seen_fill(self.journal.as_ref(), &self.bus, &fill)
                    .await;
                self.publish_order(&order, OrderEventKind::Filled);
                self.bus.publish(Event::Fill(fill));
            }
            None => self.publish_order(&order, OrderEventKind::Accepted),
        }
        Ok(OrderAck {
            order_id,
            order_link_id: req.order_link_id.as_str().to_owned(),
        })
    }
}

/// An open order of this router's book, or Bybit's 110001 (v5/error) if there is none.
fn open_order<'a>(book: &'a mut Book, link: &OrderLinkId) -> PortResult<&'a mut OrderSnapshot> {
    book.orders
        .iter_mut()
        .find(|o| o.order_link_id == link.as_str() && o.status.is_open())
        .ok_or_else(|| PortError::Rejected {
            code: 110001,
            message: "order not exists or too late to cancel".to_owned(),
        })
}

/// Applies a simulated market fill to the position and returns the quantity filled (a
/// reduce-only order fills no more than the position).
fn fill_position(book: &mut Book, req: &OrderRequest, qty: Decimal, price: Decimal) -> Decimal {
    let key = req.symbol.as_str().to_owned();
    let current = book.positions.get(&key).copied();
    match current {
        Some((side, size, avg)) if side == req.side => {
            let total = size + qty;
            let avg = (avg * size + price * qty) / total;
            book.positions.insert(key, (side, total, avg));
            qty
        }
        Some((side, size, avg)) => {
            let filled = qty.min(size);
            if filled == size {
                book.positions.remove(&key);
            } else {
                book.positions.insert(key, (side, size - filled, avg));
            }
            filled
        }
        None if req.reduce_only => Decimal::ZERO,
        None => {
            book.positions.insert(key, (req.side, qty, price));
            qty
        }
    }
}

#[async_trait]
impl OrderRouter for DryRunRouter {
    async fn place(&self, order: &OrderRequest) -> PortResult<OrderAck> {
        self.create(operation(order), order).await
    }

    async fn sync_open_orders(&self, symbol: &Symbol) -> PortResult<Vec<OrderSnapshot>> {
        Ok(self
            .book()
            .orders
            .iter()
            .filter(|o| o.symbol == symbol.as_str() && o.status.is_open())
            .cloned()
            .collect())
    }

    async fn get_order(
        &self,
        symbol: &Symbol,
        order_link_id: &OrderLinkId,
    ) -> PortResult<Option<OrderSnapshot>> {
        Ok(self
            .book()
            .orders
            .iter()
            .find(|o| o.symbol == symbol.as_str() && o.order_link_id == order_link_id.as_str())
            .cloned())
    }

    async fn cancel_order(&self, symbol: &Symbol, order_link_id: &OrderLinkId) -> PortResult<()> {
        let mut book = self.book();
        let order = open_order(&mut book, order_link_id)?;
        order.status = OrderStatus::Cancelled;
        let order = order.clone();
        self.would_send(WouldSend {
            order_link_id: Some(order.order_link_id.clone()),
            ..WouldSend::new("cancel_order", symbol.as_str())
        });
        self.publish_order(&order, OrderEventKind::Cancelled);
        Ok(())
    }

    async fn amend_order_qty(
        &self,
        symbol: &Symbol,
        order_link_id: &OrderLinkId,
        qty: Decimal,
    ) -> PortResult<()> {
        let mut book = self.book();
        let order = open_order(&mut book, order_link_id)?;
        order.qty = qty;
        let order = order.clone();
        self.would_send(WouldSend {
            side: Some(order.side),
            qty: Some(qty),
            price: order.price,
            trigger_price: order.trigger_price,
            order_link_id: Some(order.order_link_id.clone()),
            ..WouldSend::new("amend_order", symbol.as_str())
        });
        self.publish_order(&order, OrderEventKind::Updated);
        Ok(())
    }

    async fn set_stop_loss(&self, symbol: &Symbol, price: Decimal) -> PortResult<()> {
        self.would_send(WouldSend {
            trigger_price: Some(price),
            ..WouldSend::new("set_trading_stop", symbol.as_str())
        });
        Ok(())
    }
}

#[async_trait]
impl PositionService for DryRunRouter {
    async fn get_position(&self, symbol: &Symbol) -> PortResult<PositionState> {
        Ok(match self.book().positions.get(symbol.as_str()) {
            Some(&(side, size, avg)) => PositionState {
                side: Some(side),
                size,
                entry_price: Some(avg),
                ..PositionState::flat(symbol.clone())
            },
            None => PositionState::flat(symbol.clone()),
        })
    }

    async fn get_all_positions(&self) -> PortResult<Vec<PositionState>> {
        let symbols: Vec<String> = self.book().positions.keys().cloned().collect();
        let mut out = Vec::new();
        for s in symbols {
            let symbol = Symbol::new(s).map_err(|e| PortError::InvalidInput(e.to_string()))?;
            out.push(self.get_position(&symbol).await?);
        }
        Ok(out)
    }

    async fn get_open_orders(&self, symbol: &Symbol) -> PortResult<Vec<OrderSnapshot>> {
        self.sync_open_orders(symbol).await
    }
}

#[async_trait]
impl AccountService for DryRunRouter {
    async fn get_balance(&self) -> PortResult<Balance> {
        Ok(self.balance)
    }

    async fn set_leverage(&self, symbol: &Symbol, leverage: Decimal) -> PortResult<()> {
        // The operation's name alone (a metric label); the value is a field of its own.
        self.would_send(WouldSend {
            leverage: Some(leverage),
            ..WouldSend::new("set_leverage", symbol.as_str())
        });
        Ok(())
    }

    async fn set_isolated(&self, _symbol: &Symbol) -> PortResult<()> {
        Ok(())
    }

    async fn get_wallet_summary(&self) -> PortResult<Balance> {
        Ok(self.balance)
    }
}

/// The name a "would send" event gives an order (the operation labels monitoring counts):
/// `place_market_entry`, `place_dca_order`, `place_tp_order` or `close_position_market`,
/// read from the request itself.
fn operation(req: &OrderRequest) -> &'static str {
    match (
        req.reduce_only,
        req.price.is_some() || req.trigger_price.is_some(),
    ) {
        (false, false) => "place_market_entry",
        (false, true) => "place_dca_order",
        (true, true) => "place_tp_order",
        (true, false) => "close_position_market",
    }
}
