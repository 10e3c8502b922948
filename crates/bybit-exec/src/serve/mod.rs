//! `bybit-exec serve`: the long-running mode. One [`Runtime`] (live, paper or dry-run
//! routing), `recover()` at start, and an HTTP server on loopback:
//!
//! - `GET /health`: SPEC R-HEALTH-1's `{rest, wsPublic, wsPrivate}`, HTTP 503 when unhealthy;
//! - `GET /metrics`: Prometheus text (`metrics-exporter-prometheus`, rendered on request);
//! - `GET /`: the status page (`page.html`), which reads `GET /api/status` every 2 s;
//! - the control API (`api.rs`): `POST /api/trades`, `/api/trades/{tag}/tps`, `/dcas`,
//!   `/breakeven`, `/close`, `GET /api/trades[/{tag}]`, answered to loopback callers only;
//! - `GET /api/events` (`stream.rs`): the bus as Server-Sent Events, resumable with
//!   `Last-Event-ID`, fills re-read from the journal so a reconnecting client misses none.
//!
//! SIGINT or SIGTERM stops the HTTP server, then the runtime (streams closed, journal
//! flushed), within [`STOP_WITHIN`].
//!
//! A background task (`reconciler.rs`) calls the gateway's `reconcile()` every few seconds,
//! with backoff while passes fail, so interrupted work is finished without a repeated call.
//!
//! The HTTP server is the workspace's shared accept loop (`http_serve`: header, body and idle
//! timeouts, a connection cap that evicts idle connections, a bounded stop), configured by
//! `SERVE_HEADER_TIMEOUT_MS`, `SERVE_BODY_TIMEOUT_MS` and `SERVE_MAX_CONNECTIONS`. Every request
//! first passes `guard.rs` (Host, Origin, request-target form; the control API's rules).
//!
//! With `--nats URL --account NAME` it trades one account over NATS JetStream as its lease
//! holder, or waits as a standby (`bus.rs`).
//!
//! Files: `server.rs` (the running server and the stop signals), `bus.rs` (`--nats`),
//! `standby.rs` (a standby's `/health` and `/metrics`),
//! `app.rs` (what every handler and task shares, and the reconciler's last pass),
//! `routes.rs` (which path goes where), `http.rs` (`/health`, `/metrics`, the page and its
//! JSON), `guard.rs` (the guard), `api.rs` (the control API), `stream.rs` and `hub.rs` (the
//! event stream and the events it keeps), `reconciler.rs`, `watch.rs` (the bus watcher:
//! counters, last events, trade tags), `snapshot.rs` and `cache.rs` (the one reader of the
//! exchange for the page, and what it last read), `unresolved.rs` (intents without an
//! outcome), `metrics.rs` (the recorder and sampled gauges), `page.html`; the trade manager is
//! `crate::manager`. State files name no handler or task, so the files form no import cycle
//! (`cargo xtask cycles`). The watcher, refresher, reconciler and manager run as a child of
//! the runtime's tasks and are stopped before the runtime.

pub mod api;
pub mod app;
pub mod bus;
mod cache;
mod guard;
mod http;
mod hub;
pub mod metrics;
pub mod reconciler;
mod routes;
mod server;
pub mod snapshot;
mod standby;
pub mod stream;
mod unresolved;
pub mod watch;

use std::net::SocketAddr;

use anyhow::{bail, Result};

use crate::config::{ConfigArgs, Routing, Settings};

pub use server::{Attach, OnBus, Server, StopSignals, STOP_WITHIN};

/// The address `serve` listens on unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8088";

/// `--routing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoutingArg {
    /// Real orders (needs API keys).
    Live,
    /// An in-process exchange on the environment's public prices (no keys).
    Paper,
    /// Nothing is sent; orders are checked and answered as if taken.
    DryRun,
}

impl From<RoutingArg> for Routing {
    fn from(r: RoutingArg) -> Self {
        match r {
            RoutingArg::Live => Routing::Live,
            RoutingArg::Paper => Routing::Paper,
            RoutingArg::DryRun => Routing::DryRun,
        }
    }
}

/// `bybit-exec serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// How orders are routed (default: EXECUTION_ROUTING / EXECUTION_DRY_RUN from the
    /// configuration).
    #[arg(long, value_enum)]
    pub routing: Option<RoutingArg>,
    /// Where the HTTP server listens.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Allow a --listen address other than loopback (the control API still answers loopback
    /// callers only).
    #[arg(long)]
    pub allow_remote: bool,
    /// Trading over NATS JetStream (`--nats URL --account NAME`).
    #[command(flatten)]
    pub bus: bus::NatsArgs,
}

/// Refuses a non-loopback address unless `allow_remote`.
pub fn check_listen(listen: SocketAddr, allow_remote: bool) -> Result<()> {
    if !listen.ip().is_loopback() && !allow_remote {
        bail!(
            "--listen {listen} is not a loopback address; the status page and metrics would be \
             reachable from the network. Use 127.0.0.1 / [::1], or add --allow-remote"
        );
    }
    Ok(())
}

/// Runs the gateway and its HTTP server until SIGINT / SIGTERM.
pub async fn run(args: ServeArgs, config: &ConfigArgs) -> Result<()> {
    check_listen(args.listen, args.allow_remote)?;
    let mut settings = Settings::load(config)?;
    if let Some(routing) = args.routing {
        settings.set_routing(routing.into());
    }
    // EXECUTION_DRY_RUN=true refuses --routing live / paper here, before anything starts.
    settings.validate()?;
    let routing = settings.routing;
    // Where it really talks to: the environment's name ("local emulator" for loopback URLs),
    // and the REST URL when it is not the environment's own.
    let venue = if settings.rest_url == settings.env.rest_url() {
        settings.env.to_string()
    } else {
        format!("{} (REST {})", settings.env, settings.rest_url)
    };
    // Installed before the start, so a SIGTERM during a slow start (REST retries, recover())
    // stops the process cleanly instead of killing it mid-write.
    let mut signals = StopSignals::install()?;
    if let Some(config) = args.bus.config()? {
        crate::print_line(&format!("bybit-exec serve: {routing} routing on {venue}"));
        let commands = args.bus.commands();
        return bus::run(settings, args.listen, config, commands, &mut signals).await;
    }
    let server = tokio::select! {
        server = Server::start(settings, args.listen) => server?,
        signal = signals.recv() => {
            crate::print_line(&format!("{signal} while starting: stopped before serving"));
            return Ok(());
        }
    };
    for tag in server.recovered() {
        crate::print_line(&format!("recovered trade {tag}"));
    }
    // print_line: a closed stdout (the supervisor's pipe gone) must not panic the stop.
    crate::print_line(&format!(
        "bybit-exec serve: {routing} routing on {venue}; status page http://{addr}/ , health \
         http://{addr}/health , metrics http://{addr}/metrics",
        addr = server.addr()
    ));
    let signal = signals.recv().await;
    crate::print_line(&format!("{signal}: stopping"));
    match tokio::time::timeout(STOP_WITHIN, server.stop()).await {
        Ok(true) => {
            crate::print_line("stopped");
            Ok(())
        }
        Ok(false) => bail!("the stop was cut short (see the warnings above); exiting"),
        Err(_) => bail!("the stop took longer than {STOP_WITHIN:?}; exiting"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_listened_on_without_allow_remote() {
        let check = |addr: &str, allow| check_listen(addr.parse().unwrap(), allow).is_ok();
        assert!(check("127.0.0.1:8088", false));
        assert!(check("[::1]:8088", false));
        assert!(!check("0.0.0.0:8088", false));
        assert!(!check("192.168.1.5:8088", false));
        assert!(check("0.0.0.0:8088", true));
    }
}
