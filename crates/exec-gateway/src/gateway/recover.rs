//! `recover()` after a restart (SPEC R-GW-6, R-TEST-3): every trade with orders or a position
//! on the exchange is rebuilt from the journal and the exchange; where they disagree the
//! exchange wins and the disagreement is reported.

use std::collections::BTreeSet;

use exec_events::ErrorKind;

use super::Gateway;
use crate::error::GatewayError;
use crate::journal::Outcome;
use crate::link_id::Leg;
use crate::types::{OrderStatus, Phase, TradeState};

use super::EntryResult;

/// One trade found again.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    /// Its state, as this gateway now tracks it (after the work resumed).
    pub state: TradeState,
    /// Where the journal and the exchange disagreed (the exchange's view was kept).
    pub disagreements: Vec<String>,
    /// Intents a lookup settled, journaled (`{orderLinkId}: found` / `: not placed`).
    pub resolved: Vec<String>,
    /// Intents still unresolved after the pass (a lookup found nothing yet, and the order
    /// could still land).
    pub unresolved: Vec<String>,
    /// The work that was in flight and was finished from the journaled plan
    /// (`entry filled: TPs and DCAs placed`, `closed`, …), and what failed of it.
    pub resumed: Vec<String>,
}

/// What one [`Gateway::reconcile`] pass found and did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReconcileReport {
    /// Every trade looked at.
    pub trades: Vec<Recovered>,
}

impl ReconcileReport {
    /// Intents still unresolved after the pass, over every trade.
    pub fn unresolved(&self) -> usize {
        self.trades.iter().map(|t| t.unresolved.len()).sum()
    }

    /// Nothing unresolved, no trade left unprotected or with a failed leg.
    pub fn is_settled(&self) -> bool {
        self.unresolved() == 0
            && self
                .trades
                .iter()
                .all(|t| !t.state.unprotected && t.state.problems.is_empty())
    }
}

/// The latest outcome that says something of the order's placement (an answer, a lookup, a
/// re-send, a cancel or an amend; not a note).
fn last_answer(row: &crate::journal::IntentRow) -> Option<&Outcome> {
    row.outcomes.iter().rev().find(|o| {
        matches!(
            o,
            Outcome::Acked { .. }
                | Outcome::Rejected { .. }
                | Outcome::Unknown { .. }
                | Outcome::Resolved { .. }
                | Outcome::Rerounded { .. }
                | Outcome::Cancelled
                | Outcome::Amended { .. }
        )
    })
}

/// An intent whose placement no answer or lookup has settled yet.
pub(crate) fn unsettled(row: &crate::journal::IntentRow) -> bool {
    last_answer(row)
        .is_none_or(|o| matches!(o, Outcome::Unknown { .. } | Outcome::Rerounded { .. }))
}

/// An intent whose order a lookup did not find but which may still land: nothing says the
/// exchange had it or refused it (its last answer is unknown, or a lookup after an unknown
/// answer found nothing yet), and it is younger than `landing_window`, so a send of it may
/// still be held in flight (R-SAFE-4).
fn may_still_land(row: &crate::journal::IntentRow, now_ms: i64, window_ms: i64) -> bool {
    let young = now_ms - row.intent.at_ms < window_ms;
    let last = last_answer(row);
    young
        && last.is_none_or(|o| {
            matches!(
                o,
                Outcome::Unknown { .. }
                    | Outcome::Rerounded { .. }
                    | Outcome::Resolved { found: false, .. }
            )
        })
}

impl Gateway {
    fn landing_window_ms(&self) -> i64 {
        i64::try_from(self.config.landing_window.as_millis()).unwrap_or(i64::MAX)
    }

    /// Finds the open trades: those the journal holds as open ([`Journal::open_trades`]) and
    /// those on the exchange (open positions, their open orders and the recent order history,
    /// every page the router reads, carrying this layer's prefix, grouped by the client tag in
    /// the orderLinkId; a trade the journal already closed with nothing left open is skipped).
    /// Rebuilds each one's [`TradeState`] from its journaled plan, states and intents and the
    /// exchange's orders (looked up by orderLinkId, open or recently closed), and starts
    /// tracking it again. A trade the journal holds as open but of which the exchange has no
    /// position and no open order is reported and set CLOSED (journaled): the exchange wins.
    ///
    /// [`Journal::open_trades`]: crate::journal::Journal::open_trades
    /// Every disagreement is published as `execution.error` (kind `Other`) and returned.
    /// Calling it again rebuilds the same states.
    pub async fn recover(&self) -> Result<Vec<Recovered>, GatewayError> {
        let port = |e| self.port_failed("recover", e);
        let positions = self
            .retry(|| self.ports.positions.get_all_positions())
            .await
            .map_err(port)?;
        // The trades the journal holds as open, whatever the exchange shows of them.
        let mut tags: BTreeSet<String> = self
            .ports
            .journal
            .open_trades()
            .await
            .map_err(|e| self.journal_failed("recover", e))?
            .into_iter()
            .collect();
        // The tags the exchange's orders carry (`LinkIds::parse`).
        let mut id_tags = BTreeSet::new();
        for position in &positions {
            let orders = self
                .retry(|| self.ports.router.sync_open_orders(&position.symbol))
                .await
                .map_err(port)?;
            for o in orders {
                if let Some((_, tag)) = self.links.parse(&o.order_link_id) {
                    id_tags.insert(tag.to_owned());
                }
            }
        }
        // Trades that ended (or whose position closed) while the process was down.
        let history = self
            .retry(|| self.ports.router.recent_orders())
            .await
            .map_err(port)?;
        for o in history {
            if let Some((_, tag)) = self.links.parse(&o.order_link_id) {
                id_tags.insert(tag.to_owned());
            }
        }
        // The ids carry the tag without the prefix; the journaled client tag may have it
        // (`andre_T1`, the SPEC's form): the same trade, not one without a plan.
        for id_tag in id_tags {
            let prefixed = format!("{}{id_tag}", self.links.prefix());
            let journal = &self.ports.journal;
            let plan_of = |tag: String| async move {
                journal
                    .plan(&tag)
                    .await
                    .map_err(|e| self.journal_failed("recover", e))
            };
            if plan_of(id_tag.clone()).await?.is_none()
                && plan_of(prefixed.clone()).await?.is_some()
            {
                tags.insert(prefixed);
            } else {
                tags.insert(id_tag);
            }
        }
        let mut out = Vec::new();
        for tag in tags {
            if let Some(mut found) = self.recover_trade(&tag).await? {
                self.resume(&tag, &mut found).await?;
                out.push(found);
            }
        }
        Ok(out)
    }

    /// One reconciliation pass (R-SAFE-4): the same work as [`Gateway::recover`] — every
    /// unresolved intent looked up and journaled, every open trade compared with the exchange
    /// and its interrupted work finished (missing TPs and DCAs placed, TPs resized after a DCA
    /// filled, a CLOSING trade closed) — for a background loop to call every few seconds
    /// while operations run (each trade is handled under its own lock, so it interleaves
    /// with operations on the trade, never inside one).
    pub async fn reconcile(&self) -> Result<ReconcileReport, GatewayError> {
        Ok(ReconcileReport {
            trades: self.recover().await?,
        })
    }

    /// Finishes what was in flight for a trade found again, from its journaled plan: an
    /// entry that filled gets its missing TPs and DCAs (TPs resized to what the trade owns),
    /// a CLOSING trade is closed. What failed is listed (and already reported by the
    /// operation); a fatal error stops the pass.
    async fn resume(&self, tag: &str, found: &mut Recovered) -> Result<(), GatewayError> {
        let Some(plan) = self
            .ports
            .journal
            .plan(tag)
            .await
            .map_err(|e| self.journal_failed(tag, e))?
        else {
            return Ok(());
        };
        let phase = found.state.phase;
        let mut note = |what: String| found.resumed.push(what);
        match phase {
            Phase::Closing => match self
                .close_all(&found.state, "recover: finishing the close")
                .await
            {
                Ok(_) => note("CLOSING: closed".to_owned()),
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => note(format!("CLOSING: close failed: {e}")),
            },
            Phase::InPosition | Phase::Breakeven if !found.state.filled_qty.is_zero() => {
                let position = self.position(&plan.symbol).await?;
                if position.is_flat() {
                    return Ok(());
                }
                match self.setup_tps(&plan, &position).await {
                    Ok(_) => note("take-profits complete".to_owned()),
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => note(format!("take-profits: {e}")),
                }
                if phase == Phase::InPosition && !plan.dca_levels.is_empty() {
                    match self.setup_dcas(&plan, &position).await {
                        Ok(_) => note("DCAs complete".to_owned()),
                        Err(e) if e.is_fatal() => return Err(e),
                        Err(e) => note(format!("DCAs: {e}")),
                    }
                }
            }
            _ => {}
        }
        if let Some(state) = self.trade(tag) {
            found.state = state;
        }
        // What the resumed work settled (an intent looked up and sent by the outcome policy)
        // is no longer unresolved.
        let journal = &self.ports.journal;
        let (now, window) = (self.now(), self.landing_window_ms());
        let mut still = Vec::new();
        for link in std::mem::take(&mut found.unresolved) {
            let keep = journal
                .intent(&link)
                .await
                .ok()
                .flatten()
                .is_none_or(|row| unsettled(&row) || may_still_land(&row, now, window));
            if keep {
                still.push(link);
            }
        }
        found.unresolved = still;
        Ok(())
    }

    /// The orderLinkIds of the trade's orders open on the exchange now.
    async fn open_links(
        &self,
        symbol: &bybit_types::Symbol,
        tag: &str,
    ) -> Result<BTreeSet<String>, GatewayError> {
        let orders = self
            .retry(|| self.ports.router.sync_open_orders(symbol))
            .await
            .map_err(|e| self.port_failed("recover: open orders", e))?;
        Ok(orders
            .into_iter()
            .filter(|o| {
                o.status.is_open()
                    && self
                        .links
                        .parse(&o.order_link_id)
                        .is_some_and(|(_, t)| t == self.links.tag_of(tag))
            })
            .map(|o| o.order_link_id)
            .collect())
    }

    async fn recover_trade(&self, tag: &str) -> Result<Option<Recovered>, GatewayError> {
        let journal = &self.ports.journal;
        let mut disagreements = Vec::new();
        let mut resolved = Vec::new();
        let mut unresolved = Vec::new();
        let Some(plan) = journal
            .plan(tag)
            .await
            .map_err(|e| self.journal_failed(tag, e))?
        else {
            let text = format!("trade {tag}: orders on the exchange but no plan in the journal");
            // A standing problem: every pass finds it again (Bybit keeps the order history
            // for days), so it is reported once, not at every pass.
            self.report_standing(ErrorKind::Other, tag, None, None, None, text);
            return Ok(None);
        };
        let _guard = self.lock_trade(tag).await;
        let mut state = TradeState::new(&plan);
        state.phase = journal
            .states(tag)
            .await
            .map_err(|e| self.journal_failed(tag, e))?
            .last()
            .map_or(Phase::Idle, |s| s.phase);
        let open_links = self.open_links(&plan.symbol, tag).await?;
        let orders_open = !open_links.is_empty();
        let intents = journal
            .intents(tag)
            .await
            .map_err(|e| self.journal_failed(tag, e))?;
        if matches!(state.phase, Phase::Closed | Phase::Error)
            && !orders_open
            && !intents.iter().any(unsettled)
        {
            // Finished before the restart, nothing of it is left on the exchange and every
            // intent is settled.
            return Ok(None);
        }
        // Whether the position on the symbol can be this trade's entry, if it is not
        // filled: still filling, known to the exchange, or possibly still landing.
        let mut entry_may_be_it = false;
        for row in &intents {
            let link =
                bybit_types::OrderLinkId::new(row.intent.order_link_id.clone()).map_err(|e| {
                    GatewayError::LinkId {
                        id: row.intent.order_link_id.clone(),
                        reason: e.to_string(),
                    }
                })?;
            let found = self
                .retry(|| self.ports.router.get_order(&plan.symbol, &link))
                .await
                .map_err(|e| self.port_failed("recover: order lookup", e))?;
            // R-GW-6: an order the exchange had that no lookup finds any more, that
            // is not open (open orders are never forgotten) and of which no fill is journaled
            // (the catch-up walked every execution since the newest fill it knew) closed with
            // nothing filled and was forgotten since: Bybit keeps an unfilled closed order in
            // history for 24 h and realtime forgets closed orders on a restart. It is resolved
            // as closed (journaled once), never left unknown, and its orderLinkId never reused.
            let forgotten_unfilled = found.is_none()
                && row.exchange_had_it()
                && !open_links.contains(&row.intent.order_link_id)
                && journal
                    .fills(&row.intent.order_link_id)
                    .await
                    .map_err(|e| self.journal_failed(tag, e))?
                    .iter()
                    .all(|f| f.order_link_id != row.intent.order_link_id);
            if forgotten_unfilled {
                // Aged out, or never there (the journal and the exchange disagree): from here
                // the two look the same, and either way the order is not open and filled
                // nothing. The disagreement is still reported (once while it stands).
                disagreements.push(format!(
                    "{}: journaled as placed but unknown to the exchange",
                    row.intent.order_link_id
                ));
                if !matches!(row.outcomes.last(), Some(Outcome::Cancelled)) {
                    journal
                        .record_outcome(&row.intent.order_link_id, &Outcome::Cancelled, self.now())
                        .await
                        .map_err(|e| self.journal_failed(tag, e))?;
                    resolved.push(format!(
                        "{}: closed with nothing filled, forgotten by the exchange since",
                        row.intent.order_link_id
                    ));
                    tracing::info!(tag, leg = row.intent.leg.as_str(), order_link_id = %row.intent.order_link_id, "recovery: order closed with nothing filled, forgotten by the exchange since (journaled)");
                }
                state.orders.insert(
                    row.intent.leg.clone(),
                    (
                        row.intent.order_link_id.clone(),
                        Some(OrderStatus::Cancelled),
                    ),
                );
                continue;
            }
            // R-SAFE-4: what the lookup learnt is journaled, so no intent stays unresolved
            // once the exchange can be read.
            if found.is_none() && may_still_land(row, self.now(), self.landing_window_ms()) {
                // Not there yet, and a send of it may still land (R-SAFE-4): neither "not
                // placed" nor a reason to close the trade.
                unresolved.push(row.intent.order_link_id.clone());
            } else if unsettled(row) {
                match &found {
                    Some(o) => {
                        journal
                            .record_outcome(
                                &row.intent.order_link_id,
                                &Outcome::Resolved {
                                    found: true,
                                    order_id: Some(o.order_id.clone()),
                                },
                                self.now(),
                            )
                            .await
                            .map_err(|e| self.journal_failed(tag, e))?;
                        resolved.push(format!("{}: found", row.intent.order_link_id));
                        tracing::info!(tag, leg = row.intent.leg.as_str(), order_link_id = %row.intent.order_link_id, order_id = %o.order_id, "recovery: unsettled order found on the exchange (journaled)");
                    }
                    // Not found and not still landing (the branch above takes those): for an
                    // unsettled intent that means its landing window has passed.
                    None => {
                        journal
                            .record_outcome(
                                &row.intent.order_link_id,
                                &Outcome::Resolved {
                                    found: false,
                                    order_id: None,
                                },
                                self.now(),
                            )
                            .await
                            .map_err(|e| self.journal_failed(tag, e))?;
                        resolved.push(format!("{}: not placed", row.intent.order_link_id));
                        tracing::info!(tag, leg = row.intent.leg.as_str(), order_link_id = %row.intent.order_link_id, "recovery: unsettled order not on the exchange after the landing window: not placed (journaled)");
                    }
                }
            }
            let acked = row.outcomes.iter().any(|o| {
                matches!(
                    o,
                    Outcome::Acked { .. } | Outcome::Resolved { found: true, .. }
                )
            });
            match (&found, acked) {
                (Some(_), false) => disagreements.push(format!(
                    "{}: on the exchange but not journaled as placed",
                    row.intent.order_link_id
                )),
                (None, true) => disagreements.push(format!(
                    "{}: journaled as placed but unknown to the exchange",
                    row.intent.order_link_id
                )),
                _ => {}
            }
            // The same order? Compared with what was last sent (a re-rounding or an amend
            // replaces the intent's values), not the bare intent.
            if let Some(diff) = found.as_ref().and_then(|o| row.differs_from(o)) {
                disagreements.push(diff);
            }
            if row.intent.leg == Leg::Entry.code() {
                entry_may_be_it = match &found {
                    Some(o) => o.status.is_open(),
                    None => row.exchange_had_it() || unresolved.contains(&row.intent.order_link_id),
                };
                // Filled, or finished after a partial fill (an IOC market order cancelled on a
                // thin book): either way an entry that filled, as execute_entry takes it.
                if let Some(entry) = found.as_ref().filter(|o| {
                    o.status == OrderStatus::Filled
                        || (!o.status.is_open() && o.filled_qty > rust_decimal::Decimal::ZERO)
                }) {
                    state.filled_qty = entry.filled_qty;
                    state.entry_price = entry.avg_price;
                }
            }
            state.orders.insert(
                row.intent.leg.clone(),
                (
                    row.intent.order_link_id.clone(),
                    found.as_ref().map(|o| o.status),
                ),
            );
        }
        // A position the trade adopted (journaled as an Adopt write) is its own too (R-SAFE-2).
        state.filled_qty += self.adopted_qty(tag).await?;
        let position = self
            .retry(|| self.ports.positions.get_position(&plan.symbol))
            .await
            .map_err(|e| self.port_failed("recover: position", e))?;
        let in_position = matches!(state.phase, Phase::InPosition | Phase::Breakeven);
        if position.is_flat() && !orders_open {
            match state.phase {
                // A plan that never sent anything: nothing to recover.
                Phase::Idle => return Ok(None),
                Phase::Closed | Phase::Error => {}
                // An intent that may still land (a crash right after it was journaled, its
                // request perhaps in flight): the trade stays as it is until the lookup
                // settles it — found (the trade goes on) or, past the landing window,
                // journaled as not placed (then closed here). Closing it now would leave
                // that intent unresolved for ever: later passes skip closed trades (R-SAFE-4).
                _ if !unresolved.is_empty() => {}
                phase => {
                    // The journal says open, the exchange has nothing of it: the exchange
                    // wins, and the journal is brought to that (so the next recover() does
                    // not report it again).
                    disagreements.push(format!(
                        "trade {tag}: journal says {} but the exchange has no position and no open order of it",
                        phase.as_str()
                    ));
                    let detail = "recover: no position and no open order on the exchange";
                    journal
                        .record_state(tag, Phase::Closed, detail, self.now())
                        .await
                        .map_err(|e| self.journal_failed(tag, e))?;
                    tracing::info!(
                        tag,
                        phase = "CLOSED",
                        "recovery: {detail}; trade closed (journaled)"
                    );
                    state.phase = Phase::Closed;
                }
            }
        } else if in_position && position.is_flat() {
            disagreements.push(format!(
                "trade {tag}: journal says {} but the position is flat",
                state.phase.as_str()
            ));
        }
        if !position.is_flat() && matches!(state.phase, Phase::Idle | Phase::Entering) {
            if !state.filled_qty.is_zero() || (entry_may_be_it && unresolved.is_empty()) {
                disagreements.push(format!(
                    "trade {tag}: journal says {} but a position of {} is open",
                    state.phase.as_str(),
                    position.size
                ));
                // The entry filled before the process could journal it: journaled now, so
                // the trade is finished from here (R-SAFE-4).
                journal
                    .record_state(tag, Phase::InPosition, "recover: entry filled", self.now())
                    .await
                    .map_err(|e| self.journal_failed(tag, e))?;
                tracing::info!(tag, phase = "IN_POSITION", size = %position.size, "recovery: the entry filled while nothing was journaling it (journaled)");
                state.phase = Phase::InPosition;
            } else if entry_may_be_it {
                // The entry may still land: wait for it (the trade keeps the symbol).
                disagreements.push(format!(
                    "trade {tag}: journal says {}, a position of {} is open and its entry is not found yet",
                    state.phase.as_str(),
                    position.size
                ));
            } else {
                // R-SAFE-2: the entry filled nothing (or was never sent), so the position is
                // not this trade's and is not adopted; the trade is over.
                disagreements.push(format!(
                    "trade {tag}: a position of {} is open that this trade did not open (its entry filled nothing); not adopted",
                    position.size
                ));
                journal
                    .record_state(
                        tag,
                        Phase::Closed,
                        "recover: the entry filled nothing; the position on the symbol is not this trade's",
                        self.now(),
                    ).await
                    .map_err(|e| self.journal_failed(tag, e))?;
                tracing::info!(tag, phase = "CLOSED", "recovery: the entry filled nothing; the position on the symbol is not this trade's (journaled)");
                state.phase = Phase::Closed;
            }
        }
        // A filled entry whose TP legs are not all on the exchange (open or filled) is
        // unprotected until setup_tps places them (R-SAFE-3).
        let tp_missing = (1..=plan.tp_levels.len()).any(|i| {
            !state.orders.iter().any(|(leg, (_, status))| {
                *leg == format!("TP{i}")
                    && status.is_some_and(|s| s.is_open() || s == OrderStatus::Filled)
            })
        });
        state.unprotected = !state.filled_qty.is_zero() && !position.is_flat() && tp_missing;
        // Problems this process saw stay listed until fixed.
        if let Some(before) = self.trade(tag) {
            state.problems = before.problems;
            state.unprotected |= before.unprotected && !position.is_flat();
            // What this process knows of the entry (an adopted position included) is kept
            // over the entry order's own fill.
            if before.filled_qty > state.filled_qty {
                state.filled_qty = before.filled_qty;
                state.entry_price = state.entry_price.or(before.entry_price);
            }
        }
        // Reported once while they stand (a background reconcile meets them every pass).
        self.settle_standing(tag, &disagreements);
        for text in &disagreements {
            self.report_standing(ErrorKind::Other, tag, None, None, None, text.clone());
        }
        self.restore_trade(state.clone());
        if let Some(price) = state.entry_price.filter(|_| !state.filled_qty.is_zero()) {
            let link = state
                .orders
                .get(&Leg::Entry.code())
                .map(|(link, _)| link.clone())
                .unwrap_or_default();
            self.set_entry_done(
                tag,
                &EntryResult {
                    entry_price: price,
                    filled_qty: state.filled_qty,
                    order_link_id: link,
                },
            );
        }
        Ok(Some(Recovered {
            state,
            disagreements,
            resolved,
            unresolved,
            resumed: Vec::new(),
        }))
    }
}
