//! One `bybit-exec serve` process with live routing on the emulator: started on a journal
//! file, stopped with SIGTERM or killed with SIGKILL, as an operator's supervisor would.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// How long a start may take before the run fails: a debug build recovering its trades over
/// a faulted exchange.
const START_WITHIN: Duration = Duration::from_secs(60);

/// How long a SIGTERM may take before the run fails.
const STOP_WITHIN: Duration = Duration::from_secs(15);

/// What `serve` needs to find the emulator and its journal.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    /// The `bybit-exec` binary.
    pub(crate) bin: PathBuf,
    /// The emulator's `http://127.0.0.1:PORT`.
    pub(crate) emulator_url: String,
    pub(crate) key: String,
    pub(crate) secret: String,
    pub(crate) journal: PathBuf,
    /// Where each process's stderr (its log) is appended.
    pub(crate) log: PathBuf,
    pub(crate) symbols: Vec<&'static str>,
    /// `EXECUTION_ORDER_PATH`: `auto` (creates over the order-entry stream while it is up) or
    /// `rest`, chosen per run so both paths meet the faults.
    pub(crate) order_path: &'static str,
}

/// A running `serve`.
#[derive(Debug)]
pub(crate) struct Serve {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Serve {
    /// Starts `serve` and waits for its "status page" line (it prints it once recovery ran
    /// and the listener is bound).
    pub(crate) fn start(config: &ServeConfig) -> Result<Serve> {
        let host = config.emulator_url.trim_start_matches("http://");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.log)
            .with_context(|| format!("cannot open {}", config.log.display()))?;
        let mut child = Command::new(&config.bin)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("EXECUTION_ROUTING", "live")
            .env("BYBIT_REST_URL", &config.emulator_url)
            .env(
                "BYBIT_WS_PUBLIC_URL",
                format!("ws://{host}/v5/public/linear"),
            )
            .env("BYBIT_WS_PRIVATE_URL", format!("ws://{host}/v5/private"))
            .env("BYBIT_API_KEY", &config.key)
            .env("BYBIT_API_SECRET", &config.secret)
            .env("EXECUTION_JOURNAL", &config.journal)
            .env("EXECUTION_ERROR_LOG", "none")
            .env("EXECUTION_SYMBOLS", config.symbols.join(","))
            .env("EXECUTION_ORDER_PATH", config.order_path)
            // Short timings so a run's faults are outlived in seconds: a held request (3 s)
            // outlasts the HTTP timeout. The silence threshold stays Bybit's (30 s): below the
            // 20 s ping interval a quiet account's stream would look silent.
            .env("BYBIT_HTTP_TIMEOUT_MS", "1500")
            .env("EXECUTION_POLL_INTERVAL_MS", "500")
            .env("EXECUTION_RECONCILE_MS", "500")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {}", config.bin.display()))?;
        let stdout = child.stdout.take().context("serve's stdout is piped")?;
        let (tx, lines) = mpsc::channel();
        // Read to the end on a thread: a pipe closed early would fail serve's next print.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut serve = Serve {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let deadline = Instant::now() + START_WITHIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(left) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = serve.child.wait().ok();
                    bail!(
                        "serve exited at start ({status:?}): {}",
                        last_line(&config.log)
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let status = serve.child.try_wait().ok().flatten();
                    bail!(
                        "serve did not print its status page line within {START_WITHIN:?} \
                         (exit: {status:?}; its log: {})",
                        config.log.display()
                    );
                }
            };
            if let Some(rest) = line.split("status page http://").nth(1) {
                let addr = rest.split('/').next().unwrap_or_default();
                serve.addr = addr
                    .parse()
                    .map_err(|e| anyhow!("status page address {addr:?}: {e}"))?;
                return Ok(serve);
            }
        }
    }

    /// SIGKILL: nothing of the shutdown runs.
    pub(crate) fn kill_9(mut self) -> Result<()> {
        self.child.kill().context("SIGKILL")?;
        self.child.wait().context("wait after SIGKILL")?;
        Ok(())
    }

    /// SIGTERM and the exit status, which must come within [`STOP_WITHIN`].
    pub(crate) fn terminate(mut self) -> Result<ExitStatus> {
        signal(self.child.id(), "-TERM")?;
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > STOP_WITHIN {
                bail!("serve did not exit within {STOP_WITHIN:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The control API's base URL.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, which: &str) -> Result<()> {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .context("kill")?;
    if !status.success() {
        bail!("kill {which} {pid} failed: {status}");
    }
    Ok(())
}

/// The `bybit-exec` binary beside this one (`cargo build` puts both in the same directory).
pub(crate) fn default_bin() -> Result<PathBuf> {
    let me = std::env::current_exe().context("current_exe")?;
    let dir = me.parent().unwrap_or(Path::new("."));
    let bin = dir.join(format!("bybit-exec{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        bail!(
            "{} is missing: build it first (cargo build -p bybit-exec), or pass --serve-bin",
            bin.display()
        );
    }
    Ok(bin)
}

/// The last line of a log file (what a process that exited said last).
fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.lines().last().map(str::to_owned))
        .unwrap_or_default()
}
