//! The client as a trait, so its users can unit-test without HTTP (with a mock of their own,
//! e.g. `mockall::mock!`; this crate's tests use `MockBybitRest`, generated under `cfg(test)`). One
//! implementation, [`RestClient`]'s, generated from the list of signatures below; the
//! environment's routing is the client's configuration, not another implementation.
#![cfg_attr(
    test,
    allow(
        unreachable_pub,
        missing_debug_implementations,
        dead_code,
        reason = "mockall's MockBybitRest is expanded through this module's macro, so the \
                  workspace lints see its generated items, most of which the one test leaves unused"
    )
)]

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

// Types are matched as tokens (`Name` or `Name<Arg>`), not as `ty` fragments: mockall cannot
// read a type that reaches it wrapped as a macro fragment.
macro_rules! bybit_rest_trait {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ident $(<$ty_arg:ident>)?)*)
        -> $ret:tt $(<$ret_arg:ident>)?;)*) => {
        /// Every typed endpoint of [`RestClient`], as an object-safe async trait: what the
        /// live adapters hold, so their tests can put a mock in its place.
        #[cfg_attr(test, mockall::automock)]
        #[async_trait]
        pub trait BybitRest: Send + Sync {
            $(
                /// See the [`RestClient`] method of the same name.
                async fn $name(&self $(, $arg: $ty $(<$ty_arg>)?)*)
                    -> Result<$ret $(<$ret_arg>)?, RestError>;
            )*
        }

        #[async_trait]
        impl BybitRest for RestClient {
            $(
                async fn $name(&self $(, $arg: $ty $(<$ty_arg>)?)*)
                    -> Result<$ret $(<$ret_arg>)?, RestError> {
                    RestClient::$name(self $(, $arg)*).await
                }
            )*
        }
    };
}

// Declares [`BybitRest`] from one list of signatures and implements it for [`RestClient`] by
// calling the inherent method of the same name: the trait and the client cannot drift, and
// no forwarding is written by hand.
bybit_rest_trait! {
    fn server_time(&self) -> ServerTime;
    fn instruments(&self, category: Category) -> Vec<InstrumentInfo>;
    fn tickers(&self, category: Category, symbol: Option<Symbol>) -> TickerList;
    fn create_order(&self, order: NewOrder) -> OrderAck;
    fn amend_order(&self, amend: AmendOrder) -> OrderAck;
    fn cancel_order(&self, cancel: CancelOrder) -> CancelOutcome;
    fn cancel_all(&self, scope: CancelAll) -> CancelAllResult;
    fn create_batch(&self, orders: Vec<NewOrder>) -> Vec<BatchItem>;
    fn amend_batch(&self, amends: Vec<AmendOrder>) -> Vec<BatchItem>;
    fn cancel_batch(&self, cancels: Vec<CancelOrder>) -> Vec<BatchItem>;
    fn open_orders(&self, query: OpenOrders) -> OrderList;
    fn order_by_link_id(&self, symbol: Symbol, link: OrderLinkId) -> Option<Order>;
    fn order_history(&self, query: OrderHistory) -> OrderList;
    fn executions(&self, query: Executions) -> ExecutionList;
    fn positions(&self, query: Positions) -> PositionList;
    fn set_leverage(&self, symbol: Symbol, buy: Decimal, sell: Decimal) -> Change;
    fn switch_isolated(&self, symbol: Symbol, isolated: bool, buy: Decimal, sell: Decimal) -> ();
    fn trading_stop(&self, stop: TradingStop) -> Change;
    fn wallet_balance(&self, account_type: AccountType, coins: Option<String>) -> WalletBalance;
    fn account_info(&self) -> AccountInfo;
    fn fee_rates(&self, category: Category, symbol: Option<Symbol>) -> FeeRates;
    fn price_limit(&self, category: Category, symbol: Symbol) -> PriceLimit;
    fn user_setting_config(&self) -> UserSettingConfig;
    fn set_limit_px_action(&self, category: Category, modify_enable: bool) -> ();
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
