//! Public market data: server time, instruments info, tickers.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::enums::{Category, ContractType, InstrumentStatus, TickDirection};
use crate::serde_helpers;

/// `GET /v5/market/time` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    /// Server time in seconds.
    #[serde(with = "serde_helpers::int_str")]
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
    #[serde(default, with = "serde_helpers::opt_enum")]
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
    #[serde(default, with = "serde_helpers::opt_int_str")]
    pub launch_time: Option<i64>,
    /// Delivery time, ms; `0` for perpetuals.
    #[serde(default, with = "serde_helpers::opt_int_str")]
    pub delivery_time: Option<i64>,
    /// Delivery fee rate; `""` for perpetuals.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub delivery_fee_rate: Option<Decimal>,
    /// Decimal places prices are printed with (may exceed the tick's, e.g. SOLUSDT).
    #[serde(default, with = "serde_helpers::opt_int_str")]
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
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub upper_funding_rate: Option<Decimal>,
    /// Lower funding rate.
    #[serde(default, with = "serde_helpers::opt_decimal")]
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
    #[serde(with = "serde_helpers::decimal")]
    pub min_leverage: Decimal,
    /// Maximum leverage.
    #[serde(with = "serde_helpers::decimal")]
    pub max_leverage: Decimal,
    /// Leverage increment.
    #[serde(with = "serde_helpers::decimal")]
    pub leverage_step: Decimal,
}

/// `priceFilter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceFilter {
    /// Minimum order price.
    #[serde(with = "serde_helpers::decimal")]
    pub min_price: Decimal,
    /// Maximum order price.
    #[serde(with = "serde_helpers::decimal")]
    pub max_price: Decimal,
    /// Price increment.
    #[serde(with = "serde_helpers::decimal")]
    pub tick_size: Decimal,
}

/// `lotSizeFilter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LotSizeFilter {
    /// Maximum quantity of a limit or post-only order.
    #[serde(with = "serde_helpers::decimal")]
    pub max_order_qty: Decimal,
    /// Minimum quantity.
    #[serde(with = "serde_helpers::decimal")]
    pub min_order_qty: Decimal,
    /// Quantity increment.
    #[serde(with = "serde_helpers::decimal")]
    pub qty_step: Decimal,
    /// Deprecated; equal to `maxOrderQty` since 2024.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub post_only_max_order_qty: Option<Decimal>,
    /// Maximum quantity of a market order; older payloads lack it.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub max_mkt_order_qty: Option<Decimal>,
    /// Minimum order value in the quote coin; older payloads lack it.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub min_notional_value: Option<Decimal>,
}

/// `riskParameters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskParameters {
    /// Price-limit ratio X.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub price_limit_ratio_x: Option<Decimal>,
    /// Price-limit ratio Y.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub price_limit_ratio_y: Option<Decimal>,
}

/// `GET /v5/market/tickers` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickerList {
    /// The category asked for.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub category: Option<Category>,
    /// One ticker per symbol.
    #[serde(default)]
    pub list: Vec<Ticker>,
}

/// A ticker: one item of the REST tickers list, or the `data` of a `tickers.{symbol}`
/// stream message, snapshot or delta.
///
/// Every field but `symbol` is optional because a stream delta carries only what changed (an
/// absent field means "unchanged"); apply deltas with [`Ticker::merge`]. `None` fields are
/// left out when written, so a delta written back is still a delta. Because `""` also reads as
/// `None`, a delta cannot clear a field; Bybit has not been seen to do that.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticker {
    /// Symbol name.
    pub symbol: String,
    /// Direction of the last price change.
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub tick_direction: Option<TickDirection>,
    /// Change over 24 h, as a fraction.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub price24h_pcnt: Option<Decimal>,
    /// Last traded price.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_price: Option<Decimal>,
    /// Price 24 h ago.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub prev_price24h: Option<Decimal>,
    /// 24 h high.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub high_price24h: Option<Decimal>,
    /// 24 h low.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub low_price24h: Option<Decimal>,
    /// Price 1 h ago.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub prev_price1h: Option<Decimal>,
    /// Mark price.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub mark_price: Option<Decimal>,
    /// Index price.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub index_price: Option<Decimal>,
    /// Open interest, in contracts.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub open_interest: Option<Decimal>,
    /// Open interest value.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub open_interest_value: Option<Decimal>,
    /// 24 h turnover.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub turnover24h: Option<Decimal>,
    /// 24 h volume.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub volume24h: Option<Decimal>,
    /// Next funding time, ms; `""` for dated futures.
    #[serde(
        default,
        with = "serde_helpers::opt_int_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_funding_time: Option<i64>,
    /// Current funding rate; `""` for dated futures.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub funding_rate: Option<Decimal>,
    /// Funding interval in hours.
    #[serde(
        default,
        with = "serde_helpers::opt_int_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub funding_interval_hour: Option<i64>,
    /// Funding rate cap.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub funding_cap: Option<Decimal>,
    /// Best bid price.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub bid1_price: Option<Decimal>,
    /// Best bid size.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub bid1_size: Option<Decimal>,
    /// Best ask price.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub ask1_price: Option<Decimal>,
    /// Best ask size.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub ask1_size: Option<Decimal>,
    /// Delivery time: `"0"` for perpetuals in REST, an ISO-8601 time for futures on the stream, so kept as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_time: Option<String>,
    /// Basis rate (futures).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub basis_rate: Option<Decimal>,
    /// Basis (futures).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub basis: Option<Decimal>,
    /// Annualised basis rate (futures).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub basis_rate_year: Option<Decimal>,
    /// Delivery fee rate (futures).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub delivery_fee_rate: Option<Decimal>,
    /// Predicted delivery price (futures).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub predicted_delivery_price: Option<Decimal>,
    /// Estimated pre-market opening price.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub pre_open_price: Option<Decimal>,
    /// Estimated pre-market opening quantity.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub pre_qty: Option<Decimal>,
    /// Pre-market phase; `""` when not pre-market.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cur_pre_listing_phase: Option<String>,
}

impl Ticker {
    /// Applies a stream delta: every field the delta carries replaces ours; the others stay.
    /// The caller checks that both are for the same symbol.
    ///
    /// ```
    /// use bybit_types::rest::market::Ticker;
    /// use rust_decimal::Decimal;
    ///
    /// let mut ticker: Ticker =
    ///     serde_json::from_str(r#"{"symbol":"BTCUSDT","lastPrice":"100.5","bid1Price":"100.4"}"#).unwrap();
    /// let delta: Ticker = serde_json::from_str(r#"{"symbol":"BTCUSDT","bid1Price":"100.3"}"#).unwrap();
    /// ticker.merge(&delta);
    /// assert_eq!(ticker.bid1_price, Some(Decimal::new(1003, 1)));
    /// assert_eq!(ticker.last_price, Some(Decimal::new(1005, 1)));
    /// ```
    pub fn merge(&mut self, delta: &Ticker) {
        // Every optional field must be listed here; a field left out would never update.
        macro_rules! take {
            ($($field:ident),+ $(,)?) => {$(
                if delta.$field.is_some() {
                    self.$field.clone_from(&delta.$field);
                }
            )+};
        }
        take!(
            tick_direction,
            price24h_pcnt,
            last_price,
            prev_price24h,
            high_price24h,
            low_price24h,
            prev_price1h,
            mark_price,
            index_price,
            open_interest,
            open_interest_value,
            turnover24h,
            volume24h,
            next_funding_time,
            funding_rate,
            funding_interval_hour,
            funding_cap,
            bid1_price,
            bid1_size,
            ask1_price,
            ask1_size,
            delivery_time,
            basis_rate,
            basis,
            basis_rate_year,
            delivery_fee_rate,
            predicted_delivery_price,
            pre_open_price,
            pre_qty,
            cur_pre_listing_phase,
        );
    }
}

/// `GET /v5/market/price-limit` result (docs/v5/market/order-price-limit.mdx), also the data
/// of the public `priceLimit.{symbol}` topic: the prices a limit order may carry now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceLimit {
    /// Symbol.
    pub symbol: String,
    /// Highest price a buy may carry.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub buy_lmt: Option<Decimal>,
    /// Lowest price a sell may carry.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub sell_lmt: Option<Decimal>,
    /// When Bybit computed it, ms (a string on REST).
    #[serde(default, with = "serde_helpers::opt_int_str")]
    pub ts: Option<i64>,
}
