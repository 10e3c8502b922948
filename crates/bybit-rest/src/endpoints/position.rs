//! Positions: the position list, leverage, the (deprecated for UTA) isolated switch and
//! trading stop (docs/v5/position/*.mdx).

use rust_decimal::Decimal;
use serde::Serialize;

use bybit_types::rest::position::{PositionList, SetLeverageRequest, TradingStopRequest};
use bybit_types::{Category, Empty, Price, Symbol, TpslMode, TriggerBy};

use crate::client::{Call, RestClient};
use crate::endpoints::order::push;
use crate::endpoints::Change;
use crate::error::{codes, ErrorContext, RestError};
use crate::limiter::Priority;
use crate::routes::{POSITIONS, SET_LEVERAGE, SWITCH_ISOLATED, TRADING_STOP};

/// `GET /v5/position/list` (docs/v5/position/position.mdx): one symbol (a row even when flat)
/// or every non-zero position of a settle coin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Positions {
    category: Category,
    symbol: Option<Symbol>,
    settle_coin: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl Positions {
    /// The position of one symbol.
    pub fn symbol(symbol: Symbol) -> Self {
        Positions {
            category: Category::Linear,
            symbol: Some(symbol),
            settle_coin: None,
            limit: None,
            cursor: None,
        }
    }

    /// Every open position settled in `coin`.
    pub fn settle_coin(coin: impl Into<String>) -> Self {
        Positions {
            category: Category::Linear,
            symbol: None,
            settle_coin: Some(coin.into()),
            limit: None,
            cursor: None,
        }
    }

    /// Page size, 1..=200.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The next page's cursor.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Category (default linear).
    pub fn category(mut self, category: Category) -> Self {
        self.category = category;
        self
    }
}

/// `POST /v5/position/trading-stop` (docs/v5/position/trading-stop.mdx): TP/SL/trailing stop
/// on a position.
#[derive(Debug, Clone, PartialEq)]
pub struct TradingStop {
    wire: TradingStopRequest,
    symbol: Symbol,
}

impl TradingStop {
    /// Stops for the whole position (`tpslMode: Full`) at `position_idx` (0 in one-way mode).
    pub fn full(symbol: Symbol, position_idx: i64) -> Self {
        TradingStop {
            wire: TradingStopRequest::new(
                Category::Linear,
                symbol.as_str(),
                TpslMode::Full,
                position_idx,
            ),
            symbol,
        }
    }

    /// Take-profit price.
    pub fn take_profit(mut self, price: Price) -> Self {
        self.wire.take_profit = Some(price.get());
        self
    }

    /// Cancels the take-profit (`"0"`).
    pub fn clear_take_profit(mut self) -> Self {
        self.wire.take_profit = Some(Decimal::ZERO);
        self
    }

    /// Stop-loss price (a breakeven stop is the position's entry price).
    pub fn stop_loss(mut self, price: Price) -> Self {
        self.wire.stop_loss = Some(price.get());
        self
    }

    /// Cancels the stop-loss (`"0"`).
    pub fn clear_stop_loss(mut self) -> Self {
        self.wire.stop_loss = Some(Decimal::ZERO);
        self
    }

    /// Trailing-stop distance.
    pub fn trailing_stop(mut self, distance: Price) -> Self {
        self.wire.trailing_stop = Some(distance.get());
        self
    }

    /// Which prices trigger the take-profit and the stop-loss.
    pub fn trigger_by(mut self, tp: TriggerBy, sl: TriggerBy) -> Self {
        self.wire.tp_trigger_by = Some(tp);
        self.wire.sl_trigger_by = Some(sl);
        self
    }

    /// The request body as Bybit receives it.
    pub fn as_wire(&self) -> &TradingStopRequest {
        &self.wire
    }
}

/// `POST /v5/position/switch-isolated` body (docs/v5/abandon/cross-isolate.mdx).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SwitchIsolatedRequest<'a> {
    category: &'a str,
    symbol: &'a str,
    trade_mode: i64,
    buy_leverage: String,
    sell_leverage: String,
}

fn leverage(label: &'static str, symbol: &Symbol, value: Decimal) -> Result<Decimal, RestError> {
    if value > Decimal::ZERO {
        Ok(value)
    } else {
        Err(RestError::InvalidRequest {
            ctx: ErrorContext {
                symbol: Some(symbol.as_str().into()),
                ..ErrorContext::new(label, true)
            },
            reason: format!("leverage must be positive, got {value}"),
        })
    }
}

impl RestClient {
    /// One page of positions (`GET /v5/position/list`).
    pub async fn positions(&self, query: Positions) -> Result<PositionList, RestError> {
        let mut params = vec![("category", query.category.as_str().to_owned())];
        push(
            &mut params,
            "symbol",
            query.symbol.as_ref().map(Symbol::as_str),
        );
        push(&mut params, "settleCoin", query.settle_coin.as_deref());
        push(
            &mut params,
            "limit",
            query.limit.map(|l| l.to_string()).as_deref(),
        );
        push(&mut params, "cursor", query.cursor.as_deref());
        let call = Call::get(&POSITIONS, &params).symbol(query.symbol.as_ref().map(Symbol::as_str));
        self.execute(&call).await.result.map(|r| r.result)
    }

    /// Sets leverage (`POST /v5/position/set-leverage`, docs/v5/position/leverage.mdx); buy
    /// and sell must be equal in one-way or cross mode. 110043 (not modified) is
    /// [`Change::AlreadySet`].
    pub async fn set_leverage(
        &self,
        symbol: Symbol,
        buy: Decimal,
        sell: Decimal,
    ) -> Result<Change, RestError> {
        let body = SetLeverageRequest {
            category: Category::Linear,
            symbol: symbol.as_str().to_owned(),
            buy_leverage: leverage(SET_LEVERAGE.label, &symbol, buy)?,
            sell_leverage: leverage(SET_LEVERAGE.label, &symbol, sell)?,
        };
        let call = Call::post(&SET_LEVERAGE, &body)?.symbol(Some(symbol.as_str()));
        change(
            self.execute::<Empty>(&call).await.result,
            codes::LEVERAGE_NOT_MODIFIED,
        )
    }

    /// Switches a symbol between cross (`isolated = false`) and isolated margin
    /// (`POST /v5/position/switch-isolated`). Deprecated by Bybit for UTA 2.0 accounts, where
    /// margin mode is account-wide; kept for classic and UTA 1.0 accounts.
    pub async fn switch_isolated(
        &self,
        symbol: Symbol,
        isolated: bool,
        buy_leverage: Decimal,
        sell_leverage: Decimal,
    ) -> Result<(), RestError> {
        let body = SwitchIsolatedRequest {
            category: Category::Linear.as_str(),
            symbol: symbol.as_str(),
            trade_mode: i64::from(isolated),
            buy_leverage: leverage(SWITCH_ISOLATED.label, &symbol, buy_leverage)?.to_string(),
            sell_leverage: leverage(SWITCH_ISOLATED.label, &symbol, sell_leverage)?.to_string(),
        };
        let call = Call::post(&SWITCH_ISOLATED, &body)?.symbol(Some(symbol.as_str()));
        self.execute::<Empty>(&call).await.result.map(|_| ())
    }

    /// Sets TP/SL/trailing stop on a position (`POST /v5/position/trading-stop`). 34040 (not
    /// modified) is [`Change::AlreadySet`]. Protective, so it jumps the local queue.
    pub async fn trading_stop(&self, stop: TradingStop) -> Result<Change, RestError> {
        let call = Call::post(&TRADING_STOP, stop.as_wire())?
            .symbol(Some(stop.symbol.as_str()))
            .priority(Priority::High);
        change(
            self.execute::<Empty>(&call).await.result,
            codes::NOT_MODIFIED,
        )
    }
}

fn change<T>(
    result: Result<crate::client::Reply<T>, RestError>,
    unchanged: i64,
) -> Result<Change, RestError> {
    match result {
        Ok(_) => Ok(Change::Applied),
        Err(e) if e.ret_code() == Some(unchanged) => Ok(Change::AlreadySet),
        Err(e) => Err(e),
    }
}
