//! Which path goes where (REST, the three streams, the control API behind the fault
//! injector), and the ticker that advances the engine: the parts that take the whole state.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{any, get};
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::{control, rest, ws};

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(rest::routes())
        .route("/v5/public/linear", get(ws::public))
        .route("/v5/private", get(ws::private))
        .route("/v5/trade", get(ws::trade))
        // The stream paths asked with another method answer like the REST paths, not with
        // axum's bare 405.
        .method_not_allowed_fallback(rest::method_not_allowed)
        .nest("/emulator", control::routes())
        .fallback(any(rest::not_found))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            control::inject,
        ))
        .with_state(state)
}

/// Advances the engine every `tick_ms` so random walks, replays and paths print on time.
pub(crate) fn spawn_ticker(
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let period = Duration::from_millis(state.tick_ms.max(1));
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = interval.tick() => state.execute(|engine, now| engine.advance(now)),
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
        }
    })
}
