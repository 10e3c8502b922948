//! Account: wallet balance (shared with the private `wallet` topic), account info and the
//! margin-mode switch.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::enums::{AccountType, MarginMode};
use crate::serde_helpers;

/// `GET /v5/account/wallet-balance` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalletBalance {
    /// One entry per account type asked for (one for `UNIFIED`).
    #[serde(default)]
    pub list: Vec<WalletAccount>,
}

/// One account's balances, as REST and the private `wallet` topic report it (§7.4).
///
/// The account-level totals are in USD. Fields Bybit marks "ignore" (`*ByMp`) are kept only so
/// that a payload written back looks like the one read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletAccount {
    /// Account type.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub account_type: Option<AccountType>,
    /// Initial margin rate.
    #[serde(rename = "accountIMRate", default, with = "serde_helpers::opt_decimal")]
    pub account_im_rate: Option<Decimal>,
    /// Initial margin rate at mark price.
    #[serde(
        rename = "accountIMRateByMp",
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_im_rate_by_mp: Option<Decimal>,
    /// Maintenance margin rate.
    #[serde(rename = "accountMMRate", default, with = "serde_helpers::opt_decimal")]
    pub account_mm_rate: Option<Decimal>,
    /// Maintenance margin rate at mark price.
    #[serde(
        rename = "accountMMRateByMp",
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_mm_rate_by_mp: Option<Decimal>,
    /// Total equity.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub total_equity: Option<Decimal>,
    /// Total wallet balance.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub total_wallet_balance: Option<Decimal>,
    /// Total margin balance.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub total_margin_balance: Option<Decimal>,
    /// Available balance for cross and portfolio margin.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub total_available_balance: Option<Decimal>,
    /// Unrealised profit and loss of perpetuals and futures.
    #[serde(rename = "totalPerpUPL", default, with = "serde_helpers::opt_decimal")]
    pub total_perp_upl: Option<Decimal>,
    /// Total initial margin.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub total_initial_margin: Option<Decimal>,
    /// Total initial margin at mark price.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_initial_margin_by_mp: Option<Decimal>,
    /// Total maintenance margin.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub total_maintenance_margin: Option<Decimal>,
    /// Total maintenance margin at mark price.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_maintenance_margin_by_mp: Option<Decimal>,
    /// Deprecated loan-to-value ratio.
    #[serde(
        rename = "accountLTV",
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_ltv: Option<Decimal>,
    /// Per-coin balances.
    #[serde(default)]
    pub coin: Vec<WalletCoin>,
}

impl WalletAccount {
    /// The balance of one coin, if the account lists it.
    pub fn coin(&self, coin: &str) -> Option<&WalletCoin> {
        self.coin.iter().find(|c| c.coin == coin)
    }
}

/// One coin's balance within an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletCoin {
    /// Coin name, e.g. `USDT`.
    pub coin: String,
    /// Equity in this coin.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub equity: Option<Decimal>,
    /// Equity in USD.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub usd_value: Option<Decimal>,
    /// Wallet balance.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub wallet_balance: Option<Decimal>,
    /// Deprecated free balance (classic spot).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub free: Option<Decimal>,
    /// Locked by spot orders.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub locked: Option<Decimal>,
    /// Spot hedging quantity.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub spot_hedging_qty: Option<Decimal>,
    /// Borrowed amount.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub borrow_amount: Option<Decimal>,
    /// Deprecated: still available to borrow.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub available_to_borrow: Option<Decimal>,
    /// Deprecated for unified accounts since 2025-01 and then sent as `""`, which is `None`.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub available_to_withdraw: Option<Decimal>,
    /// Accrued interest.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub accrued_interest: Option<Decimal>,
    /// Initial margin of open orders.
    #[serde(rename = "totalOrderIM", default, with = "serde_helpers::opt_decimal")]
    pub total_order_im: Option<Decimal>,
    /// Initial margin of positions.
    #[serde(
        rename = "totalPositionIM",
        default,
        with = "serde_helpers::opt_decimal"
    )]
    pub total_position_im: Option<Decimal>,
    /// Maintenance margin of positions.
    #[serde(
        rename = "totalPositionMM",
        default,
        with = "serde_helpers::opt_decimal"
    )]
    pub total_position_mm: Option<Decimal>,
    /// Unrealised profit and loss.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub unrealised_pnl: Option<Decimal>,
    /// Cumulative realised profit and loss.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub cum_realised_pnl: Option<Decimal>,
    /// Bonus.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub bonus: Option<Decimal>,
    /// Whether the coin can serve as collateral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collateral_switch: Option<bool>,
    /// Whether the user enabled it as collateral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_collateral: Option<bool>,
    /// Spot borrow amount.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub spot_borrow: Option<Decimal>,
}

/// `GET /v5/account/info` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    /// Account-wide margin mode.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub margin_mode: Option<MarginMode>,
    /// Last update time, ms.
    #[serde(default, with = "serde_helpers::opt_int_str")]
    pub updated_time: Option<i64>,
    /// 1 classic, 3 UTA 1.0, 4 UTA 1.0 pro, 5 UTA 2.0, 6 UTA 2.0 pro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified_margin_status: Option<i64>,
    /// Deprecated disconnect-cancel-all status (`ON`/`OFF`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dcp_status: Option<String>,
    /// Deprecated disconnect-cancel-all window, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window: Option<i64>,
    /// Deprecated self-match prevention group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smp_group: Option<i64>,
    /// Whether the account is a copy-trading master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_master_trader: Option<bool>,
    /// Spot hedging status (`ON`/`OFF`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_hedging_status: Option<String>,
}

/// `POST /v5/account/set-margin-mode` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetMarginModeRequest {
    /// The mode to switch to.
    pub set_margin_mode: MarginMode,
}

/// `POST /v5/account/set-margin-mode` result: empty on success, the reasons on failure
/// (which arrive with a non-zero `retCode`, e.g. 3400045).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMarginModeResult {
    /// Why the switch was refused.
    #[serde(default)]
    pub reasons: Vec<MarginModeReason>,
}

/// One reason a margin-mode switch was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarginModeReason {
    /// Reason code, a string such as `"3400000"`.
    #[serde(default)]
    pub reason_code: String,
    /// Human-readable reason.
    #[serde(default)]
    pub reason_msg: String,
}

/// `GET /v5/account/user-setting-config` result (docs/v5/account/get-user-setting-config.mdx).
///
/// The page's parameter table gives the two price-limit flags *opposite* meanings: `lpaSpot`
/// `true` = a limit price beyond the band is adjusted, but `lpaPerp` `true` = it is rejected.
/// The info boxes there and on set-price-limit word the defaults differently; the tables are
/// what [`UserSettingConfig::futures_price_adjusted`] follows. The page's table calls `result`
/// an array; its example (and the emulator) send an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSettingConfig {
    /// Spot: `true` = adjust the price to the bound, `false` = reject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lpa_spot: Option<bool>,
    /// Futures (perpetual and delivery): `true` = reject, `false` = adjust the price to the
    /// bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lpa_perp: Option<bool>,
    /// Whether Delta Neutral mode is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_enable: Option<bool>,
    /// Whether Spot MNT fee deduction is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smsef: Option<bool>,
    /// Whether Futures MNT fee deduction is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmsef: Option<bool>,
}

impl UserSettingConfig {
    /// Whether Bybit moves a futures limit price beyond the band to the bound (the account's
    /// futures `modifyEnable`): `!lpaPerp`. `None` when the reply does not say.
    pub fn futures_price_adjusted(&self) -> Option<bool> {
        self.lpa_perp.map(|reject| !reject)
    }
}

/// `POST /v5/account/set-limit-px-action` body (docs/v5/account/set-price-limit.mdx). Setting
/// `linear` or `inverse` sets every futures category. The result is `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetLimitPxActionRequest {
    /// `linear`, `inverse` or `spot`.
    pub category: crate::enums::Category,
    /// `true`: Bybit moves a limit price beyond the band to the bound; `false`: the order is
    /// refused.
    pub modify_enable: bool,
}
