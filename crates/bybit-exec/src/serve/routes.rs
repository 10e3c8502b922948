//! Which path goes where: the status page, `/health`, `/metrics`, the JSON and the loopback
//! control API, behind the guard.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

use super::api;
use super::app::{App, MAX_BODY};
use super::http::{health, metrics, page, status};

/// The routes.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/status", get(status))
        .route("/api/events", get(super::stream::events))
        .route("/api/trades", post(api::start_trade).get(api::trades))
        .route("/api/trades/{tag}", get(api::trade))
        .route("/api/trades/{tag}/tps", post(api::tps))
        .route("/api/trades/{tag}/dcas", post(api::dcas))
        .route("/api/trades/{tag}/breakeven", post(api::breakeven))
        .route("/api/trades/{tag}/close", post(api::close))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Runs before any extractor, so a refused caller's body is never parsed.
        .layer(middleware::from_fn_with_state(
            app.clone(),
            super::guard::guard,
        ))
        .with_state(app)
}
