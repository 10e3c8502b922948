//! The accept loop: one hyper HTTP/1 connection per socket with a header-read timeout (which
//! also bounds how long an idle keep-alive connection is kept), and a shutdown that does not
//! wait on clients for longer than its grace.
//!
//! `axum::serve` has neither: it sets no timer, so a half-sent request or an idle socket is kept
//! for ever, and its graceful shutdown waits for every connection to finish. Connections come
//! from [`edge::listener`], so hyper's own refusals still get Bybit's envelope.

use axum::serve::Listener;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::{edge, TransportConfig};

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
    // axum's accept backs off on errors such as running out of file descriptors.
    let mut listener = edge::listener(listener);
    loop {
        tokio::select! {
            (stream, _) = listener.accept() => {
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
