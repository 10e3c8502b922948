//! A reference trade manager: runs a trade the way the demo's sequence does,
//! using only the gateway's public operations — take-profits resized after each DCA fill
//! (`setup_tps` with the position now), breakeven after TP1 (`move_to_breakeven`), and
//! `close_all` once the position is flat (CLOSED). It is an example of the state machine
//! above the layer, kept out of the gateway on purpose: the gateway executes, this decides.
//!
//! One task reads the bus; each fill of a managed trade's order is handled in order. Which
//! trades are managed is kept in the journal file (the application's own table
//! `bybit_exec_managed`, beside the gateway's), so after a restart — also after `kill -9` —
//! [`Manager::resume`] takes them up again and catches up with what filled while the
//! process was down (TPs resized, breakeven if TP1 filled, closed if flat).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use exec_events::{Event, EventBus, Received};
use exec_gateway::{Gateway, Journal, Leg, Phase, PositionService, TradePlan};
use tokio_util::sync::CancellationToken;

use crate::runtime::Tasks;

/// The application's table of managed trades in the journal file.
const MANAGED_TABLE: &str = "CREATE TABLE IF NOT EXISTS bybit_exec_managed (tag TEXT PRIMARY KEY)";

/// Where the managed tags are kept: the journal file, or nowhere (an in-memory journal).
#[derive(Debug, Clone)]
pub struct Store(Option<PathBuf>);

impl Store {
    /// Keeps the tags in the SQLite journal file at `path` (`None`: in memory only).
    pub fn new(path: Option<PathBuf>) -> Store {
        Store(path)
    }

    fn run(&self, sql: &str, tag: &str) -> anyhow::Result<()> {
        if let Some(path) = &self.0 {
            let conn = rusqlite::Connection::open(path)?;
            conn.execute_batch(MANAGED_TABLE)?;
            conn.execute(sql, [tag])?;
        }
        Ok(())
    }

    fn add(&self, tag: &str) -> anyhow::Result<()> {
        self.run(
            "INSERT OR IGNORE INTO bybit_exec_managed (tag) VALUES (?1)",
            tag,
        )
    }

    fn remove(&self, tag: &str) -> anyhow::Result<()> {
        self.run("DELETE FROM bybit_exec_managed WHERE tag = ?1", tag)
    }

    fn tags(&self) -> anyhow::Result<Vec<String>> {
        let Some(path) = &self.0 else {
            return Ok(Vec::new());
        };
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch(MANAGED_TABLE)?;
        let mut stmt = conn.prepare("SELECT tag FROM bybit_exec_managed ORDER BY tag")?;
        let tags = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(tags)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await?
}

/// The managed trades and the task that runs them.
pub struct Manager {
    plans: Arc<Mutex<HashMap<String, TradePlan>>>,
    /// Stops the task (a child of the process's root).
    stop: CancellationToken,
    store: Store,
    gateway: Arc<Gateway>,
    positions: Arc<dyn PositionService>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("managed", &self.managed())
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Manager {
    /// Subscribes to `bus` now and manages the trades later handed to [`Manager::manage`],
    /// on `tasks` (stopped with them, or alone by [`Manager::stop`]).
    pub fn spawn(
        bus: &EventBus,
        gateway: Arc<Gateway>,
        positions: Arc<dyn PositionService>,
        store: Store,
        tasks: &Tasks,
    ) -> Manager {
        let plans: Arc<Mutex<HashMap<String, TradePlan>>> = Arc::default();
        let mut sub = bus.subscribe();
        let held = plans.clone();
        let (task_gateway, task_positions, task_store) =
            (gateway.clone(), positions.clone(), store.clone());
        let stop = tasks.child_token();
        tasks.spawn_until(stop.clone(), async move {
            let (gateway, positions, store) = (task_gateway, task_positions, task_store);
            loop {
                match sub.recv().await {
                    Received::Event(env) => {
                        if let Event::Fill(fill) = env.event.as_ref() {
                            let Some((leg, tag)) = gateway.links().parse(&fill.order_link_id)
                            else {
                                continue;
                            };
                            // The id's tag lacks the prefix a client tag may carry.
                            let tag = gateway.client_tag_of(tag);
                            let plan = lock(&held).get(&tag).cloned();
                            if let Some(plan) = plan {
                                if step(&gateway, positions.as_ref(), &plan, Some(leg)).await {
                                    finished(&held, &store, &tag).await;
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
        Manager {
            plans,
            stop,
            store,
            gateway,
            positions,
        }
    }

    /// Manages the trade of `plan` from now on (and after a restart: the tag is kept in the
    /// journal file before this returns).
    pub async fn manage(&self, plan: &TradePlan) -> anyhow::Result<()> {
        lock(&self.plans).insert(plan.client_tag.clone(), plan.clone());
        let (store, tag) = (self.store.clone(), plan.client_tag.clone());
        blocking(move || store.add(&tag)).await
    }

    /// Takes up again the trades managed before a restart that are still open, and catches
    /// up with what filled while the process was down. Answers the tags taken up.
    pub async fn resume(&self, journal: Arc<dyn Journal>) -> anyhow::Result<Vec<String>> {
        let store = self.store.clone();
        let tags = blocking(move || store.tags()).await?;
        let mut resumed = Vec::new();
        for tag in tags {
            let plan = journal.plan(&tag).await?;
            let open = self
                .gateway
                .trade(&tag)
                .is_some_and(|s| !matches!(s.phase, Phase::Closed | Phase::Error));
            match plan {
                Some(plan) if open => {
                    lock(&self.plans).insert(tag.clone(), plan.clone());
                    let link = self.gateway.links().id(&tag, Leg::Tp(1))?;
                    let tp1_filled = journal
                        .fills(exec_gateway::DEFAULT_LINK_PREFIX)
                        .await?
                        .iter()
                        .any(|f| f.order_link_id == link.as_str());
                    let leg = tp1_filled.then_some(Leg::Tp(1));
                    if step(&self.gateway, self.positions.as_ref(), &plan, leg).await {
                        finished(&self.plans, &self.store, &tag).await;
                    }
                    resumed.push(tag);
                }
                _ => finished(&self.plans, &self.store, &tag).await,
            }
        }
        Ok(resumed)
    }

    /// The tags of the trades managed now.
    pub fn managed(&self) -> Vec<String> {
        lock(&self.plans).keys().cloned().collect()
    }

    /// Stops the task (at its next `.await`).
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// Forgets a finished trade (here and in the journal file).
async fn finished(plans: &Mutex<HashMap<String, TradePlan>>, store: &Store, tag: &str) {
    lock(plans).remove(tag);
    let (store, owned) = (store.clone(), tag.to_owned());
    if let Err(e) = blocking(move || store.remove(&owned)).await {
        tracing::warn!(tag, error = %e, "manager: the finished trade is still listed as managed");
    }
}

/// One fill of a managed trade's `leg` (`None`: a catch-up after a restart, TPs resized to
/// the position); true once the trade is finished.
async fn step(
    gateway: &Gateway,
    positions: &dyn PositionService,
    plan: &TradePlan,
    leg: Option<Leg>,
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
        None | Some(Leg::Dca(_)) if state.phase == Phase::InPosition => {
            gateway.setup_tps(plan, &position).await.map(|_| ())
        }
        Some(Leg::Tp(1)) if state.phase == Phase::InPosition => {
            gateway.move_to_breakeven(&state).await.map(|_| ())
        }
        _ => Ok(()),
    };
    if let Err(e) = done {
        tracing::warn!(tag, ?leg, error = %e, "manager: step failed");
    }
    false
}
