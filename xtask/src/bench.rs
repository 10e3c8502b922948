//! `cargo xtask bench [--quick]`: every benchmark of the workspace in one run, as one Markdown
//! report written to `docs/bench/<date>.md` and printed.
//!
//! Each bench binary prints its figures for people and, per figure, one machine-readable line
//! (written by `testkit::bench::row`, the format's one writer)
//! `ROW\t<name>\t<ours>\t<floor or peer, or ->\t<unit>\t<target>` (target: `ratio<=X`,
//! `ours>=X` or `-`), which this task collects. Some rows need more than one process, so they
//! are made here: pybit driving the same create round trips, over REST and over its
//! WebSocketTrading, against the same emulator binary the Rust client's round trips used (from
//! a venv this task makes, as `tests/pybit/run.sh` does), and the resident memory of
//! `bybit-exec serve` after a minute on 50 symbols' tickers and order books. (The order-entry
//! stream against REST is the trade bench's own row: it times both in one run.) The trade
//! bench and pybit's WebSocket round trips run twice: with every process free to use every
//! CPU, and with the emulator, the bench and pybit on one CPU (`taskset`, one worker thread),
//! where a round trip costs the work at both ends rather than the wake-ups between CPUs; the
//! rows say which (`(free)`, `(one CPU)`). Beside the table is the machine: CPU model, cores,
//! load average before and after, because on a shared machine a figure means little without
//! them.
//!
//! `--quick` runs fewer iterations and a shorter memory wait, for iterating on the task; the
//! report says which kind of run it was.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};

use crate::process::{cargo, run, workspace};

/// The key and secret the client bench signs with (its constants), given to the emulator.
const KEY: &str = "bench-key";
const SECRET: &str = "bench-secret";

/// The bench binaries this task runs, as (package, bench).
const BENCHES: [(&str, &str); 5] = [
    ("bybit-rest", "client"),
    ("bybit-ws", "trade"),
    ("bybit-ws", "ws"),
    ("bybit-emulator", "order_rate"),
    ("exec-journal", "journal"),
];

/// How long a started process has to print the line that says it is ready.
const READY_WAIT: Duration = Duration::from_secs(120);

/// Symbols and book depth of the memory row.
const RSS_SYMBOLS: usize = 50;
const RSS_BOOK_DEPTH: u32 = 50;

/// How many iterations each part runs.
struct Plan {
    quick: bool,
    round_trips: usize,
    drops: usize,
    order_rate_seconds: u64,
    entries: usize,
    intents_per_writer: usize,
    rss_wait: Duration,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                round_trips: 300,
                drops: 20,
                order_rate_seconds: 2,
                entries: 10,
                intents_per_writer: 20,
                rss_wait: Duration::from_secs(10),
            }
        } else {
            Plan {
                quick,
                round_trips: 3000,
                drops: 200,
                order_rate_seconds: 5,
                entries: 40,
                intents_per_writer: 100,
                rss_wait: Duration::from_secs(60),
            }
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
struct Row {
    name: String,
    ours: f64,
    peer: Option<f64>,
    unit: String,
    target: String,
}

impl Row {
    fn parse(line: &str) -> Option<Row> {
        let mut parts = line.strip_prefix("ROW\t")?.split('\t');
        let name = parts.next()?.to_owned();
        let ours = parts.next()?.parse().ok()?;
        let peer = match parts.next()? {
            "-" => None,
            p => Some(p.parse().ok()?),
        };
        let unit = parts.next()?.to_owned();
        let target = parts.next()?.to_owned();
        Some(Row {
            name,
            ours,
            peer,
            unit,
            target,
        })
    }

    fn ratio(&self) -> Option<f64> {
        self.peer.filter(|p| *p > 0.0).map(|p| self.ours / p)
    }

    /// Whether the row meets its target: `None` when it has none (a figure only).
    fn met(&self) -> Option<bool> {
        if let Some(limit) = self.target.strip_prefix("ratio<=") {
            let limit: f64 = limit.parse().ok()?;
            return Some(self.ratio()? <= limit);
        }
        if let Some(limit) = self.target.strip_prefix("ours>=") {
            let limit: f64 = limit.parse().ok()?;
            return Some(self.ours >= limit);
        }
        None
    }

    fn target_text(&self) -> String {
        if let Some(limit) = self.target.strip_prefix("ratio<=") {
            format!("≤ {limit}×")
        } else if let Some(limit) = self.target.strip_prefix("ours>=") {
            format!("≥ {}", number(limit.parse().unwrap_or(0.0)))
        } else {
            "—".to_owned()
        }
    }
}

/// A figure with thousands separators and sensible decimals.
fn number(v: f64) -> String {
    let decimals = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{v:.decimals$}");
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), ""), |(i, f)| (i, f));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// A command as shown in the log and in errors: program and arguments, never its environment
/// (which carries the emulator's key pair).
fn shown(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A child process that is stopped when dropped, so an error on the way leaves nothing running.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `cmd` with stdout piped and waits (bounded) for a stdout line containing `ready`;
/// returns the process and that line. The rest of stdout is drained on a thread.
fn start(name: &'static str, mut cmd: Command, ready: &str) -> Result<(Proc, String)> {
    eprintln!("$ {}", shown(&cmd));
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("{name}: no stdout"))?;
    let proc = Proc { name, child };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The receiver is gone once the ready line was seen; keep draining.
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + READY_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(ready) => return Ok((proc, line)),
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!(
                    "{}: no line with {ready:?} within {} s",
                    proc.name,
                    READY_WAIT.as_secs()
                )
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("{}: exited before printing {ready:?}", proc.name)
            }
        }
    }
}

/// Runs `cmd`, echoing its stdout to stderr as it comes, and returns the stdout lines.
fn run_capturing(mut cmd: Command) -> Result<Vec<String>> {
    eprintln!("$ {}", shown(&cmd));
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", shown(&cmd)))?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        eprintln!("  {line}");
        lines.push(line);
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{} failed with {status}", shown(&cmd));
    }
    Ok(lines)
}

/// Runs one bench binary (`cargo bench -p <package> --bench <bench> -- <args>`) and returns its
/// rows.
fn bench_rows(
    package: &str,
    bench: &str,
    args: &[String],
    env: &[(&str, &str)],
    cpu: Option<usize>,
) -> Result<Vec<Row>> {
    let mut cmd = cargo();
    cmd.args(["bench", "-p", package, "--bench", bench, "--"]);
    cmd.args(args);
    cmd.envs(env.iter().copied());
    let rows: Vec<Row> = run_capturing(on_cpu(cmd, cpu))?
        .iter()
        .filter_map(|l| Row::parse(l))
        .collect();
    if rows.is_empty() {
        bail!("{package}/{bench} printed no ROW line");
    }
    Ok(rows)
}

/// The label of rows measured with every process free to use every CPU.
const FREE: &str = "free";

/// The label of rows measured with the emulator, the bench and pybit on one CPU.
const ONE_CPU: &str = "one CPU";

/// `rows` named for the regime they were measured in.
fn in_regime(rows: Vec<Row>, regime: &str) -> Vec<Row> {
    rows.into_iter()
        .map(|mut row| {
            row.name = format!("{} ({regime})", row.name);
            row
        })
        .collect()
}

/// The trade bench's rows and pybit's WebSocket round trips beside them, on an emulator of
/// their own, named for where they ran: free to use every CPU, or with the emulator, the bench
/// (one worker thread) and pybit all on `cpu`.
fn trade_rows(
    emulator_bin: &Path,
    round_trips: usize,
    cpu: Option<usize>,
    missing: &mut Vec<String>,
) -> Result<Vec<Row>> {
    let regime = if cpu.is_some() { ONE_CPU } else { FREE };
    let (emulator, url) = start_emulator(emulator_bin, None, cpu)?;
    let mut env = vec![("BENCH_EMULATOR_URL", url.as_str())];
    if cpu.is_some() {
        env.push(("BENCH_WORKERS", "1"));
    }
    let trade = in_regime(
        bench_rows("bybit-ws", "trade", &[round_trips.to_string()], &env, cpu)?,
        regime,
    );
    let pybit = pybit_rows(
        &trade,
        &url,
        round_trips,
        ("ws", Some(regime)),
        cpu,
        missing,
    );
    emulator.stop();
    Ok(trade.into_iter().chain(pybit).collect())
}

/// pybit's create round trips over REST (`mode` `rest`) or its WebSocketTrading (`ws`)
/// against the emulator at `url`, each beside ours from `ours` (the client bench's rows, or
/// the trade bench's, named for `regime` if they are); what could not be measured goes to
/// `missing`.
fn pybit_rows(
    ours: &[Row],
    url: &str,
    count: usize,
    (mode, regime): (&str, Option<&str>),
    cpu: Option<usize>,
    missing: &mut Vec<String>,
) -> Vec<Row> {
    let label = match mode {
        "ws" => "trade-stream create ack",
        _ => "create round trip",
    };
    let pybit = match pybit_round_trips(url, count, mode, cpu) {
        Ok(pybit) => pybit,
        Err(e) => {
            missing.push(format!("pybit {mode} round trips: {e:#}"));
            return Vec::new();
        }
    };
    let mut rows = Vec::new();
    for (name, us) in pybit {
        match ours
            .iter()
            .find(|r| r.name.starts_with(&format!("{label} {name} ")))
        {
            Some(row) => {
                rows.push(Row {
                    name: match regime {
                        Some(regime) => {
                            format!("{label} {name}: ours vs pybit, same emulator ({regime})")
                        }
                        None => format!("{label} {name}: ours vs pybit, same emulator"),
                    },
                    ours: row.ours,
                    peer: Some(us),
                    unit: "µs".to_owned(),
                    target: "ratio<=1".to_owned(),
                });
            }
            None => missing.push(format!("ours {label} {name} for the pybit row")),
        }
    }
    rows
}

/// The first CPU this process may run on (`Cpus_allowed_list` in `/proc/self/status`), if
/// `taskset` is there to put a process on it.
fn one_cpu() -> std::result::Result<usize, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let cpu = first_cpu(&status)?;
    match Command::new("taskset").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(cpu),
        _ => Err("taskset (util-linux) is not installed".to_owned()),
    }
}

/// The first CPU of the `Cpus_allowed_list` in a `/proc/<pid>/status` text (`0-1`, `2,4-7`).
fn first_cpu(status: &str) -> std::result::Result<usize, String> {
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .ok_or("no Cpus_allowed_list in /proc/self/status")?
        .trim();
    list.split([',', '-'])
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("unreadable Cpus_allowed_list {list:?}"))
}

/// `cmd` as it is, or run by `taskset -c <cpu>`: the same program, arguments, environment
/// and directory, kept on that CPU with every thread and child it starts.
fn on_cpu(cmd: Command, cpu: Option<usize>) -> Command {
    let Some(cpu) = cpu else {
        return cmd;
    };
    let mut pinned = Command::new("taskset");
    pinned
        .arg("-c")
        .arg(cpu.to_string())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => pinned.env(key, value),
            None => pinned.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        pinned.current_dir(dir);
    }
    pinned
}

/// Where cargo puts build output for this run.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace().join(dir),
        None => workspace().join("target"),
    }
}

/// The Bybit fixtures: `BYBIT_V5_FIXTURES`, else `shared/` beside the clone (as testkit does).
fn fixtures_dir() -> PathBuf {
    std::env::var_os("BYBIT_V5_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/bybit-v5/fixtures"))
}

/// CPU model, logical cores and the load average now.
fn machine() -> (String, usize) {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown (no /proc/cpuinfo model name)".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    (model, cores)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Today's UTC date as `YYYY-MM-DD` (civil-from-days, so no date crate is needed).
fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `cargo xtask bench [--quick]`.
pub(crate) fn bench(args: &[String]) -> Result<()> {
    let quick = match args {
        [] => false,
        [flag] if flag == "--quick" => true,
        _ => bail!("usage: cargo xtask bench [--quick]"),
    };
    let plan = Plan::new(quick);
    let (cpu, cores) = machine();
    let load_before = load_average();
    let started = Instant::now();
    let fixtures = fixtures_dir();
    if !fixtures.is_dir() {
        bail!(
            "Bybit fixtures not found at {} (set BYBIT_V5_FIXTURES)",
            fixtures.display()
        );
    }
    let fixtures_env = fixtures.to_string_lossy().into_owned();

    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "bybit-emulator",
        "--bin",
        "bybit-emulator",
        "-p",
        "bybit-exec",
        "--bin",
        "bybit-exec",
    ]);
    run(build)?;
    // Every bench binary built before anything is timed, each as its own run below builds it
    // (one `cargo bench` per package: together, their features would unify into other builds).
    for (package, bench) in BENCHES {
        let mut build = cargo();
        build.args(["bench", "--no-run", "-p", package, "--bench", bench]);
        run(build)?;
    }
    let release = target_dir().join("release");
    let emulator_bin = release.join("bybit-emulator");
    let exec_bin = release.join("bybit-exec");

    let mut rows: Vec<Row> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let work = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;

    // The client's round trips and pybit's on one emulator process.
    let (emulator, url) = start_emulator(&emulator_bin, None, None)?;
    let client = bench_rows(
        "bybit-rest",
        "client",
        &[plan.round_trips.to_string()],
        &[("BENCH_EMULATOR_URL", url.as_str())],
        None,
    )?;
    let pybit_rest = pybit_rows(
        &client,
        &url,
        plan.round_trips,
        ("rest", None),
        None,
        &mut missing,
    );
    emulator.stop();
    rows.extend(client.into_iter().chain(pybit_rest));
    // The order-entry stream's create acknowledgement (the bench times REST's create round
    // trip in the same run and writes that row itself), free, then on one CPU: there a round
    // trip costs the work of both ends, not the wake-ups between CPUs (`docs/bench`).
    rows.extend(trade_rows(
        &emulator_bin,
        plan.round_trips,
        None,
        &mut missing,
    )?);
    match one_cpu() {
        Ok(cpu) => rows.extend(trade_rows(
            &emulator_bin,
            plan.round_trips,
            Some(cpu),
            &mut missing,
        )?),
        Err(why) => missing.push(format!("trade-stream rows on one CPU: {why}")),
    }

    rows.extend(bench_rows(
        "bybit-ws",
        "ws",
        &[plan.drops.to_string()],
        &[("BYBIT_V5_FIXTURES", fixtures_env.as_str())],
        None,
    )?);
    rows.extend(bench_rows(
        "bybit-emulator",
        "order_rate",
        &[plan.order_rate_seconds.to_string(), "32".to_owned()],
        &[],
        None,
    )?);
    rows.extend(bench_rows(
        "exec-journal",
        "journal",
        &[
            plan.entries.to_string(),
            plan.intents_per_writer.to_string(),
        ],
        &[],
        None,
    )?);

    match serve_rss(&emulator_bin, &exec_bin, &fixtures, &work, plan.rss_wait) {
        Ok(row) => rows.push(row),
        Err(e) => missing.push(format!("serve RSS: {e:#}")),
    }
    let _ = std::fs::remove_dir_all(&work);

    let load_after = load_average();
    let report = render(&Report {
        plan: &plan,
        cpu: &cpu,
        cores,
        load_before: &load_before,
        load_after: &load_after,
        elapsed: started.elapsed(),
        rows: &rows,
        missing: &missing,
    });
    let dir = workspace().join("docs/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.md", today()));
    std::fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    println!("{report}");
    eprintln!("written to {}", path.display());
    if !missing.is_empty() {
        bail!(
            "{} row(s) not measured: {}",
            missing.len(),
            missing.join("; ")
        );
    }
    Ok(())
}

/// The emulator command: the client bench's key and secret, a large wallet, no rate limits;
/// `instruments` replaces the built-in table.
/// The emulator binary started on a free loopback port, and its `http://` URL.
fn start_emulator(
    bin: &Path,
    instruments: Option<&Path>,
    cpu: Option<usize>,
) -> Result<(Proc, String)> {
    let (proc, line) = start(
        "bybit-emulator",
        on_cpu(emulator(bin, instruments), cpu),
        "listening on ",
    )?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_default()
        .to_owned();
    Ok((proc, url))
}

fn emulator(bin: &Path, instruments: Option<&Path>) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--api-key",
        KEY,
        "--api-secret",
        SECRET,
        "--usdt",
        "1000000000",
        "--seed",
        "1",
        "--no-rate-limits",
    ]);
    if let Some(path) = instruments {
        cmd.arg("--instruments").arg(path);
    }
    cmd
}

/// A venv with the pinned pybit (tests/pybit/requirements.txt) under the target directory,
/// rebuilt when the requirements or the interpreter change; returns its python.
fn pybit_venv() -> Result<PathBuf> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let requirements = workspace().join("tests/pybit/requirements.txt");
    let venv = target_dir().join("pybit-bench-venv");
    let version = Command::new(&python)
        .args(["-c", "import sys; print(sys.version)"])
        .output()
        .with_context(|| format!("{python} not found (Python 3.11 with venv and pip is needed)"))?;
    let key = format!(
        "{}\n{}",
        std::fs::read_to_string(&requirements)?,
        String::from_utf8_lossy(&version.stdout)
    );
    let key_file = venv.join(".requirements.key");
    let venv_python = venv.join("bin/python");
    if std::fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str())
        && venv_python.exists()
    {
        return Ok(venv_python);
    }
    let _ = std::fs::remove_dir_all(&venv);
    let mut make = Command::new(&python);
    make.arg("-m").arg("venv").arg(&venv);
    run(make)?;
    // --no-deps: requirements.txt pins the whole tree, so nothing unpinned slips in.
    let mut install = Command::new(&venv_python);
    install
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "--no-deps",
            "-r",
        ])
        .arg(&requirements);
    run(install)?;
    std::fs::write(&key_file, key)?;
    Ok(venv_python)
}

/// pybit's create round trips against the emulator at `url`, over REST (`mode` `rest`) or its
/// WebSocketTrading (`ws`): `[(p50|p99, µs)]`.
fn pybit_round_trips(
    url: &str,
    count: usize,
    mode: &str,
    cpu: Option<usize>,
) -> Result<Vec<(String, f64)>> {
    let python = pybit_venv()?;
    let mut cmd = Command::new(python);
    cmd.arg(workspace().join("tests/pybit/bench.py"))
        .env("BYBIT_EMULATOR_URL", url)
        .env("BYBIT_EMULATOR_API_KEY", KEY)
        .env("BYBIT_EMULATOR_API_SECRET", SECRET)
        .env("BENCH_COUNT", count.to_string())
        .env("BENCH_MODE", mode);
    let figures: Vec<(String, f64)> = run_capturing(on_cpu(cmd, cpu))?
        .iter()
        .filter_map(|l| {
            let mut parts = l.strip_prefix("PYBIT\t")?.split('\t');
            Some((parts.next()?.to_owned(), parts.next()?.parse().ok()?))
        })
        .collect();
    if figures.len() != 2 {
        bail!(
            "tests/pybit/bench.py printed {} figures, not 2",
            figures.len()
        );
    }
    Ok(figures)
}

/// An instruments-info reply with `RSS_SYMBOLS` symbols: the fixture's seven real ones, then
/// copies of them under made-up names (`X08USDT`, …), each with the same filters.
fn instruments_file(fixtures: &Path, work: &Path) -> Result<(PathBuf, Vec<String>)> {
    let path = fixtures.join("rest_instruments_info_linear_multi.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut reply: serde_json::Value = serde_json::from_str(&text)?;
    let list = reply
        .pointer_mut("/result/list")
        .and_then(serde_json::Value::as_array_mut)
        .ok_or_else(|| anyhow!("{}: no result.list", path.display()))?;
    let real = list.clone();
    if real.is_empty() {
        bail!("{}: empty list", path.display());
    }
    let mut n = real.len();
    while list.len() < RSS_SYMBOLS {
        n += 1;
        let mut copy = real[n % real.len()].clone();
        let base = format!("X{n:02}");
        copy["symbol"] = serde_json::Value::from(format!("{base}USDT"));
        copy["baseCoin"] = serde_json::Value::from(base);
        list.push(copy);
    }
    let symbols = list
        .iter()
        .filter_map(|i| i["symbol"].as_str().map(str::to_owned))
        .collect();
    let out = work.join("instruments.json");
    std::fs::write(&out, serde_json::to_vec(&reply)?)?;
    Ok((out, symbols))
}

/// `VmRSS` of a process, in kB.
fn rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// The resident memory of `bybit-exec serve` (live routing on an emulator with
/// `RSS_SYMBOLS` living symbols, every symbol's ticker and order book at `RSS_BOOK_DEPTH`
/// subscribed) after `wait`.
fn serve_rss(
    emulator_bin: &Path,
    exec_bin: &Path,
    fixtures: &Path,
    work: &Path,
    wait: Duration,
) -> Result<Row> {
    let (instruments, symbols) = instruments_file(fixtures, work)?;
    let (emulator, url) = start_emulator(emulator_bin, Some(&instruments), None)?;
    let host = url.strip_prefix("http://").unwrap_or(&url).to_owned();
    let log = work.join("serve.log");
    let mut cmd = Command::new(exec_bin);
    let env: BTreeMap<&str, String> = [
        ("BYBIT_REST_URL", url.clone()),
        ("BYBIT_PUBLIC_REST_URL", url.clone()),
        (
            "BYBIT_WS_PUBLIC_URL",
            format!("ws://{host}/v5/public/linear"),
        ),
        ("BYBIT_WS_PRIVATE_URL", format!("ws://{host}/v5/private")),
        ("BYBIT_API_KEY", KEY.to_owned()),
        ("BYBIT_API_SECRET", SECRET.to_owned()),
        ("EXECUTION_ROUTING", "live".to_owned()),
        ("EXECUTION_SYMBOLS", symbols.join(",")),
        ("EXECUTION_BOOK_DEPTH", RSS_BOOK_DEPTH.to_string()),
        (
            "EXECUTION_JOURNAL",
            work.join("journal.db").to_string_lossy().into_owned(),
        ),
        ("EXECUTION_ERROR_LOG", "none".to_owned()),
    ]
    .into_iter()
    .collect();
    cmd.envs(&env)
        .args(["--log-level", "info", "serve", "--listen", "127.0.0.1:0"])
        .current_dir(work)
        .stderr(std::fs::File::create(&log)?);
    let (serve, _) = start("bybit-exec serve", cmd, "bybit-exec serve:")?;
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    if !logged.contains("order books subscribed") {
        bail!(
            "serve did not log that its {} order books were subscribed; its log:\n{logged}",
            symbols.len()
        );
    }
    eprintln!(
        "serve (pid {}) holds {} tickers and books; waiting {} s",
        serve.pid(),
        symbols.len(),
        wait.as_secs()
    );
    std::thread::sleep(wait);
    let kb = rss_kb(serve.pid())?;
    serve.stop();
    emulator.stop();
    #[allow(clippy::cast_precision_loss, reason = "a kB count far below 2^52")]
    let mb = kb as f64 / 1024.0;
    Ok(Row {
        name: format!(
            "serve RSS after {} s, {} symbols' tickers + books (depth {RSS_BOOK_DEPTH})",
            wait.as_secs(),
            symbols.len()
        ),
        ours: mb,
        peer: None,
        unit: "MiB".to_owned(),
        target: "-".to_owned(),
    })
}

struct Report<'a> {
    plan: &'a Plan,
    cpu: &'a str,
    cores: usize,
    load_before: &'a str,
    load_after: &'a str,
    elapsed: Duration,
    rows: &'a [Row],
    missing: &'a [String],
}

fn render(r: &Report<'_>) -> String {
    let mut out = String::new();
    let kind = if r.plan.quick {
        "`cargo xtask bench --quick` (fewer iterations, shorter memory wait)"
    } else {
        "`cargo xtask bench`"
    };
    let _ = writeln!(out, "# Benchmarks, {}\n", today());
    let _ = writeln!(
        out,
        "One run of {kind}, {} s in all.\n",
        r.elapsed.as_secs()
    );
    let _ = writeln!(out, "| machine | |\n|---|---|");
    let _ = writeln!(out, "| CPU | {} |", r.cpu);
    let _ = writeln!(out, "| cores (nproc) | {} |", r.cores);
    let _ = writeln!(
        out,
        "| load average before (1, 5, 15 min) | {} |",
        r.load_before
    );
    let _ = writeln!(out, "| load average after | {} |\n", r.load_after);
    let one_minute = |load: &str| {
        load.split_whitespace()
            .next()
            .and_then(|l| l.parse::<f64>().ok())
    };
    let busy = [r.load_before, r.load_after]
        .iter()
        .any(|l| one_minute(l).is_some_and(|l| l > 0.5));
    if busy {
        let _ = writeln!(
            out,
            "**Measured under load**: the machine was busy before or after the run (1-minute \
             load above 0.5), so every figure is noisy; ratios (both sides measured together) \
             hold better than absolute figures. Re-run on a quiet machine for the record.\n"
        );
    }
    let _ = writeln!(
        out,
        "| row | ours | floor / peer | ratio | target | met? |\n|---|---|---|---|---|---|"
    );
    for row in r.rows {
        let peer = row
            .peer
            .map_or_else(|| "—".to_owned(), |p| format!("{} {}", number(p), row.unit));
        let ratio = row
            .ratio()
            .map_or_else(|| "—".to_owned(), |x| format!("{x:.2}×"));
        let met = match row.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        let _ = writeln!(
            out,
            "| {} | {} {} | {peer} | {ratio} | {} | {met} |",
            row.name,
            number(row.ours),
            row.unit,
            row.target_text()
        );
    }
    if !r.missing.is_empty() {
        let _ = writeln!(out, "\nNot measured in this run:\n");
        for m in r.missing {
            let _ = writeln!(out, "- {m}");
        }
    }
    let _ = writeln!(
        out,
        "\nRatios are ours ÷ floor/peer (lower is better; for the pybit rows below 1 means \
         faster than pybit). Each bench binary measures its row and its floor in the same \
         process, alternated, so both see the same load; pybit's round trips run right after \
         the client's, against the same emulator process. Rows marked (free) ran with every \
         process free to use every CPU, (one CPU) with the emulator, the bench and pybit on \
         one CPU: on a virtual machine a wake-up that crosses CPUs costs tens of µs, more than \
         the work of a WebSocket round trip, so only the one-CPU figures compare the work of \
         the two protocols (docs/bench/README.md). Reproduce: `cargo xtask bench`."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_line_parses_and_judges_its_target() {
        let row = Row::parse("ROW\tprepare\t600.0\t300.0\tns\tratio<=2").unwrap();
        assert_eq!(row.ratio(), Some(2.0));
        assert_eq!(row.met(), Some(true));
        let slow = Row::parse("ROW\trate\t4999\t-\t/s\tours>=5000").unwrap();
        assert_eq!(slow.met(), Some(false));
        assert!(Row::parse("ROW\tbroken\tx\t-\t/s\t-").is_none());
        assert_eq!(number(22_201.4), "22,201");
        assert_eq!(number(2.904), "2.90");
    }

    #[test]
    fn a_pinned_command_is_the_same_command_under_taskset() {
        let mut cmd = Command::new("bench-binary");
        cmd.args(["--bench", "3000"]).env("BENCH_WORKERS", "1");
        let pinned = on_cpu(cmd, Some(3));
        assert_eq!(pinned.get_program(), "taskset");
        let args: Vec<_> = pinned.get_args().collect();
        assert_eq!(args, ["-c", "3", "bench-binary", "--bench", "3000"]);
        let envs: Vec<_> = pinned.get_envs().collect();
        assert_eq!(
            envs,
            [(
                std::ffi::OsStr::new("BENCH_WORKERS"),
                Some(std::ffi::OsStr::new("1"))
            )]
        );
        let free = on_cpu(Command::new("bench-binary"), None);
        assert_eq!(free.get_program(), "bench-binary");
    }

    #[test]
    fn the_first_allowed_cpu_is_read_from_the_status_text() {
        let status =
            |list: &str| format!("Name:\txtask\nCpus_allowed:\t3\nCpus_allowed_list:\t{list}\n");
        assert_eq!(first_cpu(&status("0-1")), Ok(0));
        assert_eq!(first_cpu(&status("2,4-7")), Ok(2));
        assert_eq!(first_cpu(&status("5")), Ok(5));
        assert!(first_cpu(&status("")).is_err());
        assert!(first_cpu("Name:\txtask\n").is_err());
    }
}
