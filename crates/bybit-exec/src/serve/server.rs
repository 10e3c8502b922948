//! The running server ([`Server`]: the runtime, recovery, the background tasks and the HTTP
//! front, started with what a mode adds, [`Attach`]) and the signals that stop it
//! ([`StopSignals`]). Apart from `mod.rs`, so a mode (`bus.rs`) starts a server without naming
//! the command line that chose it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use exec_events::EventBus;
use tokio::task::JoinHandle;

use super::{app, cache, hub, metrics, reconciler, routes, snapshot, watch};
use crate::config::Settings;
use crate::runtime::{Runtime, Tasks};

/// How long the whole stop may take (HTTP drained, then the runtime's own grace): SPEC's
/// 5 s less room for the process to exit. The stop's own worst case, [`HTTP_DRAIN`] twice
/// (requests, then handles released) plus [`crate::runtime::SHUTDOWN_GRACE`], is below it.
pub const STOP_WITHIN: Duration = Duration::from_millis(4500);

/// How long the stop waits for the HTTP server, and then for the handles it released.
const HTTP_DRAIN: Duration = Duration::from_millis(500);

/// How long requests in flight (an event stream included) get to finish once a stop is asked
/// for, before the accept loop cuts them: inside [`HTTP_DRAIN`], so no client can make the
/// stop late.
const HTTP_GRACE: Duration = Duration::from_millis(300);

/// A running server: the runtime and its HTTP front.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    app: Arc<app::App>,
    stop: tokio::sync::watch::Sender<bool>,
    http: JoinHandle<http_serve::Served>,
    /// The bus watcher, the refresher and the reconciler: a child of the runtime's tasks,
    /// stopped before the runtime.
    tasks: Tasks,
}

/// What [`Attach::on_bus`] is.
pub type OnBus = Box<dyn FnOnce(&EventBus) + Send>;

/// What a mode of `serve` adds to the server it starts (`serve --nats`: the bus).
#[derive(Default)]
pub struct Attach {
    /// The journal the runtime opens, passed through this first.
    pub journal: Option<crate::runtime::JournalWrap>,
    /// Called with the event bus before the runtime starts, so a subscriber sees the start's
    /// own events.
    pub on_bus: Option<OnBus>,
    /// What `/health` and `/api/status` show under `bus`.
    pub status: Option<app::ExtraStatus>,
}

impl std::fmt::Debug for Attach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attach")
            .field("journal", &self.journal.is_some())
            .field("on_bus", &self.on_bus.is_some())
            .field("status", &self.status.is_some())
            .finish()
    }
}

impl Server {
    /// Starts the runtime from `settings`, recovers the trades the journal and the exchange
    /// know of, and serves HTTP on `listen` (which the caller has checked; port 0 picks one).
    pub async fn start(settings: Settings, listen: SocketAddr) -> Result<Server> {
        Self::start_attached(settings, listen, Attach::default()).await
    }

    /// [`start`](Self::start) with what a mode adds ([`Attach`]).
    pub async fn start_attached(
        settings: Settings,
        listen: SocketAddr,
        attach: Attach,
    ) -> Result<Server> {
        let metrics = metrics::handle()?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let bus = EventBus::new(exec_events::DEFAULT_CAPACITY);
        let seen = Arc::new(watch::Seen::default());
        let prefix = exec_gateway::LinkIds::new(exec_gateway::DEFAULT_LINK_PREFIX)
            .context("the orderLinkId prefix")?;
        // Subscribed before the runtime starts, so the start's own events are counted.
        let hub = Arc::new(hub::Hub::default());
        let root = Tasks::new();
        let tasks = root.child();
        watch::spawn(&bus, prefix, seen.clone(), hub.clone(), &tasks);
        if let Some(on_bus) = attach.on_bus {
            on_bus(&bus);
        }
        let runtime = Runtime::start_full(settings, bus, root, attach.journal).await?;
        let recovered = match crate::runtime::waiting_for(
            "recovery (the journal's open trades against the exchange)",
            runtime.gateway.recover(),
        )
        .await
        {
            Ok(found) => found,
            Err(e) => {
                seen.note(None, format!("recover failed: {e}"));
                Vec::new()
            }
        };
        let mut tags = Vec::new();
        for r in &recovered {
            let s = &r.state;
            seen.add_tag(&s.tag);
            seen.note(
                Some(&s.tag),
                format!(
                    "recovered trade {} ({} {} {}, {} orders{})",
                    s.tag,
                    s.side,
                    s.symbol.as_str(),
                    s.phase.as_str(),
                    s.orders.len(),
                    if r.disagreements.is_empty() {
                        String::new()
                    } else {
                        format!("; {} disagreements", r.disagreements.len())
                    }
                ),
            );
            tags.push(s.tag.clone());
        }
        let store = match &runtime.settings.journal {
            crate::config::JournalLocation::Sqlite(path) => Some(path.clone()),
            crate::config::JournalLocation::Memory => None,
        };
        let manager = crate::manager::Manager::spawn(
            &runtime.bus,
            runtime.gateway.clone(),
            runtime.ports.positions.clone(),
            crate::manager::Store::new(store),
            &tasks,
        );
        // Managed trades are managed again, caught up with what filled while down.
        match manager.resume(runtime.journal.clone()).await {
            Ok(tags) => {
                for tag in tags {
                    seen.note(Some(&tag), format!("managing trade {tag} again"));
                }
            }
            Err(e) => seen.note(None, format!("managed trades not resumed: {e:#}")),
        }
        let app = Arc::new(app::App {
            reconciled: app::Reconciled::default(),
            manager,
            hub,
            runtime,
            seen,
            metrics,
            recovered: tags,
            addr,
            snapshot: cache::Cache::default(),
            extra: attach.status,
        });
        // The first read before serving, so the first page shows the exchange.
        snapshot::refresh(&app).await;
        snapshot::spawn(app.clone(), &tasks);
        reconciler::spawn(app.clone(), app.runtime.settings.reconcile_every, &tasks);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let limits = http_serve::Limits {
            header_read: app.runtime.settings.serve_http.header_timeout,
            body_read: app.runtime.settings.serve_http.body_timeout,
            max_connections: app.runtime.settings.serve_http.max_connections,
            shutdown_grace: HTTP_GRACE,
        };
        let router = routes::router(app.clone());
        let http = tokio::spawn(async move {
            http_serve::serve(listener, router, &limits, stopped, std::convert::identity).await
        });
        Ok(Server {
            addr,
            app,
            stop,
            http,
            tasks,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The HTTP routes behind the guard, for a driver that calls them in-process with
    /// `tower::ServiceExt::oneshot` (the fuzzer): each request needs the
    /// `ConnectInfo<SocketAddr>` extension the accept loop would give it.
    pub fn router(&self) -> axum::Router {
        routes::router(self.app.clone())
    }

    /// The trade tags `recover()` found at start.
    pub fn recovered(&self) -> &[String] {
        &self.app.recovered
    }

    /// The trade tags the status page follows now (learnt from events, recovered, or started
    /// through the control API; forgotten once finished).
    pub fn tags(&self) -> Vec<String> {
        self.app.seen.tags()
    }

    /// The runtime behind it.
    pub fn runtime(&self) -> &Runtime {
        &self.app.runtime
    }

    /// Stops the HTTP server (requests in flight get [`HTTP_DRAIN`]), then the runtime:
    /// tracking stopped, fills journaled, streams closed, journal dropped. The runtime's
    /// shutdown always runs (bounded by its own grace), also when a request still holds it;
    /// returns whether everything finished in time.
    pub async fn stop(self) -> bool {
        let Server {
            app,
            stop,
            mut http,
            tasks,
            ..
        } = self;
        let _ = stop.send(true);
        let mut clean = true;
        match tokio::time::timeout(HTTP_DRAIN, &mut http).await {
            // Idle and half-sent connections and event streams close at the stop; a request
            // still running after the grace (e.g. a trade waiting on the exchange) was cut,
            // and the stop says so.
            Ok(Ok(served)) if served.cut_at_stop > 0 => {
                tracing::warn!(
                    "{} HTTP request(s) still running after {HTTP_GRACE:?}; cut",
                    served.cut_at_stop
                );
                clean = false;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!("the HTTP server failed: {e}");
                clean = false;
            }
            Err(_) => {
                tracing::warn!("the HTTP server still running after {HTTP_DRAIN:?}; cut");
                http.abort();
                let _ = http.await;
                clean = false;
            }
        }
        // The watcher, refresher and reconciler: cancelled, each ends at its next `.await`.
        if !tasks.shutdown(HTTP_DRAIN).await {
            tracing::warn!("serve's background tasks still running after {HTTP_DRAIN:?}");
            clean = false;
        }
        app.manager.stop();
        // Connections' tasks drop their handle on the state as they end.
        let deadline = tokio::time::Instant::now() + HTTP_DRAIN;
        let mut app = app;
        loop {
            match Arc::try_unwrap(app) {
                Ok(app) => return app.runtime.shutdown().await && clean,
                Err(shared) if tokio::time::Instant::now() < deadline => {
                    app = shared;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(shared) => {
                    // A request still holds the runtime: stop it through the shared handle
                    // (the streams close when the process ends).
                    tracing::warn!("the runtime is still in use; stopping it shared");
                    shared.runtime.shutdown_shared().await;
                    return false;
                }
            }
        }
    }
}

/// The signals that stop a long run: SIGINT (Ctrl-C), SIGTERM (a service manager, `kill`) and
/// SIGHUP (the terminal closed). Installed up front with [`StopSignals::install`], so a signal
/// that arrives while the run is still starting is not lost nor fatal.
#[derive(Debug)]
pub struct StopSignals {
    #[cfg(unix)]
    streams: [(tokio::signal::unix::Signal, &'static str); 3],
}

impl StopSignals {
    /// Installs the handlers (within a tokio runtime). From here on these signals no longer
    /// kill the process; [`StopSignals::recv`] reports them.
    pub fn install() -> Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let on = |kind: SignalKind, name: &'static str| {
                signal(kind)
                    .with_context(|| format!("{name} handler"))
                    .map(|s| (s, name))
            };
            Ok(StopSignals {
                streams: [
                    on(SignalKind::interrupt(), "SIGINT")?,
                    on(SignalKind::terminate(), "SIGTERM")?,
                    on(SignalKind::hangup(), "SIGHUP")?,
                ],
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// Waits for the next stop signal; answers its name.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            let [(int, a), (term, b), (hup, c)] = &mut self.streams;
            tokio::select! {
                _ = int.recv() => a,
                _ = term.recv() => b,
                _ = hup.recv() => c,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                // No handler: never report a stop that did not happen.
                Err(_) => std::future::pending().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_stop_fits_in_the_budget() {
        let worst = HTTP_DRAIN * 2 + crate::runtime::SHUTDOWN_GRACE;
        assert!(worst < STOP_WITHIN, "{worst:?}");
        assert!(
            STOP_WITHIN < Duration::from_secs(5),
            "SPEC: exit within 5 s"
        );
    }

    /// SIGTERM and SIGHUP, not only Ctrl-C, end a run (and no longer kill the process once
    /// the handlers are installed).
    #[cfg(unix)]
    #[tokio::test]
    async fn sigterm_and_sighup_are_stop_signals() {
        let mut signals = StopSignals::install().unwrap();
        for (flag, name) in [("-TERM", "SIGTERM"), ("-HUP", "SIGHUP")] {
            let sent = std::process::Command::new("kill")
                .args([flag, &std::process::id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            let got = tokio::time::timeout(Duration::from_secs(10), signals.recv())
                .await
                .unwrap();
            assert_eq!(got, name);
        }
    }
}
