//! `serve --nats` as an operator runs it: `bybit-exec serve` processes on one account, a real
//! `nats-server -js` (SKIPPED when none is installed, outside CI) and the emulator, judged
//! against the emulator's own record of what arrived (`/emulator/state`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use bybit_emulator::Emulator;
use exec_events::Event;
use exec_gateway::{Journal, MemoryJournal};
use exec_nats::commands::{publish_command, Operation};
use exec_nats::events::EventReader;
use exec_nats::{Account, Bus, BusConfig};
use futures_util::StreamExt;
use serde_json::{json, Value};
use testkit::nats::NatsServer;

use crate::support::{self, control, eventually_within as until, KEY, SECRET};

const ACCOUNT: &str = "acct";
/// The lease's TTL for these runs: short, so a takeover takes seconds.
const TTL: Duration = Duration::from_secs(4);
/// How long a command may stay unacknowledged before it is delivered again.
const ACK_WAIT: &str = "3s";

/// One `bybit-exec serve --nats` process.
struct Gateway {
    name: &'static str,
    child: Child,
    lines: Receiver<String>,
    printed: Vec<String>,
    log: PathBuf,
}

impl Gateway {
    fn spawn(name: &'static str, emu: &Emulator, nats: &str, dir: &Path) -> Gateway {
        let log = dir.join(format!("{name}.log"));
        let journal = dir.join(format!("{name}.sqlite"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_bybit-exec"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--nats",
                nats,
                "--account",
                ACCOUNT,
                "--lease-ttl",
                &format!("{}s", TTL.as_secs()),
                "--command-ack-wait",
                ACK_WAIT,
            ])
            .env_clear()
            .env("EXECUTION_ROUTING", "live")
            .env("BYBIT_REST_URL", emu.http_url())
            .env("BYBIT_WS_PUBLIC_URL", emu.public_ws_url())
            .env("BYBIT_WS_PRIVATE_URL", emu.private_ws_url())
            .env("BYBIT_API_KEY", KEY)
            .env("BYBIT_API_SECRET", SECRET)
            .env("EXECUTION_JOURNAL", &journal)
            .env("EXECUTION_ERROR_LOG", "none")
            .env("EXECUTION_SYMBOLS", "BTCUSDT")
            .env("EXECUTION_POLL_INTERVAL_MS", "500")
            .env("EXECUTION_RECONCILE_MS", "500")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let lines = support::stdout_lines(&mut child);
        Gateway {
            name,
            child,
            lines,
            printed: Vec::new(),
            log,
        }
    }

    /// Waits for a printed line containing `needle`; when it was read, and the line.
    fn wait_for(&mut self, needle: &str, within: Duration) -> (Instant, String) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let at = Instant::now();
                    self.printed.push(line.clone());
                    if line.contains(needle) {
                        return (at, line);
                    }
                }
                Err(_) => panic!(
                    "{} did not print {needle:?} within {within:?}; it printed:\n{}\nits log's \
                     end:\n{}",
                    self.name,
                    self.printed.join("\n"),
                    tail(&self.log)
                ),
            }
        }
    }

    /// Whether it printed a line containing `needle` so far (without waiting).
    fn has_printed(&mut self, needle: &str) -> bool {
        while let Ok(line) = self.lines.try_recv() {
            self.printed.push(line);
        }
        self.printed.iter().any(|l| l.contains(needle))
    }

    /// The status page's address, from the "holds account" line.
    fn addr(&self) -> String {
        self.printed
            .iter()
            .find_map(|l| l.split("status page http://").nth(1))
            .and_then(|rest| rest.split('/').next())
            .map(str::to_owned)
            .expect("a holder's status page line")
    }

    fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, as a service manager stops it.
    fn terminate(&mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running after {within:?}; its log's end:\n{}",
                self.name,
                tail(&self.log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Gateway `a` holding the account and `b` standing by; `b`'s standby line (it names its
/// `/health`).
fn holder_and_standby(emu: &Emulator, nats: &NatsServer, dir: &Path) -> (Gateway, Gateway, String) {
    let mut a = Gateway::spawn("a", emu, &nats.url(), dir);
    a.wait_for("holds account", Duration::from_secs(60));
    let mut b = Gateway::spawn("b", emu, &nats.url(), dir);
    let (_, line) = b.wait_for("standby for account", Duration::from_secs(60));
    (a, b, line)
}

/// The test's own client of the bus, as a state machine would connect.
async fn client(nats: &NatsServer) -> Bus {
    let mut config = BusConfig::new(nats.url(), Account::new(ACCOUNT).unwrap());
    config.lease_ttl = TTL;
    config.renew_every = TTL / 5;
    config.request_timeout = TTL / 5;
    Bus::connect(config).await.unwrap()
}

fn plan(tag: &str, tp: &str) -> Value {
    json!({
        "symbol": "BTCUSDT", "side": "Buy", "margin_usdt": "100", "leverage": "5",
        "tp_levels": [{"price": tp, "share": "1"}], "client_tag": tag,
    })
}

/// Every fill of the trade's event subject, in stream order, read until `count` are there.
async fn fills_on_the_event_stream(bus: &Bus, tag: &str, count: usize) -> Vec<String> {
    let mut reader = EventReader::open_trade(bus, Some(tag), 0).await.unwrap();
    let mut fills = Vec::new();
    while fills.len() < count {
        let stored = tokio::time::timeout(Duration::from_secs(30), reader.next())
            .await
            .unwrap_or_else(|_| panic!("only {} fills of {tag} on the event stream", fills.len()))
            .expect("reader open")
            .expect("an event");
        if let Event::Fill(fill) = stored.event {
            fills.push(fill.exec_id);
        }
    }
    fills
}

/// The last sequence `stream` holds now.
async fn last_sequence(bus: &Bus, stream: &str) -> u64 {
    let mut stream = bus.jetstream().get_stream(stream).await.unwrap();
    stream.info().await.unwrap().state.last_sequence
}

/// Every fill of the trade's event subject stored now, in stream order (read to the stream's
/// last sequence): a fill stored twice shows twice.
async fn every_fill_on_the_event_stream(bus: &Bus, tag: &str) -> Vec<String> {
    let last = last_sequence(bus, &bus.names().event_stream()).await;
    let mut reader = EventReader::open(bus, 0).await.unwrap();
    let subject = bus.names().event_subject(Some(tag));
    let mut fills = Vec::new();
    loop {
        let stored = tokio::time::timeout(Duration::from_secs(10), reader.next())
            .await
            .expect("the event stream read to its end")
            .expect("reader open")
            .expect("an event");
        if stored.subject == subject {
            if let Event::Fill(fill) = stored.event {
                fills.push(fill.exec_id);
            }
        }
        if stored.sequence >= last {
            return fills;
        }
    }
}

/// The emulator's executions of `tag`'s orders, by execId.
fn executions_of(state: &Value, tag: &str) -> BTreeSet<String> {
    let suffix = format!("_{tag}");
    state["executions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| {
            x["orderLinkId"]
                .as_str()
                .is_some_and(|l| l.ends_with(&suffix))
        })
        .filter_map(|x| x["execId"].as_str().map(str::to_owned))
        .collect()
}

/// Creates that reached the exchange per orderLinkId of `tag`, REST and the order stream
/// together, and how many orders the exchange holds per orderLinkId.
fn creates_and_orders(state: &Value, tag: &str) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let suffix = format!("_{tag}");
    let creates = state["requests"]["createsByOrderLinkId"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(link, _)| link.ends_with(&suffix))
        .map(|(link, n)| (link.clone(), n.as_u64().unwrap()))
        .collect();
    let mut orders = BTreeMap::new();
    for key in ["openOrders", "closedOrders"] {
        for order in state[key].as_array().into_iter().flatten() {
            if let Some(link) = order["orderLinkId"]
                .as_str()
                .filter(|l| l.ends_with(&suffix))
            {
                *orders.entry(link.to_owned()).or_default() += 1;
            }
        }
    }
    (creates, orders)
}

/// The replicated journal, rebuilt as a new holder would: its fills' execIds, each once.
async fn replicated_fills(bus: &Bus) -> Vec<String> {
    let stream = bus.names().journal_stream();
    let last = last_sequence(bus, &stream).await;
    let journal = MemoryJournal::new();
    exec_nats::journal::replay(bus, &journal, last)
        .await
        .unwrap();
    journal
        .fills("")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.exec_id)
        .collect()
}

/// SPEC R-GW-1 across hosts: the holder is killed (`kill -9`) while its entry's answer is
/// still on its way; the standby takes the lease within the TTL and one renewal, rebuilds the
/// journal from the bus, finishes the trade (its take-profit placed), and answers the command
/// its predecessor never acknowledged. Not one orderLinkId reaches the exchange twice, and
/// each fill is once in the replicated journal and once on the event stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_mid_trade_is_replaced_by_the_standby_without_a_second_order() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let emu = support::emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b, line) = holder_and_standby(&emu, &nats, dir.path());
    assert!(!b.has_printed("took the lease"), "two holders");
    // The standby answers /health: who holds the account.
    let standby = line
        .split("health http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the standby's health address")
        .to_owned();
    until(
        "the standby sees the holder",
        Duration::from_secs(10),
        || async {
            let seen = health_at(&standby).await;
            seen["role"] == "standby" && seen["holder"].is_string() && seen["epoch"] == 1
        },
    )
    .await;
    let bus = client(&nats).await;

    // The entry lands and fills at once, but its answer is held: the holder is mid-trade.
    control(&emu, "ws/trade-hold", json!({"count": 1, "ms": 20000})).await;
    let inbox = bus.client().new_inbox();
    let mut answers = bus.client().subscribe(inbox.clone()).await.unwrap();
    let (_, duplicate) = publish_command(
        &bus,
        "t1",
        Operation::ExecuteEntry,
        Some(plan("t1", "60000")),
        Some(&inbox),
    )
    .await
    .unwrap();
    assert!(!duplicate);
    let entry_fill = fills_on_the_event_stream(&bus, "t1", 1).await;
    let state = emu.truth();
    assert!(
        !creates_and_orders(&state, "t1")
            .0
            .contains_key("andre_TP1_t1"),
        "the take-profit was placed before the kill: not mid-trade"
    );
    let killed = Instant::now();
    a.kill_9();

    let (took, line) = b.wait_for("took the lease", TTL * 3);
    let waited = took.duration_since(killed);
    eprintln!("the standby took the lease {waited:?} after the kill ({line})");
    assert!(
        waited <= TTL + TTL / 5 + Duration::from_millis(800),
        "the standby took the lease {waited:?} after the kill: more than the TTL ({TTL:?}) \
         and one renewal ({line})"
    );
    // A hot standby: it followed the dead holder's records while waiting, so the takeover
    // only had its own takeover record to catch up with.
    let (_, rebuilt) = b.wait_for("journal rebuilt from the bus", Duration::from_secs(30));
    let followed: usize = rebuilt
        .split("bus: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{rebuilt}"));
    assert!(
        followed >= 2,
        "the plan and the entry's intent followed: {rebuilt}"
    );
    assert!(rebuilt.contains(", 0 more at the takeover"), "{rebuilt}");
    b.wait_for("holds account", Duration::from_secs(60));

    // The standby finishes the trade: the take-profit is placed.
    until(
        "the take-profit on the exchange",
        Duration::from_secs(30),
        || async {
            let state = emu.truth();
            state["openOrders"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["orderLinkId"] == "andre_TP1_t1")
        },
    )
    .await;

    // The command the dead holder took was never acknowledged: the new holder gets it after
    // the ack wait and answers it from the trade's state, without a second order.
    let answer = tokio::time::timeout(Duration::from_secs(30), answers.next())
        .await
        .expect("the redelivered command answered")
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer.payload).unwrap();
    assert_eq!(answer["op"], "execute_entry", "{answer}");
    let status = answer["status"].as_u64().unwrap();
    assert!(
        status == 200 || status == 409,
        "the repeated entry is answered from the trade, not executed: {answer}"
    );

    // The same command again with the same id: the stream stores it once.
    let (_, duplicate) = publish_command(
        &bus,
        "t1",
        Operation::ExecuteEntry,
        Some(plan("t1", "60000")),
        None,
    )
    .await
    .unwrap();
    assert!(
        duplicate,
        "a command published twice with one id is stored once"
    );

    let state = emu.truth();
    let (creates, orders) = creates_and_orders(&state, "t1");
    assert_eq!(
        creates.get("andre_ENTRY_t1"),
        Some(&1),
        "the entry reached the exchange once: {creates:?}"
    );
    assert_eq!(creates.get("andre_TP1_t1"), Some(&1), "{creates:?}");
    assert!(orders.values().all(|n| *n == 1), "{orders:?}");
    let executions = executions_of(&state, "t1");
    assert_eq!(executions.len(), 1, "one fill: the entry's");
    let on_stream = every_fill_on_the_event_stream(&bus, "t1").await;
    assert_eq!(on_stream, entry_fill, "each fill once on the event stream");
    let journaled = replicated_fills(&bus).await;
    assert_eq!(
        journaled.iter().cloned().collect::<BTreeSet<_>>(),
        executions,
        "the replicated journal holds each of the exchange's fills"
    );
    assert_eq!(journaled.len(), executions.len(), "each fill once");

    // The new holder's page and metrics show the lease.
    let bus_health = health(&b).await["bus"].clone();
    assert_eq!(bus_health["role"], "leader", "{bus_health}");
    assert!(bus_health["maySend"].is_null(), "{bus_health}");
    assert!(bus_health["epoch"].as_u64() > Some(1), "{bus_health}");
    let addr = b.addr();
    let metrics = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .header("host", &addr)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("bybit_exec_bus_lease_may_send 1"),
        "the metrics show the lease held"
    );
}

async fn health(gateway: &Gateway) -> Value {
    health_at(&gateway.addr()).await
}

async fn health_at(addr: &str) -> Value {
    reqwest::Client::new()
        .get(format!("http://{addr}/health"))
        .header("host", addr)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Sends `op` for `tag` and waits for its answer.
async fn ask(bus: &Bus, tag: &str, op: Operation, plan: Option<Value>) -> Value {
    let inbox = bus.client().new_inbox();
    let mut answers = bus.client().subscribe(inbox.clone()).await.unwrap();
    publish_command(bus, tag, op, plan, Some(&inbox))
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(60), answers.next())
        .await
        .unwrap_or_else(|_| panic!("no answer to {op} {tag}"))
        .unwrap();
    serde_json::from_slice(&answer.payload).unwrap()
}

/// Opens trade `tag` with one take-profit at `tp` over the bus; answered 200.
async fn enter(bus: &Bus, tag: &str, tp: &str) {
    let answer = ask(bus, tag, Operation::ExecuteEntry, Some(plan(tag, tp))).await;
    assert_eq!(answer["status"], 200, "{answer}");
}

/// The bus's server restarted mid-trade. Away for less than the lease's TTL: the holder keeps
/// the lease and the trade, and the fill that happened meanwhile reaches the event stream after
/// the outage, once. Away for longer: the holder stops sending orders before its lease could
/// have expired (it cannot know whether a standby took over), refuses a control call clearly,
/// loses the lease when the server is back and exits; the standby takes over and finishes the
/// trade. No orderLinkId reaches the exchange twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_away_shorter_than_the_ttl_keeps_the_holder_and_longer_hands_the_trade_on() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let emu = support::emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b, _) = holder_and_standby(&emu, &nats, dir.path());
    let bus = client(&nats).await;

    // Shorter: a trade with a resting take-profit, which fills while the server is away.
    enter(&bus, "t2", "50500").await;
    let epoch = health(&a).await["bus"]["epoch"].clone();
    let away = Instant::now();
    nats.kill();
    control(
        &emu,
        "price",
        json!({"symbol": "BTCUSDT", "price": "50600"}),
    )
    .await;
    until("the take-profit's fill waits for the bus", TTL, || async {
        health(&a).await["bus"]["eventsPending"].as_u64() > Some(0)
    })
    .await;
    tokio::time::sleep((TTL / 2).saturating_sub(away.elapsed())).await;
    nats.start_again();
    until(
        "the holder caught up with the bus",
        Duration::from_secs(20),
        || async {
            let bus = health(&a).await["bus"].clone();
            bus["ok"] == true && bus["journalPending"] == 0 && bus["eventsPending"] == 0
        },
    )
    .await;
    assert_eq!(health(&a).await["bus"]["epoch"], epoch, "the same lease");
    assert!(!b.has_printed("took the lease"), "the standby took over");
    let state = emu.truth();
    let executions = executions_of(&state, "t2");
    assert_eq!(
        executions.len(),
        2,
        "the entry's fill and the take-profit's"
    );
    let on_stream = every_fill_on_the_event_stream(&bus, "t2").await;
    assert_eq!(
        on_stream.iter().cloned().collect::<BTreeSet<_>>(),
        executions,
        "the fill from the outage arrived after it"
    );
    assert_eq!(on_stream.len(), executions.len(), "each fill once");

    // Longer: a trade with a resting take-profit, and the server away for twice the TTL.
    enter(&bus, "t3", "52000").await;
    let away = Instant::now();
    nats.kill();
    until("the holder stops sending", TTL, || async {
        health(&a).await["bus"]["maySend"].is_string()
    })
    .await;
    let stopped = away.elapsed();
    assert!(
        stopped < TTL,
        "the holder stopped sending {stopped:?} after the server left: not before its lease \
         ({TTL:?}) could have expired"
    );
    // A control call meanwhile is refused, and says why; nothing is sent.
    let addr = a.addr();
    let refused = reqwest::Client::new()
        .post(format!("http://{addr}/api/trades/t3/close"))
        .header("host", &addr)
        .header("x-bybit-exec", "1")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = refused.status();
    let body = refused.text().await.unwrap();
    eprintln!("a control call while the lease may have expired: {status} {body}");
    assert!(status.is_server_error(), "{status} {body}");
    assert!(
        body.contains("lease"),
        "the refusal names the lease: {body}"
    );
    tokio::time::sleep((TTL * 2).saturating_sub(away.elapsed())).await;
    nats.start_again();
    let (_, lost) = a.wait_for("lost the lease", Duration::from_secs(30));
    assert!(lost.contains("no order is sent"), "{lost}");
    let exit = a.wait_exit(Duration::from_secs(10));
    assert!(
        !exit.success(),
        "a holder that lost its lease exits with an error"
    );
    b.wait_for("holds account", Duration::from_secs(60));
    let answer = ask(&bus, "t3", Operation::CloseAll, None).await;
    assert_eq!(
        answer["status"], 200,
        "the next holder closes the trade: {answer}"
    );

    let state = emu.truth();
    for tag in ["t2", "t3"] {
        let (creates, orders) = creates_and_orders(&state, tag);
        assert!(creates.values().all(|n| *n == 1), "{tag}: {creates:?}");
        assert!(orders.values().all(|n| *n == 1), "{tag}: {orders:?}");
    }
    let executions = executions_of(&state, "t3");
    assert_eq!(executions.len(), 2, "the entry's fill and the close's");
    let on_stream = every_fill_on_the_event_stream(&bus, "t3").await;
    assert_eq!(
        on_stream.iter().cloned().collect::<BTreeSet<_>>(),
        executions
    );
    assert_eq!(on_stream.len(), executions.len(), "each fill once");

    // A clean stop: the command in hand answered, the journal flushed, the lease released,
    // within SPEC's 5 s.
    let asked = Instant::now();
    b.terminate();
    let exit = b.wait_exit(Duration::from_secs(6));
    assert!(exit.success(), "{exit:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert!(b.has_printed("stopped"));
    let lease = exec_nats::lease::Lease::open(&bus).await.unwrap();
    assert_eq!(
        lease.current().await.unwrap(),
        None,
        "released, not left to expire"
    );
}
