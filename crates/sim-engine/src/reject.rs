//! Bybit's refusals: a retCode and its message (REFERENCE.md §12).
//!
//! Messages follow what Bybit is documented or observed to send. Where neither is known the
//! text is the emulator's own and says so in the constructor's doc; clients must match on the
//! code, never the text.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A refused command: Bybit's `retCode` and `retMsg`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct Reject {
    /// Bybit's retCode.
    pub ret_code: i64,
    /// Bybit's retMsg.
    pub ret_msg: String,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "retCode {}: {}", self.ret_code, self.ret_msg)
    }
}

impl Reject {
    /// Any code and message.
    pub fn new(ret_code: i64, ret_msg: impl Into<String>) -> Self {
        Reject {
            ret_code,
            ret_msg: ret_msg.into(),
        }
    }

    /// 10001, the catch-all parameter error.
    pub fn params(msg: impl Into<String>) -> Self {
        Reject::new(codes::PARAMS, msg)
    }

    /// 10001 for a symbol the engine does not list.
    pub fn unknown_symbol(symbol: &str) -> Self {
        Reject::params(format!("params error: symbol invalid: {symbol}"))
    }

    /// 10001: quantity not a multiple of qtyStep (emulator wording).
    pub fn qty_not_on_step(qty: Decimal, step: Decimal) -> Self {
        Reject::params(format!(
            "Qty invalid: {qty} is not a multiple of qtyStep {step}"
        ))
    }

    /// 10001: price not a multiple of tickSize (emulator wording).
    pub fn price_not_on_tick(price: Decimal, tick: Decimal) -> Self {
        Reject::params(format!(
            "Price invalid: {price} is not a multiple of tickSize {tick}"
        ))
    }

    /// 10001, Bybit's text for a quantity below minOrderQty (or zero).
    pub fn qty_below_min() -> Self {
        Reject::params("The number of contracts exceeds minimum limit allowed")
    }

    /// 10001, Bybit's text for a quantity above maxOrderQty / maxMktOrderQty.
    pub fn qty_above_max() -> Self {
        Reject::params("The number of contracts exceeds maximum limit allowed")
    }

    /// 110003: price outside [minPrice, maxPrice].
    pub fn price_out_of_range() -> Self {
        Reject::new(
            codes::PRICE_OUT_OF_RANGE,
            "Order price is out of permissible range",
        )
    }

    /// 30208: a buy priced above the limit-price band (v5/error, UTA).
    pub fn above_max_buy_price() -> Self {
        Reject::new(
            codes::ABOVE_MAX_BUY_PRICE,
            "Failed to submit order(s). The order price is higher than the maximum buying price",
        )
    }

    /// 30209: a sell priced below the limit-price band (v5/error, UTA).
    pub fn below_min_sell_price() -> Self {
        Reject::new(
            codes::BELOW_MIN_SELL_PRICE,
            "Failed to submit order(s). The order price is lower than the minimum selling price.",
        )
    }

    /// 110094: order value below minNotionalValue.
    pub fn below_min_notional(min: Decimal) -> Self {
        Reject::new(
            codes::BELOW_MIN_NOTIONAL,
            format!(
                "Order does not meet minimum order value {}USDT",
                min.normalize()
            ),
        )
    }

    /// 110007: available balance cannot cover the order's margin and fee.
    pub fn insufficient_available() -> Self {
        Reject::new(codes::AVAILABLE_INSUFFICIENT, "ab not enough for new order")
    }

    /// 110004: the wallet holds nothing to trade with at all.
    pub fn insufficient_wallet() -> Self {
        Reject::new(codes::WALLET_INSUFFICIENT, "Wallet balance is insufficient")
    }

    /// 110017 with a flat position.
    pub fn reduce_only_zero_position() -> Self {
        Reject::new(
            codes::REDUCE_ONLY,
            "current position is zero, cannot fix reduce-only order qty",
        )
    }

    /// 110017: a reduce-only order that would increase the position.
    pub fn reduce_only_not_satisfied() -> Self {
        Reject::new(codes::REDUCE_ONLY, "Reduce-only rule not satisfied")
    }

    /// 110072.
    pub fn duplicate_order_link_id() -> Self {
        Reject::new(codes::DUPLICATE_ORDER_LINK_ID, "OrderLinkedID is duplicate")
    }

    /// 110001, with Bybit's text as captured (fixtures/rest_error_110001_order_not_exists.json).
    pub fn order_not_exists() -> Self {
        Reject::new(
            codes::ORDER_NOT_EXISTS,
            "order not exists or too late to cancel",
        )
    }

    /// 110043.
    pub fn leverage_not_modified() -> Self {
        Reject::new(codes::LEVERAGE_NOT_MODIFIED, "leverage not modified")
    }

    /// 110092: a rising trigger at or below the current price.
    pub fn trigger_expect_rising(trigger: Decimal, current: Decimal) -> Self {
        Reject::new(
            codes::TRIGGER_EXPECT_RISING,
            format!("expect Rising, but trigger_price[{trigger}] <= current[{current}]??LastPrice"),
        )
    }

    /// 110093: a falling trigger at or above the current price.
    pub fn trigger_expect_falling(trigger: Decimal, current: Decimal) -> Self {
        Reject::new(
            codes::TRIGGER_EXPECT_FALLING,
            format!(
                "expect Falling, but trigger_price[{trigger}] >= current[{current}]??LastPrice"
            ),
        )
    }

    /// 110020.
    pub fn too_many_active_orders() -> Self {
        Reject::new(
            codes::TOO_MANY_ACTIVE_ORDERS,
            "Not allowed to have more than 500 active orders.",
        )
    }

    /// 110009.
    pub fn too_many_stop_orders() -> Self {
        Reject::new(
            codes::TOO_MANY_STOP_ORDERS,
            "The number of stop orders exceeds the maximum allowable limit",
        )
    }

    /// 110074.
    pub fn not_live() -> Self {
        Reject::new(codes::NOT_LIVE, "This contract is not live")
    }

    /// 110064.
    pub fn amend_qty_not_above_filled() -> Self {
        Reject::new(
            codes::AMEND_QTY_TOO_SMALL,
            "The modified contract quantity cannot be less than or equal to the filled quantity.",
        )
    }

    /// 34040: trading-stop values already set.
    pub fn not_modified() -> Self {
        Reject::new(codes::NOT_MODIFIED, "not modified")
    }
}

/// The retCodes the engine produces.
pub mod codes {
    /// Success.
    pub const OK: i64 = 0;
    /// Parameter error.
    pub const PARAMS: i64 = 10001;
    /// Order price outside the allowed range.
    pub const PRICE_OUT_OF_RANGE: i64 = 110003;
    /// Buy above the limit-price band.
    pub const ABOVE_MAX_BUY_PRICE: i64 = 30208;
    /// Sell below the limit-price band.
    pub const BELOW_MIN_SELL_PRICE: i64 = 30209;
    /// Order does not exist.
    pub const ORDER_NOT_EXISTS: i64 = 110001;
    /// Wallet balance insufficient.
    pub const WALLET_INSUFFICIENT: i64 = 110004;
    /// Available balance insufficient.
    pub const AVAILABLE_INSUFFICIENT: i64 = 110007;
    /// Too many stop orders.
    pub const TOO_MANY_STOP_ORDERS: i64 = 110009;
    /// Reduce-only rule / qty truncated to zero.
    pub const REDUCE_ONLY: i64 = 110017;
    /// Too many active orders.
    pub const TOO_MANY_ACTIVE_ORDERS: i64 = 110020;
    /// Leverage not modified.
    pub const LEVERAGE_NOT_MODIFIED: i64 = 110043;
    /// Amended quantity not above the filled quantity.
    pub const AMEND_QTY_TOO_SMALL: i64 = 110064;
    /// Duplicate orderLinkId.
    pub const DUPLICATE_ORDER_LINK_ID: i64 = 110072;
    /// Contract not live.
    pub const NOT_LIVE: i64 = 110074;
    /// Rising trigger on the wrong side.
    pub const TRIGGER_EXPECT_RISING: i64 = 110092;
    /// Falling trigger on the wrong side.
    pub const TRIGGER_EXPECT_FALLING: i64 = 110093;
    /// Order value below the minimum.
    pub const BELOW_MIN_NOTIONAL: i64 = 110094;
    /// TP/SL not modified.
    pub const NOT_MODIFIED: i64 = 34040;
}
