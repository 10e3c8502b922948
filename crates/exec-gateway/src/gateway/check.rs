//! The whole-plan check (R-SAFE-1) and the ownership checks (R-SAFE-2): the one place a plan
//! is judged before anything is sent. `execute_entry` calls both first; paper and dry-run
//! routing run under the same gateway, so they refuse the same plans the same way.

use bybit_meta::{OrderDraft, RoundingMode};
use exec_events::Side;
use rust_decimal::Decimal;

use super::{lock, Gateway};
use crate::error::GatewayError;
use crate::link_id::Leg;
use crate::types::{Phase, TradePlan};

/// The phases in which a trade owns its symbol's position (one-way mode: one such trade per
/// symbol).
pub(crate) fn owns_symbol(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::Entering | Phase::InPosition | Phase::Breakeven | Phase::Closing
    )
}

impl Gateway {
    /// Checks a whole plan before anything is sent (R-SAFE-1). Refusals name the field and the
    /// rule ([`GatewayError::PlanRefused`], [`GatewayError::is_plan_refused`]).
    ///
    /// In order: the tag gives valid orderLinkIds for every leg; the symbol is configured
    /// ([`GatewayConfig::symbols`]) and trading; margin and leverage positive, leverage within
    /// the instrument's; at most 9 TP and 9 DCA levels; TP shares positive and adding up to 1;
    /// every price positive, within the instrument's price filter and within
    /// [`GatewayConfig::default_price_band`] of the current price; take-profits on the profit
    /// side of the current price and strictly ordered away from it, DCAs on the loss side and
    /// strictly ordered away from it; the entry's, each DCA's and each TP's quantity within the
    /// instrument's limits; the notional of the entry, of each DCA (its quantity valued at the
    /// current price or at its own, whichever is higher: a DCA at price 1 is a huge quantity)
    /// and of the whole trade with every DCA filled within `max_notional_usdt`.
    ///
    /// Reads the instrument's rules and the last price, and last (only for a plan that passed
    /// every local rule) the exchange's order price limit; no order, no write.
    ///
    /// [`GatewayConfig::symbols`]: crate::GatewayConfig::symbols
    /// [`GatewayConfig::default_price_band`]: crate::GatewayConfig::default_price_band
    pub async fn check_plan(&self, plan: &TradePlan) -> Result<(), GatewayError> {
        self.check_local(plan).await?;
        self.check_exchange_limits(plan).await
    }

    /// Every rule of [`Gateway::check_plan`] this process can judge by itself (the
    /// instrument's rules and the last price are cached): no request.
    pub(crate) async fn check_local(&self, plan: &TradePlan) -> Result<(), GatewayError> {
        self.check_static(plan)?;
        let tag = plan.client_tag.as_str();
        let refuse = |field: &str, rule: String| GatewayError::PlanRefused {
            tag: tag.to_owned(),
            field: field.to_owned(),
            rule,
        };
        let rules = self.rules(tag, &plan.symbol).await?;
        if !rules.is_trading() {
            return Err(refuse(
                "symbol",
                format!(
                    "{} is not trading ({:?})",
                    plan.symbol.as_str(),
                    rules.status()
                ),
            ));
        }
        if let Err(e) = rules.check_leverage(plan.leverage) {
            return Err(refuse("leverage", e.to_string()));
        }
        let price = self.last_price(&plan.symbol).await?;
        if price <= Decimal::ZERO {
            return Err(refuse(
                "symbol",
                format!("no usable current price ({price})"),
            ));
        }
        let band = self.config.default_price_band;
        let low = price * (Decimal::ONE - band);
        let high = price * (Decimal::ONE + band);
        let in_band = |field: &str, p: Decimal| -> Result<(), GatewayError> {
            if p < rules.min_price() || p > rules.max_price() {
                return Err(refuse(
                    field,
                    format!(
                        "{p} outside the instrument's price filter {}..={}",
                        rules.min_price(),
                        rules.max_price()
                    ),
                ));
            }
            if p < low || p > high {
                return Err(refuse(
                    field,
                    format!("{p} outside the price band {low}..={high} around the current price {price}"),
                ));
            }
            Ok(())
        };
        // Profit side: above the price for a long, below for a short; "away" is the same way.
        let away = |a: Decimal, b: Decimal, up: bool| if up { a > b } else { a < b };
        let long = plan.side == Side::Buy;
        let mut previous = price;
        for (i, tp) in plan.tp_levels.iter().enumerate() {
            let field = format!("tp_levels[{i}].price");
            in_band(&field, tp.price)?;
            if !away(tp.price, previous, long) {
                let rule = if i == 0 {
                    format!(
                        "{} is not on the profit side of the current price {price} for a {} ({})",
                        tp.price,
                        if long { "long" } else { "short" },
                        if long {
                            "must be above"
                        } else {
                            "must be below"
                        }
                    )
                } else {
                    format!(
                        "{} is not beyond tp_levels[{}].price {previous}: levels must be strictly ordered away from the current price",
                        tp.price,
                        i - 1
                    )
                };
                return Err(refuse(&field, rule));
            }
            previous = tp.price;
        }
        let mut previous = price;
        for (i, dca) in plan.dca_levels.iter().enumerate() {
            let field = format!("dca_levels[{i}].price");
            in_band(&field, dca.price)?;
            if !away(dca.price, previous, !long) {
                let rule = if i == 0 {
                    format!(
                        "{} is not on the loss side of the current price {price} for a {} ({})",
                        dca.price,
                        if long { "long" } else { "short" },
                        if long {
                            "must be below"
                        } else {
                            "must be above"
                        }
                    )
                } else {
                    format!(
                        "{} is not beyond dca_levels[{}].price {previous}: levels must be strictly ordered away from the current price",
                        dca.price,
                        i - 1
                    )
                };
                return Err(refuse(&field, rule));
            }
            previous = dca.price;
        }

        // Quantities and notionals.
        let max = self.config.max_notional_usdt;
        let overflow = |field: &str| refuse(field, "margin × leverage overflows".to_owned());
        let notional = plan
            .margin_usdt
            .checked_mul(plan.leverage)
            .ok_or_else(|| overflow("margin_usdt"))?;
        let entry = rules
            .qty_for_notional(notional, price)
            .and_then(|qty| {
                rules.prepare_order(&OrderDraft::market(qty, price), RoundingMode::Down)
            })
            .map_err(|e| refuse("margin_usdt", format!("entry at {price}: {e}")))?;
        if entry.notional() > max {
            return Err(refuse(
                "margin_usdt",
                format!(
                    "entry notional {} USDT above the configured maximum {max}",
                    entry.notional()
                ),
            ));
        }
        let entry_qty = entry.qty().get();
        let mut total_qty = entry_qty;
        let mut total_notional = entry.notional();
        for (i, dca) in plan.dca_levels.iter().enumerate() {
            let field = format!("dca_levels[{i}].margin_usdt");
            let notional = dca
                .margin_usdt
                .checked_mul(plan.leverage)
                .ok_or_else(|| overflow(&field))?;
            let order = rules
                .round_price(dca.price, RoundingMode::Nearest)
                .and_then(|p| {
                    rules.qty_for_notional(notional, p).and_then(|q| {
                        rules.prepare_order(&OrderDraft::limit(q, p), RoundingMode::Nearest)
                    })
                })
                .map_err(|e| refuse(&field, format!("DCA at {}: {e}", dca.price)))?;
            let qty = order.qty().get();
            // Valued at the higher of its own price and the current one: a DCA far below the
            // market buys a quantity worth far more than its margin × leverage at today's price.
            let value = (qty * price).max(order.notional());
            if value > max {
                return Err(refuse(
                    &field,
                    format!(
                        "DCA of {qty} is worth {value} USDT (at the higher of its price and the current {price}), above the configured maximum {max}"
                    ),
                ));
            }
            total_qty += qty;
            total_notional += value;
        }
        if total_notional > max {
            return Err(refuse(
                "dca_levels",
                format!(
                    "the whole trade with every DCA filled ({total_qty}) is worth {total_notional} USDT, above the configured maximum {max}"
                ),
            ));
        }
        // Each TP leg, split from the entry (and from the position with every DCA filled)
        // the way setup_tps splits it, must be an order the instrument accepts (quantity
        // within its limits, value above its minimum), checked as setup_tps checks it; a
        // leg that rounds to nothing is left out when placing (the last takes the rest).
        let shares: Vec<Decimal> = plan.tp_levels.iter().map(|t| t.share).collect();
        for position in [entry_qty, total_qty] {
            let split = super::orders::split_tps(&rules, position, &shares)
                .map_err(|e| refuse("tp_levels", e.to_string()))?;
            for (i, (tp, qty)) in plan.tp_levels.iter().zip(split).enumerate() {
                if qty.is_zero() {
                    continue;
                }
                rules
                    .round_price(tp.price, RoundingMode::Nearest)
                    .and_then(|p| {
                        rules.prepare_order(&OrderDraft::limit(qty, p), RoundingMode::Nearest)
                    })
                    .map_err(|e| {
                        refuse(
                            &format!("tp_levels[{i}].share"),
                            format!("{qty} of a {position} position at {}: {e}", tp.price),
                        )
                    })?;
            }
        }
        Ok(())
    }

    /// The part of [`Gateway::check_plan`] that asks the exchange: its order price limit now
    /// (one request where the venue has one). `execute_entry` runs it after the local rules and
    /// the ownership checks, so a plan refused on those costs no request.
    pub(crate) async fn check_exchange_limits(&self, plan: &TradePlan) -> Result<(), GatewayError> {
        let tag = plan.client_tag.as_str();
        let refuse = |field: &str, rule: String| GatewayError::PlanRefused {
            tag: tag.to_owned(),
            field: field.to_owned(),
            rule,
        };
        let long = plan.side == Side::Buy;
        // The exchange's own order price limit (Bybit's price-limit endpoint, where the venue
        // has one): a take-profit sells (a long's) or buys (a short's) at its price, a DCA
        // buys (a long's) or sells; a buy above `buy_max` or a sell below `sell_min` would be
        // refused, or moved by an account set to adjust, after the entry filled.
        if let Some(limit) = self
            .ports
            .prices
            .price_limit(&plan.symbol)
            .await
            .map_err(|e| self.port_failed("price_limit", e))?
        {
            let legs = plan
                .tp_levels
                .iter()
                .enumerate()
                .map(|(i, tp)| (format!("tp_levels[{i}].price"), tp.price, !long))
                .chain(
                    plan.dca_levels
                        .iter()
                        .enumerate()
                        .map(|(i, dca)| (format!("dca_levels[{i}].price"), dca.price, long)),
                );
            for (field, p, buys) in legs {
                if buys && p > limit.buy_max {
                    return Err(refuse(
                        &field,
                        format!(
                            "a buy at {p} is above the exchange's price limit {} for buys now",
                            limit.buy_max
                        ),
                    ));
                }
                if !buys && p < limit.sell_min {
                    return Err(refuse(
                        &field,
                        format!(
                            "a sell at {p} is below the exchange's price limit {} for sells now",
                            limit.sell_min
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The part of [`Gateway::check_plan`] that needs neither prices nor rules: ids, the
    /// configured symbol, positive sizes, level counts, TP shares, positive prices. Also what
    /// `setup_tps` and `setup_dcas` check of the plan they are given.
    pub(crate) fn check_static(&self, plan: &TradePlan) -> Result<(), GatewayError> {
        let tag = plan.client_tag.as_str();
        let refuse = |field: &str, rule: String| GatewayError::PlanRefused {
            tag: tag.to_owned(),
            field: field.to_owned(),
            rule,
        };
        // The longest ids this plan can produce must be valid before the first is sent.
        for leg in [Leg::Entry, Leg::Close(99), Leg::Dca(9), Leg::Tp(9)] {
            if let Err(e) = self.links.id(tag, leg) {
                return Err(refuse("client_tag", e.to_string()));
            }
        }
        if let Some(symbols) = &self.config.symbols {
            if !symbols.contains(&plan.symbol) {
                let list: Vec<&str> = symbols.iter().map(|s| s.as_str()).collect();
                return Err(refuse(
                    "symbol",
                    format!(
                        "{} is not one of the configured symbols [{}]",
                        plan.symbol.as_str(),
                        list.join(", ")
                    ),
                ));
            }
        }
        if plan.margin_usdt <= Decimal::ZERO {
            return Err(refuse("margin_usdt", "must be positive".to_owned()));
        }
        if plan.leverage <= Decimal::ZERO {
            return Err(refuse("leverage", "must be positive".to_owned()));
        }
        if plan.tp_levels.len() > 9 {
            return Err(refuse("tp_levels", "at most 9 levels".to_owned()));
        }
        if plan.dca_levels.len() > 9 {
            return Err(refuse("dca_levels", "at most 9 levels".to_owned()));
        }
        for (i, tp) in plan.tp_levels.iter().enumerate() {
            if tp.share <= Decimal::ZERO {
                return Err(refuse(
                    &format!("tp_levels[{i}].share"),
                    "must be positive".to_owned(),
                ));
            }
            if tp.price <= Decimal::ZERO {
                return Err(refuse(
                    &format!("tp_levels[{i}].price"),
                    "must be positive".to_owned(),
                ));
            }
        }
        if !plan.tp_levels.is_empty() {
            let total: Decimal = plan.tp_levels.iter().map(|t| t.share).sum();
            if total != Decimal::ONE {
                return Err(refuse(
                    "tp_levels",
                    format!("shares add up to {total}, not 1"),
                ));
            }
        }
        for (i, dca) in plan.dca_levels.iter().enumerate() {
            if dca.price <= Decimal::ZERO {
                return Err(refuse(
                    &format!("dca_levels[{i}].price"),
                    "must be positive".to_owned(),
                ));
            }
            if dca.margin_usdt <= Decimal::ZERO {
                return Err(refuse(
                    &format!("dca_levels[{i}].margin_usdt"),
                    "must be positive".to_owned(),
                ));
            }
        }

        Ok(())
    }

    /// The ownership checks of an entry (R-SAFE-2), before anything is sent: the tag does not
    /// name a finished trade; no other open trade holds the symbol (the symbol is then claimed
    /// for this trade, atomically, by moving it to ENTERING in memory); and, for an entry not
    /// yet sent, the symbol holds no position that no open trade owns unless the plan adopts
    /// it. Returns the size of an adopted position.
    pub(crate) async fn claim_symbol(&self, plan: &TradePlan) -> Result<Decimal, GatewayError> {
        let tag = plan.client_tag.as_str();
        let conflict = |reason: String| GatewayError::Conflict {
            tag: tag.to_owned(),
            symbol: plan.symbol.as_str().to_owned(),
            reason,
        };
        // Other trades the journal holds as open on this symbol (a process that has not run
        // recover() yet knows them only there).
        let journal = &self.ports.journal;
        let mut journal_owner = None;
        for other in journal
            .open_trades()
            .await
            .map_err(|e| self.journal_failed(tag, e))?
        {
            if other == tag {
                continue;
            }
            let known_closed = self
                .trade(&other)
                .is_some_and(|t| !owns_symbol(t.phase) && t.phase != Phase::Idle);
            if known_closed {
                continue;
            }
            if let Some(p) = journal
                .plan(&other)
                .await
                .map_err(|e| self.journal_failed(tag, e))?
            {
                if p.symbol == plan.symbol {
                    journal_owner = Some(other);
                    break;
                }
            }
        }
        {
            let mut trades = lock(&self.trades);
            let owner = trades
                .values()
                .find(|t| t.tag != tag && t.symbol == plan.symbol && owns_symbol(t.phase))
                .map(|t| (t.tag.clone(), t.phase))
                .or_else(|| journal_owner.map(|t| (t, Phase::InPosition)));
            if let Some((other, phase)) = owner {
                return Err(conflict(format!(
                    "trade {other} is open on it ({}); one-way mode holds one position per symbol, so one open trade per symbol",
                    phase.as_str()
                )));
            }
            if let Some(t) = trades.get_mut(tag) {
                if t.phase == Phase::Idle {
                    t.phase = Phase::Entering;
                }
            }
        }
        let sent_before = journal
            .intent(self.links.id(tag, Leg::Entry)?.as_str())
            .await
            .map_err(|e| self.journal_failed(tag, e))?
            .is_some();
        if sent_before {
            // A repeated call: the position may be this trade's own entry, plus what the first
            // call adopted (journaled then).
            return self.adopted_qty(tag).await;
        }
        let position = match self.position(&plan.symbol).await {
            Ok(p) => p,
            Err(e) => {
                self.release_claim(tag);
                return Err(e);
            }
        };
        if position.is_flat() {
            return Ok(Decimal::ZERO);
        }
        if plan.adopt_position && position.side == Some(plan.side) {
            return Ok(position.size);
        }
        self.release_claim(tag);
        let side = position.side.map_or("?", |s| s.as_str());
        Err(conflict(if plan.adopt_position {
            format!(
                "a {side} position of {} is open that no trade owns, on the other side of this {} plan: it cannot be adopted",
                position.size,
                plan.side.as_str()
            )
        } else {
            format!(
                "a {side} position of {} (entry {}) is open that no open trade owns; close it, or set adopt_position to take it over",
                position.size,
                position
                    .entry_price
                    .map_or_else(|| "?".to_owned(), |p| p.to_string())
            )
        }))
    }

    /// Gives the symbol back after an entry refused before anything was sent.
    pub(crate) fn release_claim(&self, tag: &str) {
        self.update_trade(tag, |t| {
            if t.phase == Phase::Entering {
                t.phase = Phase::Idle;
            }
        });
    }

    /// A tag names one trade for ever: a plan whose tag is that of a finished trade (CLOSED or
    /// ERROR, in memory or in the journal of an earlier process) is refused, the same way on
    /// every routing.
    pub(crate) async fn refuse_finished_tag(&self, plan: &TradePlan) -> Result<(), GatewayError> {
        let tag = plan.client_tag.as_str();
        let phase = match self.trade(tag) {
            Some(t) if matches!(t.phase, Phase::Closed | Phase::Error) => Some(t.phase),
            Some(_) => None,
            None => self
                .ports
                .journal
                .states(tag)
                .await
                .map_err(|e| self.journal_failed(tag, e))?
                .last()
                .map(|s| s.phase)
                .filter(|p| matches!(p, Phase::Closed | Phase::Error)),
        };
        match phase {
            Some(phase) => Err(GatewayError::Conflict {
                tag: tag.to_owned(),
                symbol: plan.symbol.as_str().to_owned(),
                reason: format!(
                    "the tag {tag} names a finished trade ({}); a tag names one trade for ever, use a new one",
                    phase.as_str()
                ),
            }),
            None => Ok(()),
        }
    }
}
