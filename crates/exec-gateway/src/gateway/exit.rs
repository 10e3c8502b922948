//! `move_to_breakeven` and `close_all` (SPEC R-GW-4, R-GW-5).

use std::collections::HashMap;

use bybit_meta::RoundingMode;
use exec_events::{Event, Subscription};
use rust_decimal::Decimal;
use tokio::time::Instant;

use super::wait::{event_status, listen, Heard};
use super::{meta_error, Gateway};
use crate::error::{GatewayError, PortError};
use crate::journal::{WriteKind, WriteStage};
use crate::link_id::{Leg, LegFilter};
use crate::types::{OrderRequest, OrderStatus, Phase, TimeInForce, TradeState};

impl Gateway {
    /// Cancels the trade's remaining DCA orders, keeps its take-profits and (when
    /// `breakeven_stop` is on) sets the position's stop-loss at its entry price. Only orders
    /// carrying this layer's prefix and this trade's tag are cancelled. Called again, it finds
    /// nothing left to cancel and the stop already set.
    pub async fn move_to_breakeven(&self, state: &TradeState) -> Result<TradeState, GatewayError> {
        let tag = state.tag.as_str();
        let _guard = self.lock_trade(tag).await;
        self.ensure_trade_state(state)?;
        self.ensure_trading(tag)?;
        self.ensure_not_finished(tag, &state.symbol)?;
        self.cancel_legs(tag, &state.symbol, LegFilter::Dca).await?;
        if self.config.breakeven_stop {
            let position = self.position(&state.symbol).await?;
            if let Some(entry) = position.entry_price.filter(|_| !position.is_flat()) {
                let rules = self.rules(tag, &state.symbol).await?;
                let stop = rules
                    .round_price(entry, RoundingMode::Nearest)
                    .map_err(meta_error(tag))?;
                let write = |stage| {
                    self.record_write(
                        tag,
                        WriteKind::StopLoss,
                        &state.symbol,
                        None,
                        Some(stop),
                        stage,
                    )
                };
                write(WriteStage::Requested).await?;
                match self.ports.router.set_stop_loss(&state.symbol, stop).await {
                    // 34040: not modified, the stop is already there.
                    Ok(()) | Err(PortError::Rejected { code: 34040, .. }) => {
                        write(WriteStage::Done).await?
                    }
                    Err(e) => {
                        // The port's error wins (it may halt trading); a journal failure
                        // here is still reported by record_write.
                        let _ = write(WriteStage::Failed {
                            reason: e.to_string(),
                        })
                        .await;
                        return Err(self.port_failed("set_stop_loss", e));
                    }
                }
            }
        }
        if self.trade(tag).is_some_and(|t| t.phase != Phase::Breakeven) {
            self.set_phase(
                tag,
                Phase::Breakeven,
                "DCAs cancelled, TPs kept, stop at entry",
            )
            .await?;
        }
        Ok(self.trade(tag).unwrap_or_else(|| state.clone()))
    }

    /// Cancels the trade's TP and DCA orders, closes the position at market (reduce-only,
    /// split into chunks of at most `maxMktOrderQty`) and waits until the position is down to
    /// what the trade does not own (flat, when it owns it all).
    /// Works on an aborted trade too (it is how one is cleaned up). Called again, it reads
    /// the position first and sends only what is still open, with fresh `CLOSE{n}` ids.
    /// Closes only the quantity the trade owns (R-SAFE-2): a position it did not open is
    /// left as it is.
    pub async fn close_all(
        &self,
        state: &TradeState,
        reason: &str,
    ) -> Result<TradeState, GatewayError> {
        let _guard = self.lock_trade(&state.tag).await;
        self.close_locked(state, reason).await
    }

    /// `close_all` under the trade's lock (also the close policy after failed TPs).
    pub(crate) async fn close_locked(
        &self,
        state: &TradeState,
        reason: &str,
    ) -> Result<TradeState, GatewayError> {
        let tag = state.tag.as_str();
        self.ensure_trade_state(state)?;
        if let Some(reason) = self.halted() {
            return Err(GatewayError::Halted { reason });
        }
        if self.trade(tag).is_some_and(|t| t.phase == Phase::Closed) {
            return Ok(self.trade(tag).unwrap_or_else(|| state.clone()));
        }
        let aborted = self.trade(tag).is_some_and(|t| t.phase == Phase::Error);
        if !aborted {
            self.set_phase(tag, Phase::Closing, reason).await?;
        }
        self.cancel_legs(tag, &state.symbol, LegFilter::TpAndDca)
            .await?;
        let position = self.position(&state.symbol).await?;
        // R-SAFE-2: only what the trade owns is closed.
        let owned = if position.is_flat() {
            Decimal::ZERO
        } else {
            self.owned_qty(tag, &state.symbol, position.size).await?
        };
        let rest = position.size - owned;
        let mut sent = Vec::new();
        // Taken before a close is sent: its fills and the position's change cannot pass
        // unseen (R-WS-4).
        let mut sub = self.bus.subscribe();
        if let (false, Some(side)) = (owned.is_zero(), position.side) {
            let rules = self.rules(tag, &state.symbol).await?;
            let price = self.last_price(&state.symbol).await?;
            let chunks = rules
                .prepare_market_split(owned, price)
                .map_err(meta_error(tag))?;
            let sent_before = self
                .ports
                .journal
                .intents(tag)
                .await
                .map_err(|e| self.journal_failed(tag, e))?
                .iter()
                .filter(|r| r.intent.leg.starts_with("CLOSE"))
                .count();
            for (i, chunk) in chunks.iter().enumerate() {
                let n = u16::try_from(sent_before + i + 1).unwrap_or(u16::MAX);
                let leg = Leg::Close(n);
                let req = OrderRequest {
                    symbol: state.symbol.clone(),
                    side: side.opposite(),
                    qty: chunk.qty().get(),
                    price: None,
                    trigger_price: None,
                    trigger_direction: None,
                    reduce_only: true,
                    time_in_force: TimeInForce::Ioc,
                    order_link_id: self.links.id(tag, leg)?,
                };
                let why = format!("close_all: {reason}");
                self.place_leg(tag, leg, &req, &why).await?;
                sent.push(req);
            }
        }
        if !sent.is_empty() {
            let closes: Vec<&str> = sent.iter().map(|r| r.order_link_id.as_str()).collect();
            let finished = self.await_size(state, rest, &mut sub, &closes).await?;
            // A market close never rests: the trade's legs say what became of each order
            // now, as the stream reported it, else as a lookup finds it.
            for req in &sent {
                let link = req.order_link_id.as_str();
                if let Some(status) = finished.get(link) {
                    self.set_leg_status(link, *status, false);
                } else if let Ok(Some(o)) = self
                    .ports
                    .router
                    .get_order(&req.symbol, &req.order_link_id)
                    .await
                {
                    self.set_leg_status(link, o.status, false);
                }
            }
        }
        self.update_trade(tag, |t| {
            t.unprotected = false;
        });
        self.ensure_settled(tag).await?;
        if !aborted {
            self.set_phase(tag, Phase::Closed, reason).await?;
        }
        Ok(self.trade(tag).unwrap_or_else(|| state.clone()))
    }

    /// R-SAFE-4: a trade is not closed while one of its sends has no outcome in the journal
    /// (a crash right after it was journaled, its request perhaps still held in flight). It
    /// may still land — an entry would then open a position no trade owns — and once the
    /// trade is CLOSED no pass would look at it again. The trade stays CLOSING; recovery
    /// (`recover.rs`, the reconciler's passes) settles the intent by lookup and the landing
    /// window, and then finishes the close.
    async fn ensure_settled(&self, tag: &str) -> Result<(), GatewayError> {
        let rows = self
            .ports
            .journal
            .intents(tag)
            .await
            .map_err(|e| self.journal_failed(tag, e))?;
        for row in rows.iter().filter(|r| super::recover::unsettled(r)) {
            let link = row.intent.order_link_id.as_str();
            // A journaled fill of it says the exchange had it.
            let fills = self
                .ports
                .journal
                .fills(link)
                .await
                .map_err(|e| self.journal_failed(tag, e))?;
            if fills.iter().any(|f| f.order_link_id == link) {
                continue;
            }
            let reason = format!(
                "{} ({link}) was sent and its outcome is not known yet: the trade stays \
                 CLOSING until recovery settles it",
                row.intent.leg
            );
            let leg = Leg::parse(&row.intent.leg);
            return Err(self.unresolved_intent(tag, leg, link, reason));
        }
        Ok(())
    }

    /// Waits until the position is down to `rest` (what the trade does not own; flat when
    /// it owned it all), listening to `sub` (taken before the closes were sent) for the
    /// symbol's position events; reads the position over REST only after
    /// [`stream_silence`](crate::GatewayConfig::stream_silence) without one, and once more
    /// when `fill_timeout` has passed (`wait.rs`). Returns the finished status of each of
    /// `closes` the stream reported meanwhile.
    async fn await_size(
        &self,
        state: &TradeState,
        rest: Decimal,
        sub: &mut Subscription,
        closes: &[&str],
    ) -> Result<HashMap<String, OrderStatus>, GatewayError> {
        let deadline = Instant::now() + self.config.fill_timeout;
        let symbol = state.symbol.as_str();
        let mut finished = HashMap::new();
        loop {
            let heard = if Instant::now() >= deadline {
                Heard::Quiet
            } else {
                let until = (Instant::now() + self.config.stream_silence).min(deadline);
                listen(sub, until, |event| match event {
                    Event::Position(p) if p.symbol == symbol => Some(p.size),
                    Event::Order(o) if closes.contains(&o.order_link_id.as_str()) => {
                        let status = event_status(o);
                        if !status.is_open() {
                            finished.insert(o.order_link_id.clone(), status);
                        }
                        None
                    }
                    _ => None,
                })
                .await
            };
            let (size, asked) = match heard {
                Heard::News(size) => (size, false),
                Heard::Quiet => {
                    let position = self.position(&state.symbol).await?;
                    let size = if position.is_flat() {
                        Decimal::ZERO
                    } else {
                        position.size
                    };
                    (size, true)
                }
            };
            if size <= rest {
                return Ok(finished);
            }
            if asked && Instant::now() >= deadline {
                return Err(GatewayError::NotFlat {
                    symbol: symbol.to_owned(),
                    size,
                });
            }
        }
    }
}
