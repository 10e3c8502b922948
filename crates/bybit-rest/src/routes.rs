//! Every endpoint the client calls, as one table: its method, path, metric label, whether it
//! is signed, and which host serves it. A leaf: it knows no other module of the crate, so the
//! request path (`client.rs`), the typed endpoints (`endpoints/`) and the metrics
//! (`telemetry.rs`) all read it without knowing each other.
//!
//! Which host: an environment may read public market data from another host than it trades
//! on (demo trading reads mainnet's, REFERENCE.md §1). [`Served::PublicData`] endpoints go to
//! [`RestConfig::public_data_url`](crate::RestConfig::public_data_url) when one is set, every
//! other endpoint to the trading host. The server time stays on the trading host: it is the
//! clock signed requests are stamped against (SPEC R-REST-4).

/// HTTP method of an endpoint. V5 uses GET for reads and POST for writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

/// Which host serves an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The environment's trading host ([`RestConfig::base_url`](crate::RestConfig::base_url)).
    Trading,
    /// Public market data: the host the environment reads it from.
    PublicData,
}

/// One Bybit endpoint of the client's fixed table; the statics of this module are all of them.
/// Name one in [`RestConfig::not_offered`](crate::RestConfig::not_offered) to refuse it unsent.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    /// `GET /v5/...`: how errors, spans and metrics name it.
    pub(crate) label: &'static str,
    pub(crate) private: bool,
    pub(crate) served: Served,
}

impl Endpoint {
    /// `GET /v5/market/time`: how errors, spans and metrics name it.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// The path, `/v5/market/time`.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// Which host serves it.
    pub fn served(&self) -> Served {
        self.served
    }
}

macro_rules! endpoints {
    (@method GET) => { Method::Get };
    (@method POST) => { Method::Post };
    (@private signed) => { true };
    (@private public) => { false };
    (@served trading) => { Served::Trading };
    (@served public_data) => { Served::PublicData };
    ($($name:ident = $method:ident $path:literal $auth:ident $served:ident;)*) => {
        $(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            pub static $name: Endpoint = Endpoint {
                method: endpoints!(@method $method),
                path: $path,
                label: concat!(stringify!($method), " ", $path),
                private: endpoints!(@private $auth),
                served: endpoints!(@served $served),
            };
        )*
        /// Every endpoint's label (`GET /v5/market/time`): the metrics' `endpoint` values.
        pub(crate) const LABELS: &[&str] = &[$(concat!(stringify!($method), " ", $path)),*];
    };
}

endpoints! {
    SERVER_TIME = GET "/v5/market/time" public trading;
    INSTRUMENTS = GET "/v5/market/instruments-info" public public_data;
    TICKERS = GET "/v5/market/tickers" public public_data;
    PRICE_LIMIT = GET "/v5/market/price-limit" public public_data;
    ORDER_CREATE = POST "/v5/order/create" signed trading;
    ORDER_AMEND = POST "/v5/order/amend" signed trading;
    ORDER_CANCEL = POST "/v5/order/cancel" signed trading;
    ORDER_CANCEL_ALL = POST "/v5/order/cancel-all" signed trading;
    ORDER_CREATE_BATCH = POST "/v5/order/create-batch" signed trading;
    ORDER_AMEND_BATCH = POST "/v5/order/amend-batch" signed trading;
    ORDER_CANCEL_BATCH = POST "/v5/order/cancel-batch" signed trading;
    ORDER_REALTIME = GET "/v5/order/realtime" signed trading;
    ORDER_HISTORY = GET "/v5/order/history" signed trading;
    EXECUTIONS = GET "/v5/execution/list" signed trading;
    POSITIONS = GET "/v5/position/list" signed trading;
    SET_LEVERAGE = POST "/v5/position/set-leverage" signed trading;
    SWITCH_ISOLATED = POST "/v5/position/switch-isolated" signed trading;
    TRADING_STOP = POST "/v5/position/trading-stop" signed trading;
    WALLET_BALANCE = GET "/v5/account/wallet-balance" signed trading;
    ACCOUNT_INFO = GET "/v5/account/info" signed trading;
    FEE_RATE = GET "/v5/account/fee-rate" signed trading;
    USER_SETTING_CONFIG = GET "/v5/account/user-setting-config" signed trading;
    SET_LIMIT_PX_ACTION = POST "/v5/account/set-limit-px-action" signed trading;
}
