//! The outcome policy: what an answer to an order means, in one place: this page is its one
//! statement. Every order the gateway sends goes through [`Gateway::place_leg`].
//!
//! 1. The intent is written to the journal **before** the request is sent; a journal that
//!    cannot be written stops the leg (nothing is sent that was not journaled).
//! 2. If the journal already holds an intent for this orderLinkId (an earlier call, or a
//!    process that died between writing and sending), the order is first **looked up** by its
//!    orderLinkId: found, it counts as placed; not found, it is sent with the same id and the
//!    values the journal holds for it (the intent, or its last re-rounding; never values this
//!    call computed anew) — unless the journal shows the exchange had it (acked, found,
//!    amended, cancelled): closed orders age out of the exchange's lookups, and such an order
//!    is never sent again.
//! 3. A **definitive** answer (a retCode that means "refused") rejects the leg: no retry.
//! 4. **Insufficient balance** (110004/110007/110012/110044/110045) aborts the trade: it goes
//!    to ERROR, `execution.error` is published and a line goes to the error log; no retry
//!    (R-ERR-3).
//! 5. **Auth** errors are fatal: the gateway stops trading, publishes and logs (R-ERR-2).
//! 6. An **unknown outcome** (timeout, 5xx, 10000/10016, a dropped connection) is resolved by
//!    looking the order up by orderLinkId before anything else is sent for that leg: found, it
//!    counts as placed; not found, it is resent with the same orderLinkId, up to
//!    `max_send_attempts` sends in all.
//! 7. A **rate limit** waits `retry_after` (R-ERR-4); since it came after sending, the
//!    outcome is unknown and rule 6 follows.
//! 8. A **duplicate orderLinkId** (110072) means the order exists: it is looked up and counts
//!    as placed (R-ORD-5).
//! 9. A refusal for an **instrument rule** ([`PortError::RuleRefused`]: a quantity off the
//!    step, a price off the tick or out of range, below the minimum value) means the rules may
//!    have changed since they were loaded: they are reloaded through the meta port, the order
//!    is re-rounded to them (quantity down to the step, prices to the nearest tick) and, if
//!    that changed it, the new values are journaled (`Outcome::Rerounded`, before the send)
//!    and it is sent again with the same orderLinkId, within the same `max_send_attempts`.
//!    Unchanged by re-rounding, or out of sends, the refusal is final (rule 3).
//! 10. A refusal (rules 3, 4 and 9) of a **re-send** — after rule 2 or rule 6 — is final only
//!     once a lookup confirms the order is not there: the earlier send may have landed after
//!     the lookup that preceded the re-send, and be the very reason for the refusal (110007:
//!     its margin is in use). Found, it counts as placed.
//!
//! An order a lookup finds is compared with what the journal says was sent (the intent, or the
//! values it was last re-rounded or amended to: `IntentRow::intended`); a difference is
//! published as `execution.error`, and the order still counts as placed.
//!
//! This is the only place a write is sent again: the REST client under the live router is
//! built with its own create re-sends off (`exec_live::gateway_rest_config`), and routers
//! send each request they are given once.
//!
//! A lookup that itself fails is retried like every read (`Gateway::retry`: after 100, 300
//! and 1000 ms, or a rate limit's `retry_after`); if it never succeeds the leg stays unknown, `execution.error` is
//! published and nothing more is sent for it. Calling the operation again resumes at rule 2.

use bybit_meta::RoundingMode;
use bybit_types::OrderLinkId;
use exec_events::ErrorKind;

use crate::error::{GatewayError, PortError};
use crate::gateway::Gateway;
use crate::journal::{Intent, Outcome};
use crate::link_id::Leg;
use crate::types::{OrderRequest, OrderSnapshot};

/// A leg that is on the exchange (accepted now, or found by a lookup).
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    /// Set when a lookup found it.
    pub(crate) snapshot: Option<OrderSnapshot>,
}

impl Gateway {
    /// Sends one leg under the outcome policy (module docs).
    pub(crate) async fn place_leg(
        &self,
        tag: &str,
        leg: Leg,
        req: &OrderRequest,
        reason: &str,
    ) -> Result<Placed, GatewayError> {
        if matches!(leg, Leg::Close(_)) {
            // A close is how an aborted trade is cleaned up: only a halt stops it.
            if let Some(reason) = self.halted() {
                return Err(GatewayError::Halted { reason });
            }
        } else {
            self.ensure_trading(tag)?;
        }
        let link = req.order_link_id.as_str();
        self.note_leg(tag, leg, link);
        let journal = &self.ports.journal;
        let earlier = journal
            .intent(link)
            .await
            .map_err(|e| self.journal_failed(tag, e))?;
        if let Some(other) = earlier
            .as_ref()
            .map(|row| row.intent.trade_tag.as_str())
            .filter(|other| *other != tag)
        {
            // The id was journaled for another trade (tags `andre_T1` and `T1` share ids): its
            // order is not this trade's, and sending would be refused as a duplicate.
            return Err(GatewayError::LinkId {
                id: link.to_owned(),
                reason: format!("already used by trade {other}"),
            });
        }
        // Whether an earlier send of this id may have reached the exchange.
        let mut maybe_sent = earlier.is_some();
        if earlier.is_some() {
            // Rule 2: an earlier attempt may have reached the exchange.
            if let Some(found) = self
                .lookup(tag, leg, &req.symbol, &req.order_link_id)
                .await?
            {
                return self.found(tag, leg, link, found).await;
            }
            self.outcome(tag, link, &resolved(None)).await?;
            let was_there = earlier
                .as_ref()
                .is_some_and(crate::journal::IntentRow::exchange_had_it);
            if was_there {
                // Rule 2b: the exchange had this order once (acked, found, amended or
                // cancelled). A lookup that no longer finds it (closed orders age out of
                // realtime and history) is no reason to send it again.
                return Err(self.unresolved(
                    tag,
                    leg,
                    link,
                    "the journal shows the exchange had this order, but a lookup by orderLinkId no longer finds it; not sent again".to_owned(),
                ));
            }
        } else {
            let intent = Intent {
                trade_tag: tag.to_owned(),
                leg: leg.code(),
                order_link_id: link.to_owned(),
                symbol: req.symbol.as_str().to_owned(),
                side: req.side.as_str().to_owned(),
                qty: req.qty,
                price: req.price,
                trigger_price: req.trigger_price,
                kind: req.kind().to_owned(),
                reason: reason.to_owned(),
                at_ms: self.now(),
            };
            // Rule 1.
            journal
                .record_intent(&intent)
                .await
                .map_err(|e| self.journal_failed(tag, e))?;
        }

        let leg_code = leg.code();
        let mut sends = 0;
        // What is sent: the request, or its re-rounding after a rule refusal (rule 9). A
        // re-send of an earlier intent (rule 2) sends what the journal holds for it (the
        // intent, or the values it was last re-rounded to), never values computed anew by
        // this call: nothing goes out that is not journaled.
        let mut current = req.clone();
        if let Some(row) = &earlier {
            let intended = row.intended();
            if let Some(qty) = intended.qty.first() {
                current.qty = *qty;
            }
            current.price = intended.price;
            current.trigger_price = intended.trigger_price;
        }
        let req = &mut current;
        loop {
            sends += 1;
            tracing::info!(
                tag,
                leg = leg_code.as_str(),
                order_link_id = link,
                symbol = %req.symbol.as_str(),
                side = req.side.as_str(),
                qty = %req.qty,
                price = req.price.map(tracing::field::display),
                trigger_price = req.trigger_price.map(tracing::field::display),
                kind = req.kind(),
                reason,
                send = sends,
                "order sent"
            );
            let answer = self.ports.router.place(req).await;
            let error = match answer {
                Ok(ack) => {
                    tracing::info!(
                        tag,
                        leg = leg_code.as_str(),
                        order_link_id = link,
                        order_id = %ack.order_id,
                        "order acked"
                    );
                    self.outcome(
                        tag,
                        link,
                        &Outcome::Acked {
                            order_id: ack.order_id,
                        },
                    )
                    .await?;
                    return Ok(Placed { snapshot: None });
                }
                Err(e) => e,
            };
            if maybe_sent
                && matches!(
                    error,
                    PortError::Rejected { .. }
                        | PortError::RuleRefused { .. }
                        | PortError::InsufficientBalance { .. }
                )
            {
                // Rule 10: a re-send can be refused because the earlier send landed after all
                // (its margin is now in use), though the lookup before it came too early to
                // see it. The refusal is final only once a lookup confirms nothing is there.
                if let Some(found) = self
                    .lookup(tag, leg, &req.symbol, &req.order_link_id)
                    .await?
                {
                    return self.found(tag, leg, link, found).await;
                }
            }
            match error {
                PortError::DuplicateLinkId { message } => {
                    // Rule 8.
                    match self
                        .lookup(tag, leg, &req.symbol, &req.order_link_id)
                        .await?
                    {
                        Some(found) => return self.found(tag, leg, link, found).await,
                        None => {
                            return Err(self.unresolved(
                                tag,
                                leg,
                                link,
                                format!("duplicate orderLinkId but no such order: {message}"),
                            ))
                        }
                    }
                }
                PortError::Rejected { code, message } => {
                    // Rule 3.
                    tracing::warn!(tag, leg = leg_code.as_str(), order_link_id = link, ret_code = code, reason = %message, "order refused");
                    self.rejected(tag, link, Some(code), &message).await?;
                    return Err(GatewayError::Rejected {
                        link_id: link.to_owned(),
                        code: Some(code),
                        message,
                    });
                }
                PortError::RuleRefused { code, message } => {
                    // Rule 9.
                    let refusal = format!("retCode {code}: {message}");
                    let fixed = if sends < self.config.max_send_attempts {
                        self.rerounded(tag, req).await?
                    } else {
                        None
                    };
                    let Some(fixed) = fixed else {
                        tracing::warn!(tag, leg = leg_code.as_str(), order_link_id = link, ret_code = code, reason = %message, "order refused for an instrument rule");
                        self.rejected(tag, link, Some(code), &message).await?;
                        return Err(GatewayError::Rejected {
                            link_id: link.to_owned(),
                            code: Some(code),
                            message,
                        });
                    };
                    tracing::warn!(
                        tag,
                        leg = leg_code.as_str(),
                        order_link_id = link,
                        reason = %refusal,
                        qty = %fixed.qty,
                        price = fixed.price.map(tracing::field::display),
                        trigger_price = fixed.trigger_price.map(tracing::field::display),
                        "re-rounded to reloaded instrument rules after a rule refusal"
                    );
                    // Rule 1 for the re-send: its values are journaled before it is sent.
                    self.outcome(
                        tag,
                        link,
                        &Outcome::Rerounded {
                            qty: fixed.qty,
                            price: fixed.price,
                            trigger_price: fixed.trigger_price,
                            reason: refusal,
                        },
                    )
                    .await?;
                    *req = fixed;
                }
                PortError::InvalidInput(message) => {
                    tracing::warn!(tag, leg = leg_code.as_str(), order_link_id = link, reason = %message, "order refused");
                    self.rejected(tag, link, None, &message).await?;
                    return Err(GatewayError::Rejected {
                        link_id: link.to_owned(),
                        code: None,
                        message,
                    });
                }
                PortError::InsufficientBalance { code, message } => {
                    // Rule 4.
                    self.rejected(tag, link, Some(code), &message).await?;
                    let detail = format!("insufficient balance (retCode {code}): {message}");
                    self.abort_trade(tag, &detail).await;
                    self.report(
                        ErrorKind::InsufficientBalance,
                        Some(tag),
                        Some(leg),
                        Some(link),
                        Some(code),
                        format!("{detail}; trade aborted, no retry"),
                    );
                    return Err(GatewayError::InsufficientBalance {
                        link_id: link.to_owned(),
                        code,
                        message,
                    });
                }
                PortError::Auth { code, message } => {
                    // Rule 5.
                    self.rejected(tag, link, Some(code), &message).await?;
                    let err = self.auth_failed(Some(tag), Some(leg), Some(link), code, &message);
                    self.abort_trade(tag, &err.to_string()).await;
                    return Err(err);
                }
                unknown @ (PortError::UnknownOutcome { .. } | PortError::RateLimited { .. }) => {
                    // Rules 6 and 7.
                    tracing::warn!(tag, leg = leg_code.as_str(), order_link_id = link, reason = %unknown, "order outcome unknown; looking it up by orderLinkId");
                    self.outcome(
                        tag,
                        link,
                        &Outcome::Unknown {
                            reason: unknown.to_string(),
                        },
                    )
                    .await?;
                    if let PortError::RateLimited { retry_after } = unknown {
                        tracing::info!(
                            tag,
                            leg = leg_code.as_str(),
                            order_link_id = link,
                            wait_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
                            "rate limited: waiting before the lookup"
                        );
                        tokio::time::sleep(retry_after).await;
                    }
                    let found = self
                        .lookup(tag, leg, &req.symbol, &req.order_link_id)
                        .await?;
                    if let Some(found) = found {
                        return self.found(tag, leg, link, found).await;
                    }
                    self.outcome(tag, link, &resolved(None)).await?;
                    if sends >= self.config.max_send_attempts {
                        return Err(self.unresolved(
                            tag,
                            leg,
                            link,
                            format!("not on the exchange after {sends} sends: {unknown}"),
                        ));
                    }
                    // Not found: it never arrived; send again with the same orderLinkId.
                    tracing::info!(
                        tag,
                        leg = leg_code.as_str(),
                        order_link_id = link,
                        "order not on the exchange; sending again with the same orderLinkId"
                    );
                    maybe_sent = true;
                }
            }
        }
    }

    /// Rule 9: the instrument's rules reloaded through the meta port and `req` re-rounded to
    /// them (quantity down to the step, prices to the nearest tick); `None` when that changes
    /// nothing (the refusal stands) or the rules cannot be had.
    async fn rerounded(
        &self,
        tag: &str,
        req: &OrderRequest,
    ) -> Result<Option<OrderRequest>, GatewayError> {
        if let Err(e) = self.retry(|| self.ports.meta.refresh_symbol_meta()).await {
            tracing::warn!(tag, error = %e, "instrument rules not reloaded after a rule refusal");
            return Ok(None);
        }
        let rules = match self.rules(tag, &req.symbol).await {
            Ok(rules) => rules,
            Err(e) => {
                tracing::warn!(tag, error = %e, "instrument rules not available after a rule refusal");
                return Ok(None);
            }
        };
        let round = || -> Result<OrderRequest, bybit_meta::MetaError> {
            let mut fixed = req.clone();
            fixed.qty = rules.round_qty(req.qty)?;
            if let Some(p) = req.price {
                fixed.price = Some(rules.round_price(p, RoundingMode::Nearest)?);
            }
            if let Some(p) = req.trigger_price {
                fixed.trigger_price = Some(rules.round_price(p, RoundingMode::Nearest)?);
            }
            Ok(fixed)
        };
        match round() {
            Ok(fixed) if fixed != *req => Ok(Some(fixed)),
            Ok(_) => Ok(None),
            Err(e) => {
                tracing::warn!(tag, order_link_id = req.order_link_id.as_str(), error = %e, "cannot re-round after a rule refusal");
                Ok(None)
            }
        }
    }

    /// Looks an order up by orderLinkId, retrying transient failures; if it never answers,
    /// the leg stays unknown.
    pub(crate) async fn lookup(
        &self,
        tag: &str,
        leg: Leg,
        symbol: &bybit_types::Symbol,
        link: &OrderLinkId,
    ) -> Result<Option<OrderSnapshot>, GatewayError> {
        match self
            .retry(|| self.ports.router.get_order(symbol, link))
            .await
        {
            Ok(found) => Ok(found),
            Err(PortError::Auth { code, message }) => {
                Err(self.auth_failed(Some(tag), Some(leg), Some(link.as_str()), code, &message))
            }
            Err(e) => Err(self.unresolved(
                tag,
                leg,
                link.as_str(),
                format!("lookup by orderLinkId failed: {e}"),
            )),
        }
    }

    /// A read through a port, retried (R-ERR-1, R-ERR-4): a rate limit waits its
    /// `retry_after`, an unknown outcome (timeout, 5xx) waits the next `retry_backoff` step;
    /// anything else, or the last failure, is returned.
    pub(crate) async fn retry<'a, T, F, Fut>(&self, call: F) -> Result<T, PortError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, PortError>> + 'a,
    {
        let waits = &self.config.retry_backoff;
        let mut attempt = 0;
        loop {
            let error = match call().await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            let wait = match &error {
                PortError::RateLimited { retry_after } => *retry_after,
                PortError::UnknownOutcome { .. } => match waits.get(attempt) {
                    Some(wait) => *wait,
                    None => return Err(error),
                },
                _ => return Err(error),
            };
            if attempt >= waits.len() {
                return Err(error);
            }
            attempt += 1;
            tracing::info!(
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "read failed; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// A lookup found the order: it counts as placed. It is journaled as resolved and
    /// compared with what the journal says was sent — the intent, or the values it was last
    /// re-rounded or amended to ([`IntentRow::intended`]); a difference is reported as
    /// `execution.error` (the exchange's order stands: sending again would duplicate it).
    ///
    /// [`IntentRow::intended`]: crate::journal::IntentRow::intended
    async fn found(
        &self,
        tag: &str,
        leg: Leg,
        link: &str,
        found: OrderSnapshot,
    ) -> Result<Placed, GatewayError> {
        tracing::info!(
            tag,
            leg = leg.code().as_str(),
            order_link_id = link,
            order_id = %found.order_id,
            status = ?found.status,
            "order found by orderLinkId"
        );
        self.outcome(tag, link, &resolved(Some(&found))).await?;
        let row = self
            .ports
            .journal
            .intent(link)
            .await
            .map_err(|e| self.journal_failed(tag, e))?;
        if let Some(diff) = row.and_then(|row| row.differs_from(&found)) {
            self.report(
                ErrorKind::Other,
                Some(tag),
                Some(leg),
                Some(link),
                None,
                format!("found by orderLinkId but not the order the journal holds: {diff}"),
            );
        }
        Ok(Placed {
            snapshot: Some(found),
        })
    }

    async fn outcome(&self, tag: &str, link: &str, outcome: &Outcome) -> Result<(), GatewayError> {
        self.ports
            .journal
            .record_outcome(link, outcome, self.now())
            .await
            .map_err(|e| self.journal_failed(tag, e))?;
        self.note_outcome(link, outcome);
        Ok(())
    }

    async fn rejected(
        &self,
        tag: &str,
        link: &str,
        code: Option<i64>,
        message: &str,
    ) -> Result<(), GatewayError> {
        self.outcome(
            tag,
            link,
            &Outcome::Rejected {
                code,
                message: message.to_owned(),
            },
        )
        .await
    }

    fn unresolved(&self, tag: &str, leg: Leg, link: &str, reason: String) -> GatewayError {
        self.unresolved_intent(tag, Some(leg), link, reason)
    }

    /// An intent whose outcome is unknown: reported (once while it stands) and the error.
    pub(crate) fn unresolved_intent(
        &self,
        tag: &str,
        leg: Option<Leg>,
        link: &str,
        reason: String,
    ) -> GatewayError {
        // Once while it stands: a reconcile pass that meets the same leg again is silent.
        self.report_standing(
            ErrorKind::UnknownOutcome,
            tag,
            leg,
            Some(link),
            None,
            reason.clone(),
        );
        GatewayError::OutcomeUnknown {
            link_id: link.to_owned(),
            reason,
        }
    }
}

fn resolved(found: Option<&OrderSnapshot>) -> Outcome {
    Outcome::Resolved {
        found: found.is_some(),
        order_id: found.map(|o| o.order_id.clone()),
    }
}
