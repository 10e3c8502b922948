//! A deterministic matching engine and USDT account that follow Bybit's rules and answer with
//! Bybit's retCodes: the exchange behind the local emulator, and the core of the paper and
//! dry-run routers.
//!
//! What it is: USDT linear perpetuals traded in one-way mode (`positionIdx 0`; a symbol can be
//! switched to hedge mode and is then listed, not traded). Market orders walk a
//! synthetic book around the last price (real slippage, partial fills on a thin book); limit
//! orders rest and fill when the traded price crosses them; conditional orders trigger on the
//! last price; positions carry average price, leverage, unrealised and realised PnL, and
//! take-profit / stop-loss; the account tracks wallet balance, margin, fees and funding.
//! Orders are refused with the retCode Bybit uses (REFERENCE.md §12). By default every symbol
//! lives: a seeded random walk with trade prints and a book whose sizes vary like a real one;
//! [`EngineConfig::static_prices`] keeps a still market, and prices can also come from a replay
//! of recorded trades or an explicit path.
//!
//! Bybit behaviour it follows, from the V5 docs (`bybit-exchange/docs`):
//! - v5/enum `orderStatus`: a conditional order is `Untriggered`, passes through the
//!   instantaneous `Triggered` (pushed on the `order` stream) and goes on as `New` / `Filled`;
//!   one cancelled before it triggers ends `Deactivated`. `createType` is `CreateByStopOrder`
//!   for conditionals, `CreateByTakeProfit` / `CreateByStopLoss` for a position's TP / SL.
//! - v5/position/trading-stop: a position's TP and SL are Untriggered conditional orders
//!   (`stopOrderType` `TakeProfit` / `StopLoss`, qty 0 = the whole position, reduce-only,
//!   close-on-trigger) listed by `/v5/order/realtime`; when the position is cleared they end
//!   `Deactivated` with `cancelType` `CancelByTpSlTsClear` (v5/enum cancelType). Cancelling
//!   one removes that level from the position.
//! - v5/order/open-order and v5/websocket/private/order captures: REST prints "nothing" as
//!   `avgPrice "0"`, `triggerPrice "0"`, `stopOrderType "UNKNOWN"`; the stream as `""`. System
//!   cancels (PostOnly that would take, IOC / FOK remainders) say why in `rejectReason` and
//!   leave `cancelType` `UNKNOWN`; an order's `closedPnl` counts only fills that closed.
//! - v5/websocket/private/execution and position: one `seq` per match event (one order
//!   taking liquidity, or one print filling resting orders) shared by its fills and the
//!   position update; `-1` for a symbol never traded. Positions are pushed on fills, order
//!   operations and setting changes, not on prints.
//! - v5/error, v5/market/instrument, v5/market/order-price-limit and v5/account/set-price-limit:
//!   limit prices beyond `riskParameters.priceLimitRatioY` of the reference price are moved to
//!   the bound (futures `modifyEnable` on, Bybit's default) or refused with 30208 (buy) / 30209
//!   (sell) when the account's price-limit action is off (`engine/price_limit.rs`); market orders fill no
//!   further than [`EngineConfig::market_protection`] (5 %, as real BTCUSDT captures show).
//! - v5/enum `execType` `Funding`: every funding interval a position pays (long, positive
//!   rate) or receives `size × mark × rate` as a `Funding` execution (`orderType` `UNKNOWN`).
//! - Exact money: each execution's `execPnl` and `execFee` (8 decimals) are exactly what the
//!   wallet moves by.
//!
//! What it is not: it does no I/O and reads no clock (every command takes `now` in ms);
//! randomness comes only from the configured seed. It knows nothing of HTTP, WebSockets or
//! signatures (that is `bybit-emulator`) and nothing of the gateway's ports (it must stay
//! usable without `exec-gateway`, which is why it is its own crate and not part of `exec-sim`).
//!
//! Main types: [`Engine`], [`EngineConfig`], [`NewOrder`], [`Reject`], [`EngineEvent`].

#![deny(clippy::float_arithmetic)]

mod command;
mod config;
pub mod defaults;
mod engine;
mod market;
mod reject;
mod snapshot;
mod state;
mod wire_out;

pub use command::{
    Amend, CancelAll, ExecutionQuery, NewOrder, OrderFilter, OrderKey, OrderQuery, TradingStop,
    TriggerDirection,
};
pub use config::{BookShape, EngineConfig, FeeRates, Limits};
pub use engine::{
    query_window, Engine, LimitPxAction, LimitPxCategory, PriceLimit, RestoreError, Retained,
    RulesChange, DAY_MS, EXECUTIONS_KEPT_MS, MAX_BALANCE, MAX_PASS_MS, QUERY_WINDOW_MS,
    UNFILLED_CLOSED_KEPT_MS,
};
pub use market::{BookSnapshot, Level, PricePoint, PriceSource, PublicTrade};
pub use reject::{codes, Reject};
pub use snapshot::EngineSnapshot;

use bybit_types::rest::account::WalletAccount;
use bybit_types::rest::execution::Execution;
use bybit_types::rest::order::Order;
use bybit_types::rest::position::Position;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Bybit's acknowledgement of an order command: `{orderId, orderLinkId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderAck {
    /// Bybit's order id.
    pub order_id: String,
    /// The client's id, `""` when none was given.
    pub order_link_id: String,
}

/// An update the private and public streams push, in Bybit's wire shapes (boxed: the wire
/// records are large and events travel through channels).
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// `order` topic.
    Order(Box<Order>),
    /// `execution` topic.
    Execution(Box<Execution>),
    /// `position` topic.
    Position(Box<Position>),
    /// `wallet` topic.
    Wallet(Box<WalletAccount>),
    /// `publicTrade.{symbol}` topic.
    Trade(PublicTrade),
    /// The symbol's ticker and book changed (`tickers.*`, `orderbook.*`).
    Market {
        /// Symbol.
        symbol: String,
    },
}

/// Why an engine could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An instrument whose rules make no sense.
    #[error("instrument {symbol}: {reason}")]
    Instrument {
        /// Symbol.
        symbol: String,
        /// What is wrong.
        reason: String,
    },
    /// A starting price that is not positive.
    #[error("starting price {price} for {symbol} must be positive")]
    Price {
        /// Symbol.
        symbol: String,
        /// The refused price.
        price: Decimal,
    },
    /// A negative starting balance.
    #[error("starting balance {0} must not be negative")]
    Balance(Decimal),
    /// A market protection that is not a fraction between 0 and 1.
    #[error("market protection {0} must be between 0 and 1 (exclusive)")]
    Protection(Decimal),
}
