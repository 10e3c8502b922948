//! The [`Gateway`]: its ports, configuration, per-trade state and the helpers every operation
//! shares. The operations themselves are in `entry.rs` (execute_entry), `orders.rs`
//! (setup_tps, setup_dcas) and `exit.rs` (move_to_breakeven, close_all); the outcome policy
//! is in `crate::policy`.

mod check;
mod entry;
mod exit;
mod orders;
mod recover;
mod wait;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bybit_meta::InstrumentRules;
use bybit_types::Symbol;
use exec_events::{ErrorKind, ErrorLog, Event, EventBus, ExecutionError, OrderEvent, Received};
use rust_decimal::Decimal;

use crate::clock::Clock;
use crate::config::GatewayConfig;
use crate::error::{GatewayError, PortError};
use crate::journal::{Journal, JournalError, Outcome, WriteKind, WriteRecord, WriteStage};
use crate::link_id::{Leg, LinkIds};
use crate::ports::{AccountService, OrderRouter, PositionService, PriceService, SymbolMetaService};
use crate::types::{OrderStatus, Phase, PositionState, TradePlan, TradeState};

pub use entry::EntryResult;
pub use orders::OpenedTrade;
pub use recover::{ReconcileReport, Recovered};

/// One implementation of each port, chosen by the application.
#[derive(Clone)]
pub struct Ports {
    /// Sends orders.
    pub router: Arc<dyn OrderRouter>,
    /// Positions and open orders.
    pub positions: Arc<dyn PositionService>,
    /// Balance and leverage.
    pub account: Arc<dyn AccountService>,
    /// Instrument rules.
    pub meta: Arc<dyn SymbolMetaService>,
    /// Current prices.
    pub prices: Arc<dyn PriceService>,
    /// The intent journal.
    pub journal: Arc<dyn Journal>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The API the state machine calls (SPEC §7).
///
/// Every operation is idempotent: called again (after a timeout, a crash, or concurrently) it
/// completes what is missing and never duplicates what exists. Calls for the same trade run
/// one at a time; calls for different trades run side by side.
pub struct Gateway {
    pub(crate) ports: Ports,
    pub(crate) config: GatewayConfig,
    pub(crate) links: LinkIds,
    pub(crate) bus: EventBus,
    error_log: Option<Arc<ErrorLog>>,
    trades: Mutex<HashMap<String, TradeState>>,
    entries: Mutex<HashMap<String, EntryResult>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    halted: Mutex<Option<String>>,
    /// The standing problems already reported, by (tag, leg or "", message): a reconcile pass
    /// that meets the same one again does not publish or log it again (R-SAFE-3: one line
    /// per problem, not one per pass). A leg fixed, or a disagreement gone, is forgotten.
    standing: Mutex<std::collections::HashSet<(String, String, String)>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("config", &self.config)
            .field("halted", &self.halted())
            .finish_non_exhaustive()
    }
}

/// Turns a rule broken (`bybit-meta`) into the trade's error.
pub(crate) fn meta_error(tag: &str) -> impl Fn(bybit_meta::MetaError) -> GatewayError + Copy + '_ {
    move |source| GatewayError::Meta {
        tag: tag.to_owned(),
        source,
    }
}

/// Why [`Gateway::cancel_legs`] stopped: the router, or the journal (already reported).
enum CancelStop {
    Port(PortError),
    Journal(GatewayError),
}

impl From<PortError> for CancelStop {
    fn from(e: PortError) -> Self {
        CancelStop::Port(e)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gateway {
    /// A gateway over `ports`, publishing on `bus` and appending fatal errors to `error_log`
    /// (none: errors are only published). Fails if the configured prefix is not valid
    /// orderLinkId text.
    pub fn new(
        ports: Ports,
        config: GatewayConfig,
        bus: EventBus,
        error_log: Option<Arc<ErrorLog>>,
    ) -> Result<Self, GatewayError> {
        let links = LinkIds::new(&config.link_prefix)?;
        Ok(Gateway {
            ports,
            config,
            links,
            bus,
            error_log,
            trades: Mutex::new(HashMap::new()),
            entries: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            halted: Mutex::new(None),
            standing: Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// The bus events are published on.
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// How this gateway names orders.
    pub fn links(&self) -> &LinkIds {
        &self.links
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// A trade's current state, if this gateway has seen it.
    pub fn trade(&self, tag: &str) -> Option<TradeState> {
        lock(&self.trades).get(tag).cloned()
    }

    /// The client tag of the trade an orderLinkId's tag (`LinkIds::parse`) belongs to: the
    /// ids carry the tag without the prefix, and a client tag may have it (`andre_T1`, the
    /// SPEC's form; ids `andre_ENTRY_T1`). The tracked trade's tag when this gateway has one
    /// (only one of the two forms can be: `check_ids_unclaimed`), else `id_tag` itself.
    pub fn client_tag_of(&self, id_tag: &str) -> String {
        let trades = lock(&self.trades);
        if trades.contains_key(id_tag) {
            return id_tag.to_owned();
        }
        let prefixed = format!("{}{id_tag}", self.links.prefix());
        if trades.contains_key(&prefixed) {
            prefixed
        } else {
            id_tag.to_owned()
        }
    }

    /// Every trade this gateway tracks (opened, or found again by `recover()`), by tag.
    pub fn trades(&self) -> Vec<TradeState> {
        let mut all: Vec<TradeState> = lock(&self.trades).values().cloned().collect();
        all.sort_by(|a, b| a.tag.cmp(&b.tag));
        all
    }

    /// Why trading stopped, if it did (a fatal error).
    pub fn halted(&self) -> Option<String> {
        lock(&self.halted).clone()
    }

    /// The trade's open TP orders (SPEC R-POS-1 `get_active_tp_orders`), by orderLinkId.
    pub async fn active_tp_orders(
        &self,
        plan: &TradePlan,
    ) -> Result<Vec<crate::types::OrderSnapshot>, GatewayError> {
        self.active_orders(plan, crate::link_id::LegFilter::Tp)
            .await
    }

    /// The trade's open DCA orders (SPEC R-POS-1 `get_active_dca_orders`), by orderLinkId.
    pub async fn active_dca_orders(
        &self,
        plan: &TradePlan,
    ) -> Result<Vec<crate::types::OrderSnapshot>, GatewayError> {
        self.active_orders(plan, crate::link_id::LegFilter::Dca)
            .await
    }

    async fn active_orders(
        &self,
        plan: &TradePlan,
        legs: crate::link_id::LegFilter,
    ) -> Result<Vec<crate::types::OrderSnapshot>, GatewayError> {
        let scope = self.links.scope(&plan.client_tag, legs);
        let open = self
            .retry(|| self.ports.positions.get_open_orders(&plan.symbol))
            .await
            .map_err(|e| self.port_failed("get_open_orders", e))?;
        Ok(open
            .into_iter()
            .filter(|o| o.status.is_open() && scope.matches(&o.order_link_id))
            .collect())
    }

    pub(crate) fn now(&self) -> i64 {
        self.ports.clock.now_ms()
    }

    /// Serialises calls for one trade.
    pub(crate) async fn lock_trade(&self, tag: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = Arc::clone(lock(&self.locks).entry(tag.to_owned()).or_default());
        m.lock_owned().await
    }

    pub(crate) fn entry_done(&self, tag: &str) -> Option<EntryResult> {
        lock(&self.entries).get(tag).cloned()
    }

    pub(crate) fn set_entry_done(&self, tag: &str, result: &EntryResult) {
        lock(&self.entries).insert(tag.to_owned(), result.clone());
        self.update_trade(tag, |t| {
            t.entry_price = Some(result.entry_price);
            t.filled_qty = result.filled_qty;
        });
    }

    /// The trade's state, created from `plan` if this gateway has not seen it.
    pub(crate) fn ensure_trade(&self, plan: &TradePlan) -> Result<TradeState, GatewayError> {
        let mut trades = lock(&self.trades);
        self.check_ids_unclaimed(&trades, &plan.client_tag)?;
        Ok(trades
            .entry(plan.client_tag.clone())
            .or_insert_with(|| TradeState::new(plan))
            .clone())
    }

    /// Client tags `andre_T1` and `T1` give the same orderLinkIds (the prefix is stripped from
    /// the tag), so two such trades would adopt, and cancel, each other's orders. The second
    /// one to arrive is refused.
    fn check_ids_unclaimed(
        &self,
        trades: &HashMap<String, TradeState>,
        client_tag: &str,
    ) -> Result<(), GatewayError> {
        let ids = self.links.tag_of(client_tag);
        match trades
            .keys()
            .find(|other| other.as_str() != client_tag && self.links.tag_of(other) == ids)
        {
            Some(other) => Err(GatewayError::InvalidPlan {
                tag: client_tag.to_owned(),
                reason: format!("its orderLinkIds would be those of trade {other}"),
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn ensure_trade_state(
        &self,
        state: &TradeState,
    ) -> Result<TradeState, GatewayError> {
        let mut trades = lock(&self.trades);
        self.check_ids_unclaimed(&trades, &state.tag)?;
        Ok(trades
            .entry(state.tag.clone())
            .or_insert_with(|| state.clone())
            .clone())
    }

    /// Replaces a trade's state (recovery after a restart).
    pub(crate) fn restore_trade(&self, state: TradeState) {
        lock(&self.trades).insert(state.tag.clone(), state);
    }

    pub(crate) fn update_trade(&self, tag: &str, f: impl FnOnce(&mut TradeState)) {
        if let Some(t) = lock(&self.trades).get_mut(tag) {
            f(t);
        }
    }

    /// Follows the gateway's bus: every order event of one of its trades sets that leg's last
    /// status seen ([`Gateway::observe_order`]), so answers and pages show what the exchange
    /// last said, not what was last sent. Holds the gateway weakly: ends when the gateway or
    /// the bus is gone. Missed events (a lagging subscriber) are caught up by the next event
    /// of the same order, or the reconciler.
    pub fn follow_orders(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let mut sub = self.bus.subscribe();
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                match sub.recv().await {
                    Received::Event(env) => {
                        if let Event::Order(o) = &*env.event {
                            let Some(gateway) = me.upgrade() else { break };
                            gateway.observe_order(o);
                        }
                    }
                    Received::Lagged { .. } => {}
                    Received::Closed => break,
                }
            }
        })
    }

    /// Takes an order event's status as its leg's last status seen (ignored for an order that
    /// is not one of this gateway's trades' legs).
    pub fn observe_order(&self, o: &OrderEvent) {
        let status = wait::event_status(o);
        self.set_leg_status(&o.order_link_id, status, true);
    }

    /// The one place a leg's last status seen changes. A status never goes back: a finished
    /// order (filled, cancelled, rejected) stays finished when an older event arrives late
    /// (the stream may reorder), and a partly filled one does not read as merely open again.
    /// `same_rank` lets a status replace another unfinished one of its rank (the stream's
    /// untriggered → triggered); this layer's own "accepted" only fills in a leg with no status
    /// yet. The first finished status stays.
    pub(crate) fn set_leg_status(&self, link: &str, status: OrderStatus, same_rank: bool) {
        fn rank(status: Option<OrderStatus>) -> u8 {
            match status {
                None => 0,
                Some(OrderStatus::Open | OrderStatus::Untriggered) => 1,
                Some(OrderStatus::PartiallyFilled) => 2,
                Some(OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Rejected) => 3,
            }
        }
        let Some((leg, tag)) = self.links.parse(link) else {
            return;
        };
        self.update_trade(&self.client_tag_of(tag), |t| {
            let (known, last) = t
                .orders
                .entry(leg.code())
                .or_insert_with(|| (link.to_owned(), None));
            let (new, old) = (rank(Some(status)), rank(*last));
            let raises = new > old || (same_rank && new == old && old < 3);
            if known.as_str() == link && raises {
                *last = Some(status);
            }
        });
    }

    /// The status an outcome this layer journaled tells about its order.
    pub(crate) fn note_outcome(&self, link: &str, outcome: &Outcome) {
        let status = match outcome {
            Outcome::Acked { .. } => OrderStatus::Open,
            Outcome::Rejected { .. } => OrderStatus::Rejected,
            Outcome::Cancelled => OrderStatus::Cancelled,
            Outcome::Resolved { found: false, .. } => {
                // No order under this id: a refusal noted for it was of a send that made
                // none, and the id may be sent again (the outcome policy's rule 2). The
                // refusal is final for that send, not for the leg: the next answer counts.
                self.clear_refused(link);
                return;
            }
            _ => return,
        };
        self.set_leg_status(link, status, false);
    }

    /// Forgets a leg's "rejected" status (see [`Gateway::note_outcome`]); any other status
    /// stays (a finished order's is final).
    fn clear_refused(&self, link: &str) {
        let Some((leg, tag)) = self.links.parse(link) else {
            return;
        };
        self.update_trade(&self.client_tag_of(tag), |t| {
            if let Some((known, last)) = t.orders.get_mut(&leg.code()) {
                if known.as_str() == link && *last == Some(OrderStatus::Rejected) {
                    *last = None;
                }
            }
        });
    }

    pub(crate) fn note_leg(&self, tag: &str, leg: Leg, link: &str) {
        self.update_trade(tag, |t| {
            t.orders
                .entry(leg.code())
                .or_insert_with(|| (link.to_owned(), None));
        });
    }

    /// A leg failed after the entry filled (R-SAFE-3): the trade lists it as a problem (the
    /// latest one per leg) and, for a take-profit, is marked unprotected. `report` publishes
    /// `execution.error` and writes one error-log line (false when the outcome policy has
    /// already reported it).
    pub(crate) fn leg_failed(
        &self,
        tag: &str,
        leg: Option<Leg>,
        link: &str,
        error: &GatewayError,
        report: bool,
    ) {
        let (kind, ret_code, event_kind) = match error {
            GatewayError::Rejected { code, .. } => ("rejected", *code, ErrorKind::Rejected),
            GatewayError::InsufficientBalance { code, .. } => {
                ("rejected", Some(*code), ErrorKind::InsufficientBalance)
            }
            GatewayError::EntryUnfilled { .. } => ("rejected", None, ErrorKind::Rejected),
            GatewayError::OutcomeUnknown { .. } | GatewayError::NotFilled { .. } => {
                ("unknown", None, ErrorKind::UnknownOutcome)
            }
            GatewayError::Meta { .. }
            | GatewayError::MaxNotional { .. }
            | GatewayError::InvalidPlan { .. }
            | GatewayError::PlanRefused { .. } => ("invalid", None, ErrorKind::InvalidInput),
            GatewayError::Port { source, .. } if source.is_outcome_unknown() => {
                ("unknown", None, ErrorKind::UnknownOutcome)
            }
            _ => ("error", None, ErrorKind::Other),
        };
        let code = leg.map_or_else(|| "TP".to_owned(), Leg::code);
        let problem = crate::types::LegProblem {
            leg: code.clone(),
            order_link_id: link.to_owned(),
            kind: kind.to_owned(),
            ret_code,
            reason: error.to_string(),
        };
        self.update_trade(tag, |t| {
            t.problems.retain(|p| p.leg != code);
            t.problems.push(problem);
            if code.starts_with("TP") && !t.filled_qty.is_zero() {
                t.unprotected = true;
            }
        });
        if report {
            self.report_standing(
                event_kind,
                tag,
                leg,
                Some(link),
                ret_code,
                format!("after the entry filled: {error}"),
            );
        }
    }

    /// Publishes and logs a standing problem of a trade once while it stands (see
    /// `standing`); `leg` `None` is a trade-level one.
    pub(crate) fn report_standing(
        &self,
        kind: ErrorKind,
        tag: &str,
        leg: Option<Leg>,
        link: Option<&str>,
        ret_code: Option<i64>,
        message: String,
    ) {
        let key = (
            tag.to_owned(),
            leg.map(Leg::code).unwrap_or_default(),
            message.clone(),
        );
        if lock(&self.standing).insert(key) {
            self.report(kind, Some(tag), leg, link, ret_code, message);
        }
    }

    /// Forgets a trade's trade-level standing problems that are no longer among `current`.
    pub(crate) fn settle_standing(&self, tag: &str, current: &[String]) {
        lock(&self.standing)
            .retain(|(t, leg, msg)| t != tag || !leg.is_empty() || current.contains(msg));
    }

    /// A leg is placed (or found): its problem, if any, is fixed.
    pub(crate) fn leg_fixed(&self, tag: &str, leg: Leg) {
        let code = leg.code();
        lock(&self.standing).retain(|(t, l, _)| t != tag || *l != code);
        // `unprotected` is cleared by setup_tps once every TP leg stands, not here.
        self.update_trade(tag, |t| t.problems.retain(|p| p.leg != code));
    }

    /// Refuses to work on a trade that was aborted, or when trading has stopped.
    pub(crate) fn ensure_trading(&self, tag: &str) -> Result<(), GatewayError> {
        if let Some(reason) = self.halted() {
            return Err(GatewayError::Halted { reason });
        }
        if let Some(t) = self.trade(tag).filter(|t| t.phase == Phase::Error) {
            return Err(GatewayError::TradeAborted {
                tag: tag.to_owned(),
                reason: t.error.unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// Refuses new orders for a trade that is closing or closed (R-SAFE-2, R-SAFE-4): a pass
    /// that read the position before the trade's close took its lock would otherwise place
    /// TPs, DCAs or a stop for a trade that is over, on a position that is no longer its own.
    pub(crate) fn ensure_not_finished(
        &self,
        tag: &str,
        symbol: &Symbol,
    ) -> Result<(), GatewayError> {
        match self.trade(tag).map(|t| t.phase) {
            Some(phase @ (Phase::Closing | Phase::Closed)) => Err(GatewayError::Conflict {
                tag: tag.to_owned(),
                symbol: symbol.as_str().to_owned(),
                reason: format!(
                    "trade {tag} is {}: a finished trade takes no new order",
                    phase.as_str()
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Moves a trade to `phase` and journals it; a journal that cannot be written is an error
    /// (and stops the operation before anything more is sent).
    pub(crate) async fn set_phase(
        &self,
        tag: &str,
        phase: Phase,
        detail: &str,
    ) -> Result<(), GatewayError> {
        let now = self.now();
        self.ports
            .journal
            .record_state(tag, phase, detail, now)
            .await
            .map_err(|e| self.journal_failed(tag, e))?;
        tracing::info!(tag, phase = phase.as_str(), detail, "trade phase");
        self.update_trade(tag, |t| {
            t.phase = phase;
            if phase == Phase::Error {
                t.error = Some(detail.to_owned());
            }
        });
        Ok(())
    }

    /// Puts the trade in ERROR. The journal write is best effort: the trade is aborted in
    /// memory even if the journal is what failed.
    pub(crate) async fn abort_trade(&self, tag: &str, detail: &str) {
        let _ = self
            .ports
            .journal
            .record_state(tag, Phase::Error, detail, self.now())
            .await;
        self.update_trade(tag, |t| {
            t.phase = Phase::Error;
            t.error = Some(detail.to_owned());
        });
    }

    /// Stops all trading after a fatal error.
    pub(crate) fn halt(&self, reason: &str) {
        lock(&self.halted).get_or_insert_with(|| reason.to_owned());
    }

    /// The quantity the trade adopted (`adopt_position`), from its latest journaled
    /// `WriteKind::Adopt` record; zero if none (R-SAFE-2).
    pub(crate) async fn adopted_qty(&self, tag: &str) -> Result<Decimal, GatewayError> {
        Ok(self
            .ports
            .journal
            .writes(tag)
            .await
            .map_err(|e| self.journal_failed(tag, e))?
            .iter()
            .rev()
            .find(|w| w.kind == WriteKind::Adopt)
            .and_then(|w| w.value)
            .unwrap_or_default())
    }

    /// Publishes `execution.error` and appends it to the error log (R-ERR-5).
    pub(crate) fn report(
        &self,
        kind: ErrorKind,
        tag: Option<&str>,
        leg: Option<Leg>,
        link: Option<&str>,
        ret_code: Option<i64>,
        message: String,
    ) {
        tracing::error!(
            kind = ?kind,
            tag,
            leg = leg.map(Leg::code),
            order_link_id = link,
            ret_code,
            "{message}"
        );
        let error = ExecutionError {
            kind,
            trade_tag: tag.map(str::to_owned),
            leg: leg.map(Leg::code),
            order_link_id: link.map(str::to_owned),
            ret_code,
            message,
            time_ms: self.now(),
        };
        if let Some(log) = &self.error_log {
            if let Err(e) = log.append(&error) {
                self.bus.publish(Event::Health(exec_events::HealthUpdate {
                    component: "error_log".into(),
                    ok: false,
                    detail: Some(e.to_string()),
                }));
            }
        }
        self.bus.publish(Event::ExecutionError(error));
    }

    /// A journal failure: reported once, and turned into the error that stops the operation.
    pub(crate) fn journal_failed(&self, tag: &str, e: JournalError) -> GatewayError {
        self.report(
            ErrorKind::Journal,
            Some(tag),
            None,
            None,
            None,
            format!("{e}; no new orders"),
        );
        GatewayError::Journal(e)
    }

    /// A port failure outside an order leg. Auth is fatal here too.
    pub(crate) fn port_failed(&self, context: &str, e: PortError) -> GatewayError {
        if let PortError::Auth { code, message } = &e {
            return self.auth_failed(None, None, None, *code, message);
        }
        GatewayError::Port {
            context: context.to_owned(),
            source: e,
        }
    }

    pub(crate) fn auth_failed(
        &self,
        tag: Option<&str>,
        leg: Option<Leg>,
        link: Option<&str>,
        code: i64,
        message: &str,
    ) -> GatewayError {
        self.halt(&format!("authentication failed (retCode {code})"));
        self.report(
            ErrorKind::Auth,
            tag,
            leg,
            link,
            Some(code),
            format!("authentication failed: {message}; trading stopped"),
        );
        GatewayError::Auth {
            code,
            message: message.to_owned(),
        }
    }

    /// The last price, read with retries.
    pub(crate) async fn last_price(&self, symbol: &Symbol) -> Result<Decimal, GatewayError> {
        self.retry(|| self.ports.prices.last_price(symbol))
            .await
            .map_err(|e| self.port_failed("last_price", e))
    }

    pub(crate) async fn rules(
        &self,
        tag: &str,
        symbol: &Symbol,
    ) -> Result<Arc<InstrumentRules>, GatewayError> {
        self.retry(|| self.ports.meta.get_symbol_meta(symbol))
            .await
            .map_err(|e| self.port_failed(&format!("trade {tag}: symbol meta"), e))
    }

    pub(crate) async fn position(&self, symbol: &Symbol) -> Result<PositionState, GatewayError> {
        self.retry(|| self.ports.positions.get_position(symbol))
            .await
            .map_err(|e| self.port_failed("get_position", e))
    }

    /// Changes an open order's quantity, journaled before and after: always as a
    /// [`WriteRecord`] of kind [`WriteKind::Amend`] (requested, then done or failed), and
    /// also as outcomes of the order's intent when the journal holds one. An order without an
    /// intent (placed by a process with another journal) is therefore still amended only once
    /// the journal holds the amend: nothing is sent that is not journaled. Refusing such an
    /// amend instead would leave the take-profits sized for a position that has changed.
    pub(crate) async fn amend(
        &self,
        tag: &str,
        symbol: &Symbol,
        link: &bybit_types::OrderLinkId,
        qty: Decimal,
    ) -> Result<(), GatewayError> {
        let write = |stage| {
            self.record_write(
                tag,
                WriteKind::Amend,
                symbol,
                Some(link.as_str()),
                Some(qty),
                stage,
            )
        };
        write(WriteStage::Requested).await?;
        self.record_outcome(tag, link.as_str(), &Outcome::AmendRequested { qty })
            .await?;
        if let Err(e) = self.ports.router.amend_order_qty(symbol, link, qty).await {
            // The router's error wins (it may halt trading); a journal failure here is
            // still reported by record_write.
            let _ = write(WriteStage::Failed {
                reason: e.to_string(),
            })
            .await;
            return Err(self.port_failed(&format!("amend {}", link.as_str()), e));
        }
        write(WriteStage::Done).await?;
        self.record_outcome(tag, link.as_str(), &Outcome::Amended { qty })
            .await
    }

    /// Cancels the trade's open orders of some legs (only ours: [`cancel_matching_with`]),
    /// journaling each cancel before it is sent and what became of it after. A journal that
    /// cannot be written stops the cancels: nothing is sent that was not journaled.
    ///
    /// [`cancel_matching_with`]: crate::ports::cancel_matching_with
    pub(crate) async fn cancel_legs(
        &self,
        tag: &str,
        symbol: &Symbol,
        legs: crate::link_id::LegFilter,
    ) -> Result<Vec<String>, GatewayError> {
        use crate::ports::CancelStep;
        let scope = self.links.scope(tag, legs);
        let write = |link: String, stage| async move {
            self.record_write(tag, WriteKind::Cancel, symbol, Some(&link), None, stage)
                .await
                .map_err(CancelStop::Journal)
        };
        crate::ports::cancel_matching_with(
            self.ports.router.as_ref(),
            symbol,
            &scope,
            |step| -> crate::ports::StepFuture<'_, CancelStop> {
                Box::pin(async move {
                    match step {
                        CancelStep::Sending(link) => write(link, WriteStage::Requested).await,
                        CancelStep::Cancelled(link) => {
                            write(link.clone(), WriteStage::Done).await?;
                            self.record_outcome(tag, &link, &Outcome::Cancelled)
                                .await
                                .map_err(CancelStop::Journal)
                        }
                        CancelStep::NotCancelled(link, reason) => {
                            write(link, WriteStage::Failed { reason }).await
                        }
                    }
                })
            },
        )
        .await
        .map_err(|e| match e {
            CancelStop::Journal(e) => e,
            CancelStop::Port(e) => self.port_failed("cancel", e),
        })
    }

    /// Journals a cancel, stop-loss or leverage write; a journal failure is the error that
    /// stops the operation (reported once).
    pub(crate) async fn record_write(
        &self,
        tag: &str,
        kind: WriteKind,
        symbol: &Symbol,
        link: Option<&str>,
        value: Option<Decimal>,
        stage: WriteStage,
    ) -> Result<(), GatewayError> {
        let record = WriteRecord {
            trade_tag: tag.to_owned(),
            kind,
            symbol: symbol.as_str().to_owned(),
            order_link_id: link.map(str::to_owned),
            value,
            stage,
            at_ms: self.now(),
        };
        self.ports
            .journal
            .record_write(&record)
            .await
            .map_err(|e| self.journal_failed(tag, e))?;
        // The one line per write that places no order (cancel, amend, stop-loss, leverage).
        let leg = link
            .and_then(|l| self.links.parse(l))
            .map(|(leg, _)| leg.code());
        let what = record.kind.as_str();
        match &record.stage {
            WriteStage::Requested => tracing::info!(
                tag,
                leg,
                order_link_id = link,
                symbol = %record.symbol,
                value = value.map(tracing::field::display),
                "{what} sent"
            ),
            WriteStage::Done => tracing::info!(
                tag,
                leg,
                order_link_id = link,
                symbol = %record.symbol,
                value = value.map(tracing::field::display),
                "{what} done"
            ),
            WriteStage::Failed { reason } => tracing::warn!(
                tag,
                leg,
                order_link_id = link,
                symbol = %record.symbol,
                value = value.map(tracing::field::display),
                reason = %reason,
                "{what} failed"
            ),
        }
        Ok(())
    }

    /// Records an outcome for one of our orders; an order the journal has no intent for
    /// (placed before the journal existed) is skipped rather than failing the operation.
    pub(crate) async fn record_outcome(
        &self,
        tag: &str,
        link: &str,
        outcome: &Outcome,
    ) -> Result<(), GatewayError> {
        let journal = &self.ports.journal;
        let known = journal
            .intent(link)
            .await
            .map_err(|e| self.journal_failed(tag, e))?
            .is_some();
        if known {
            journal
                .record_outcome(link, outcome, self.now())
                .await
                .map_err(|e| self.journal_failed(tag, e))?;
            self.note_outcome(link, outcome);
        }
        Ok(())
    }

    /// The plan's static checks ([`Gateway::check_plan`]'s first part, one owner), for
    /// operations that are given a plan after the entry.
    pub(crate) fn validate_plan(&self, plan: &TradePlan) -> Result<(), GatewayError> {
        self.check_static(plan)
    }
}
