//! Bybit's wire records (`bybit-types`, as the live REST and WebSocket clients and `sim-engine`
//! report them) in the gateway's vocabulary: events for the bus, snapshots and positions for
//! the ports. Shared by every router (`exec-sim`'s paper router, `exec-live`), so the mapping
//! exists once.
//!
//! What it is not: a client or an engine (it needs only `bybit-types` and the gateway's
//! types; `cargo xtask deps` checks it), and not part of the gateway's API: the gateway never
//! sees Bybit's wire format.

use bybit_types::rest::account::WalletAccount;
use bybit_types::rest::execution::Execution;
use bybit_types::rest::order::Order;
use bybit_types::rest::position::Position;
use bybit_types::Symbol;
use bybit_types::{ExecType, OrderStatus as WireStatus};
use exec_events::{ExecKind, Fill, OrderEvent, OrderEventKind, PositionUpdate, Side, WalletUpdate};
use exec_gateway::{Balance, OrderSnapshot, OrderStatus, PortError, PositionState};
use rust_decimal::Decimal;

/// A Bybit retCode and retMsg as the outcome policy's [`PortError`] (REFERENCE.md §12,
/// docs/v5/error.mdx): the one table of Bybit's codes for every router (the live adapters
/// for the exchange's answers, the paper router for its engine's refusals); the gateway
/// knows no retCode.
pub fn ret_code_error(code: i64, message: impl Into<String>) -> PortError {
    let message = message.into();
    // The duplicate text has been seen under retCode 20094 too (REFERENCE.md §9).
    if message
        .to_ascii_lowercase()
        .contains("orderlinkedid is duplicate")
    {
        return PortError::DuplicateLinkId { message };
    }
    match code {
        10000 | 10016 | 110079 => PortError::UnknownOutcome {
            reason: format!("retCode {code}: {message}"),
        },
        110072 => PortError::DuplicateLinkId { message },
        110004 | 110007 | 110012 | 110044 | 110045 => {
            PortError::InsufficientBalance { code, message }
        }
        10003 | 10004 | 10005 | 10007 | 10010 | 33004 => PortError::Auth { code, message },
        10006 | 10018 | 429 => PortError::RateLimited {
            retry_after: std::time::Duration::from_secs(1),
        },
        _ => PortError::Rejected { code, message },
    }
}

/// The gateway's side.
pub fn side(side: bybit_types::WireSide) -> Side {
    match side {
        bybit_types::WireSide::Buy => Side::Buy,
        bybit_types::WireSide::Sell => Side::Sell,
    }
}

/// Bybit's side.
pub fn wire_side(side: Side) -> bybit_types::WireSide {
    match side {
        Side::Buy => bybit_types::WireSide::Buy,
        Side::Sell => bybit_types::WireSide::Sell,
    }
}

fn positive(value: Option<Decimal>) -> Option<Decimal> {
    value.filter(|v| *v > Decimal::ZERO)
}

/// An order's status in the gateway's words (v5/enum orderStatus).
pub fn status(status: &WireStatus) -> OrderStatus {
    match status {
        WireStatus::New | WireStatus::Triggered => OrderStatus::Open,
        WireStatus::Untriggered => OrderStatus::Untriggered,
        WireStatus::PartiallyFilled => OrderStatus::PartiallyFilled,
        WireStatus::Filled => OrderStatus::Filled,
        WireStatus::Cancelled | WireStatus::Deactivated | WireStatus::PartiallyFilledCanceled => {
            OrderStatus::Cancelled
        }
        WireStatus::Rejected => OrderStatus::Rejected,
        // A status this code does not know: treat the order as still live.
        _ => OrderStatus::Open,
    }
}

/// An order's limit price: none for a market order, whose `price` Bybit reports as the
/// protection price it capped the order at (docs/v5/order/create-order.mdx: `price` is a limit
/// order's), which is neither what was asked nor what filled.
fn limit_price(o: &Order) -> Option<Decimal> {
    positive(o.price).filter(|_| o.order_type != Some(bybit_types::OrderType::Market))
}

/// An order as the router ports report it.
pub fn snapshot(o: &Order) -> OrderSnapshot {
    OrderSnapshot {
        symbol: o.symbol.clone(),
        side: side(o.side),
        order_id: o.order_id.clone(),
        order_link_id: o.order_link_id.clone(),
        qty: o.qty,
        price: limit_price(o),
        trigger_price: positive(o.trigger_price),
        filled_qty: o.cum_exec_qty.unwrap_or(Decimal::ZERO),
        avg_price: positive(o.avg_price),
        status: status(&o.order_status),
        reduce_only: o.reduce_only,
    }
}

/// An order change as an event; `seen` says whether the order was reported before (a later
/// `New` is an amendment).
pub fn order_event(o: &Order, seen: bool) -> OrderEvent {
    let snap = snapshot(o);
    let kind = match snap.status {
        OrderStatus::Open | OrderStatus::Untriggered if seen => OrderEventKind::Updated,
        OrderStatus::Open | OrderStatus::Untriggered => OrderEventKind::Accepted,
        OrderStatus::PartiallyFilled => OrderEventKind::PartiallyFilled,
        OrderStatus::Filled => OrderEventKind::Filled,
        OrderStatus::Cancelled => OrderEventKind::Cancelled,
        OrderStatus::Rejected => OrderEventKind::Rejected,
    };
    OrderEvent {
        kind,
        symbol: snap.symbol,
        side: snap.side,
        order_id: snap.order_id,
        order_link_id: snap.order_link_id,
        qty: snap.qty,
        price: snap.price,
        trigger_price: snap.trigger_price,
        filled_qty: snap.filled_qty,
        avg_price: snap.avg_price,
        reduce_only: snap.reduce_only,
        reason: Some(o.reject_reason.clone()).filter(|r| !r.is_empty() && r != "EC_NoError"),
        simulated: false,
    }
}

/// An execution as a fill.
pub fn fill(e: &Execution) -> Fill {
    let exec_kind = match &e.exec_type {
        Some(ExecType::Trade) | None => ExecKind::Trade,
        Some(ExecType::Funding) => ExecKind::Funding,
        Some(ExecType::BustTrade | ExecType::AdlTrade) => ExecKind::Liquidation,
        // Delivery, Settle, BlockTrade, MovePosition...: kept with the exchange's word, never
        // read as a trade (so never as a take-profit hit).
        Some(other) => ExecKind::Other(other.as_str().to_owned()),
    };
    Fill {
        exec_id: e.exec_id.clone(),
        symbol: e.symbol.clone(),
        side: side(e.side),
        order_id: e.order_id.clone(),
        order_link_id: e.order_link_id.clone(),
        price: e.exec_price,
        qty: e.exec_qty,
        fee: e.exec_fee.unwrap_or(Decimal::ZERO),
        fee_currency: if e.fee_currency.is_empty() {
            "USDT".to_owned()
        } else {
            e.fee_currency.clone()
        },
        is_maker: e.is_maker,
        pnl: e.exec_pnl,
        exec_kind,
        time_ms: e.exec_time.unwrap_or(0),
        simulated: false,
    }
}

/// A position for the position port.
pub fn position(p: &Position) -> Result<PositionState, PortError> {
    let symbol =
        Symbol::new(p.symbol.clone()).map_err(|e| PortError::InvalidInput(e.to_string()))?;
    let side = p.side.map(side).filter(|_| p.size > Decimal::ZERO);
    Ok(PositionState {
        symbol,
        side,
        size: p.size,
        entry_price: positive(p.entry_price()),
        leverage: positive(p.leverage),
        unrealised_pnl: p.unrealised_pnl,
        created_ms: p.created_time,
        mark_price: positive(p.mark_price),
        liq_price: positive(p.liq_price),
    })
}

/// A position change as an event.
pub fn position_event(p: &Position) -> PositionUpdate {
    PositionUpdate {
        symbol: p.symbol.clone(),
        side: p.side.map(side).filter(|_| p.size > Decimal::ZERO),
        size: p.size,
        // A push names it `entryPrice`, REST `avgPrice`: read whichever the record has.
        entry_price: positive(p.entry_price()),
        leverage: positive(p.leverage),
        unrealised_pnl: p.unrealised_pnl,
    }
}

/// The wallet as an event.
/// The account's balances for the account port: wallet, available and equity.
pub fn balance(w: &WalletAccount) -> Balance {
    let event = wallet_event(w);
    Balance {
        wallet: event.wallet_balance,
        available: event.available,
        equity: w.total_equity,
    }
}

/// The wallet as an event.
pub fn wallet_event(w: &WalletAccount) -> WalletUpdate {
    WalletUpdate {
        coin: "USDT".to_owned(),
        wallet_balance: w.total_wallet_balance.unwrap_or(Decimal::ZERO),
        available: w.total_available_balance.unwrap_or(Decimal::ZERO),
    }
}
