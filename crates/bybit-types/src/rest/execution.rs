//! Executions (fills): the record shared by `GET /v5/execution/list` and the private
//! `execution` topic, and the slimmer `execution.fast` record.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::enums::{Category, CreateType, ExecType, OrderType, StopOrderType};
use crate::rest::Page;
use crate::serde_helpers;
use crate::WireSide;

/// `GET /v5/execution/list` result.
pub type ExecutionList = Page<Execution>;

/// One fill, as REST and the private `execution` topic report it (REFERENCE.md §7.2).
///
/// Dedupe on `exec_id`: the same fill can arrive from the stream and from a REST query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    /// Category (WebSocket only; REST has it once per page).
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub category: Option<Category>,
    /// Symbol name.
    pub symbol: String,
    /// Spot margin flag (WebSocket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_leverage: Option<String>,
    /// Bybit's order id.
    pub order_id: String,
    /// The client's order id; `""` when none.
    #[serde(default)]
    pub order_link_id: String,
    /// Side of the order.
    pub side: WireSide,
    /// Order price.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub order_price: Option<Decimal>,
    /// Order quantity.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub order_qty: Option<Decimal>,
    /// Quantity of the order still open after this fill.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub leaves_qty: Option<Decimal>,
    /// Who created the order (WebSocket; newer REST).
    #[serde(
        default,
        with = "serde_helpers::opt_enum",
        skip_serializing_if = "Option::is_none"
    )]
    pub create_type: Option<CreateType>,
    /// Order type.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub order_type: Option<OrderType>,
    /// Stop order type; `UNKNOWN` for plain orders.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub stop_order_type: Option<StopOrderType>,
    /// Fee of this fill (negative for a maker rebate).
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub exec_fee: Option<Decimal>,
    /// Fee of this fill in the newer REST spelling, where present.
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub exec_fee_v2: Option<Decimal>,
    /// Execution id: unique per fill.
    pub exec_id: String,
    /// Fill price.
    #[serde(with = "serde_helpers::decimal")]
    pub exec_price: Decimal,
    /// Fill quantity.
    #[serde(with = "serde_helpers::decimal")]
    pub exec_qty: Decimal,
    /// Profit and loss of this fill (WebSocket; newer REST).
    #[serde(
        default,
        with = "serde_helpers::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub exec_pnl: Option<Decimal>,
    /// Execution type.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub exec_type: Option<ExecType>,
    /// Fill value.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub exec_value: Option<Decimal>,
    /// Fill time, ms.
    #[serde(default, with = "serde_helpers::opt_int_str")]
    pub exec_time: Option<i64>,
    /// Whether this side was the maker.
    #[serde(default)]
    pub is_maker: bool,
    /// Fee rate applied.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub fee_rate: Option<Decimal>,
    /// Implied volatility of the trade (options).
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub trade_iv: Option<Decimal>,
    /// Implied volatility of the mark price (options).
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub mark_iv: Option<Decimal>,
    /// Mark price at the fill.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub mark_price: Option<Decimal>,
    /// Index price at the fill (options).
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub index_price: Option<Decimal>,
    /// Underlying price at the fill (options).
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub underlying_price: Option<Decimal>,
    /// Block trade id; `""` for normal fills.
    #[serde(default)]
    pub block_trade_id: String,
    /// Position quantity this fill closed.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub closed_size: Option<Decimal>,
    /// Extra fees: an array on the stream, `""` in REST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_fees: Option<ExtraFees>,
    /// Cross sequence shared with the position update this fill caused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// Fee coin.
    #[serde(default)]
    pub fee_currency: String,
    /// Unit of a spot market order's qty (WebSocket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_unit: Option<String>,
}

/// `extraFees`: Bybit sends an array on the stream and a string (`""`) in REST, so both are
/// accepted; anything else is kept as raw JSON rather than failing the whole fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExtraFees {
    /// The stream's array form.
    List(Vec<ExtraFee>),
    /// The REST string form, usually `""`.
    Text(String),
    /// A shape this version does not know.
    Other(serde_json::Value),
}

impl ExtraFees {
    /// The fee items, empty for the string and unknown forms.
    pub fn items(&self) -> &[ExtraFee] {
        match self {
            ExtraFees::List(items) => items,
            ExtraFees::Text(_) | ExtraFees::Other(_) => &[],
        }
    }
}

/// One extra fee (e.g. a tax) charged on a fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtraFee {
    /// Fee coin.
    #[serde(default)]
    pub fee_coin: String,
    /// Fee type, e.g. `GST`.
    #[serde(default)]
    pub fee_type: String,
    /// Fee sub-type, e.g. `IND_GST`.
    #[serde(default)]
    pub sub_fee_type: String,
    /// Fee rate.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub fee_rate: Option<Decimal>,
    /// Fee amount.
    #[serde(default, with = "serde_helpers::opt_decimal")]
    pub fee: Option<Decimal>,
}

/// One fill from the private `execution.fast` topic: trades only, fewer fields, lower latency.
///
/// `order_link_id` is always `""` for maker fills, so key these by `order_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FastExecution {
    /// Category.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub category: Option<Category>,
    /// Symbol name.
    pub symbol: String,
    /// Execution id.
    pub exec_id: String,
    /// Fill price.
    #[serde(with = "serde_helpers::decimal")]
    pub exec_price: Decimal,
    /// Fill quantity.
    #[serde(with = "serde_helpers::decimal")]
    pub exec_qty: Decimal,
    /// Bybit's order id.
    pub order_id: String,
    /// Whether this side was the maker.
    #[serde(default)]
    pub is_maker: bool,
    /// The client's order id; `""` for maker fills.
    #[serde(default)]
    pub order_link_id: String,
    /// Side of the order.
    pub side: WireSide,
    /// Fill time, ms.
    #[serde(default, with = "serde_helpers::opt_int_str")]
    pub exec_time: Option<i64>,
    /// Cross sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}
