//! The accept loop: the workspace's shared one ([`http_serve::serve`]: header-read, body and
//! idle timeouts, a connection cap, a bounded stop), each connection wrapped in
//! [`edge::EnvelopeIo`] so hyper's own refusals still get Bybit's envelope.

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{edge, TransportConfig};

/// Serves `router` on `listener` until `stop` turns true, then closes idle connections, lets
/// requests in flight finish for `transport.shutdown_grace` and cuts what is left. Upgraded
/// WebSocket connections leave this loop's care at the upgrade; each session watches `stop`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    transport: &TransportConfig,
    stop: watch::Receiver<bool>,
) {
    let limits = http_serve::Limits {
        header_read: transport.http_header,
        body_read: transport.http_body,
        max_connections: transport.http_max_connections,
        shutdown_grace: transport.shutdown_grace,
    };
    http_serve::serve(listener, router, &limits, stop, edge::EnvelopeIo::new).await;
}

/// Resolves once `stop` is true (or its sender is gone, which also means stopping).
pub(crate) use http_serve::stopped;
