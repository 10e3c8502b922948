//! The gateway's configuration: a plain struct passed in.

use std::collections::BTreeSet;
use std::time::Duration;

use bybit_types::Symbol;
use rust_decimal::Decimal;

/// The orderLinkId prefix this layer uses unless configured otherwise (SPEC R-ORD-5).
pub const DEFAULT_LINK_PREFIX: &str = "andre_";

/// How DCA levels are placed (SPEC R-ORD-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DcaMode {
    /// A resting limit order at the level.
    Limit,
    /// A conditional market order that triggers when the last price reaches the level.
    Conditional,
}

/// What the gateway does when take-profits cannot be placed after the entry filled
/// (R-SAFE-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TpFailurePolicy {
    /// Keep the position, flag the trade `unprotected`, report the leg (default): a person
    /// or the reconciler fixes it.
    #[default]
    KeepFlagged,
    /// Close the trade's position at market (reduce-only).
    Close,
}

/// Everything the gateway is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    /// The orderLinkId prefix that marks this layer's orders (`andre_` by default). Only
    /// orders carrying it and a trade's tag are ever cancelled.
    pub link_prefix: String,
    /// The largest position value (margin × leverage, in USDT) one entry or DCA may have: a
    /// guard against a mistaken size (SPEC R-GW-1). No default: the caller must choose.
    pub max_notional_usdt: Decimal,
    /// Limit or conditional DCA orders.
    pub dca_mode: DcaMode,
    /// Whether `move_to_breakeven` also sets a stop-loss at the entry price.
    pub breakeven_stop: bool,
    /// How long to wait for a market order to fill, or a position to be flat after a close.
    pub fill_timeout: Duration,
    /// How long a wait for an order to finish or a position to shrink (`execute_entry`,
    /// `close_all`) listens to the bus without news of it before it looks it up over REST
    /// (and between such lookups while the stream stays silent). The stream usually answers
    /// first; a router without a stream answers lookups at once.
    pub stream_silence: Duration,
    /// How many times one leg is sent (the first send and resends after an unknown outcome
    /// that a lookup showed never arrived).
    pub max_send_attempts: u32,
    /// The waits between tries of a read (a lookup by orderLinkId, a position, the open
    /// orders) that failed for a transient reason (R-ERR-1: 100, 300, 1000 ms): one more try
    /// than waits. A rate limit waits its own `retry_after` instead.
    pub retry_backoff: Vec<Duration>,
    /// The symbols plans may trade (the application's `EXECUTION_SYMBOLS`, those that
    /// passed pre-flight). `None`: not restricted (a library user who checks symbols
    /// elsewhere; tests). `Some(empty)`: every plan is refused. R-SAFE-1.
    pub symbols: Option<BTreeSet<Symbol>>,
    /// What to do when take-profits cannot be placed after the entry filled.
    pub on_tp_failure: TpFailurePolicy,
    /// How far (a fraction, 0.1 = 10 %) a plan's TP and DCA prices may lie from the current
    /// price: a sanity band, always applied, beside the exchange's own order price limit
    /// (`PriceService::price_limit`). R-SAFE-1.
    pub default_price_band: Decimal,
    /// How old an intent must be before a lookup that does not find its order settles it as
    /// never placed (`recover()` / `reconcile()` journal it so): by then a request held in
    /// flight can no longer land (Bybit refuses a request older than its recv_window, 5 s).
    pub landing_window: Duration,
}

impl GatewayConfig {
    /// A configuration with the given notional guard and defaults for the rest: `andre_`,
    /// limit DCAs, a breakeven stop, 10 s fill timeout, 3 sends, reads retried after 100, 300,
    /// 1000 ms; any symbol; TPs that fail are flagged, not closed.
    pub fn new(max_notional_usdt: Decimal) -> Self {
        GatewayConfig {
            link_prefix: DEFAULT_LINK_PREFIX.to_owned(),
            max_notional_usdt,
            dca_mode: DcaMode::Limit,
            breakeven_stop: true,
            fill_timeout: Duration::from_secs(10),
            stream_silence: Duration::from_millis(500),
            max_send_attempts: 3,
            retry_backoff: vec![
                Duration::from_millis(100),
                Duration::from_millis(300),
                Duration::from_millis(1000),
            ],
            symbols: None,
            on_tp_failure: TpFailurePolicy::KeepFlagged,
            default_price_band: Decimal::new(5, 1),
            landing_window: Duration::from_secs(30),
        }
    }
}
