//! Account: wallet balance, account info and fee rates (docs/v5/account/*.mdx).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use bybit_types::rest::account::{
    AccountInfo, SetLimitPxActionRequest, UserSettingConfig, WalletBalance,
};
use bybit_types::Empty;
use bybit_types::{AccountType, Category, Symbol};

use crate::client::{Call, RestClient};
use crate::endpoints::order::push;
use crate::error::RestError;
use crate::routes::{
    ACCOUNT_INFO, FEE_RATE, SET_LIMIT_PX_ACTION, USER_SETTING_CONFIG, WALLET_BALANCE,
};

/// `GET /v5/account/fee-rate` result (docs/v5/account/fee-rate.mdx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeRates {
    /// One entry per symbol.
    #[serde(default)]
    pub list: Vec<FeeRate>,
}

/// One symbol's trading fees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeRate {
    /// Symbol (`""` for options, which report by base coin).
    #[serde(default)]
    pub symbol: String,
    /// Base coin (options only).
    #[serde(default)]
    pub base_coin: String,
    /// Taker fee rate, e.g. `0.00055`.
    #[serde(with = "rust_decimal::serde::str")]
    pub taker_fee_rate: Decimal,
    /// Maker fee rate, e.g. `0.0002`.
    #[serde(with = "rust_decimal::serde::str")]
    pub maker_fee_rate: Decimal,
}

impl RestClient {
    /// Balances (`GET /v5/account/wallet-balance`, docs/v5/account/wallet-balance.mdx).
    /// `coins` is Bybit's comma list (e.g. `USDT,USDC`); `None` for every non-zero coin.
    pub async fn wallet_balance(
        &self,
        account_type: AccountType,
        coins: Option<String>,
    ) -> Result<WalletBalance, RestError> {
        let mut params = vec![("accountType", account_type.as_str().to_owned())];
        push(&mut params, "coin", coins.as_deref());
        let call = Call::get(&WALLET_BALANCE, &params);
        self.execute(&call).await.result.map(|r| r.result)
    }

    /// Account settings, margin mode included (`GET /v5/account/info`).
    pub async fn account_info(&self) -> Result<AccountInfo, RestError> {
        let call = Call::get(&ACCOUNT_INFO, &[]);
        self.execute(&call).await.result.map(|r| r.result)
    }

    /// Trading fee rates (`GET /v5/account/fee-rate`) of one symbol or the whole category.
    pub async fn fee_rates(
        &self,
        category: Category,
        symbol: Option<Symbol>,
    ) -> Result<FeeRates, RestError> {
        let mut params = vec![("category", category.as_str().to_owned())];
        push(&mut params, "symbol", symbol.as_ref().map(Symbol::as_str));
        let call = Call::get(&FEE_RATE, &params).symbol(symbol.as_ref().map(Symbol::as_str));
        self.execute(&call).await.result.map(|r| r.result)
    }

    /// The account's trade-behaviour settings, the price-limit action among them
    /// (`GET /v5/account/user-setting-config`, docs/v5/account/get-user-setting-config.mdx).
    /// Read [`UserSettingConfig::futures_price_adjusted`] rather than `lpaPerp` itself: its
    /// `true` means *refuse*.
    pub async fn user_setting_config(&self) -> Result<UserSettingConfig, RestError> {
        let call = Call::get(&USER_SETTING_CONFIG, &[]);
        self.execute(&call).await.result.map(|r| r.result)
    }

    /// Sets what Bybit does with a limit price beyond the order price limit
    /// (`POST /v5/account/set-limit-px-action`, docs/v5/account/set-price-limit.mdx):
    /// `modify_enable` `true` moves it to the bound, `false` refuses the order. `linear` or
    /// `inverse` sets every futures category. Idempotent.
    pub async fn set_limit_px_action(
        &self,
        category: Category,
        modify_enable: bool,
    ) -> Result<(), RestError> {
        let body = SetLimitPxActionRequest {
            category,
            modify_enable,
        };
        let call = Call::post(&SET_LIMIT_PX_ACTION, &body)?;
        self.execute::<Empty>(&call).await.result.map(|_| ())
    }
}
