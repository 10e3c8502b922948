//! The client as a trait, so the gateway and others can unit-test without HTTP:
//! `MockBybitRest` (mockall) exists under `cfg(test)` here and with the `mock` feature for
//! other crates.

use async_trait::async_trait;
use rust_decimal::Decimal;

use bybit_types::rest::account::{AccountInfo, UserSettingConfig, WalletBalance};
use bybit_types::rest::execution::ExecutionList;
use bybit_types::rest::market::{InstrumentInfo, PriceLimit, ServerTime, TickerList};
use bybit_types::rest::order::{CancelAllResult, Order, OrderAck, OrderList};
use bybit_types::rest::position::PositionList;
use bybit_types::{AccountType, Category, OrderLinkId, Symbol};

use crate::endpoints::account::FeeRates;
use crate::endpoints::order::{
    AmendOrder, BatchItem, CancelAll, CancelOrder, CancelOutcome, Executions, NewOrder, OpenOrders,
    OrderHistory,
};
use crate::endpoints::position::{Positions, TradingStop};
use crate::endpoints::Change;
use crate::error::RestError;
use crate::RestClient;

/// Every typed endpoint of [`RestClient`], as an object-safe async trait.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BybitRest: Send + Sync {
    /// See [`RestClient::server_time`].
    async fn server_time(&self) -> Result<ServerTime, RestError>;
    /// See [`RestClient::instruments`].
    async fn instruments(&self, category: Category) -> Result<Vec<InstrumentInfo>, RestError>;
    /// See [`RestClient::tickers`].
    async fn tickers(
        &self,
        category: Category,
        symbol: Option<Symbol>,
    ) -> Result<TickerList, RestError>;
    /// See [`RestClient::create_order`].
    async fn create_order(&self, order: NewOrder) -> Result<OrderAck, RestError>;
    /// See [`RestClient::amend_order`].
    async fn amend_order(&self, amend: AmendOrder) -> Result<OrderAck, RestError>;
    /// See [`RestClient::cancel_order`].
    async fn cancel_order(&self, cancel: CancelOrder) -> Result<CancelOutcome, RestError>;
    /// See [`RestClient::cancel_all`].
    async fn cancel_all(&self, scope: CancelAll) -> Result<CancelAllResult, RestError>;
    /// See [`RestClient::create_batch`].
    async fn create_batch(&self, orders: Vec<NewOrder>) -> Result<Vec<BatchItem>, RestError>;
    /// See [`RestClient::amend_batch`].
    async fn amend_batch(&self, amends: Vec<AmendOrder>) -> Result<Vec<BatchItem>, RestError>;
    /// See [`RestClient::cancel_batch`].
    async fn cancel_batch(&self, cancels: Vec<CancelOrder>) -> Result<Vec<BatchItem>, RestError>;
    /// See [`RestClient::open_orders`].
    async fn open_orders(&self, query: OpenOrders) -> Result<OrderList, RestError>;
    /// See [`RestClient::order_by_link_id`].
    async fn order_by_link_id(
        &self,
        symbol: Symbol,
        link: OrderLinkId,
    ) -> Result<Option<Order>, RestError>;
    /// See [`RestClient::order_history`].
    async fn order_history(&self, query: OrderHistory) -> Result<OrderList, RestError>;
    /// See [`RestClient::executions`].
    async fn executions(&self, query: Executions) -> Result<ExecutionList, RestError>;
    /// See [`RestClient::positions`].
    async fn positions(&self, query: Positions) -> Result<PositionList, RestError>;
    /// See [`RestClient::set_leverage`].
    async fn set_leverage(
        &self,
        symbol: Symbol,
        buy: Decimal,
        sell: Decimal,
    ) -> Result<Change, RestError>;
    /// See [`RestClient::switch_isolated`].
    async fn switch_isolated(
        &self,
        symbol: Symbol,
        isolated: bool,
        buy: Decimal,
        sell: Decimal,
    ) -> Result<(), RestError>;
    /// See [`RestClient::trading_stop`].
    async fn trading_stop(&self, stop: TradingStop) -> Result<Change, RestError>;
    /// See [`RestClient::wallet_balance`].
    async fn wallet_balance(
        &self,
        account_type: AccountType,
        coins: Option<String>,
    ) -> Result<WalletBalance, RestError>;
    /// See [`RestClient::account_info`].
    async fn account_info(&self) -> Result<AccountInfo, RestError>;
    /// See [`RestClient::fee_rates`].
    async fn fee_rates(
        &self,
        category: Category,
        symbol: Option<Symbol>,
    ) -> Result<FeeRates, RestError>;
    /// See [`RestClient::price_limit`].
    async fn price_limit(
        &self,
        category: Category,
        symbol: Symbol,
    ) -> Result<PriceLimit, RestError>;
    /// See [`RestClient::user_setting_config`].
    async fn user_setting_config(&self) -> Result<UserSettingConfig, RestError>;
    /// See [`RestClient::set_limit_px_action`].
    async fn set_limit_px_action(
        &self,
        category: Category,
        modify_enable: bool,
    ) -> Result<(), RestError>;
}

#[async_trait]
impl BybitRest for RestClient {
    async fn server_time(&self) -> Result<ServerTime, RestError> {
        RestClient::server_time(self).await
    }
    async fn instruments(&self, category: Category) -> Result<Vec<InstrumentInfo>, RestError> {
        RestClient::instruments(self, category).await
    }
    async fn tickers(
        &self,
        category: Category,
        symbol: Option<Symbol>,
    ) -> Result<TickerList, RestError> {
        RestClient::tickers(self, category, symbol).await
    }
    async fn create_order(&self, order: NewOrder) -> Result<OrderAck, RestError> {
        RestClient::create_order(self, order).await
    }
    async fn amend_order(&self, amend: AmendOrder) -> Result<OrderAck, RestError> {
        RestClient::amend_order(self, amend).await
    }
    async fn cancel_order(&self, cancel: CancelOrder) -> Result<CancelOutcome, RestError> {
        RestClient::cancel_order(self, cancel).await
    }
    async fn cancel_all(&self, scope: CancelAll) -> Result<CancelAllResult, RestError> {
        RestClient::cancel_all(self, scope).await
    }
    async fn create_batch(&self, orders: Vec<NewOrder>) -> Result<Vec<BatchItem>, RestError> {
        RestClient::create_batch(self, orders).await
    }
    async fn amend_batch(&self, amends: Vec<AmendOrder>) -> Result<Vec<BatchItem>, RestError> {
        RestClient::amend_batch(self, amends).await
    }
    async fn cancel_batch(&self, cancels: Vec<CancelOrder>) -> Result<Vec<BatchItem>, RestError> {
        RestClient::cancel_batch(self, cancels).await
    }
    async fn open_orders(&self, query: OpenOrders) -> Result<OrderList, RestError> {
        RestClient::open_orders(self, query).await
    }
    async fn order_by_link_id(
        &self,
        symbol: Symbol,
        link: OrderLinkId,
    ) -> Result<Option<Order>, RestError> {
        RestClient::order_by_link_id(self, symbol, link).await
    }
    async fn order_history(&self, query: OrderHistory) -> Result<OrderList, RestError> {
        RestClient::order_history(self, query).await
    }
    async fn executions(&self, query: Executions) -> Result<ExecutionList, RestError> {
        RestClient::executions(self, query).await
    }
    async fn positions(&self, query: Positions) -> Result<PositionList, RestError> {
        RestClient::positions(self, query).await
    }
    async fn set_leverage(
        &self,
        symbol: Symbol,
        buy: Decimal,
        sell: Decimal,
    ) -> Result<Change, RestError> {
        RestClient::set_leverage(self, symbol, buy, sell).await
    }
    async fn switch_isolated(
        &self,
        symbol: Symbol,
        isolated: bool,
        buy: Decimal,
        sell: Decimal,
    ) -> Result<(), RestError> {
        RestClient::switch_isolated(self, symbol, isolated, buy, sell).await
    }
    async fn trading_stop(&self, stop: TradingStop) -> Result<Change, RestError> {
        RestClient::trading_stop(self, stop).await
    }
    async fn wallet_balance(
        &self,
        account_type: AccountType,
        coins: Option<String>,
    ) -> Result<WalletBalance, RestError> {
        RestClient::wallet_balance(self, account_type, coins).await
    }
    async fn account_info(&self) -> Result<AccountInfo, RestError> {
        RestClient::account_info(self).await
    }
    async fn fee_rates(
        &self,
        category: Category,
        symbol: Option<Symbol>,
    ) -> Result<FeeRates, RestError> {
        RestClient::fee_rates(self, category, symbol).await
    }
    async fn price_limit(
        &self,
        category: Category,
        symbol: Symbol,
    ) -> Result<PriceLimit, RestError> {
        RestClient::price_limit(self, category, symbol).await
    }
    async fn user_setting_config(&self) -> Result<UserSettingConfig, RestError> {
        RestClient::user_setting_config(self).await
    }
    async fn set_limit_px_action(
        &self,
        category: Category,
        modify_enable: bool,
    ) -> Result<(), RestError> {
        RestClient::set_limit_px_action(self, category, modify_enable).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorContext;

    /// A caller written against the trait: places an order and reports unknown outcomes.
    async fn place(api: &dyn BybitRest, order: NewOrder) -> &'static str {
        match api.create_order(order).await {
            Ok(_) => "placed",
            Err(e) if e.is_outcome_unknown() => "look it up",
            Err(_) => "rejected",
        }
    }

    #[tokio::test]
    async fn the_trait_can_be_mocked_without_http() {
        let mut mock = MockBybitRest::new();
        mock.expect_create_order().times(1).returning(|_| {
            Err(RestError::Timeout {
                ctx: ErrorContext::new("POST /v5/order/create", true),
                timeout: std::time::Duration::from_secs(5),
            })
        });
        let order = NewOrder::market(
            Symbol::new("BTCUSDT").unwrap(),
            bybit_types::WireSide::Buy,
            bybit_types::Qty::new(Decimal::ONE).unwrap(),
        );
        assert_eq!(place(&mock, order).await, "look it up");
    }
}
