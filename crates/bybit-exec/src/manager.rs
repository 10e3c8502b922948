//! A reference trade manager (issue 15 item 5): runs a trade the way the demo's sequence does,
//! using only the gateway's public operations — take-profits resized after each DCA fill
//! (`setup_tps` with the position now), breakeven after TP1 (`move_to_breakeven`), and
//! `close_all` once the position is flat (CLOSED). It is an example of the state machine
//! above the layer, kept out of the gateway on purpose: the gateway executes, this decides.
//!
//! One task reads the bus; each fill of a managed trade's order is handled in order. Managed
//! trades are held in memory: after a restart a trade is managed again only if asked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use exec_events::{Event, EventBus, Received};
use exec_gateway::{Gateway, Leg, Phase, PositionService, TradePlan};
use tokio::task::JoinHandle;

/// The managed trades and the task that runs them.
#[derive(Debug)]
pub struct Manager {
    plans: Arc<Mutex<HashMap<String, TradePlan>>>,
    task: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Manager {
    /// Subscribes to `bus` now and manages the trades later handed to [`Manager::manage`].
    pub fn spawn(
        bus: &EventBus,
        gateway: Arc<Gateway>,
        positions: Arc<dyn PositionService>,
    ) -> Manager {
        let plans: Arc<Mutex<HashMap<String, TradePlan>>> = Arc::default();
        let mut sub = bus.subscribe();
        let held = plans.clone();
        let task = tokio::spawn(async move {
            loop {
                match sub.recv().await {
                    Received::Event(env) => {
                        if let Event::Fill(fill) = env.event.as_ref() {
                            let Some((leg, tag)) = gateway.links().parse(&fill.order_link_id)
                            else {
                                continue;
                            };
                            let plan = lock(&held).get(tag).cloned();
                            if let Some(plan) = plan {
                                if step(&gateway, positions.as_ref(), &plan, leg).await {
                                    lock(&held).remove(tag);
                                }
                            }
                        }
                    }
                    // A missed fill is caught by the next one (each step reads the position).
                    Received::Lagged { .. } => {}
                    Received::Closed => break,
                }
            }
        });
        Manager { plans, task }
    }

    /// Manages the trade of `plan` from now on.
    pub fn manage(&self, plan: &TradePlan) {
        lock(&self.plans).insert(plan.client_tag.clone(), plan.clone());
    }

    /// The tags of the trades managed now.
    pub fn managed(&self) -> Vec<String> {
        lock(&self.plans).keys().cloned().collect()
    }

    /// Stops the task.
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// One fill of a managed trade's `leg`; true once the trade is finished.
async fn step(
    gateway: &Gateway,
    positions: &dyn PositionService,
    plan: &TradePlan,
    leg: Leg,
) -> bool {
    let tag = plan.client_tag.as_str();
    let position = match positions.get_position(&plan.symbol).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(tag, error = %e, "manager: position not read; waiting for the next fill");
            return false;
        }
    };
    let Some(state) = gateway.trade(tag) else {
        return true;
    };
    if matches!(state.phase, Phase::Closed | Phase::Error) {
        return true;
    }
    if position.is_flat() {
        // Every target hit (or stopped out): cancel what rests and mark the trade closed.
        return match gateway
            .close_all(&state, "managed: the position is flat")
            .await
        {
            Ok(s) => s.phase == Phase::Closed,
            Err(e) => {
                tracing::warn!(tag, error = %e, "manager: close_all failed");
                false
            }
        };
    }
    let done = match leg {
        Leg::Dca(_) => gateway.setup_tps(plan, &position).await.map(|_| ()),
        Leg::Tp(1) if state.phase == Phase::InPosition => {
            gateway.move_to_breakeven(&state).await.map(|_| ())
        }
        _ => Ok(()),
    };
    if let Err(e) = done {
        tracing::warn!(tag, ?leg, error = %e, "manager: step failed");
    }
    false
}
