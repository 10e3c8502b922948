//! The journal in memory, for tests and dry runs that keep no file.

use std::sync::Mutex;

use async_trait::async_trait;
use exec_events::Fill;

use super::{Intent, IntentRow, Journal, JournalError, Outcome, PlanRow, StateRow, WriteRecord};
use crate::types::{Phase, TradePlan};

#[derive(Debug, Default)]
struct Inner {
    plans: Vec<PlanRow>,
    intents: Vec<IntentRow>,
    fills: Vec<Fill>,
    writes: Vec<WriteRecord>,
    states: Vec<(String, StateRow)>,
    paper_account: Option<String>,
}

/// A [`Journal`] that keeps everything in memory.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    inner: Mutex<Inner>,
}

impl Inner {
    fn add_fill(&mut self, fill: &Fill) -> bool {
        if self.fills.iter().any(|f| f.exec_id == fill.exec_id) {
            false
        } else {
            self.fills.push(fill.clone());
            true
        }
    }
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        MemoryJournal::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

#[async_trait]
impl Journal for MemoryJournal {
    async fn record_plan(&self, plan: &TradePlan, at_ms: i64) -> Result<(), JournalError> {
        self.with(|i| {
            if !i.plans.iter().any(|p| p.plan.client_tag == plan.client_tag) {
                i.plans.push(PlanRow {
                    plan: plan.clone(),
                    at_ms,
                });
            }
        });
        Ok(())
    }

    async fn record_intent(&self, intent: &Intent) -> Result<(), JournalError> {
        self.with(|i| {
            if !i
                .intents
                .iter()
                .any(|r| r.intent.order_link_id == intent.order_link_id)
            {
                i.intents.push(IntentRow {
                    intent: intent.clone(),
                    outcomes: Vec::new(),
                });
            }
        });
        Ok(())
    }

    async fn record_outcome(
        &self,
        order_link_id: &str,
        outcome: &Outcome,
        _at_ms: i64,
    ) -> Result<(), JournalError> {
        self.with(|i| {
            match i
                .intents
                .iter_mut()
                .find(|r| r.intent.order_link_id == order_link_id)
            {
                Some(row) => {
                    row.outcomes.push(outcome.clone());
                    Ok(())
                }
                None => Err(JournalError::Io(format!(
                    "outcome for {order_link_id} without an intent"
                ))),
            }
        })
    }

    async fn record_write(&self, write: &WriteRecord) -> Result<(), JournalError> {
        self.with(|i| i.writes.push(write.clone()));
        Ok(())
    }

    async fn record_fill(&self, fill: &Fill) -> Result<bool, JournalError> {
        Ok(self.with(|i| i.add_fill(fill)))
    }

    async fn record_state(
        &self,
        trade_tag: &str,
        phase: Phase,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), JournalError> {
        self.with(|i| {
            i.states.push((
                trade_tag.to_owned(),
                StateRow {
                    phase,
                    detail: detail.to_owned(),
                    at_ms,
                },
            ));
        });
        Ok(())
    }

    async fn plan(&self, trade_tag: &str) -> Result<Option<TradePlan>, JournalError> {
        Ok(self.with(|i| {
            i.plans
                .iter()
                .find(|p| p.plan.client_tag == trade_tag)
                .map(|p| p.plan.clone())
        }))
    }

    async fn plans(&self) -> Result<Vec<PlanRow>, JournalError> {
        Ok(self.with(|i| i.plans.clone()))
    }

    async fn intent(&self, order_link_id: &str) -> Result<Option<IntentRow>, JournalError> {
        Ok(self.with(|i| {
            i.intents
                .iter()
                .find(|r| r.intent.order_link_id == order_link_id)
                .cloned()
        }))
    }

    async fn intents(&self, trade_tag: &str) -> Result<Vec<IntentRow>, JournalError> {
        Ok(self.with(|i| {
            i.intents
                .iter()
                .filter(|r| r.intent.trade_tag == trade_tag)
                .cloned()
                .collect()
        }))
    }

    async fn fills(&self, link_prefix: &str) -> Result<Vec<Fill>, JournalError> {
        Ok(self.with(|i| {
            i.fills
                .iter()
                .filter(|f| f.order_link_id.starts_with(link_prefix))
                .cloned()
                .collect()
        }))
    }

    async fn writes(&self, trade_tag: &str) -> Result<Vec<WriteRecord>, JournalError> {
        Ok(self.with(|i| {
            i.writes
                .iter()
                .filter(|w| w.trade_tag == trade_tag)
                .cloned()
                .collect()
        }))
    }

    async fn open_trades(&self) -> Result<Vec<String>, JournalError> {
        Ok(self.with(|i| {
            i.plans
                .iter()
                .filter(|p| {
                    let last = i.states.iter().rev().find(|(t, _)| *t == p.plan.client_tag);
                    !last.is_some_and(|(_, s)| matches!(s.phase, Phase::Closed | Phase::Error))
                })
                .map(|p| p.plan.client_tag.clone())
                .collect()
        }))
    }

    async fn states(&self, trade_tag: &str) -> Result<Vec<StateRow>, JournalError> {
        Ok(self.with(|i| {
            i.states
                .iter()
                .filter(|(t, _)| t == trade_tag)
                .map(|(_, s)| s.clone())
                .collect()
        }))
    }

    async fn save_paper_account(
        &self,
        account: &str,
        fills: &[Fill],
        _at_ms: i64,
    ) -> Result<(), JournalError> {
        self.with(|i| {
            for fill in fills {
                i.add_fill(fill);
            }
            i.paper_account = Some(account.to_owned());
        });
        Ok(())
    }

    async fn paper_account(&self) -> Result<Option<String>, JournalError> {
        Ok(self.with(|i| i.paper_account.clone()))
    }
}
