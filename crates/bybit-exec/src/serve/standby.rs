//! A standby's HTTP front (`serve --nats` before it holds the lease): `/health` says it is a
//! standby and who holds the account, `/metrics` what this process recorded, `/` a line for a
//! person. Behind the same request rules as the holder's server; no control API (commands go
//! to the holder over the bus). Stopped before the holder's server binds the same address.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::config::Settings;

/// What the standby last saw of the lease, for `/health`.
#[derive(Debug, Default)]
pub(crate) struct Seen(Mutex<Value>);

impl Seen {
    pub(crate) fn set(&self, value: Value) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = value;
    }

    fn get(&self) -> Value {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The running front.
#[derive(Debug)]
pub(crate) struct Standby {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    http: JoinHandle<http_serve::Served>,
}

impl Standby {
    /// Binds `listen` and serves until [`stop`](Self::stop).
    pub(crate) async fn start(
        listen: SocketAddr,
        settings: &Settings,
        seen: Arc<Seen>,
    ) -> Result<Standby> {
        let metrics = super::metrics::handle()?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let health = {
            let seen = seen.clone();
            move || async move { Json(seen.get()) }
        };
        let page = move || {
            let seen = seen.clone();
            async move {
                let s = seen.get();
                format!(
                    "bybit-exec serve: standby for account {} (the lease is held by {}, epoch \
                     {}); the status page is the holder's\n",
                    s["account"].as_str().unwrap_or("?"),
                    s["holder"].as_str().unwrap_or("nobody yet"),
                    s["epoch"]
                )
            }
        };
        let router = Router::new()
            .route("/", get(page))
            .route("/health", get(health))
            .route(
                "/metrics",
                get(move || async move {
                    metrics.run_upkeep();
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                }),
            )
            .fallback(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": "a standby: the account's lease is held elsewhere"})),
                )
                    .into_response()
            })
            .layer(middleware::from_fn_with_state(
                addr,
                super::guard::guard_reads,
            ));
        let limits = http_serve::Limits {
            header_read: settings.serve_http.header_timeout,
            body_read: settings.serve_http.body_timeout,
            max_connections: settings.serve_http.max_connections,
            shutdown_grace: Duration::from_millis(300),
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let http = tokio::spawn(async move {
            http_serve::serve(listener, router, &limits, stopped, std::convert::identity).await
        });
        Ok(Standby { addr, stop, http })
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and releases the address.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(1), &mut self.http)
            .await
            .is_err()
        {
            self.http.abort();
        }
    }
}
