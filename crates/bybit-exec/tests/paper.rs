//! Paper routing keeps its account in the journal file, so a paper `serve`
//! killed with SIGKILL (or stopped with SIGTERM) and started again on the same journal
//! continues where it stopped: the open trade, its position, its resting TP and DCA orders,
//! its balance; no order placed twice; a TP fill afterwards closes the trade (SPEC R-GW-6).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bybit_emulator::Emulator;
use exec_gateway::Journal;
use exec_journal::SqliteJournal;
use serde_json::{json, Value};

use crate::support::{emulator, eventually};

/// A `bybit-exec serve --routing paper` process on `journal`, public data from `emu`.
struct PaperServe {
    child: Child,
    addr: SocketAddr,
    printed: Vec<String>,
    /// Kept so the reader thread keeps reading: a closed pipe would fail serve's next print.
    _lines: mpsc::Receiver<String>,
}

impl PaperServe {
    fn spawn(emu: &Emulator, journal: &Path) -> PaperServe {
        let host = emu.http_url().trim_start_matches("http://").to_owned();
        let mut child = Command::new(env!("CARGO_BIN_EXE_bybit-exec"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("EXECUTION_ROUTING", "paper")
            .env("BYBIT_REST_URL", emu.http_url())
            .env(
                "BYBIT_WS_PUBLIC_URL",
                format!("ws://{host}/v5/public/linear"),
            )
            .env("BYBIT_WS_PRIVATE_URL", format!("ws://{host}/v5/private"))
            .env("EXECUTION_JOURNAL", journal)
            .env("EXECUTION_ERROR_LOG", "none")
            .env("EXECUTION_SYMBOLS", "BTCUSDT")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = crate::support::stdout_lines(&mut child);
        let (addr, printed) = crate::support::serving_addr(&lines, Duration::from_secs(20), |p| {
            format!("paper serve printed {p:?}")
        });
        PaperServe {
            child,
            addr,
            printed,
            _lines: lines,
        }
    }

    /// SIGKILL: no shutdown code runs.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM; the exit status within 5 s.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "serve did not exit within 5 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("http://{}{path}", self.addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn status(&self) -> Value {
        self.get("/api/status").await
    }

    async fn trade(&self, tag: &str) -> Value {
        self.get(&format!("/api/trades/{tag}")).await
    }
}

impl Drop for PaperServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a restart must keep: the trade's phase and legs, the position, the paper balance.
#[derive(Debug, PartialEq)]
struct Kept {
    phase: Value,
    filled: Value,
    /// Leg → (orderLinkId, status).
    legs: BTreeMap<String, (Value, Value)>,
    position: Value,
    balance: Value,
}

/// The status page's JSON once the exchange (the paper engine) has been read.
async fn read_status(serve: &PaperServe) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = serve.status().await;
        if status["positions"].is_array() {
            return status;
        }
        assert!(Instant::now() < deadline, "positions never read: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn kept(serve: &PaperServe, tag: &str) -> Kept {
    let trade = serve.trade(tag).await;
    let status = read_status(serve).await;
    let legs = trade["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["leg"].as_str().unwrap().to_owned(),
                (o["orderLinkId"].clone(), o["status"].clone()),
            )
        })
        .collect();
    let position = status["positions"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["symbol"] == "BTCUSDT"))
        .cloned()
        .unwrap_or(Value::Null);
    Kept {
        phase: trade["phase"].clone(),
        filled: trade["filledQty"].clone(),
        legs,
        position: json!({"side": position["side"], "size": position["size"],
                         "entryPrice": position["entryPrice"], "leverage": position["leverage"]}),
        // The wallet balance; what is available also moves with the mark price.
        balance: status["paperBalance"]["wallet"].clone(),
    }
}

/// The resting orders the status page lists for `tag`, by orderLinkId.
async fn resting(serve: &PaperServe, tag: &str) -> Vec<String> {
    let status = read_status(serve).await;
    let mut links: Vec<String> = status["trades"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["tag"] == tag)
        .flat_map(|t| t["openOrders"].as_array().cloned().unwrap_or_default())
        .map(|o| o["orderLinkId"].as_str().unwrap().to_owned())
        .collect();
    links.sort();
    links
}

/// The orders the paper engine holds (open and closed), as saved in the journal: orderLinkId
/// → how many orders carry it. Read with no serve running.
async fn paper_orders(journal: &Path) -> BTreeMap<String, usize> {
    let journal = SqliteJournal::open(journal).unwrap();
    let saved = journal
        .paper_account()
        .await
        .unwrap()
        .expect("the journal holds the paper account");
    let account: Value = serde_json::from_str(&saved).unwrap();
    // The journal's fills are the paper account's executions: each once, none missing.
    let mut executions: Vec<String> = account["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["exec_id"].as_str().unwrap().to_owned())
        .collect();
    let mut fills: Vec<String> = journal
        .fills("")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.exec_id)
        .collect();
    executions.sort();
    fills.sort();
    assert_eq!(
        fills, executions,
        "the journal's fills against the paper account's"
    );
    assert_eq!(fills.len(), 3, "the entry, TP1 and TP2 filled once each");
    let mut count = BTreeMap::new();
    for order in account["orders"].as_object().unwrap().values() {
        let link = order["link_id"].as_str().unwrap();
        // A position's own TP/SL (the breakeven stop) has no orderLinkId: nobody created it.
        if !link.is_empty() {
            *count.entry(link.to_owned()).or_insert(0) += 1;
        }
    }
    count
}

fn plan(tag: &str) -> Value {
    // The emulator's BTCUSDT stands still at 50 000 (support.rs) until the test moves it.
    json!({
        "symbol": "BTCUSDT",
        "side": "Buy",
        "margin_usdt": "40",
        "leverage": "25",
        "dca_levels": [{"price": "48000", "margin_usdt": "20"}],
        "tp_levels": [
            {"price": "51000", "share": "0.5"},
            {"price": "52000", "share": "0.5"}
        ],
        "client_tag": tag,
        // serve's manager closes the trade once its TPs leave it flat (and it is kept in the
        // journal file too, so it goes on after a restart).
        "manage": true,
    })
}

async fn set_price(emu: &Emulator, price: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/emulator/price", emu.http_url()))
        .json(&json!({"symbol": "BTCUSDT", "price": price}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_serve_killed_or_stopped_continues_its_account_and_trade_on_the_same_journal() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal-paper.sqlite");
    const TAG: &str = "PAPER_RESTART";

    let first = PaperServe::spawn(&emu, &journal);
    eventually("first paper serve healthy", || async {
        reqwest::get(format!("http://{}/health", first.addr))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let start_balance = first.status().await["paperBalance"]["wallet"].clone();
    assert!(start_balance.is_string(), "{start_balance}");
    let answer: Value = reqwest::Client::new()
        .post(format!("http://{}/api/trades", first.addr))
        .header("X-Bybit-Exec", "1")
        .json(&plan(TAG))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["trade"]["phase"], "IN_POSITION", "{answer}");
    let legs = [
        format!("andre_DCA1_{TAG}"),
        format!("andre_TP1_{TAG}"),
        format!("andre_TP2_{TAG}"),
    ];
    eventually("the TPs and the DCA rest", || async {
        resting(&first, TAG).await == legs
    })
    .await;
    let before = kept(&first, TAG).await;
    assert_eq!(before.phase, "IN_POSITION");
    assert_eq!(before.position["side"], "Buy", "{before:?}");
    assert_ne!(before.balance, start_balance, "the entry's fee is paid");

    // SIGKILL: nothing of the shutdown runs. The next serve finds the same trade.
    first.kill_9();
    let second = PaperServe::spawn(&emu, &journal);
    assert!(
        second
            .printed
            .iter()
            .any(|l| l == &format!("recovered trade {TAG}")),
        "printed {:?}",
        second.printed
    );
    assert_eq!(kept(&second, TAG).await, before, "after kill -9");
    assert_eq!(resting(&second, TAG).await, legs);

    // SIGTERM: a clean stop, and again the same trade.
    assert!(second.terminate().success());
    let third = PaperServe::spawn(&emu, &journal);
    assert_eq!(kept(&third, TAG).await, before, "after SIGTERM");
    assert_eq!(resting(&third, TAG).await, legs);

    // The market reaches both TPs: they fill on the restored account and the trade closes.
    set_price(&emu, "51500").await;
    // The manager moves the stop to breakeven after TP1, which cancels the DCA.
    let only_tp2 = vec![legs[2].clone()];
    let deadline = Instant::now() + Duration::from_secs(10);
    while resting(&third, TAG).await != only_tp2 || third.trade(TAG).await["phase"] != "BREAKEVEN" {
        assert!(
            Instant::now() < deadline,
            "TP1 did not fill: {}",
            third.status().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    set_price(&emu, "52500").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let trade = third.trade(TAG).await;
        if trade["phase"] == "CLOSED" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the TPs did not close the trade: {trade}\n{}",
            third.status().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The status page reads the exchange every few seconds: wait for a read after the close.
    eventually(
        "the page shows the position flat and nothing resting",
        || async {
            kept(&third, TAG).await.position["size"].is_null()
                && resting(&third, TAG).await.is_empty()
        },
    )
    .await;
    let closed_balance = kept(&third, TAG).await.balance;
    assert_ne!(
        closed_balance, before.balance,
        "the TPs' profit is in the balance"
    );
    assert!(third.terminate().success());

    // No order was placed twice: the paper engine holds each of the trade's orderLinkIds once
    // (the entry, the DCA, both TPs), and nothing else.
    let orders = paper_orders(&journal).await;
    let expected: BTreeMap<String, usize> = [
        format!("andre_ENTRY_{TAG}"),
        format!("andre_DCA1_{TAG}"),
        format!("andre_TP1_{TAG}"),
        format!("andre_TP2_{TAG}"),
    ]
    .into_iter()
    .map(|l| (l, 1))
    .collect();
    assert_eq!(orders, expected);

    // And the closed trade's balance is what the next serve starts from.
    let fourth = PaperServe::spawn(&emu, &journal);
    assert_eq!(
        fourth.status().await["paperBalance"]["wallet"],
        closed_balance
    );
    assert!(fourth.terminate().success());
}

/// A journal that holds paper fills but no saved account (written by a binary from before
/// the account was kept, or whose account row was lost): the new account starts afresh, and
/// its fills must still reach the journal. A fresh engine's ids always came from the same
/// seed, so its first fills carried the execIds of the journal's first paper fills and were
/// dropped as already journaled (`INSERT OR IGNORE` on the execId): the trade showed no fill
/// and no P&L.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_paper_account_on_a_journal_with_older_fills_journals_its_own_fills() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal-paper.sqlite");
    let entry_fills = async |tag: &str| {
        let link = format!("andre_ENTRY_{tag}");
        SqliteJournal::open(&journal)
            .unwrap()
            .fills(&link)
            .await
            .unwrap()
            .len()
    };
    let post = |serve: &PaperServe, tag: &'static str| {
        let url = format!("http://{}/api/trades", serve.addr);
        async move {
            let mut plan = plan(tag);
            plan["manage"] = json!(false);
            let answer: Value = reqwest::Client::new()
                .post(url)
                .header("X-Bybit-Exec", "1")
                .json(&plan)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(answer["trade"]["phase"], "IN_POSITION", "{answer}");
        }
    };
    let first = PaperServe::spawn(&emu, &journal);
    post(&first, "OLD1").await;
    assert!(first.terminate().success());
    assert_eq!(entry_fills("OLD1").await, 1);
    // The account row goes, the fills stay: the journal of an older binary.
    rusqlite::Connection::open(&journal)
        .unwrap()
        .execute("DELETE FROM paper_account", [])
        .unwrap();

    let second = PaperServe::spawn(&emu, &journal);
    post(&second, "NEW1").await;
    assert!(second.terminate().success());
    assert_eq!(entry_fills("OLD1").await, 1);
    assert_eq!(
        entry_fills("NEW1").await,
        1,
        "the new account's entry fill is journaled"
    );
}

/// A managed trade whose client tag carries the prefix (the SPEC's `andre_RAD_…` form; its
/// ids are `andre_TP1_PXM`): TP1's fill moves it to breakeven (the manager found no plan
/// under the id's tag `PXM` and did nothing), and the page lists its resting orders under
/// its own tag, not under a second trade `PXM`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_trade_with_a_prefixed_client_tag_is_managed_and_shown_once() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal-paper.sqlite");
    const TAG: &str = "andre_PXM";
    let serve = PaperServe::spawn(&emu, &journal);
    let answer: Value = reqwest::Client::new()
        .post(format!("http://{}/api/trades", serve.addr))
        .header("X-Bybit-Exec", "1")
        .json(&plan(TAG))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["trade"]["phase"], "IN_POSITION", "{answer}");
    let legs = [
        "andre_DCA1_PXM".to_owned(),
        "andre_TP1_PXM".to_owned(),
        "andre_TP2_PXM".to_owned(),
    ];
    eventually(
        "the TPs and the DCA rest, shown under the trade's tag",
        || async { resting(&serve, TAG).await == legs },
    )
    .await;
    let tags: Vec<Value> = read_status(&serve).await["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].clone())
        .collect();
    assert_eq!(tags, [json!(TAG)], "one trade on the page");
    set_price(&emu, "51500").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while serve.trade(TAG).await["phase"] != "BREAKEVEN" {
        assert!(
            Instant::now() < deadline,
            "TP1 filled but the trade is not at breakeven: {}",
            serve.trade(TAG).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eventually("the DCA is cancelled, TP2 rests", || async {
        resting(&serve, TAG).await == legs[2..]
    })
    .await;
    assert!(serve.terminate().success());
}

/// More finished trades than the page lists: the status says how many there are, so the
/// page can say the rows it shows are the newest of them (beside a realised total that
/// counts every one); it listed 50 with nothing saying others were left off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_says_how_many_finished_trades_the_history_leaves_off() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal-paper.sqlite");
    {
        let j = SqliteJournal::open(&journal).unwrap();
        for n in 0..55 {
            let tag = format!("OLD{n}");
            j.record_plan(&bybit_exec::demo::plan(&tag).unwrap(), 1_000 + n)
                .await
                .unwrap();
            j.record_state(&tag, exec_gateway::Phase::Closed, "done", 2_000 + n)
                .await
                .unwrap();
        }
    }
    let serve = PaperServe::spawn(&emu, &journal);
    let status = read_status(&serve).await;
    assert_eq!(status["history"].as_array().unwrap().len(), 50, "{status}");
    assert_eq!(status["historyTotal"], 55, "{status}");
    assert_eq!(status["history"][0]["tag"], "OLD54", "newest first");
    assert!(serve.terminate().success());
}
