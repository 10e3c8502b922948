//! What the operator is told: an HTTP 403 is an IP ban with the time it ends, in
//! the ops commands and serve's status; a slow start says what it is waiting for.

use std::time::{Duration, SystemTime};

use bybit_exec::ops::{self, OpsCommand, Output};
use serde_json::{json, Value};

use crate::logs::{serve_command, Logged};
use crate::support::control;
use crate::support::{emulator, eventually, settings};

const JSON: Output = Output { json: true };

/// `HH:MM:SS` (UTC) in `text` after "until ", as seconds of the day.
fn until_in(text: &str) -> u64 {
    let at = text
        .split("IP banned by Bybit (HTTP 403) until ")
        .nth(1)
        .unwrap_or_else(|| panic!("no ban in {text}"));
    let parts: Vec<u64> = at[..8].split(':').map(|p| p.parse().unwrap()).collect();
    assert_eq!(&at[8..12], " UTC", "{text}");
    parts[0] * 3600 + parts[1] * 60 + parts[2]
}

/// Seconds of the day (UTC) `ahead` from now.
fn clock_in(ahead: Duration) -> u64 {
    (SystemTime::now() + ahead)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 86_400
}

/// Bybit answers HTTP 403 when an IP breaches its limit and the ban lasts at least 10
/// minutes, lifted automatically; the reply says nothing of when (docs/v5/rate-limit/
/// rate-limit.mdx, "IP rate limit"; REFERENCE.md §3). The emulator's `/emulator/ip-ban`
/// answers so. `status`, `balance` and serve's `/api/status` say "IP banned by Bybit (HTTP
/// 403) until HH:MM:SS UTC", the 403 plus the documented 10 minutes, never "rate limited".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_ban_is_named_with_its_end_by_the_ops_commands_and_serve() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = Logged::start(serve_command(
        &emu,
        &dir.path().join("journal.sqlite"),
        &[],
        Some("info"),
    ))
    .serving();
    let addr = serve.addr;
    control(&emu, "ip-ban", json!({"seconds": 600})).await;
    let before = clock_in(Duration::from_secs(600));

    // `status`: R-HEALTH-1's JSON with the reason REST is down.
    let done = ops::execute(&OpsCommand::Status(JSON), settings(&emu))
        .await
        .unwrap();
    let after = clock_in(Duration::from_secs(600));
    let status: Value = serde_json::from_str(&done.text).unwrap();
    assert_eq!(status["rest"]["ok"], false, "{status}");
    let error = status["rest"]["error"].as_str().unwrap_or_default();
    let until = until_in(error);
    assert!(
        (before..=after).contains(&until) || before > after,
        "{until} not 10 minutes from now: {error}"
    );
    assert!(!error.contains("rate limited"), "{error}");

    // `balance`: the command fails with the ban and its end.
    let failed = ops::execute(&OpsCommand::Balance(JSON), settings(&emu)).await;
    let text = match failed {
        Ok(done) => done.text,
        Err(e) => format!("{e:#}"),
    };
    until_in(&text);
    assert!(!text.contains("rate limited"), "{text}");

    // serve: the status page's REST part says it too, at its next refresh.
    eventually("serve's status names the ban", || async {
        reqwest::get(format!("http://{addr}/api/status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("IP banned by Bybit (HTTP 403) until ")
    })
    .await;
    control(&emu, "reset", json!({})).await;
    let lines = serve.stop();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("IP banned by Bybit (HTTP 403) until ")),
        "the ban is not logged: {lines:#?}"
    );
}

/// A start whose public stream does not answer (the emulator's `ws/mute` for `public`: the
/// ticker subscription is never acknowledged) says every few seconds what it is waiting for,
/// at info, then serves once the stream answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_start_says_what_it_is_still_waiting_for() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    control(&emu, "ws/mute", json!({"stream": "public"})).await;
    let starting = Logged::start(serve_command(
        &emu,
        &dir.path().join("journal.sqlite"),
        &[],
        Some("info"),
    ));
    let waiting = "still waiting for the public stream to acknowledge the ticker topics (";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !starting.lines().iter().any(|l| l.contains(waiting)) {
        assert!(
            std::time::Instant::now() < deadline,
            "no progress line: {:#?}",
            starting.lines()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    control(&emu, "ws/unmute", json!({"stream": "public"})).await;
    let serve = starting.serving();
    let lines = serve.stop();
    let progress: Vec<&String> = lines.iter().filter(|l| l.contains(waiting)).collect();
    assert!(
        progress.iter().all(|l| l.contains(" INFO ")),
        "{progress:#?}"
    );
    // Each says how long so far: "(2s)", then more.
    let seconds: Vec<u64> = progress
        .iter()
        .map(|l| {
            l.split(waiting)
                .nth(1)
                .unwrap()
                .split('s')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(seconds[0] >= 2, "{progress:#?}");
    assert!(seconds.windows(2).all(|w| w[0] < w[1]), "{progress:#?}");
}

/// Every sample's labels in a Prometheus text: (metric, [(label, value)]).
fn samples(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line.split(' ').next().unwrap(), ""),
        };
        let mut labels = Vec::new();
        let mut chars = rest.chars().peekable();
        while chars.peek().is_some_and(|c| *c != '}') {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut value = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.push(chars.next().unwrap()),
                    '"' => break,
                    c => value.push(c),
                }
            }
            labels.push((key.trim_start_matches(',').to_owned(), value));
            if chars.peek() == Some(&',') {
                chars.next();
            }
        }
        out.push((name.to_owned(), labels));
    }
    out
}

/// Every label of every sample in `text` is one `label_values` documents, with a value from
/// its set (metric labels are bounded sets).
pub(crate) fn assert_bounded_labels(text: &str) {
    use bybit_exec::serve::metrics::label_values;
    let all = samples(text);
    assert!(!all.is_empty(), "no samples in {text}");
    for (name, labels) in all {
        for (label, value) in labels {
            if label == "le" || label == "quantile" {
                continue;
            }
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|b| label_values(b, &label).is_some())
                .unwrap_or(&name);
            let allowed = label_values(base, &label)
                .unwrap_or_else(|| panic!("{name}: label {label} is not documented"));
            assert!(
                allowed.contains(&value.as_str()),
                "{name}{{{label}=\"{value}\"}}: not in the documented set {allowed:?}"
            );
        }
    }
}

/// A dry-run trade's leverage is a field of the event and of the gateway's log line, not a
/// label: `bybit_exec_would_send_total{operation="set_leverage"}`, and every label of
/// `/metrics` after the lifecycle is from its documented set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_label_after_a_dry_run_trade_is_from_its_documented_set() {
    use bybit_exec::config::Routing;
    let emu = emulator().await;
    let mut s = settings(&emu);
    s.routing = Routing::DryRun;
    let server = bybit_exec::serve::Server::start(s, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.addr();
    let client = reqwest::Client::new();
    let post = |path: String, body: Value| {
        client
            .post(format!("http://{addr}{path}"))
            .header("X-Bybit-Exec", "1")
            .json(&body)
            .send()
    };
    let r = post("/api/trades".into(), crate::serve::plan("MET_DRY"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let r = post("/api/trades/MET_DRY/close".into(), json!({}))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_bounded_labels(&text);
    assert!(
        text.contains("bybit_exec_would_send_total{operation=\"set_leverage\"}"),
        "{text}"
    );
    assert!(server.stop().await, "a clean stop");
}

/// An ops command waiting on a slow exchange (the emulator holds its first request 3 s) says
/// so on stderr while its answer stays on stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ops_command_on_a_slow_exchange_says_what_it_is_waiting_for() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    control(&emu, "hold", json!({"count": 1, "ms": 3000})).await;
    let journal = dir.path().join("journal.sqlite");
    let mut command = crate::serve::command(&emu, &journal, &["balance", "--json"]);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("INFO")
            && stderr.contains("still waiting for the answers `balance` needs (2s)"),
        "{stderr}"
    );
    assert!(!stdout.contains("still waiting"), "{stdout}");
    let balance: Value = serde_json::from_str(&stdout).unwrap();
    assert!(balance.is_array() || balance.is_object(), "{balance}");
}
