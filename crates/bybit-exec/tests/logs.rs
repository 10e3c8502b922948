//! The log lines of `bybit-exec serve`: the real binary against the embedded
//! emulator with faults, its stderr captured whole. One line per order sent and acked, per
//! fill (each execId once) and per WebSocket reconnect, each naming the trade tag, leg and
//! orderLinkId; `--log-format json` lines are JSON objects; at TRACE nothing carries the API
//! secret, its hex, or a signature.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bybit_emulator::Emulator;
use serde_json::{json, Value};

use crate::serve::{command, plan};
use crate::support::control;
use crate::support::{emulator, eventually, SECRET};

/// A `bybit-exec serve` process whose stderr (the log) is kept line by line.
pub(crate) struct Logged {
    child: Child,
    pub(crate) addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

/// A process started, not yet serving: its stdout lines and its stderr so far.
pub(crate) struct Starting {
    child: Option<Child>,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Starting {
    pub(crate) fn lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (30 s at most) for serve's "status page" line.
    pub(crate) fn serving(mut self) -> Logged {
        let (addr, _) = crate::support::serving_addr(&self.stdout, Duration::from_secs(30), |_| {
            format!("stderr {:?}", self.lines())
        });
        Logged {
            child: self.child.take().unwrap(),
            addr,
            stderr: self.stderr.clone(),
            reader: self.reader.take(),
        }
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Logged {
    fn spawn(command: Command) -> Logged {
        Logged::start(command).serving()
    }

    pub(crate) fn start(mut command: Command) -> Starting {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let err = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let rx = crate::support::stdout_lines(&mut child);
        Starting {
            child: Some(child),
            stdout: rx,
            stderr,
            reader: Some(reader),
        }
    }

    fn lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGTERM, the exit within 5 s, and every line the process wrote to stderr.
    pub(crate) fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "no exit in 5 s");
            std::thread::sleep(Duration::from_millis(20));
        };
        self.reader.take().unwrap().join().unwrap();
        let lines = self.lines();
        assert!(
            status.success(),
            "serve exited with {status}; its last lines: {:#?}",
            &lines[lines.len().saturating_sub(20)..]
        );
        lines
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn api(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("X-Bybit-Exec", "1")
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// `/health` says the next order create goes over the order-entry stream.
async fn trade_ready(addr: SocketAddr) -> bool {
    let Ok(r) = reqwest::get(format!("http://{addr}/health")).await else {
        return false;
    };
    r.json::<Value>()
        .await
        .is_ok_and(|h| h["wsTrade"]["ok"] == json!(true))
}

async fn healthy(addr: SocketAddr) -> bool {
    reqwest::get(format!("http://{addr}/health"))
        .await
        .is_ok_and(|r| r.status().as_u16() == 200)
}

/// A faulted trade on `serve`: the entry's create goes over the order-entry stream (`auto`
/// routing, once the stream is up) and lands, but the socket dies before the answer
/// (`ws/trade-lose`), then every WebSocket is dropped, then TP1 fills, then the trade is
/// closed. Returns the exchange's executions of the trade (execId, orderLinkId).
async fn faulted_trade(emu: &Emulator, addr: SocketAddr, tag: &str) -> Vec<(String, String)> {
    eventually("serve healthy", || healthy(addr)).await;
    eventually("the order-entry stream up", || trade_ready(addr)).await;
    control(emu, "ws/trade-lose", json!({"count": 1})).await;
    let (code, answer) = api(addr, "/api/trades", &plan(tag)).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["trade"]["phase"], "IN_POSITION", "{answer}");
    // The order-entry stream reconnects after the lost answer's cut.
    eventually("the order-entry stream back", || trade_ready(addr)).await;
    let connections = emu.truth()["faults"]["wsConnections"].as_u64().unwrap();
    control(emu, "ws/drop", json!({})).await;
    eventually("every stream back", || async {
        emu.truth()["faults"]["wsConnections"].as_u64() == Some(connections)
            && healthy(addr).await
            && trade_ready(addr).await
    })
    .await;
    control(emu, "price", json!({"symbol": "BTCUSDT", "price": "51000"})).await;
    let tp1 = format!("andre_TP1_{tag}");
    eventually("TP1 filled", || async {
        emu.truth()["executions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["orderLinkId"] == tp1.as_str())
    })
    .await;
    let (code, answer) = api(addr, &format!("/api/trades/{tag}/close"), &json!({})).await;
    assert_eq!(code, 200, "{answer}");
    let suffix = format!("_{tag}");
    emu.truth()["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["orderLinkId"]
                .as_str()
                .is_some_and(|l| l.ends_with(&suffix))
        })
        .map(|e| {
            (
                e["execId"].as_str().unwrap().to_owned(),
                e["orderLinkId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn serve(emu: &Emulator, journal: &Path, extra: &[&str], rust_log: Option<&str>) -> Logged {
    Logged::spawn(serve_command(emu, journal, extra, rust_log))
}

pub(crate) fn serve_command(
    emu: &Emulator,
    journal: &Path,
    extra: &[&str],
    rust_log: Option<&str>,
) -> Command {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut command = command(emu, journal, &args);
    if let Some(filter) = rust_log {
        command.env("RUST_LOG", filter);
    }
    command
}

fn count(lines: &[String], needles: &[&str]) -> usize {
    lines
        .iter()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}

/// With `RUST_LOG=info`, a faulted trade on `serve` writes one line
/// per order sent and acked (tag, leg, orderLinkId), one per fill (each execId once, with the
/// trade and leg) and one per stream reconnect. Stdout stays the CLI's own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_at_info_logs_each_order_fill_and_reconnect_of_a_faulted_trade() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let process = serve(&emu, &dir.path().join("journal.sqlite"), &[], Some("info"));
    let tag = "LOG_INFO";
    let fills = faulted_trade(&emu, process.addr, tag).await;
    let exchange = emu.truth();
    // After a live lifecycle every metric label is from its documented set.
    let metrics = reqwest::get(format!("http://{}/metrics", process.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    crate::messages::assert_bounded_labels(&metrics);
    let lines = process.stop();
    let text = lines.join("\n");
    println!("RUST_LOG=info: {} lines for the faulted trade", lines.len());

    assert!(
        !text.contains(" DEBUG ") && !text.contains(" TRACE "),
        "RUST_LOG=info let lower levels through:\n{text}"
    );
    // Every order the exchange saw created: sent and acked (or found), each once per send.
    let creates = exchange["requests"]["createsByOrderLinkId"]
        .as_object()
        .unwrap();
    let ours: Vec<&String> = creates.keys().filter(|l| l.ends_with(tag)).collect();
    assert!(ours.len() >= 5, "entry, DCA1, TP1-3 at least: {creates:?}");
    for link in ours {
        let leg = link.split('_').nth(1).unwrap();
        let fields = [
            &format!("tag=\"{tag}\"") as &str,
            &format!("leg=\"{leg}\""),
            &format!("order_link_id=\"{link}\""),
        ];
        let sent = count(&lines, &[&["order sent"][..], &fields[..]].concat());
        assert!(sent >= 1, "no 'order sent' line for {link}:\n{text}");
        let settled = count(&lines, &[&["order acked"][..], &fields[..]].concat())
            + count(
                &lines,
                &[&["order found by orderLinkId"][..], &fields[..]].concat(),
            );
        assert!(settled >= 1, "{link} neither acked nor found:\n{text}");
    }
    // The entry's lost reply: one unknown-outcome line, then the resolution by lookup.
    let entry = format!("andre_ENTRY_{tag}");
    assert_eq!(
        count(&lines, &["order sent", &entry]),
        1,
        "the entry is sent once by the gateway:\n{text}"
    );
    assert_eq!(
        count(
            &lines,
            &[
                "order outcome unknown; looking it up by orderLinkId",
                &entry
            ]
        ),
        1,
        "the lost reply is not logged once:\n{text}"
    );
    assert_eq!(
        count(&lines, &["bybit request failed; retrying", &entry]),
        0,
        "the REST client re-sent the create on its own (the policy owns re-sends):\n{text}"
    );
    // One line per fill: each of the exchange's execIds exactly once, with tag and leg.
    assert!(
        fills.len() >= 3,
        "entry, TP1 and the close filled: {fills:?}"
    );
    for (exec_id, link) in &fills {
        let leg = link.split('_').nth(1).unwrap();
        assert_eq!(
            count(
                &lines,
                &[
                    " fill ",
                    &format!("exec_id={exec_id}"),
                    &format!("tag=\"{tag}\""),
                    &format!("leg=\"{leg}\""),
                    &format!("order_link_id=\"{link}\""),
                ]
            ),
            1,
            "fill {exec_id} of {link} not logged exactly once:\n{text}"
        );
    }
    assert_eq!(
        count(&lines, &[" fill ", &format!("tag=\"{tag}\"")]),
        fills.len(),
        "a fill line for a fill the exchange does not have:\n{text}"
    );
    // The dropped streams: one reconnect line each.
    for stream in ["stream=\"public\"", "stream=\"private\""] {
        assert_eq!(
            count(&lines, &["WebSocket reconnected", stream]),
            1,
            "{stream}:\n{text}"
        );
    }
    assert_eq!(
        count(
            &lines,
            &["WebSocket re-authenticated", "stream=\"private\""]
        ),
        1,
        "{text}"
    );
    assert!(
        count(
            &lines,
            &["trade phase", &format!("tag=\"{tag}\""), "CLOSED"]
        ) >= 1,
        "{text}"
    );
}

/// `--log-format json`: every stderr line is one JSON object with a level, a target and the
/// message among its fields; and the whole faulted lifecycle at TRACE (a dropped private
/// stream, a 10006 rate limit, a create whose reply is lost and whose re-send times out)
/// writes neither the API secret, nor its hex, nor any signature (64 hex digits: every
/// HMAC-SHA256 the client sends, REST and WebSocket auth) on any line (R-CFG-4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_parse_and_a_trace_level_faulted_lifecycle_never_logs_the_secret() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let process = serve(
        &emu,
        &dir.path().join("journal.sqlite"),
        &["--log-format", "json", "--log-level", "trace"],
        // --log-level wins over RUST_LOG.
        Some("error"),
    );
    control(&emu, "fail", json!({"count": 1, "retCode": 10006})).await;
    let fills = faulted_trade(&emu, process.addr, "LOG_TRACE").await;
    assert!(!fills.is_empty());
    let lines = process.stop();
    println!("TRACE: {} JSON lines checked for the secret", lines.len());
    assert!(
        lines.len() > 100,
        "TRACE wrote only {} lines: {lines:?}",
        lines.len()
    );

    let mut levels = std::collections::BTreeSet::new();
    for line in &lines {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        let level = v["level"].as_str().unwrap_or_else(|| panic!("{line}"));
        levels.insert(level.to_owned());
        assert!(v["target"].is_string(), "no target: {line}");
        assert!(v["fields"].is_object(), "no fields: {line}");
        assert!(v["fields"]["message"].is_string(), "no message: {line}");
    }
    assert!(levels.contains("TRACE"), "{levels:?}");
    assert!(levels.contains("INFO"), "{levels:?}");
    // The structured fields of an order line are JSON fields.
    let sent = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["fields"]["message"] == "order sent" && v["fields"]["leg"] == "ENTRY")
        .expect("an 'order sent' line for the entry");
    assert_eq!(sent["fields"]["tag"], "LOG_TRACE", "{sent}");
    assert_eq!(
        sent["fields"]["order_link_id"], "andre_ENTRY_LOG_TRACE",
        "{sent}"
    );

    let secret_hex = hex(SECRET.as_bytes());
    for line in &lines {
        assert!(!line.contains(SECRET), "the secret is logged: {line}");
        assert!(
            !line.to_ascii_lowercase().contains(&secret_hex),
            "the secret's hex is logged: {line}"
        );
        assert!(
            !has_hex_run(line, 64),
            "a signature (64 hex digits) is logged: {line}"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `line` holds `n` hex digits in a row (an HMAC-SHA256 signature is 64).
fn has_hex_run(line: &str, n: usize) -> bool {
    let mut run = 0;
    for c in line.chars() {
        if c.is_ascii_hexdigit() {
            run += 1;
            if run >= n {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Paper routing logs its fills too, through the same one line (exec-gateway's
/// `record_fill_logged`, called where the paper router journals a fill): the entry's fill
/// once, with the trade tag and leg.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_serve_logs_each_fill_once_with_tag_and_leg() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve_command(&emu, &dir.path().join("journal.sqlite"), &[], Some("info"));
    command.env("EXECUTION_ROUTING", "paper");
    let process = Logged::spawn(command);
    eventually("paper serve healthy", || healthy(process.addr)).await;
    let (code, answer) = api(process.addr, "/api/trades", &plan("LOG_PAPER")).await;
    assert_eq!(code, 200, "{answer}");
    let lines = process.stop();
    let text = lines.join("\n");
    let entry = [
        " fill ",
        "tag=\"LOG_PAPER\"",
        "leg=\"ENTRY\"",
        "order_link_id=\"andre_ENTRY_LOG_PAPER\"",
    ];
    assert!(count(&lines, &entry) >= 1, "no entry fill line:\n{text}");
    let mut ids: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains(" fill "))
        .map(|l| {
            l.split("exec_id=")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
        })
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "a fill logged twice:\n{text}");
}

/// A filter that cannot be read is refused with the flag or variable it came from, before
/// anything runs (a typo must not silently log nothing).
#[test]
fn an_unreadable_log_filter_is_refused_naming_where_it_came_from() {
    let run = |args: &[&str], rust_log: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bybit-exec"));
        command.args(args).env_clear();
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let out = command.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stderr) = run(&["--log-level", "bybit_rest=loud", "journal", "X"], None);
    assert!(
        !ok && stderr.contains("--log-level \"bybit_rest=loud\""),
        "{stderr}"
    );
    let (ok, stderr) = run(&["journal", "X"], Some("bybit_rest=loud"));
    assert!(
        !ok && stderr.contains("RUST_LOG \"bybit_rest=loud\""),
        "{stderr}"
    );
    let (_, stderr) = run(&["--log-format", "yaml", "journal", "X"], None);
    assert!(stderr.contains("--log-format"), "{stderr}");
}
