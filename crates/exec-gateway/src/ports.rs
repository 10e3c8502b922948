//! The ports: what the gateway needs from the world, as traits, each as narrow as the calls
//! the gateway makes. The live Bybit adapters (`exec-live`) and `exec-sim`'s routers
//! implement them; the gateway depends on none of those, and knows no Bybit retCode:
//! routers classify their venue's answers into [`PortError`] (`exec-wire` maps Bybit's).

use std::sync::Arc;

use async_trait::async_trait;
use bybit_meta::InstrumentRules;
use bybit_types::{OrderLinkId, Symbol};
use rust_decimal::Decimal;

use crate::error::{PortError, PortResult};
use crate::link_id::CancelScope;
use crate::types::{Balance, OrderAck, OrderRequest, OrderSnapshot, PositionState};

/// The only code that sends orders (SPEC §5). It gets ready values (R-ORD-1): rounded,
/// validated, named.
///
/// Every write answers `Ok` only when the exchange accepted it; a duplicate orderLinkId comes
/// back as [`PortError::DuplicateLinkId`] and an ambiguous answer as
/// [`PortError::UnknownOutcome`]: the gateway, not the router, decides what those mean.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrderRouter: Send + Sync {
    /// Sends one order, once, as `order` says: market, limit or conditional
    /// ([`OrderRequest::kind`]), its time in force and reduce-only; `positionIdx 0`
    /// (one-way mode). The gateway's requests: the entry a market IOC (R-ORD-2), a DCA a
    /// resting limit or conditional GTC on the entry side (R-ORD-4), a take-profit a
    /// reduce-only GTC limit on the opposite side (R-ORD-3), a close a reduce-only market
    /// IOC. A re-send is the outcome policy's decision, never the router's.
    async fn place(&self, order: &OrderRequest) -> PortResult<OrderAck>;
    /// Every open order of the symbol, as the exchange has them now.
    async fn sync_open_orders(&self, symbol: &Symbol) -> PortResult<Vec<OrderSnapshot>>;
    /// One order by its orderLinkId, open or recently closed; `None` if the exchange has never
    /// seen it. This is the lookup the outcome policy relies on.
    async fn get_order(
        &self,
        symbol: &Symbol,
        order_link_id: &OrderLinkId,
    ) -> PortResult<Option<OrderSnapshot>>;
    /// Cancels one order by orderLinkId.
    async fn cancel_order(&self, symbol: &Symbol, order_link_id: &OrderLinkId) -> PortResult<()>;
    /// Sets an open order's total quantity.
    async fn amend_order_qty(
        &self,
        symbol: &Symbol,
        order_link_id: &OrderLinkId,
        qty: Decimal,
    ) -> PortResult<()>;
    /// Sets the position's stop-loss (trading-stop), e.g. at the entry price.
    async fn set_stop_loss(&self, symbol: &Symbol, price: Decimal) -> PortResult<()>;
    /// Recently finished orders of every symbol (filled, cancelled, rejected), newest first,
    /// as far back as the exchange keeps them cheaply; `recover()` groups them by client tag
    /// to find trades that ended while the process was down. A router without a history
    /// answers none.
    async fn recent_orders(&self) -> PortResult<Vec<OrderSnapshot>> {
        Ok(Vec::new())
    }
}

/// Cancels the open orders of `symbol` whose orderLinkId is in `scope` (one trade's TPs
/// and/or DCAs), one by one, over the router's [`OrderRouter::sync_open_orders`] and
/// [`OrderRouter::cancel_order`], and returns their ids. An order that is already gone
/// (110001) counts as cancelled, unless a lookup shows it filled (the cancel lost the race
/// with a fill). This is the one place the "only this trade's orders" rule is applied; no
/// router implements it.
pub async fn cancel_matching(
    router: &(impl OrderRouter + ?Sized),
    symbol: &Symbol,
    scope: &CancelScope,
) -> PortResult<Vec<String>> {
    cancel_matching_with(router, symbol, scope, |_| -> StepFuture<'_, PortError> {
        Box::pin(async { Ok(()) })
    })
    .await
}

/// One step of [`cancel_matching_with`], for the caller to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelStep {
    /// This order's cancel is about to be sent.
    Sending(String),
    /// It is cancelled (or already gone without a fill).
    Cancelled(String),
    /// It was not cancelled, and why.
    NotCancelled(String, String),
}

/// What [`cancel_matching_with`]'s `step` returns: the recording of one step (a journal
/// write), boxed so it may borrow what the caller holds.
pub type StepFuture<'c, E> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), E>> + Send + 'c>>;

/// [`cancel_matching`], calling `step` before each cancel is sent and with what became of it
/// (the gateway journals the cancel there). An error from `step` stops at once: with
/// [`CancelStep::Sending`], that cancel and the ones after it are not sent. After a failed
/// cancel the router's error is returned whatever `step` answers.
pub async fn cancel_matching_with<'c, E: From<PortError>>(
    router: &(impl OrderRouter + ?Sized),
    symbol: &Symbol,
    scope: &CancelScope,
    mut step: impl FnMut(CancelStep) -> StepFuture<'c, E>,
) -> Result<Vec<String>, E> {
    let mut cancelled = Vec::new();
    for order in router.sync_open_orders(symbol).await? {
        if !order.status.is_open() || !scope.matches(&order.order_link_id) {
            continue;
        }
        let link = OrderLinkId::new(order.order_link_id.clone())
            .map_err(|e| PortError::InvalidInput(e.to_string()))?;
        step(CancelStep::Sending(order.order_link_id.clone())).await?;
        match router.cancel_order(symbol, &link).await {
            Ok(()) => {
                step(CancelStep::Cancelled(order.order_link_id.clone())).await?;
                cancelled.push(order.order_link_id);
            }
            Err(PortError::Rejected { code: 110001, .. }) => {
                // "Too late to cancel": gone, but perhaps because it filled (a cancel racing
                // a fill). A filled order was not cancelled and must not be reported so.
                let filled = matches!(
                    router.get_order(symbol, &link).await,
                    Ok(Some(found)) if !found.status.is_open() && found.filled_qty > Decimal::ZERO
                );
                if filled {
                    step(CancelStep::NotCancelled(
                        order.order_link_id.clone(),
                        "filled before the cancel".to_owned(),
                    ))
                    .await?;
                } else {
                    step(CancelStep::Cancelled(order.order_link_id.clone())).await?;
                    cancelled.push(order.order_link_id);
                }
            }
            Err(e) => {
                // The router's error wins: it may be one that halts trading (auth).
                let _ = step(CancelStep::NotCancelled(
                    order.order_link_id.clone(),
                    e.to_string(),
                ))
                .await;
                return Err(e.into());
            }
        }
    }
    Ok(cancelled)
}

/// Positions and open orders (SPEC R-POS-1).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PositionService: Send + Sync {
    /// The symbol's position (flat when there is none).
    async fn get_position(&self, symbol: &Symbol) -> PortResult<PositionState>;
    /// Every open position.
    async fn get_all_positions(&self) -> PortResult<Vec<PositionState>>;
    /// The symbol's open orders.
    async fn get_open_orders(&self, symbol: &Symbol) -> PortResult<Vec<OrderSnapshot>>;
}

/// The account (SPEC R-ACC-1).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountService: Send + Sync {
    /// USDT wallet and available balance.
    async fn get_balance(&self) -> PortResult<Balance>;
    /// Sets the symbol's leverage (both sides; one-way mode). "Not modified" is success.
    async fn set_leverage(&self, symbol: &Symbol, leverage: Decimal) -> PortResult<()>;
    /// Isolated margin for the symbol.
    async fn set_isolated(&self, symbol: &Symbol) -> PortResult<()>;
    /// The wallet summary a monitoring page shows.
    async fn get_wallet_summary(&self) -> PortResult<Balance>;
}

/// Instrument rules (SPEC R-META-1), backed by `bybit-meta`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SymbolMetaService: Send + Sync {
    /// Reloads every instrument's rules; returns how many are loaded.
    async fn refresh_symbol_meta(&self) -> PortResult<usize>;
    /// One instrument's rules.
    async fn get_symbol_meta(&self, symbol: &Symbol) -> PortResult<Arc<InstrumentRules>>;
}

/// The exchange's order price limit for a symbol now (Bybit: `GET /v5/market/price-limit`,
/// docs v5/market/price-limit): a limit buy above `buy_max` or sell below `sell_min` is
/// refused, or moved to the bound by an account set to adjust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceLimit {
    /// The highest price a buy may carry.
    pub buy_max: Decimal,
    /// The lowest price a sell may carry.
    pub sell_min: Decimal,
}

/// The current price the gateway sizes orders with.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PriceService: Send + Sync {
    /// The last traded price.
    async fn last_price(&self, symbol: &Symbol) -> PortResult<Decimal>;

    /// The exchange's order price limit now; `None` where the venue has none (the default).
    async fn price_limit(&self, _symbol: &Symbol) -> PortResult<Option<PriceLimit>> {
        Ok(None)
    }
}

/// REST health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestHealth {
    /// Answering.
    pub ok: bool,
    /// Server-time round trip.
    pub latency_ms: u64,
}

/// A WebSocket's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsHealth {
    /// Connected (and authenticated, for the private stream).
    pub ok: bool,
    /// Seconds since the last message.
    pub last_msg_ago_sec: u64,
    /// What is wrong, if anything.
    pub error: Option<String>,
}

/// `{rest, wsPublic, wsPrivate}` for a monitoring page (SPEC R-HEALTH-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BybitStatus {
    /// REST.
    pub rest: RestHealth,
    /// Public stream.
    pub ws_public: WsHealth,
    /// Private stream.
    pub ws_private: WsHealth,
}

/// Health checks (SPEC R-HEALTH-1).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Latency of the server-time call.
    async fn check_rest_health(&self) -> PortResult<RestHealth>;
    /// Public and private stream health.
    async fn check_ws_health(&self) -> PortResult<(WsHealth, WsHealth)>;
    /// Everything at once.
    async fn get_bybit_status(&self) -> PortResult<BybitStatus>;
}
