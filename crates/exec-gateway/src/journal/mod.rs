//! The intent journal: the trade plan, every order intent written **before** it is sent, each
//! outcome, each cancel / stop-loss / leverage write (also before it is sent, then its
//! outcome), fills by execId, and each state change of a trade. It is the audit trail ("what
//! did we send for trade X and why?") and the other half of restart recovery. A journal that
//! cannot be written stops new orders: the gateway sends nothing it could not journal.
//!
//! This module is the port: the [`Journal`] trait (async: a write returns once it is
//! durable), its record types, [`MemoryJournal`] (tests and dry runs without a file) and the
//! trade history computed over the port. The SQLite file is an adapter in the `exec-journal`
//! crate (one thread owns the connection); this crate depends on no database.

mod history;
mod memory;

pub use history::{trade_fills, trade_histories, trade_history, trade_pnl, TradeHistory, TradePnl};
pub use memory::MemoryJournal;

use std::path::PathBuf;

use async_trait::async_trait;
use exec_events::Fill;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::types::{OrderSnapshot, Phase, TradePlan};

/// Where the journal lives unless configured otherwise.
pub const DEFAULT_JOURNAL_PATH: &str = "data/journal.sqlite";

/// Why the journal could not be opened, written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The file could not be created or opened.
    #[error("cannot open journal {path}: {reason}")]
    Open {
        /// The path.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// A write or read failed.
    #[error("journal write/read failed: {0}")]
    Io(String),
}

/// An order about to be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The trade's client tag.
    pub trade_tag: String,
    /// `ENTRY`, `TP1`, …
    pub leg: String,
    /// The orderLinkId.
    pub order_link_id: String,
    /// Symbol.
    pub symbol: String,
    /// `Buy` / `Sell`.
    pub side: String,
    /// Quantity.
    pub qty: Decimal,
    /// Limit price.
    pub price: Option<Decimal>,
    /// Trigger price.
    pub trigger_price: Option<Decimal>,
    /// `market`, `limit`, `conditional`.
    pub kind: String,
    /// Why (the operation and, for a close, its reason).
    pub reason: String,
    /// When (ms; `timeMs` in JSON, read from the older `at_ms` too).
    #[serde(rename = "timeMs", alias = "at_ms")]
    pub at_ms: i64,
}

/// What became of a sent order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Accepted.
    Acked {
        /// The exchange's id.
        order_id: String,
    },
    /// Definitively refused.
    Rejected {
        /// retCode, when there was one.
        code: Option<i64>,
        /// The text.
        message: String,
    },
    /// Not known yet; a lookup follows.
    Unknown {
        /// Why.
        reason: String,
    },
    /// A change of quantity about to be sent (written before the amend goes out).
    AmendRequested {
        /// The new total quantity.
        qty: Decimal,
    },
    /// The order was refused for a price or quantity rule and is about to be sent again,
    /// with the same orderLinkId, re-rounded to reloaded rules (written before the re-send:
    /// these values replace the intent's).
    Rerounded {
        /// The quantity sent again.
        qty: Decimal,
        /// The limit price sent again.
        price: Option<Decimal>,
        /// The trigger price sent again.
        trigger_price: Option<Decimal>,
        /// The refusal that led to it.
        reason: String,
    },
    /// The amend was accepted.
    Amended {
        /// The new total quantity.
        qty: Decimal,
    },
    /// Cancelled by this layer (recorded once the cancel is done: repeating a cancel is
    /// harmless, unlike repeating a placement).
    Cancelled,
    /// A lookup by orderLinkId settled it.
    Resolved {
        /// Whether the exchange had the order.
        found: bool,
        /// Its id, if found.
        order_id: Option<String>,
    },
}

impl Outcome {
    /// The journal's word for it.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Acked { .. } => "acked",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Unknown { .. } => "unknown",
            Outcome::AmendRequested { .. } => "amend_requested",
            Outcome::Rerounded { .. } => "rerounded",
            Outcome::Amended { .. } => "amended",
            Outcome::Cancelled => "cancelled",
            Outcome::Resolved { .. } => "resolved",
        }
    }
}

/// An intent with every outcome recorded for it, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRow {
    /// The intent.
    pub intent: Intent,
    /// Its outcomes.
    pub outcomes: Vec<Outcome>,
}

impl IntentRow {
    /// Whether the journal shows the exchange had this order once (acked, found by a
    /// lookup, amended or cancelled). Such an order that a lookup no longer finds has aged
    /// out of the exchange's lookups (closed orders do): it is finished, never to be sent
    /// again (outcome policy rule 2b).
    pub fn exchange_had_it(&self) -> bool {
        self.outcomes.iter().any(|o| {
            matches!(
                o,
                Outcome::Acked { .. }
                    | Outcome::Resolved { found: true, .. }
                    | Outcome::Amended { .. }
                    | Outcome::Cancelled
            )
        })
    }

    /// What the journal says this order looks like on the exchange: the intent's values,
    /// replaced by the latest [`Outcome::Rerounded`] (the order was sent again with those)
    /// and by each amendment. This, not the bare intent, is what an order found by its
    /// orderLinkId is compared with.
    pub fn intended(&self) -> Intended {
        let mut intended = Intended {
            qty: vec![self.intent.qty],
            price: self.intent.price,
            trigger_price: self.intent.trigger_price,
        };
        for outcome in &self.outcomes {
            match outcome {
                Outcome::Rerounded {
                    qty,
                    price,
                    trigger_price,
                    ..
                } => {
                    intended.qty = vec![*qty];
                    intended.price = *price;
                    intended.trigger_price = *trigger_price;
                }
                // Until its answer is journaled the amend may or may not have landed.
                Outcome::AmendRequested { qty } if !intended.qty.contains(qty) => {
                    intended.qty.push(*qty);
                }
                Outcome::Amended { qty } => intended.qty = vec![*qty],
                _ => {}
            }
        }
        intended
    }

    /// How `order` (this orderLinkId's order on the exchange) differs from
    /// [`intended`](Self::intended), in words; `None` when it is the order the journal
    /// describes. Prices are compared only where the intent has one (a market order's price
    /// on the exchange is its slippage bound).
    pub fn differs_from(&self, order: &OrderSnapshot) -> Option<String> {
        let intended = self.intended();
        let mut diffs = Vec::new();
        if !intended.qty.contains(&order.qty) {
            let want: Vec<String> = intended.qty.iter().map(Decimal::to_string).collect();
            diffs.push(format!(
                "qty {} on the exchange, {} in the journal",
                order.qty,
                want.join(" or ")
            ));
        }
        let mut price = |what: &str, want: Option<Decimal>, got: Option<Decimal>| {
            if let Some(want) = want.filter(|w| got != Some(*w)) {
                let got = got.map_or_else(|| "none".to_owned(), |g| g.to_string());
                diffs.push(format!(
                    "{what} {got} on the exchange, {want} in the journal"
                ));
            }
        };
        price("price", intended.price, order.price);
        price("trigger price", intended.trigger_price, order.trigger_price);
        (!diffs.is_empty()).then(|| format!("{}: {}", self.intent.order_link_id, diffs.join(", ")))
    }
}

/// The order the journal expects on the exchange ([`IntentRow::intended`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intended {
    /// The quantities it may have: one, or two while an amend's answer is not journaled.
    pub qty: Vec<Decimal>,
    /// Its limit price.
    pub price: Option<Decimal>,
    /// Its trigger price.
    pub trigger_price: Option<Decimal>,
}

/// A write that places no order: cancelling or amending one of our orders, setting the
/// position's stop-loss, setting the leverage. Each is journaled as [`WriteStage::Requested`] before it
/// is sent and again with what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRecord {
    /// The trade's client tag.
    pub trade_tag: String,
    /// What is written.
    pub kind: WriteKind,
    /// Symbol.
    pub symbol: String,
    /// The orderLinkId, for a cancel.
    pub order_link_id: Option<String>,
    /// The stop price or the leverage.
    pub value: Option<Decimal>,
    /// Before the send, or what became of it.
    pub stage: WriteStage,
    /// When (ms; `timeMs` in JSON, read from the older `at_ms` too).
    #[serde(rename = "timeMs", alias = "at_ms")]
    pub at_ms: i64,
}

/// The writes journaled as [`WriteRecord`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    /// Cancel one of our orders.
    Cancel,
    /// Set the position's stop-loss.
    StopLoss,
    /// Set the symbol's leverage.
    Leverage,
    /// Change one of our open orders' quantity (`value`: the new total quantity).
    Amend,
    /// Take over a position already on the symbol (`adopt_position`; `value`: the quantity
    /// adopted). Nothing is sent: it is journaled so that after a restart the trade still
    /// owns what it adopted (R-SAFE-2). The latest one counts.
    Adopt,
}

impl WriteKind {
    /// The journal's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteKind::Cancel => "cancel",
            WriteKind::StopLoss => "stop_loss",
            WriteKind::Leverage => "leverage",
            WriteKind::Amend => "amend",
            WriteKind::Adopt => "adopt",
        }
    }
}

/// Where a [`WriteRecord`] stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum WriteStage {
    /// About to be sent (written before the request goes out).
    Requested,
    /// Done (or already so: "not modified", "too late to cancel" without a fill).
    Done,
    /// Not done.
    Failed {
        /// Why.
        reason: String,
    },
}

impl WriteStage {
    /// The journal's word for it.
    pub fn name(&self) -> &'static str {
        match self {
            WriteStage::Requested => "requested",
            WriteStage::Done => "done",
            WriteStage::Failed { .. } => "failed",
        }
    }
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRow {
    /// The new phase.
    pub phase: Phase,
    /// Why.
    pub detail: String,
    /// When (ms).
    pub at_ms: i64,
}

/// A trade's plan and when it was recorded (the trade's opening time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRow {
    /// The plan.
    pub plan: TradePlan,
    /// When it was recorded (ms).
    pub at_ms: i64,
}

/// The journal's operations. Writes must be durable when they return `Ok`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Journal: Send + Sync {
    /// Records a trade's plan (again: ignored).
    async fn record_plan(&self, plan: &TradePlan, at_ms: i64) -> Result<(), JournalError>;
    /// Records an intent before it is sent (again, for a resend: ignored).
    async fn record_intent(&self, intent: &Intent) -> Result<(), JournalError>;
    /// Records an outcome of an intent.
    async fn record_outcome(
        &self,
        order_link_id: &str,
        outcome: &Outcome,
        at_ms: i64,
    ) -> Result<(), JournalError>;
    /// Records a cancel, stop-loss or leverage write (before it is sent, and its outcome).
    async fn record_write(&self, write: &WriteRecord) -> Result<(), JournalError>;
    /// Records a fill; `false` if its execId was already recorded.
    async fn record_fill(&self, fill: &Fill) -> Result<bool, JournalError>;
    /// Records a state change.
    async fn record_state(
        &self,
        trade_tag: &str,
        phase: Phase,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), JournalError>;
    /// A trade's plan.
    async fn plan(&self, trade_tag: &str) -> Result<Option<TradePlan>, JournalError>;
    /// Every trade's plan, in the order they were recorded (the trade history's rows).
    async fn plans(&self) -> Result<Vec<PlanRow>, JournalError>;
    /// One intent by orderLinkId.
    async fn intent(&self, order_link_id: &str) -> Result<Option<IntentRow>, JournalError>;
    /// A trade's intents, in the order they were written.
    async fn intents(&self, trade_tag: &str) -> Result<Vec<IntentRow>, JournalError>;
    /// Fills, in the order recorded, of orders whose orderLinkId starts with `link_prefix`
    /// (`""`: every fill).
    async fn fills(&self, link_prefix: &str) -> Result<Vec<Fill>, JournalError>;
    /// A trade's cancel, stop-loss and leverage writes, in the order they were recorded.
    async fn writes(&self, trade_tag: &str) -> Result<Vec<WriteRecord>, JournalError>;
    /// A trade's state changes, oldest first.
    async fn states(&self, trade_tag: &str) -> Result<Vec<StateRow>, JournalError>;
    /// The tags of the trades the journal holds as open: a plan whose last state is neither
    /// CLOSED nor ERROR (a plan with no state yet counts), in the order the plans were
    /// recorded. `recover()` starts from these.
    async fn open_trades(&self) -> Result<Vec<String>, JournalError>;
    /// Paper routing: saves the simulated account (`account`, a text its owner wrote and
    /// reads back) and records `fills`, the fills of the change it follows, in one durable
    /// write, so after a crash the account and the journal's fills never disagree. Fills
    /// already recorded are ignored, as by [`Journal::record_fill`].
    async fn save_paper_account(
        &self,
        account: &str,
        fills: &[Fill],
        at_ms: i64,
    ) -> Result<(), JournalError>;
    /// Paper routing: the account last saved by [`Journal::save_paper_account`], if any.
    async fn paper_account(&self) -> Result<Option<String>, JournalError>;
}

/// Journals a fill and writes its one log line: only when the journal did not hold its
/// execId yet (or could not be written), with the trade tag and leg the journal holds for its
/// orderLinkId. The one place a fill is journaled and logged: the router that sees a fill
/// (exec-live's `Tracker`, exec-sim's `DryRunRouter`; the `PaperRouter` saves its fills with
/// its account and logs them through [`log_fill`]) journals it here before publishing it, so
/// a fill seen twice is one row and one line. No bus subscriber journals fills.
pub async fn record_fill_logged(journal: &dyn Journal, fill: &Fill) -> Result<bool, JournalError> {
    let recorded = journal.record_fill(fill).await;
    if !matches!(recorded, Ok(false)) {
        log_fill(journal, fill, recorded.is_ok()).await;
    }
    recorded
}

/// A fill a router has just seen, journaled (and logged once) through
/// [`record_fill_logged`] before the router publishes it; a journal that cannot be written is
/// reported as the `journal` component's health on `bus` (the router still publishes the fill:
/// the bus must not lose it). The one place a trading router journals a fill it saw:
/// exec-live's `Tracker` and exec-sim's `DryRunRouter` call it.
pub async fn journal_seen_fill(journal: &dyn Journal, bus: &exec_events::EventBus, fill: &Fill) {
    if let Err(err) = record_fill_logged(journal, fill).await {
        bus.publish(exec_events::Event::Health(exec_events::HealthUpdate {
            component: "journal".into(),
            ok: false,
            detail: Some(err.to_string()),
        }));
    }
}

/// A fill's one log line, with the trade tag and leg the journal holds for its orderLinkId;
/// for a component that journals fills its own way (the paper router saves them with its
/// account) and logs each once it is written.
pub async fn log_fill(journal: &dyn Journal, fill: &Fill, journaled: bool) {
    let owner = journal.intent(&fill.order_link_id).await.ok().flatten();
    tracing::info!(
        tag = owner.as_ref().map(|r| r.intent.trade_tag.as_str()),
        leg = owner.as_ref().map(|r| r.intent.leg.as_str()),
        order_link_id = fill.order_link_id.as_str(),
        exec_id = %fill.exec_id,
        symbol = %fill.symbol,
        side = ?fill.side,
        qty = %fill.qty,
        price = %fill.price,
        fee = %fill.fee,
        kind = ?fill.exec_kind,
        simulated = fill.simulated,
        journaled,
        "fill"
    );
}
