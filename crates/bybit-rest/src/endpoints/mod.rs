//! Typed endpoints (SPEC R-REST-5), one module per area of Bybit's docs: the request builders
//! take validated newtypes and the methods return `bybit-types` models.

use crate::client::{Endpoint, Method};

pub(crate) mod account;
pub(crate) mod market;
pub(crate) mod order;
pub(crate) mod position;

macro_rules! endpoints {
    ($($name:ident = $method:ident $path:literal $private:literal;)*) => {
        $(
            pub(crate) static $name: Endpoint = Endpoint {
                method: Method::$method,
                path: $path,
                label: concat!(stringify!($method), " ", $path),
                private: $private,
            };
        )*
    };
}

endpoints! {
    SERVER_TIME = Get "/v5/market/time" false;
    INSTRUMENTS = Get "/v5/market/instruments-info" false;
    TICKERS = Get "/v5/market/tickers" false;
    ORDER_CREATE = Post "/v5/order/create" true;
    ORDER_AMEND = Post "/v5/order/amend" true;
    ORDER_CANCEL = Post "/v5/order/cancel" true;
    ORDER_CANCEL_ALL = Post "/v5/order/cancel-all" true;
    ORDER_CREATE_BATCH = Post "/v5/order/create-batch" true;
    ORDER_AMEND_BATCH = Post "/v5/order/amend-batch" true;
    ORDER_CANCEL_BATCH = Post "/v5/order/cancel-batch" true;
    ORDER_REALTIME = Get "/v5/order/realtime" true;
    ORDER_HISTORY = Get "/v5/order/history" true;
    EXECUTIONS = Get "/v5/execution/list" true;
    POSITIONS = Get "/v5/position/list" true;
    SET_LEVERAGE = Post "/v5/position/set-leverage" true;
    SWITCH_ISOLATED = Post "/v5/position/switch-isolated" true;
    TRADING_STOP = Post "/v5/position/trading-stop" true;
    WALLET_BALANCE = Get "/v5/account/wallet-balance" true;
    ACCOUNT_INFO = Get "/v5/account/info" true;
    FEE_RATE = Get "/v5/account/fee-rate" true;
}

/// Whether a change was made or the exchange says it was already so (110043 leverage not
/// modified, 34040 TP/SL not modified): both leave the account in the state asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The exchange applied it.
    Applied,
    /// It was already so.
    AlreadySet,
}
