//! `setup_tps` and `setup_dcas` (SPEC R-GW-2, R-GW-3).

use std::collections::HashMap;
use std::sync::Arc;

use bybit_meta::{InstrumentRules, OrderDraft, RoundingMode};
use rust_decimal::Decimal;

use super::{lock, meta_error, EntryResult, Gateway};
use crate::config::{DcaMode, TpFailurePolicy};
use crate::error::GatewayError;
use crate::link_id::{Leg, LegFilter};
use crate::types::{
    OrderRequest, OrderSnapshot, Phase, PositionState, TimeInForce, TradePlan, TradeState,
    TriggerDirection,
};

/// What [`Gateway::open_trade`] did: the entry's fill and the trade as it now stands (legs
/// placed in `orders`, legs failed in `problems`, `unprotected`).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedTrade {
    /// Entry filled at this price for this quantity.
    pub entry: EntryResult,
    /// The trade after its take-profits and DCAs were placed (or failed).
    pub state: TradeState,
}

/// Where one TP leg stands before `setup_tps` acts.
enum TpLeg {
    /// Resting with this snapshot.
    Open(OrderSnapshot),
    /// Filled or otherwise finished: left alone.
    Done,
    /// Not on the exchange: to be placed.
    Missing,
}

/// How take-profit legs of `shares` split `available` (the one rule, for `setup_tps` and
/// `check_plan`): each floored to the step in proportion to its share of their total, the
/// last taking what remains, so together they never exceed `available`. A leg may come out
/// as zero (`setup_tps` then leaves it out).
pub(crate) fn split_tps(
    rules: &InstrumentRules,
    available: Decimal,
    shares: &[Decimal],
) -> Result<Vec<Decimal>, bybit_meta::MetaError> {
    let total: Decimal = shares.iter().sum();
    let mut used = Decimal::ZERO;
    let mut out = Vec::with_capacity(shares.len());
    for (n, share) in shares.iter().enumerate() {
        let raw = if n + 1 == shares.len() {
            available - used
        } else if total.is_zero() {
            Decimal::ZERO
        } else {
            available * share / total
        };
        let qty = rules.round_qty(raw.max(Decimal::ZERO))?;
        used += qty;
        out.push(qty);
    }
    Ok(out)
}

impl Gateway {
    /// Places (or completes) the plan's take-profits: reduce-only GTC limits on the opposite
    /// side, one per level, splitting the position by the levels' shares. Quantities are
    /// floored to the step and the last open level takes what remains, so together they never
    /// exceed the position. Called again — after a crash, or after a DCA filled and the
    /// position grew — it places what is missing and amends the open TPs to the new split;
    /// filled TPs are left out.
    ///
    /// Sizes from the quantity the trade owns (its entry's fill, plus its DCAs' fills, less
    /// its TPs' and closes' fills; never more than the position), not the whole symbol
    /// position (R-SAFE-2). A leg refused or unresolved is listed in the trade's problems,
    /// reported (`execution.error`, one error-log line) and marks the trade unprotected; the
    /// other legs are still placed; with [`TpFailurePolicy::Close`] the position is then
    /// closed (R-SAFE-3). The first failure is returned.
    ///
    /// [`TpFailurePolicy::Close`]: crate::TpFailurePolicy::Close
    pub async fn setup_tps(
        &self,
        plan: &TradePlan,
        position: &PositionState,
    ) -> Result<TradeState, GatewayError> {
        let tag = plan.client_tag.as_str();
        let (_guard, rules) = self.begin_in_position(plan, position).await?;
        let result = self.setup_tps_locked(plan, position, &rules).await;
        if let Err(e) = &result {
            // Only a take-profit leg that failed (refused or unresolved, listed in the
            // trade's problems) closes the trade; a read that failed (open orders, a
            // position) says nothing about the TPs, and the next pass retries it.
            let tp_failed = self
                .trade(tag)
                .is_some_and(|t| t.problems.iter().any(|p| p.leg.starts_with("TP")));
            if tp_failed && !e.is_fatal() && self.config.on_tp_failure == TpFailurePolicy::Close {
                let state = self.trade(tag).unwrap_or_else(|| TradeState::new(plan));
                let why = format!("take-profits could not be placed: {e}");
                if let Err(close) = self.close_locked(&state, &why).await {
                    self.report(
                        exec_events::ErrorKind::Other,
                        Some(tag),
                        None,
                        None,
                        None,
                        format!("closing after take-profits failed: {close}"),
                    );
                }
            }
        }
        result
    }

    async fn setup_tps_locked(
        &self,
        plan: &TradePlan,
        position: &PositionState,
        rules: &InstrumentRules,
    ) -> Result<TradeState, GatewayError> {
        let tag = plan.client_tag.as_str();
        let meta_err = meta_error(tag);
        let open = self.open_of(plan, LegFilter::Tp).await?;
        let mut legs = Vec::new();
        for (i, level) in plan.tp_levels.iter().enumerate() {
            let leg = Leg::Tp(u8::try_from(i + 1).unwrap_or(u8::MAX));
            let link = self.links.id(tag, leg)?;
            let state = match open.get(link.as_str()) {
                Some(o) => TpLeg::Open(o.clone()),
                None => match self.ports.journal.intent(link.as_str()).await {
                    Ok(Some(row)) => match self.lookup(tag, leg, &plan.symbol, &link).await? {
                        Some(_) => TpLeg::Done,
                        // Filled (the journal holds its fills) and aged out of the
                        // exchange's lookups: finished, not missing; the open legs keep the
                        // position's split. Without fills it stays missing (and flagged).
                        None if row.exchange_had_it() && self.has_fills(tag, &link).await? => {
                            TpLeg::Done
                        }
                        None => TpLeg::Missing,
                    },
                    Ok(None) => TpLeg::Missing,
                    Err(e) => return Err(self.journal_failed(tag, e)),
                },
            };
            legs.push((leg, link, *level, state));
        }

        // What the open and missing legs may share: what the trade owns, less what partly
        // filled TPs still hold (those are left as they are).
        let mut available = self.owned_qty(tag, &plan.symbol, position.size).await?;
        for (_, _, _, state) in &legs {
            if let TpLeg::Open(o) = state {
                if o.filled_qty > Decimal::ZERO {
                    available -= o.qty - o.filled_qty;
                }
            }
        }
        let sized: Vec<usize> = legs
            .iter()
            .enumerate()
            .filter(|(_, (_, _, _, s))| match s {
                TpLeg::Open(o) => o.filled_qty.is_zero(),
                TpLeg::Missing => true,
                TpLeg::Done => false,
            })
            .map(|(i, _)| i)
            .collect();
        let shares: Vec<Decimal> = sized.iter().map(|&i| legs[i].2.share).collect();
        let targets: HashMap<usize, Decimal> = sized
            .iter()
            .copied()
            .zip(split_tps(rules, available, &shares).map_err(meta_err)?)
            .collect();

        // Shrink first, then grow and place, so the TPs never add up to more than the
        // position on the way.
        let mut order: Vec<usize> = targets.keys().copied().collect();
        order.sort_by_key(|i| match &legs[*i].3 {
            TpLeg::Open(o) if targets[i] < o.qty => (0, *i),
            _ => (1, *i),
        });
        // Every leg is checked before the first is sent, so a leg the instrument refuses
        // cannot leave the TPs half placed. A missing leg that rounds to nothing (a position
        // too small to split on the qty step) is left out: the last leg takes the rest, so the
        // others still cover the position.
        let mut actions = Vec::new();
        for i in order {
            let (_, _, level, state) = &legs[i];
            let qty = targets[&i];
            if qty.is_zero() && matches!(state, TpLeg::Missing) {
                continue;
            }
            let checked = rules
                .round_price(level.price, RoundingMode::Nearest)
                .and_then(|price| {
                    rules.prepare_order(&OrderDraft::limit(qty, price), RoundingMode::Nearest)
                })
                .map_err(meta_err);
            match checked {
                Ok(checked) => actions.push((i, checked)),
                Err(e) => {
                    // Nothing of the TPs is sent: every missing leg is unplaced.
                    for (leg, link, _, state) in &legs {
                        if matches!(state, TpLeg::Missing) {
                            self.leg_failed(tag, Some(*leg), link.as_str(), &e, false);
                        }
                    }
                    self.leg_failed(tag, Some(legs[i].0), legs[i].1.as_str(), &e, true);
                    return Err(e);
                }
            }
        }
        let mut first_error = None;
        for (i, checked) in actions {
            let (leg, link, _, state) = &legs[i];
            match state {
                TpLeg::Open(o) if o.qty == checked.qty().get() => {}
                TpLeg::Open(_) => {
                    if let Err(e) = self
                        .amend(tag, &plan.symbol, link, checked.qty().get())
                        .await
                    {
                        if e.is_fatal() || e.aborts_trade() {
                            return Err(e);
                        }
                        self.leg_failed(tag, Some(*leg), link.as_str(), &e, true);
                        first_error.get_or_insert(e);
                        continue;
                    }
                }
                TpLeg::Missing => {
                    let req = OrderRequest {
                        symbol: plan.symbol.clone(),
                        side: plan.side.opposite(),
                        qty: checked.qty().get(),
                        price: checked.price().map(|p| p.get()),
                        trigger_price: None,
                        trigger_direction: None,
                        reduce_only: true,
                        time_in_force: TimeInForce::Gtc,
                        order_link_id: link.clone(),
                    };
                    if let Err(e) = self.place_leg(tag, *leg, &req, "setup_tps").await {
                        if e.is_fatal() || e.aborts_trade() {
                            return Err(e);
                        }
                        // The outcome policy has reported an unresolved leg already.
                        let reported = matches!(e, GatewayError::OutcomeUnknown { .. });
                        self.leg_failed(tag, Some(*leg), link.as_str(), &e, !reported);
                        first_error.get_or_insert(e);
                        continue;
                    }
                }
                TpLeg::Done => {}
            }
            self.note_leg(tag, *leg, link.as_str());
            self.leg_fixed(tag, *leg);
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                // Every TP leg is placed, open or done: the position is protected as planned,
                // and a trade-level take-profit problem (no leg of its own, e.g. the position
                // could not be read after the entry) is over too.
                lock(&self.standing).retain(|(t, l, _)| t != tag || l != "TP");
                self.update_trade(tag, |t| {
                    t.unprotected = false;
                    t.problems.retain(|p| p.leg != "TP");
                });
                Ok(self.trade(tag).unwrap_or_else(|| TradeState::new(plan)))
            }
        }
    }

    /// Opens a whole trade (R-SAFE-3): the entry ([`Gateway::execute_entry`], which checks
    /// the plan first), then every take-profit and DCA. Once the entry filled the answer is
    /// `Ok`, whatever became of the legs: [`OpenedTrade`] says what filled and which legs are
    /// placed, and the trade's `problems` which failed and why (also reported as
    /// `execution.error`, with the trade `unprotected` while a TP is missing). An `Err` means
    /// no position was opened by this call (or trading stopped).
    pub async fn open_trade(&self, plan: &TradePlan) -> Result<OpenedTrade, GatewayError> {
        let entry = self.execute_entry(plan).await?;
        let tag = plan.client_tag.as_str();
        let position = match self.position(&plan.symbol).await {
            Ok(p) => p,
            Err(e) => {
                self.leg_failed(tag, None, "", &e, true);
                return Ok(self.opened(plan, entry));
            }
        };
        if let Err(e) = self.setup_tps(plan, &position).await {
            if e.is_fatal() {
                return Err(e);
            }
        }
        if !plan.dca_levels.is_empty()
            && self
                .trade(tag)
                .is_some_and(|t| t.phase == Phase::InPosition)
        {
            if let Err(e) = self.setup_dcas(plan, &position).await {
                if e.is_fatal() {
                    return Err(e);
                }
            }
        }
        Ok(self.opened(plan, entry))
    }

    fn opened(&self, plan: &TradePlan, entry: EntryResult) -> OpenedTrade {
        OpenedTrade {
            entry,
            state: self
                .trade(&plan.client_tag)
                .unwrap_or_else(|| TradeState::new(plan)),
        }
    }

    /// Whether the journal holds fills of this order.
    async fn has_fills(
        &self,
        tag: &str,
        link: &bybit_types::OrderLinkId,
    ) -> Result<bool, GatewayError> {
        Ok(self.journaled_fills(tag, link).await? > Decimal::ZERO)
    }

    /// The quantity the journal holds as filled for one order (its trade fills; `fills` takes
    /// a prefix, so other orders whose id starts with this one are left out).
    async fn journaled_fills(
        &self,
        tag: &str,
        link: &bybit_types::OrderLinkId,
    ) -> Result<Decimal, GatewayError> {
        Ok(self
            .ports
            .journal
            .fills(link.as_str())
            .await
            .map_err(|e| self.journal_failed(tag, e))?
            .iter()
            .filter(|f| f.order_link_id == link.as_str())
            .map(|f| f.qty)
            .sum())
    }

    /// The quantity a trade owns (R-SAFE-2): its entry's fill (and an adopted position),
    /// plus what its DCAs filled, less what its TPs and closes filled; never more than the
    /// symbol's position `position_size`. With no filled quantity known, the journaled entry
    /// is looked up: what it filled (nothing, for an IOC cancelled unfilled), nothing if it
    /// was refused; a trade with no entry in the journal, or whose entry cannot be found,
    /// owns the position as given.
    pub(crate) async fn owned_qty(
        &self,
        tag: &str,
        symbol: &bybit_types::Symbol,
        position_size: Decimal,
    ) -> Result<Decimal, GatewayError> {
        let mut entry = self.trade(tag).map(|t| t.filled_qty).unwrap_or_default();
        if entry.is_zero() {
            let link = self.links.id(tag, Leg::Entry)?;
            let Some(row) = self
                .ports
                .journal
                .intent(link.as_str())
                .await
                .map_err(|e| self.journal_failed(tag, e))?
            else {
                return Ok(position_size);
            };
            let found = self
                .retry(|| self.ports.router.get_order(symbol, &link))
                .await
                .map_err(|e| self.port_failed("get_order", e))?;
            let refused = matches!(
                row.outcomes.last(),
                Some(crate::journal::Outcome::Rejected { .. })
            );
            entry = match found {
                Some(o) => o.filled_qty,
                None if refused => Decimal::ZERO,
                None => return Ok(position_size),
            };
        }
        let open: HashMap<String, OrderSnapshot> = self
            .retry(|| self.ports.router.sync_open_orders(symbol))
            .await
            .map_err(|e| self.port_failed("sync_open_orders", e))?
            .into_iter()
            .map(|o| (o.order_link_id.clone(), o))
            .collect();
        let intents = self
            .ports
            .journal
            .intents(tag)
            .await
            .map_err(|e| self.journal_failed(tag, e))?;
        let mut owned = entry;
        for row in intents {
            let code = row.intent.leg.as_str();
            if code == Leg::Entry.code() {
                continue;
            }
            let filled = match open.get(&row.intent.order_link_id) {
                Some(o) => o.filled_qty,
                None => {
                    let Ok(link) = bybit_types::OrderLinkId::new(row.intent.order_link_id.clone())
                    else {
                        continue;
                    };
                    match self
                        .retry(|| self.ports.router.get_order(symbol, &link))
                        .await
                        .map_err(|e| self.port_failed("get_order", e))?
                    {
                        Some(o) => o.filled_qty,
                        // Aged out of the exchange's lookups: what the journal holds of it.
                        None => self.journaled_fills(tag, &link).await?,
                    }
                }
            };
            if code.starts_with("DCA") {
                owned += filled;
            } else {
                owned -= filled;
            }
        }
        Ok(owned.max(Decimal::ZERO).min(position_size))
    }

    /// Places (or completes) one order per DCA level on the entry side, at a worse price
    /// than the entry: a resting limit, or a conditional market order triggered at the level
    /// ([`DcaMode`]). Each level's size is its margin × leverage ÷ its price, floored, and is
    /// refused above `max_notional_usdt`. Called again, it places only the levels that are
    /// neither open nor already sent.
    pub async fn setup_dcas(
        &self,
        plan: &TradePlan,
        position: &PositionState,
    ) -> Result<TradeState, GatewayError> {
        let (_guard, rules) = self.begin_in_position(plan, position).await?;
        self.setup_dcas_locked(plan, position, &rules).await
    }

    async fn setup_dcas_locked(
        &self,
        plan: &TradePlan,
        position: &PositionState,
        rules: &InstrumentRules,
    ) -> Result<TradeState, GatewayError> {
        let tag = plan.client_tag.as_str();
        let entry = position.entry_price.unwrap_or(Decimal::ZERO);
        let open = self.open_of(plan, LegFilter::Dca).await?;
        let mut to_send = Vec::new();
        for (i, level) in plan.dca_levels.iter().enumerate() {
            let leg = Leg::Dca(u8::try_from(i + 1).unwrap_or(u8::MAX));
            let link = self.links.id(tag, leg)?;
            self.note_leg(tag, leg, link.as_str());
            if open.contains_key(link.as_str()) {
                self.leg_fixed(tag, leg);
                continue;
            }
            // A level already sent that the exchange has (filled, or otherwise finished) or
            // had and filled (aged out of its lookups, its fills journaled) is finished: not judged again against an average
            // entry its own fill has moved, and never sent again.
            let row = self
                .ports
                .journal
                .intent(link.as_str())
                .await
                .map_err(|e| self.journal_failed(tag, e))?;
            if let Some(row) = row {
                let found = self.lookup(tag, leg, &plan.symbol, &link).await?;
                if found.is_some() || (row.exchange_had_it() && self.has_fills(tag, &link).await?) {
                    self.leg_fixed(tag, leg);
                    continue;
                }
            }
            let checked = self.check_dca(plan, rules, i, level, entry, link);
            match checked {
                Ok(req) => to_send.push((leg, req)),
                Err(e) => {
                    // Nothing of the DCAs is sent (R-SAFE-3: listed and reported).
                    self.leg_failed(tag, Some(leg), "", &e, true);
                    return Err(e);
                }
            }
        }
        // Sent only once every level passed its checks: a plan refused on a later level
        // never leaves the earlier ones resting.
        let mut first_error = None;
        for (leg, req) in to_send {
            match self.place_leg(tag, leg, &req, "setup_dcas").await {
                Ok(_) => self.leg_fixed(tag, leg),
                Err(e) if e.is_fatal() || e.aborts_trade() => return Err(e),
                Err(e) => {
                    let reported = matches!(e, GatewayError::OutcomeUnknown { .. });
                    self.leg_failed(tag, Some(leg), req.order_link_id.as_str(), &e, !reported);
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(self.trade(tag).unwrap_or_else(|| TradeState::new(plan))),
        }
    }

    /// One DCA level checked and sized, ready to send.
    fn check_dca(
        &self,
        plan: &TradePlan,
        rules: &InstrumentRules,
        i: usize,
        level: &crate::types::DcaLevel,
        entry: Decimal,
        link: bybit_types::OrderLinkId,
    ) -> Result<OrderRequest, GatewayError> {
        let tag = plan.client_tag.as_str();
        let meta_err = meta_error(tag);
        {
            let worse = match plan.side {
                exec_events::Side::Buy => level.price < entry,
                exec_events::Side::Sell => level.price > entry,
            };
            if !worse {
                return Err(GatewayError::InvalidPlan {
                    tag: tag.to_owned(),
                    reason: format!(
                        "DCA{} at {} is not worse than the entry {entry}",
                        i + 1,
                        level.price
                    ),
                });
            }
            let price = rules
                .round_price(level.price, RoundingMode::Nearest)
                .map_err(meta_err)?;
            let notional = level
                .margin_usdt
                .checked_mul(plan.leverage)
                .ok_or_else(|| GatewayError::InvalidPlan {
                    tag: tag.to_owned(),
                    reason: format!("DCA{} margin × leverage overflows", i + 1),
                })?;
            let qty = rules.qty_for_notional(notional, price).map_err(meta_err)?;
            let checked = rules
                .prepare_order(&OrderDraft::limit(qty, price), RoundingMode::Nearest)
                .map_err(meta_err)?;
            if checked.notional() > self.config.max_notional_usdt {
                return Err(GatewayError::MaxNotional {
                    tag: tag.to_owned(),
                    notional: checked.notional(),
                    max: self.config.max_notional_usdt,
                });
            }
            let (limit, trigger, direction) = match self.config.dca_mode {
                DcaMode::Limit => (Some(price), None, None),
                DcaMode::Conditional => (
                    None,
                    Some(price),
                    Some(match plan.side {
                        exec_events::Side::Buy => TriggerDirection::Fall,
                        exec_events::Side::Sell => TriggerDirection::Rise,
                    }),
                ),
            };
            Ok(OrderRequest {
                symbol: plan.symbol.clone(),
                side: plan.side,
                qty: checked.qty().get(),
                price: limit,
                trigger_price: trigger,
                trigger_direction: direction,
                reduce_only: false,
                time_in_force: TimeInForce::Gtc,
                order_link_id: link,
            })
        }
    }

    /// What setup_tps and setup_dcas start with: the trade's lock, a trade that may trade, a
    /// valid plan, a position, and the instrument's rules.
    async fn begin_in_position(
        &self,
        plan: &TradePlan,
        position: &PositionState,
    ) -> Result<(tokio::sync::OwnedMutexGuard<()>, Arc<InstrumentRules>), GatewayError> {
        let tag = plan.client_tag.as_str();
        let guard = self.lock_trade(tag).await;
        self.ensure_trade(plan)?;
        self.ensure_trading(tag)?;
        self.ensure_not_finished(tag, &plan.symbol)?;
        self.validate_plan(plan)?;
        if position.is_flat() {
            return Err(GatewayError::NoPosition {
                symbol: plan.symbol.as_str().to_owned(),
            });
        }
        Ok((guard, self.rules(tag, &plan.symbol).await?))
    }

    /// The trade's open orders of some legs, by orderLinkId.
    async fn open_of(
        &self,
        plan: &TradePlan,
        legs: LegFilter,
    ) -> Result<HashMap<String, OrderSnapshot>, GatewayError> {
        let scope = self.links.scope(&plan.client_tag, legs);
        let open = self
            .retry(|| self.ports.router.sync_open_orders(&plan.symbol))
            .await
            .map_err(|e| self.port_failed("sync_open_orders", e))?;
        Ok(open
            .into_iter()
            .filter(|o| o.status.is_open() && scope.matches(&o.order_link_id))
            .map(|o| (o.order_link_id.clone(), o))
            .collect())
    }
}
