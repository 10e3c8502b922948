//! The one reader of the exchange behind `/health` and `/api/status`: a background task
//! that every [`REFRESH_EVERY`] measures REST (`/v5/market/time`) and reads the positions,
//! open orders and wallet, each bounded by [`READ_TIMEOUT`], and the journal's trade history
//! (`exec_gateway::trade_histories`, off the async threads). The wallet's equity of each pass
//! is kept as the session's equity series (at most [`SERIES_POINTS`], thinned evenly), the
//! status page's chart. Handlers serve the cached copy and never
//! wait on the network, so a refreshing tab or a probe loop costs the exchange's per-IP
//! budget nothing, and `/health` answers at once while Bybit is slow.
//!
//! The same pass keeps the tag list bounded: it learns the tags of open orders and forgets a
//! tag whose trade is finished (closed, errored or unknown to the gateway) with no open
//! order and no unresolved intent.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use exec_gateway::Phase;

use super::app::App;
use super::cache::Snapshot;
use super::unresolved::unresolved_off_thread;
use crate::runtime::{RestStatus, Tasks};

/// How often the exchange is read.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);
/// The longest one read may take (the clients' retries are cut there).
pub const READ_TIMEOUT: Duration = Duration::from_millis(1500);
pub use super::cache::{EquityPoint, SERIES_POINTS, STALE_AFTER};

async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    read: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {READ_TIMEOUT:?}")),
    }
}

async fn take(app: &App) -> Snapshot {
    let rt = &app.runtime;
    let rest = async {
        let started = Instant::now();
        match tokio::time::timeout(READ_TIMEOUT, rt.rest_status()).await {
            Ok(rest) => rest,
            Err(_) => RestStatus {
                ok: false,
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                error: Some(format!("no answer within {READ_TIMEOUT:?}")),
            },
        }
    };
    let positions = bounded("positions", rt.ports.positions.get_all_positions());
    let orders = async {
        let mut all = Vec::new();
        for symbol in &rt.settings.symbols {
            let read = bounded(
                &format!("open orders of {}", symbol.as_str()),
                rt.ports.positions.get_open_orders(symbol),
            )
            .await;
            all.push((symbol.clone(), read));
        }
        all
    };
    let wallet = bounded("wallet", rt.ports.account.get_wallet_summary());
    let links = rt.gateway.links().clone();
    let history = async {
        exec_gateway::trade_histories(rt.journal.as_ref(), &links)
            .await
            .map_err(|e| format!("trade history: {e:#}"))
    };
    let (rest, positions, orders, wallet, history) =
        tokio::join!(rest, positions, orders, wallet, history);
    Snapshot {
        taken: Instant::now(),
        rest,
        positions,
        orders,
        wallet,
        history,
        flags: BTreeMap::new(),
    }
}

/// The trades whose state disagrees with what `snapshot` read or the journal holds
/// (R-SAFE-5): a trade in a position phase while the exchange holds no position on its symbol,
/// and a trade still ENTERING whose entry fill is in the journal. Nothing is judged from a
/// read that failed.
async fn disagreements(app: &App, snapshot: &Snapshot) -> BTreeMap<String, String> {
    let gw = &app.runtime.gateway;
    let mut found = BTreeMap::new();
    let mut entering = Vec::new();
    for tag in app.seen.tags() {
        let Some(state) = gw.trade(&tag) else {
            continue;
        };
        match state.phase {
            Phase::InPosition | Phase::Breakeven => {
                if let Ok(positions) = &snapshot.positions {
                    let open = positions
                        .iter()
                        .any(|p| p.symbol == state.symbol && !p.is_flat());
                    if !open {
                        found.insert(
                            tag.clone(),
                            format!(
                                "{} with {} filled, but the exchange holds no {} position",
                                state.phase.as_str(),
                                state.filled_qty,
                                state.symbol.as_str()
                            ),
                        );
                    }
                }
            }
            Phase::Entering => {
                if let Ok(link) = gw.links().id(&tag, exec_gateway::Leg::Entry) {
                    entering.push((tag.clone(), link.as_str().to_owned()));
                }
            }
            _ => {}
        }
    }
    if !entering.is_empty() {
        let prefix = exec_gateway::DEFAULT_LINK_PREFIX;
        let fills = app.runtime.journal.fills(prefix).await.unwrap_or_default();
        for (tag, link) in entering {
            let filled: rust_decimal::Decimal = fills
                .iter()
                .filter(|f| f.order_link_id == link)
                .map(|f| f.qty)
                .sum();
            if filled > rust_decimal::Decimal::ZERO {
                found.insert(
                    tag,
                    format!("ENTERING, but the journal holds {filled} filled on the entry"),
                );
            }
        }
    }
    found
}

/// Learns the tags of `snapshot`'s open orders and forgets the finished ones.
async fn prune(app: &App, snapshot: &Snapshot) {
    let links = app.runtime.gateway.links();
    let mut open = HashSet::new();
    for (_, orders) in &snapshot.orders {
        for o in orders.iter().flatten() {
            if let Some((_, tag)) = links.parse(&o.order_link_id) {
                // The trade's own tag (a client tag may carry the prefix the id's lacks).
                let tag = app.runtime.gateway.client_tag_of(tag);
                app.seen.add_tag(&tag);
                open.insert(tag);
            }
        }
    }
    let unresolved: HashSet<String> = unresolved_off_thread(app)
        .await
        .into_iter()
        .map(|u| u.tag)
        .collect();
    for tag in app.seen.tags() {
        let finished = app
            .runtime
            .gateway
            .trade(&tag)
            .is_none_or(|s| matches!(s.phase, Phase::Closed | Phase::Error));
        if finished && !open.contains(&tag) && !unresolved.contains(&tag) {
            app.seen.forget_tag(&tag);
        }
    }
}

/// One pass: reads the exchange, keeps the tag list bounded, and caches the read.
pub(crate) async fn refresh(app: &App) {
    let mut snapshot = take(app).await;
    prune(app, &snapshot).await;
    let found = disagreements(app, &snapshot).await;
    let mut flags = app.snapshot.confirm(found);
    if snapshot.positions.is_err() {
        // Nothing can be judged from a failed read: a flag stays until a read clears it.
        if let Some(last) = app.snapshot.get() {
            for (tag, why) in &last.flags {
                flags.entry(tag.clone()).or_insert_with(|| why.clone());
            }
        }
    }
    snapshot.flags = flags;
    if let Ok(wallet) = &snapshot.wallet {
        app.snapshot.add_point(EquityPoint {
            time_ms: now_ms(),
            equity: wallet.equity.unwrap_or(wallet.wallet),
        });
    }
    app.snapshot.set(snapshot);
}

/// Refreshes `app.snapshot` every [`REFRESH_EVERY`] until `tasks` are stopped (the first
/// pass is the caller's, before it serves).
pub(crate) fn spawn(app: Arc<App>, tasks: &Tasks) {
    tasks.spawn(async move {
        loop {
            tokio::time::sleep(REFRESH_EVERY).await;
            refresh(&app).await;
        }
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}
