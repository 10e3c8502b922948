//! Which path goes where: the status page, `/health`, `/metrics`, the JSON and the loopback
//! control API, behind the guard.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::api;
use super::app::{App, MAX_BODY};
use super::guard::refused;
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
        // A refusal says why, also for a path or method no route takes (axum's own are bare).
        .method_not_allowed_fallback(wrong_method)
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Runs before any extractor, so a refused caller's body is never parsed.
        .layer(middleware::from_fn_with_state(
            app.clone(),
            super::guard::guard,
        ))
        .with_state(app)
}

async fn no_route(uri: Uri) -> Response {
    refused(StatusCode::NOT_FOUND, &format!("no route {}", uri.path()))
}

async fn wrong_method(method: Method, uri: Uri) -> Response {
    refused(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("{} does not take {method}", uri.path()),
    )
}
