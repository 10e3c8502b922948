//! The emulator's command line, shared by the `bybit-emulator` binary and `bybit-exec
//! emulator`: runs the local Bybit V5 exchange until SIGINT / SIGTERM.
//!
//! Prints `listening on http://127.0.0.1:<port>` as its first line once it accepts
//! connections, so scripts can wait for it and read the port (`bybit-emulator` prints nothing
//! else; `bybit-exec emulator` adds, in the same write, the `export` lines that point its CLI
//! and `serve` at it: [`run_with`]). Listens on [`DEFAULT_LISTEN`] unless told otherwise.
//! Refuses to start on a non-loopback address with the default (published) API secret.

use std::path::PathBuf;
use std::time::Duration;

use crate::{check_exposure, Emulator, EmulatorConfig, DEFAULT_API_KEY, DEFAULT_API_SECRET};
use anyhow::{Context, Result};
use bybit_types::rest::market::InstrumentsInfo;
use bybit_types::RawEnvelope;
use rust_decimal::Decimal;

/// Where the emulator listens unless `--listen` says otherwise: a fixed port, so a recipe can
/// name it (the README's).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:18088";

/// The emulator's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// The API key the emulator accepts.
    #[arg(long, env = "BYBIT_EMULATOR_API_KEY", default_value = DEFAULT_API_KEY)]
    pub api_key: String,
    /// Its secret. The default is fine on loopback only: with it, a non-loopback --listen is
    /// refused at start.
    #[arg(
        long,
        env = "BYBIT_EMULATOR_API_SECRET",
        default_value = DEFAULT_API_SECRET,
        hide_env_values = true
    )]
    pub api_secret: String,
    /// Opening USDT wallet balance.
    #[arg(long, default_value = "10000")]
    pub usdt: Decimal,
    /// An instruments-info reply in Bybit's own format, instead of the built-in table.
    #[arg(long)]
    pub instruments: Option<PathBuf>,
    /// Seed for price walks and ids.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Turn Bybit's per-key rate limits off (benchmarks).
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Keep a still market: no random walk, flat book (by default every symbol moves).
    #[arg(long)]
    pub static_prices: bool,
}

/// Runs the emulator with `args` until SIGINT or SIGTERM (a bounded stop follows).
pub async fn run(args: Args) -> Result<()> {
    run_with(args, |_, _, _| String::new()).await
}

/// [`run`], printing after the `listening on` line, in the same write, what `after` makes of
/// the REST base URL, the API key and the API secret — the secret only when it is the
/// published default (a secret of the caller's own is never printed: `None`).
pub async fn run_with(
    args: Args,
    after: impl FnOnce(&str, &str, Option<&str>) -> String,
) -> Result<()> {
    // Before anything binds: the default secret is published, so it stays on loopback.
    check_exposure(&args.listen, &args.api_secret)?;
    let mut config =
        EmulatorConfig::with_defaults(&args.api_key, &args.api_secret, args.usdt, args.seed);
    config.rate_limits = !args.no_rate_limits;
    config.static_prices = args.static_prices;
    if let Some(path) = &args.instruments {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let envelope = RawEnvelope::parse(&bytes)?;
        let info: InstrumentsInfo = envelope.decode("instruments-info result")?;
        let defaults = sim_engine::defaults::start_prices();
        config.engine.initial_prices = info
            .list
            .iter()
            .filter_map(|i| defaults.get(&i.symbol).map(|p| (i.symbol.clone(), *p)))
            .collect();
        config.engine.instruments = info.list;
    }
    let signals = StopSignals::install()?;
    let emulator = Emulator::start(&args.listen, config).await?;
    let url = emulator.http_url();
    let published = (args.api_secret == DEFAULT_API_SECRET).then_some(DEFAULT_API_SECRET);
    let more = after(&url, &args.api_key, published);
    // One write, so a reader that takes the first line and goes finds the rest sent already;
    // a reader gone (a closed pipe) does not stop the emulator.
    let text = format!("listening on {url}\n{more}");
    let mut stdout = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut stdout, text.as_bytes())
        .and_then(|()| std::io::Write::flush(&mut stdout));
    drop(stdout);
    let signal = signals.wait().await?;
    // A graceful stop waits for clients; one that never finishes its request must not keep
    // the process alive, so the wait is bounded and the process exits after it.
    if tokio::time::timeout(STOP_GRACE, emulator.stop())
        .await
        .is_err()
    {
        eprintln!(
            "{signal}: clients still connected after {} s; exiting anyway",
            STOP_GRACE.as_secs()
        );
    }
    Ok(())
}

/// How long a stop waits for connections to finish before the process exits regardless.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// SIGINT (Ctrl-C) and SIGTERM (what `docker stop`, systemd and CI runners send), handled
/// from the moment this exists: installed before the `listening on` line, so a script that
/// signals as soon as it reads the line never meets the default handler.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt()).context("installing SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("installing SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// Waits for either signal and names it.
    async fn wait(mut self) -> Result<&'static str> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => Ok("SIGINT"),
                _ = self.terminate.recv() => Ok("SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            Ok("Ctrl-C")
        }
    }
}
