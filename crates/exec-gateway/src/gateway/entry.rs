//! `execute_entry` (SPEC R-GW-1).

use bybit_meta::{OrderDraft, RoundingMode};
use exec_events::ErrorKind;
use rust_decimal::Decimal;

use exec_events::{Event, Subscription};
use tokio::time::Instant;

use super::wait::{event_snapshot, listen, Heard};
use super::{meta_error, Gateway};
use crate::error::{GatewayError, PortError};
use crate::journal::{WriteKind, WriteStage};
use crate::link_id::Leg;
use crate::types::{OrderRequest, OrderSnapshot, OrderStatus, Phase, TimeInForce, TradePlan};

/// What an entry came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryResult {
    /// Average fill price.
    pub entry_price: Decimal,
    /// Quantity filled.
    pub filled_qty: Decimal,
    /// The entry's orderLinkId.
    pub order_link_id: String,
}

impl Gateway {
    /// Opens the trade's position with a market order and waits for its fill.
    ///
    /// Quantity = `margin_usdt × leverage ÷ last price`, floored to the step and validated by
    /// `bybit-meta`; refused above `max_notional_usdt`. The order's orderLinkId is
    /// `{prefix}ENTRY_{tag}`, so ten concurrent calls, or a call after a restart, place one
    /// order and return the same result.
    ///
    /// Before anything is sent: [`Gateway::check_plan`] (R-SAFE-1; a repeat of an entry
    /// already sent gets only its static part, the plan was judged before that send), a tag that names a
    /// finished trade, another open trade on the symbol, or a position no trade owns (unless
    /// `adopt_position`) are refused ([`GatewayError::is_plan_refused`],
    /// [`GatewayError::is_conflict`]; R-SAFE-2), a trade in ERROR included.
    pub async fn execute_entry(&self, plan: &TradePlan) -> Result<EntryResult, GatewayError> {
        let tag = plan.client_tag.as_str();
        let _guard = self.lock_trade(tag).await;
        // R-SAFE-2: a tag names one trade for ever.
        self.refuse_finished_tag(plan).await?;
        if let Some(done) = self.entry_done(tag) {
            return Ok(done);
        }
        self.ensure_trading(tag)?;
        // R-SAFE-1: the whole plan, before anything is sent or journaled. A repeat of an
        // entry already sent (its intent is journaled: the way an unknown outcome is
        // resolved) was checked before that first send; judged again against the price of
        // the moment it could be refused while the entry it repeats has filled.
        self.check_static(plan)?;
        let sent_before = self
            .ports
            .journal
            .intent(self.links.id(tag, Leg::Entry)?.as_str())
            .await
            .map_err(|e| self.journal_failed(tag, e))?
            .is_some();
        if !sent_before {
            self.check_local(plan).await?;
        }
        self.ensure_trade(plan)?;
        // R-SAFE-2: one open trade per symbol, no foreign position adopted silently.
        let adopted = self.claim_symbol(plan).await?;
        // The rest of check_plan, the one that asks the exchange, last: a plan refused above
        // cost no request.
        if !sent_before {
            if let Err(e) = self.check_exchange_limits(plan).await {
                self.release_claim(tag);
                return Err(e);
            }
        }
        if let Err(e) = self.ports.journal.record_plan(plan, self.now()).await {
            self.release_claim(tag);
            return Err(self.journal_failed(tag, e));
        }
        // R-SAFE-2: what the trade adopted is journaled, so a restart, or a repeated call
        // after the entry was sent, still knows it owns it (the latest record counts; a
        // repeated call before the entry was sent adopts what it finds again).
        if !adopted.is_zero() && !sent_before {
            if let Err(e) = self
                .record_write(
                    tag,
                    WriteKind::Adopt,
                    &plan.symbol,
                    None,
                    Some(adopted),
                    WriteStage::Done,
                )
                .await
            {
                self.release_claim(tag);
                return Err(e);
            }
        }
        let journaled_entering = self
            .ports
            .journal
            .states(tag)
            .await
            .map_err(|e| self.journal_failed(tag, e))?
            .last()
            .is_some_and(|s| s.phase == Phase::Entering);
        if !journaled_entering {
            if let Err(e) = self.set_phase(tag, Phase::Entering, "execute_entry").await {
                self.release_claim(tag);
                return Err(e);
            }
        }
        let result = self.entry_inner(plan).await.map(|mut done| {
            done.filled_qty += adopted;
            done
        });
        match &result {
            Ok(done) => {
                self.set_entry_done(tag, done);
                // Filled, and no take-profit placed yet (R-SAFE-3).
                if !plan.tp_levels.is_empty() {
                    self.update_trade(tag, |t| t.unprotected = true);
                }
                self.set_phase(
                    tag,
                    Phase::InPosition,
                    &format!("entry filled: {} at {}", done.filled_qty, done.entry_price),
                )
                .await?;
            }
            Err(e) if !e.is_outcome_unknown() && !matches!(e, GatewayError::Journal(_)) => {
                if self.trade(tag).is_some_and(|t| t.phase != Phase::Error) {
                    self.abort_trade(tag, &e.to_string()).await;
                    if let GatewayError::EntryUnfilled { link_id, .. } = e {
                        // No port error reported it: the exchange accepted the order, and
                        // only its final state says the trade never opened (R-ERR-5).
                        self.report(
                            ErrorKind::Rejected,
                            Some(tag),
                            Some(Leg::Entry),
                            Some(link_id),
                            None,
                            format!("{e}; trade aborted"),
                        );
                    }
                }
            }
            Err(_) => {}
        }
        result
    }

    async fn entry_inner(&self, plan: &TradePlan) -> Result<EntryResult, GatewayError> {
        let tag = plan.client_tag.as_str();
        let rules = self.rules(tag, &plan.symbol).await?;
        let meta_err = meta_error(tag);
        rules.check_leverage(plan.leverage).map_err(meta_err)?;
        let price = self.last_price(&plan.symbol).await?;
        let notional = plan.margin_usdt.checked_mul(plan.leverage).ok_or_else(|| {
            GatewayError::InvalidPlan {
                tag: tag.to_owned(),
                reason: "margin × leverage overflows".to_owned(),
            }
        })?;
        let qty = rules.qty_for_notional(notional, price).map_err(meta_err)?;
        let order = rules
            .prepare_order(&OrderDraft::market(qty, price), RoundingMode::Down)
            .map_err(meta_err)?;
        if order.notional() > self.config.max_notional_usdt {
            return Err(GatewayError::MaxNotional {
                tag: tag.to_owned(),
                notional: order.notional(),
                max: self.config.max_notional_usdt,
            });
        }
        let write = |stage| {
            self.record_write(
                tag,
                WriteKind::Leverage,
                &plan.symbol,
                None,
                Some(plan.leverage),
                stage,
            )
        };
        write(WriteStage::Requested).await?;
        match self
            .ports
            .account
            .set_leverage(&plan.symbol, plan.leverage)
            .await
        {
            // 110043: leverage not modified, i.e. already set.
            Ok(()) | Err(PortError::Rejected { code: 110043, .. }) => {
                write(WriteStage::Done).await?
            }
            Err(e) => {
                // The port's error wins (it may halt trading); a journal failure
                // here is still reported by record_write.
                let _ = write(WriteStage::Failed {
                    reason: e.to_string(),
                })
                .await;
                return Err(self.port_failed("set_leverage", e));
            }
        }
        let req = OrderRequest {
            symbol: plan.symbol.clone(),
            side: plan.side,
            qty: order.qty().get(),
            price: None,
            trigger_price: None,
            trigger_direction: None,
            reduce_only: false,
            time_in_force: TimeInForce::Ioc,
            order_link_id: self.links.id(tag, Leg::Entry)?,
        };
        // Taken before the order is sent: its fill cannot pass unseen (R-WS-4).
        let mut sub = self.bus.subscribe();
        let placed = self
            .place_leg(tag, Leg::Entry, &req, "execute_entry")
            .await?;
        let filled = match placed.snapshot.filter(|s| s.status == OrderStatus::Filled) {
            Some(done) => done,
            None => self.await_fill(&req, &mut sub).await?,
        };
        let entry_price = filled.avg_price.ok_or_else(|| GatewayError::NotFilled {
            link_id: req.order_link_id.as_str().to_owned(),
            detail: "filled without an average price".to_owned(),
        })?;
        self.set_leg_status(req.order_link_id.as_str(), filled.status, false);
        Ok(EntryResult {
            entry_price,
            filled_qty: filled.filled_qty,
            order_link_id: req.order_link_id.as_str().to_owned(),
        })
    }

    /// Waits for a market order to finish: filled, or (IOC) cancelled after a partial fill.
    /// Listens to `sub` (taken before the order was sent) for the order's events; looks it up
    /// by orderLinkId only after [`stream_silence`](crate::GatewayConfig::stream_silence)
    /// without news of it, and once more when `fill_timeout` has passed (`wait.rs`).
    pub(crate) async fn await_fill(
        &self,
        req: &OrderRequest,
        sub: &mut Subscription,
    ) -> Result<OrderSnapshot, GatewayError> {
        let link = req.order_link_id.as_str();
        let deadline = Instant::now() + self.config.fill_timeout;
        let mut last = "not seen".to_owned();
        loop {
            // Past the deadline: one lookup confirms before the wait gives up.
            let heard = if Instant::now() >= deadline {
                Heard::Quiet
            } else {
                let until = (Instant::now() + self.config.stream_silence).min(deadline);
                listen(sub, until, |event| match event {
                    Event::Order(o) if o.order_link_id == link => Some(event_snapshot(o)),
                    _ => None,
                })
                .await
            };
            let asked = matches!(heard, Heard::Quiet);
            let seen = match heard {
                Heard::News(o) => Ok(Some(o)),
                Heard::Quiet => {
                    self.ports
                        .router
                        .get_order(&req.symbol, &req.order_link_id)
                        .await
                }
            };
            match seen {
                // A fill reported without its average price: the lookup gives it.
                Ok(Some(o)) if o.avg_price.is_none() && o.filled_qty > Decimal::ZERO => {
                    last = format!(
                        "{:?}, {} filled, no average price yet",
                        o.status, o.filled_qty
                    );
                }
                Ok(Some(o)) if o.status == OrderStatus::Filled => return Ok(o),
                Ok(Some(o)) if !o.status.is_open() => {
                    if o.filled_qty > Decimal::ZERO {
                        return Ok(o);
                    }
                    return Err(GatewayError::EntryUnfilled {
                        link_id: link.to_owned(),
                        detail: format!("{:?}", o.status),
                    });
                }
                Ok(Some(o)) => last = format!("{:?}, {} filled", o.status, o.filled_qty),
                Ok(None) => {}
                Err(PortError::Auth { code, message }) => {
                    return Err(self.auth_failed(None, None, Some(link), code, &message))
                }
                Err(e) => last = e.to_string(),
            }
            if asked && Instant::now() >= deadline {
                return Err(GatewayError::NotFilled {
                    link_id: link.to_owned(),
                    detail: last,
                });
            }
        }
    }
}
