//! The execution gateway: the five operations the state machine calls (`execute_entry`,
//! `setup_tps`, `setup_dcas`, `move_to_breakeven`, `close_all`, SPEC §7), the ports (traits)
//! that the live Bybit adapters and the simulated routers implement (SPEC §5–6), the outcome
//! policy that decides what an error means for an order, and the intent journal.
//!
//! What it is: logic on top of ports. [`Gateway`] holds one implementation of each port
//! ([`OrderRouter`], [`PositionService`], [`AccountService`], [`SymbolMetaService`],
//! [`PriceService`], [`Journal`], [`Clock`]) behind `Arc<dyn _>`; it sizes and rounds orders with
//! `bybit-meta`, names every order with a deterministic orderLinkId ([`LinkIds`]), writes every
//! intent to the journal before it is sent, and applies the outcome policy ([`policy`]) to
//! every answer. The ports' error type ([`PortError`]) carries exactly the classification the
//! policy needs; adapters map their own errors into it (Bybit's retCodes: `exec-wire`'s
//! `ret_code_error`, outside the gateway).
//!
//! What it is not: it depends on no implementation of its ports (no `bybit-rest`, `bybit-ws`
//! or `exec-sim`, no `rusqlite`, `reqwest` or `tungstenite`; `cargo xtask deps` checks it), holds no strategy (levels and sizes come in
//! the [`TradePlan`]), reads no clock but the [`Clock`] it is given, and never sees Bybit's
//! wire format.
//!
//! Main types: [`Gateway`], [`GatewayConfig`], [`TradePlan`], [`TradeState`], [`Phase`],
//! [`PositionState`], [`OrderRequest`], [`GatewayError`], [`PortError`],
//! [`MemoryJournal`] (the SQLite journal is the `exec-journal` crate).

mod clock;
mod config;
mod error;
mod gateway;
pub mod journal;
mod link_id;
pub mod policy;
mod ports;
#[cfg(feature = "testing")]
pub mod testing;
mod types;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{DcaMode, GatewayConfig, TpFailurePolicy, DEFAULT_LINK_PREFIX};
pub use error::{GatewayError, PortError, PortResult};
pub use gateway::{EntryResult, Gateway, OpenedTrade, Ports, ReconcileReport, Recovered};
pub use journal::{
    trade_fills, trade_histories, trade_history, trade_pnl, Intended, Intent, IntentRow, Journal,
    JournalError, MemoryJournal, Outcome, PlanRow, StateRow, TradeHistory, TradePnl, WriteKind,
    WriteRecord, WriteStage, DEFAULT_JOURNAL_PATH,
};
pub use link_id::{CancelScope, Leg, LegFilter, LinkIds};
pub use ports::{
    cancel_matching, cancel_matching_with, AccountService, BybitStatus, CancelStep, HealthCheck,
    OrderRouter, PositionService, PriceLimit, PriceService, RestHealth, StepFuture,
    SymbolMetaService, WsHealth,
};
pub use types::{
    Balance, DcaLevel, LegProblem, OrderAck, OrderRequest, OrderSnapshot, OrderStatus, Phase,
    PositionState, TimeInForce, TpLevel, TradePlan, TradeState, TriggerDirection,
};

#[cfg(any(test, feature = "mocks"))]
pub use journal::MockJournal;
#[cfg(any(test, feature = "mocks"))]
pub use ports::{
    MockAccountService, MockHealthCheck, MockOrderRouter, MockPositionService, MockPriceService,
    MockSymbolMetaService,
};

pub use bybit_types::{OrderLinkId, Symbol};
pub use exec_events::Side;
