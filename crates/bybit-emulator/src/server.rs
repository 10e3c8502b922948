//! The accept loop: one hyper HTTP/1 connection per socket with a header-read timeout (which
//! also bounds how long an idle keep-alive connection is kept), and a shutdown that does not
//! wait on clients for longer than its grace.
//!
//! `axum::serve` has neither: it sets no timer, so a half-sent request or an idle socket is kept
//! for ever, and its graceful shutdown waits for every connection to finish.

use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::TransportConfig;

/// Pause after a failed accept (out of file descriptors, say) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Serves `router` on `listener` until `stop` turns true, then closes idle connections, lets
/// requests in flight finish for `transport.shutdown_grace` and cuts what is left. Upgraded
/// WebSocket connections leave this loop's care at the upgrade; each session watches `stop`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    transport: &TransportConfig,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(transport.http_header)
        .keep_alive(true);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                };
                // Small replies go out at once; the client waits on each one.
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let connection = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                let mut stop = stop.clone();
                connections.spawn(async move {
                    let mut connection = std::pin::pin!(connection);
                    tokio::select! {
                        _ = connection.as_mut() => {}
                        () = stopped(&mut stop) => {
                            // Ends an idle connection now and a busy one after its reply.
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = stopped(&mut stop) => break,
        }
    }
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(transport.shutdown_grace, drained)
        .await
        .is_err()
    {
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// Resolves once `stop` is true (or its sender is gone, which also means stopping).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
