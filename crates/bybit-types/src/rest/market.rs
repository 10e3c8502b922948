//! Public market data: server time, instruments info, tickers.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::enums::{Category, ContractType, InstrumentStatus};
use crate::wire;

/// `GET /v5/market/time` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    /// Server time in seconds.
    #[serde(with = "wire::int_str")]
    pub time_second: i64,
    /// Server time in nanoseconds. Kept as text: it overflows nothing but is rarely needed.
    #[serde(default)]
    pub time_nano: String,
}

impl ServerTime {
    /// Server time in milliseconds, from `timeNano` when present, else from `timeSecond`.
    pub fn millis(&self) -> i64 {
        self.time_nano
            .get(..self.time_nano.len().saturating_sub(6))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(self.time_second.saturating_mul(1000))
    }
}

/// `GET /v5/market/instruments-info` result: one page of instruments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentsInfo {
    /// The category asked for.
    pub category: Category,
    /// The instruments on this page.
    #[serde(default)]
    pub list: Vec<InstrumentInfo>,
    /// Cursor for the next page; `""` on the last page.
    #[serde(default)]
    pub next_page_cursor: String,
}

/// One linear (or inverse) instrument as instruments-info describes it.
///
/// Only `symbol` and the three filters are required: they are what trading needs. Everything
/// else is optional so that a field Bybit drops or adds does not break parsing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentInfo {
    /// Symbol name, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Bybit's numeric symbol id (newer payloads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_id: Option<i64>,
    /// Contract type.
    #[serde(default, with = "wire::opt_enum")]
    pub contract_type: Option<ContractType>,
    /// Trading status.
    pub status: InstrumentStatus,
    /// Base coin.
    #[serde(default)]
    pub base_coin: String,
    /// Quote coin.
    #[serde(default)]
    pub quote_coin: String,
    /// Settlement coin.
    #[serde(default)]
    pub settle_coin: String,
    /// Launch time, ms.
    #[serde(default, with = "wire::opt_int_str")]
    pub launch_time: Option<i64>,
    /// Delivery time, ms; `0` for perpetuals.
    #[serde(default, with = "wire::opt_int_str")]
    pub delivery_time: Option<i64>,
    /// Delivery fee rate; `""` for perpetuals.
    #[serde(default, with = "wire::opt_decimal")]
    pub delivery_fee_rate: Option<Decimal>,
    /// Decimal places prices are printed with (may exceed the tick's, e.g. SOLUSDT).
    #[serde(default, with = "wire::opt_int_str")]
    pub price_scale: Option<i64>,
    /// Leverage bounds.
    pub leverage_filter: LeverageFilter,
    /// Price bounds and tick.
    pub price_filter: PriceFilter,
    /// Quantity bounds and step.
    pub lot_size_filter: LotSizeFilter,
    /// Whether UTA can trade it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified_margin_trade: Option<bool>,
    /// Funding interval in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding_interval: Option<i64>,
    /// Copy trading support (`none`, `both`, ...).
    #[serde(default)]
    pub copy_trading: String,
    /// Upper funding rate.
    #[serde(default, with = "wire::opt_decimal")]
    pub upper_funding_rate: Option<Decimal>,
    /// Lower funding rate.
    #[serde(default, with = "wire::opt_decimal")]
    pub lower_funding_rate: Option<Decimal>,
    /// Whether it is a pre-market contract.
    #[serde(default)]
    pub is_pre_listing: bool,
    /// Pre-market details; `null` unless pre-market. Kept as JSON: nothing here trades on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_listing_info: Option<serde_json::Value>,
    /// Price-limit band parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_parameters: Option<RiskParameters>,
    /// Display name (newer payloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Symbol type, e.g. `innovation` (newer payloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_type: Option<String>,
}

/// `leverageFilter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeverageFilter {
    /// Minimum leverage.
    #[serde(with = "wire::decimal")]
    pub min_leverage: Decimal,
    /// Maximum leverage.
    #[serde(with = "wire::decimal")]
    pub max_leverage: Decimal,
    /// Leverage increment.
    #[serde(with = "wire::decimal")]
    pub leverage_step: Decimal,
}

/// `priceFilter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceFilter {
    /// Minimum order price.
    #[serde(with = "wire::decimal")]
    pub min_price: Decimal,
    /// Maximum order price.
    #[serde(with = "wire::decimal")]
    pub max_price: Decimal,
    /// Price increment.
    #[serde(with = "wire::decimal")]
    pub tick_size: Decimal,
}

/// `lotSizeFilter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LotSizeFilter {
    /// Maximum quantity of a limit or post-only order.
    #[serde(with = "wire::decimal")]
    pub max_order_qty: Decimal,
    /// Minimum quantity.
    #[serde(with = "wire::decimal")]
    pub min_order_qty: Decimal,
    /// Quantity increment.
    #[serde(with = "wire::decimal")]
    pub qty_step: Decimal,
    /// Deprecated; equal to `maxOrderQty` since 2024.
    #[serde(default, with = "wire::opt_decimal")]
    pub post_only_max_order_qty: Option<Decimal>,
    /// Maximum quantity of a market order; older payloads lack it.
    #[serde(default, with = "wire::opt_decimal")]
    pub max_mkt_order_qty: Option<Decimal>,
    /// Minimum order value in the quote coin; older payloads lack it.
    #[serde(default, with = "wire::opt_decimal")]
    pub min_notional_value: Option<Decimal>,
}

/// `riskParameters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskParameters {
    /// Price-limit ratio X.
    #[serde(default, with = "wire::opt_decimal")]
    pub price_limit_ratio_x: Option<Decimal>,
    /// Price-limit ratio Y.
    #[serde(default, with = "wire::opt_decimal")]
    pub price_limit_ratio_y: Option<Decimal>,
}
