//! What every handler and background task of `serve` shares ([`App`]), and the reconciler's
//! last pass ([`Reconciled`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

use super::cache::Cache;
use super::hub::Hub;
use super::watch::Seen;
use crate::runtime::Runtime;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) runtime: Runtime,
    /// The events kept for `GET /api/events`.
    pub(crate) hub: Arc<Hub>,
    /// The background reconciler's last pass.
    pub(crate) reconciled: Reconciled,
    /// The reference trade manager (plans with `"manage": true`).
    pub(crate) manager: crate::manager::Manager,
    pub(crate) seen: Arc<Seen>,
    pub(crate) metrics: PrometheusHandle,
    /// Tags `recover()` found at start.
    pub(crate) recovered: Vec<String>,
    /// The address the server is bound to (the `Host` a control call must name).
    pub(crate) addr: SocketAddr,
    /// The exchange as last read by the refresher (`snapshot.rs`).
    pub(crate) snapshot: Cache,
    /// What a mode adds to `/health` and `/api/status` under `bus` (`serve --nats`).
    pub(crate) extra: Option<ExtraStatus>,
}

/// A mode's own status, read at each `/health` and `/api/status`: a JSON object, and whether
/// it is healthy (an unhealthy one makes `/health` answer 503).
#[derive(Clone)]
pub struct ExtraStatus(pub Arc<dyn Fn() -> (serde_json::Value, bool) + Send + Sync>);

impl std::fmt::Debug for ExtraStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExtraStatus")
    }
}

/// The largest request body read (a `TradePlan` is well under 1 KiB).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// What the last pass found, for `/api/status` and `/health`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LastPass {
    /// Passes run since the start.
    pub passes: u64,
    /// How long ago the last pass ended, ms (`null` before the first).
    pub ago_ms: Option<u64>,
    /// The last pass succeeded and left nothing unresolved, no trade unprotected.
    pub settled: bool,
    /// Intents still unresolved after the last successful pass.
    pub unresolved: usize,
    /// Why the last pass failed, if it did.
    pub error: Option<String>,
    #[serde(skip)]
    ended: Option<Instant>,
}

/// The last pass, shared with the handlers.
#[derive(Debug, Default)]
pub(crate) struct Reconciled(Mutex<LastPass>);

impl Reconciled {
    /// A copy of the last pass, its age filled in.
    pub(crate) fn last(&self) -> LastPass {
        let mut last = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        last.ago_ms = last
            .ended
            .map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX));
        last
    }

    pub(super) fn set(&self, f: impl FnOnce(&mut LastPass)) {
        let mut last = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut last);
        last.passes += 1;
        last.ended = Some(Instant::now());
    }
}
