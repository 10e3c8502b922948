//! The REST client the live adapters get: trading calls go to the environment's REST host,
//! public market data (server time, instruments, tickers) to where that environment takes it
//! from (demo trading: mainnet, REFERENCE.md §1), and an endpoint the environment does not
//! offer is refused before anything is sent (the fee rate on demo), with a message naming
//! the environment.

use std::sync::Arc;

use async_trait::async_trait;
use bybit_rest::{
    AmendOrder, BatchItem, BybitRest, CancelAll, CancelOrder, CancelOutcome, Change, ErrorContext,
    Executions, FeeRates, NewOrder, OpenOrders, OrderHistory, Positions, RestClient, RestError,
    TradingStop,
};
use bybit_types::rest::account::{AccountInfo, UserSettingConfig, WalletBalance};
use bybit_types::rest::execution::ExecutionList;
use bybit_types::rest::market::{InstrumentInfo, PriceLimit, ServerTime, TickerList};
use bybit_types::rest::order::{CancelAllResult, Order, OrderAck, OrderList};
use bybit_types::rest::position::PositionList;
use bybit_types::{AccountType, Category, OrderLinkId, Symbol};
use rust_decimal::Decimal;

use crate::config::{BybitEnv, Capabilities, Feature};

/// [`BybitRest`] for one environment: two clients and its capabilities.
#[derive(Debug, Clone)]
pub struct EnvRest {
    trading: Arc<RestClient>,
    public: Arc<RestClient>,
    env: BybitEnv,
    capabilities: Capabilities,
}

impl EnvRest {
    /// Trading calls on `trading`, market data on `public`, refusing what `env` lacks.
    pub fn new(trading: Arc<RestClient>, public: Arc<RestClient>, env: BybitEnv) -> Self {
        EnvRest {
            trading,
            public,
            env,
            capabilities: env.capabilities(),
        }
    }

    fn lacks(&self, feature: Feature, endpoint: &'static str) -> Option<RestError> {
        if self.capabilities.has(feature) {
            return None;
        }
        Some(RestError::InvalidRequest {
            ctx: ErrorContext {
                endpoint,
                symbol: None,
                order_link_id: None,
                write: false,
            },
            reason: format!(
                "BYBIT_ENV={} does not offer {} (REFERENCE.md §1); nothing was sent",
                self.env,
                feature.describe()
            ),
        })
    }
}

#[async_trait]
impl BybitRest for EnvRest {
    async fn server_time(&self) -> Result<ServerTime, RestError> {
        self.trading.server_time().await
    }
    async fn instruments(&self, category: Category) -> Result<Vec<InstrumentInfo>, RestError> {
        self.public.instruments(category).await
    }
    async fn tickers(
        &self,
        category: Category,
        symbol: Option<Symbol>,
    ) -> Result<TickerList, RestError> {
        self.public.tickers(category, symbol).await
    }
    async fn create_order(&self, order: NewOrder) -> Result<OrderAck, RestError> {
        self.trading.create_order(order).await
    }
    async fn amend_order(&self, amend: AmendOrder) -> Result<OrderAck, RestError> {
        self.trading.amend_order(amend).await
    }
    async fn cancel_order(&self, cancel: CancelOrder) -> Result<CancelOutcome, RestError> {
        self.trading.cancel_order(cancel).await
    }
    async fn cancel_all(&self, scope: CancelAll) -> Result<CancelAllResult, RestError> {
        self.trading.cancel_all(scope).await
    }
    async fn create_batch(&self, orders: Vec<NewOrder>) -> Result<Vec<BatchItem>, RestError> {
        self.trading.create_batch(orders).await
    }
    async fn amend_batch(&self, amends: Vec<AmendOrder>) -> Result<Vec<BatchItem>, RestError> {
        self.trading.amend_batch(amends).await
    }
    async fn cancel_batch(&self, cancels: Vec<CancelOrder>) -> Result<Vec<BatchItem>, RestError> {
        self.trading.cancel_batch(cancels).await
    }
    async fn open_orders(&self, query: OpenOrders) -> Result<OrderList, RestError> {
        self.trading.open_orders(query).await
    }
    async fn order_by_link_id(
        &self,
        symbol: Symbol,
        link: OrderLinkId,
    ) -> Result<Option<Order>, RestError> {
        self.trading.order_by_link_id(symbol, link).await
    }
    async fn order_history(&self, query: OrderHistory) -> Result<OrderList, RestError> {
        self.trading.order_history(query).await
    }
    async fn executions(&self, query: Executions) -> Result<ExecutionList, RestError> {
        self.trading.executions(query).await
    }
    async fn positions(&self, query: Positions) -> Result<PositionList, RestError> {
        self.trading.positions(query).await
    }
    async fn set_leverage(
        &self,
        symbol: Symbol,
        buy: Decimal,
        sell: Decimal,
    ) -> Result<Change, RestError> {
        self.trading.set_leverage(symbol, buy, sell).await
    }
    async fn switch_isolated(
        &self,
        symbol: Symbol,
        isolated: bool,
        buy: Decimal,
        sell: Decimal,
    ) -> Result<(), RestError> {
        self.trading
            .switch_isolated(symbol, isolated, buy, sell)
            .await
    }
    async fn trading_stop(&self, stop: TradingStop) -> Result<Change, RestError> {
        self.trading.trading_stop(stop).await
    }
    async fn wallet_balance(
        &self,
        account_type: AccountType,
        coins: Option<String>,
    ) -> Result<WalletBalance, RestError> {
        self.trading.wallet_balance(account_type, coins).await
    }
    async fn account_info(&self) -> Result<AccountInfo, RestError> {
        self.trading.account_info().await
    }
    async fn fee_rates(
        &self,
        category: Category,
        symbol: Option<Symbol>,
    ) -> Result<FeeRates, RestError> {
        if let Some(refused) = self.lacks(Feature::FeeRate, "GET /v5/account/fee-rate") {
            return Err(refused);
        }
        self.trading.fee_rates(category, symbol).await
    }
    // The order price limit is market data: it comes from where the environment takes
    // its market data (demo: mainnet), as tickers do.
    async fn price_limit(
        &self,
        category: Category,
        symbol: Symbol,
    ) -> Result<PriceLimit, RestError> {
        self.public.price_limit(category, symbol).await
    }
    async fn user_setting_config(&self) -> Result<UserSettingConfig, RestError> {
        self.trading.user_setting_config().await
    }
    async fn set_limit_px_action(
        &self,
        category: Category,
        modify_enable: bool,
    ) -> Result<(), RestError> {
        self.trading
            .set_limit_px_action(category, modify_enable)
            .await
    }
}
