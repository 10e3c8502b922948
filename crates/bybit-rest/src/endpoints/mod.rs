//! Typed endpoints (SPEC R-REST-5), one module per area of Bybit's docs: the request builders
//! take validated newtypes and the methods return `bybit-types` models.

use crate::client::{Endpoint, Method};

pub(crate) mod account;
pub(crate) mod market;
pub(crate) mod order;
pub(crate) mod position;

macro_rules! endpoints {
    (@method GET) => { Method::Get };
    (@method POST) => { Method::Post };
    ($($name:ident = $method:ident $path:literal $private:literal;)*) => {
        $(
            pub(crate) static $name: Endpoint = Endpoint {
                method: endpoints!(@method $method),
                path: $path,
                label: concat!(stringify!($method), " ", $path),
                private: $private,
            };
        )*
        /// Every endpoint's label (`GET /v5/market/time`): the metrics' `endpoint` values.
        pub(crate) const LABELS: &[&str] = &[$(concat!(stringify!($method), " ", $path)),*];
    };
}

endpoints! {
    SERVER_TIME = GET "/v5/market/time" false;
    INSTRUMENTS = GET "/v5/market/instruments-info" false;
    TICKERS = GET "/v5/market/tickers" false;
    PRICE_LIMIT = GET "/v5/market/price-limit" false;
    ORDER_CREATE = POST "/v5/order/create" true;
    ORDER_AMEND = POST "/v5/order/amend" true;
    ORDER_CANCEL = POST "/v5/order/cancel" true;
    ORDER_CANCEL_ALL = POST "/v5/order/cancel-all" true;
    ORDER_CREATE_BATCH = POST "/v5/order/create-batch" true;
    ORDER_AMEND_BATCH = POST "/v5/order/amend-batch" true;
    ORDER_CANCEL_BATCH = POST "/v5/order/cancel-batch" true;
    ORDER_REALTIME = GET "/v5/order/realtime" true;
    ORDER_HISTORY = GET "/v5/order/history" true;
    EXECUTIONS = GET "/v5/execution/list" true;
    POSITIONS = GET "/v5/position/list" true;
    SET_LEVERAGE = POST "/v5/position/set-leverage" true;
    SWITCH_ISOLATED = POST "/v5/position/switch-isolated" true;
    TRADING_STOP = POST "/v5/position/trading-stop" true;
    WALLET_BALANCE = GET "/v5/account/wallet-balance" true;
    ACCOUNT_INFO = GET "/v5/account/info" true;
    FEE_RATE = GET "/v5/account/fee-rate" true;
    USER_SETTING_CONFIG = GET "/v5/account/user-setting-config" true;
    SET_LIMIT_PX_ACTION = POST "/v5/account/set-limit-px-action" true;
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
