//! One seeded run: the emulator, `serve` on a journal file, the trades' scripts, the faults
//! and restarts between (and during) the steps, then the settling and the judgement.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use bybit_emulator::{Emulator, EmulatorConfig};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::judge::{self, Allowances, Counts, Report};
use crate::serve::{Serve, ServeConfig};

const KEY: &str = "chaos-key";
const SECRET: &str = "chaos-secret";

/// How long a control-API call may take: an operation that waits out held requests and
/// re-sends within the policy's bounds answers well within it.
const CALL_TIMEOUT: Duration = Duration::from_secs(45);

/// How long the layer has, once the faults are cleared, to finish every trade and resolve
/// every intent.
const SETTLE_WITHIN: Duration = Duration::from_secs(90);

/// How many times in a row `serve` may fail to start before the run fails.
const START_ATTEMPTS: usize = 5;

/// A trade's script: its plan and the prices that fill its legs.
#[derive(Debug, Clone)]
struct Trade {
    tag: String,
    symbol: &'static str,
    side: &'static str,
    dca: Decimal,
    tps: [Decimal; 3],
    /// The next step of the script.
    step: usize,
    /// The driver has called `/close` (it calls nothing twice).
    close_called: bool,
    /// That call got no answer (serve was killed or stopped under it): the state machine
    /// does not know whether the layer took it, so the trade may rightly stay open.
    close_lost: bool,
    /// The driver has called one of `/tps`, `/dcas`, `/breakeven`.
    op_called: bool,
}

impl Trade {
    fn plan(&self) -> Value {
        let dca_margin = "20";
        json!({
            "symbol": self.symbol,
            "side": self.side,
            "margin_usdt": "40",
            "leverage": "25",
            "dca_levels": [{"price": self.dca.to_string(), "margin_usdt": dca_margin}],
            "tp_levels": [
                {"price": self.tps[0].to_string(), "share": "0.3"},
                {"price": self.tps[1].to_string(), "share": "0.3"},
                {"price": self.tps[2].to_string(), "share": "0.4"}
            ],
            "client_tag": self.tag,
            "manage": true,
        })
    }

    const STEPS: usize = 6;

    fn done(&self) -> bool {
        self.step >= Self::STEPS
    }
}

/// One run's world.
struct World {
    emu: Emulator,
    http: reqwest::Client,
    rng: fastrand::Rng,
    config: ServeConfig,
    serve: Option<Serve>,
    trades: Vec<Trade>,
    allow: Allowances,
    counts: Counts,
    /// What happened, in order (printed with a failure, or as it goes with `--verbose`).
    story: Vec<String>,
    verbose: bool,
    /// A private-stream mute is in force (lifted a few steps later).
    muted_for: u32,
    /// Days of downtime so far.
    days_passed: u8,
}

/// Runs seed `seed` and judges it; the directory is kept (and named) when it fails or
/// `keep` is set.
pub(crate) async fn run(
    seed: u64,
    bin: &Path,
    keep: bool,
    verbose: bool,
) -> Result<Report, String> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("chaos-{seed}-"))
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let mut world = match World::new(seed, bin, dir.path(), verbose).await {
        Ok(world) => world,
        Err(e) => return Err(format!("{e:#}")),
    };
    let outcome = world.drive().await;
    let outcome = match outcome {
        Ok(()) => world.settle_and_judge().await,
        Err(e) => Err(e),
    };
    world.stop_serve();
    match outcome {
        Ok(report) => {
            if keep {
                let kept = dir.keep();
                println!("  kept {}", kept.display());
            }
            Ok(report)
        }
        Err(e) => {
            let kept = dir.keep();
            Err(format!(
                "{e:#}\n  story: {}\n  journal and serve's log kept in {}",
                world.story.join("; "),
                kept.display()
            ))
        }
    }
}

impl World {
    async fn new(seed: u64, bin: &Path, dir: &Path, verbose: bool) -> Result<World> {
        let mut config = EmulatorConfig::with_defaults(KEY, SECRET, dec!(10000), seed);
        config.static_prices = true;
        config.engine = config
            .engine
            .with_price("BTCUSDT", dec!(50000))
            .with_price("ETHUSDT", dec!(3000));
        let emu = Emulator::start("127.0.0.1:0", config)
            .await
            .map_err(|e| anyhow!("emulator: {e}"))?;
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut trades = vec![
            Trade {
                tag: format!("C{seed}B"),
                symbol: "BTCUSDT",
                side: "Buy",
                dca: dec!(48000),
                tps: [dec!(51000), dec!(52000), dec!(53000)],
                step: 0,
                close_called: false,
                close_lost: false,
                op_called: false,
            },
            Trade {
                tag: format!("C{seed}E"),
                symbol: "ETHUSDT",
                side: "Sell",
                dca: dec!(3100),
                tps: [dec!(2950), dec!(2900), dec!(2850)],
                step: 0,
                close_called: false,
                close_lost: false,
                op_called: false,
            },
        ];
        rng.shuffle(&mut trades);
        // Two runs in three send creates over the order-entry stream while it is up.
        let order_path = if rng.u8(0..3) == 0 { "rest" } else { "auto" };
        let config = ServeConfig {
            bin: bin.to_owned(),
            emulator_url: emu.http_url(),
            key: KEY.to_owned(),
            secret: SECRET.to_owned(),
            journal: dir.join("journal.sqlite"),
            log: dir.join("serve.log"),
            symbols: vec!["BTCUSDT", "ETHUSDT"],
            order_path,
        };
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .context("HTTP client")?;
        Ok(World {
            emu,
            http,
            rng,
            config,
            serve: None,
            trades,
            allow: Allowances::default(),
            counts: Counts::default(),
            story: Vec::new(),
            verbose,
            muted_for: 0,
            days_passed: 0,
        })
    }

    fn note(&mut self, line: impl Into<String>) {
        let line = line.into();
        if self.verbose {
            println!("    {line}");
        }
        self.story.push(line);
    }

    fn stop_serve(&mut self) {
        if let Some(serve) = self.serve.take() {
            let _ = serve.kill_9();
        }
    }

    /// Starts `serve` unless it is running.
    fn ensure_serving(&mut self) -> Result<()> {
        if let Some(serve) = &mut self.serve {
            if serve.running() {
                return Ok(());
            }
            self.serve = None;
        }
        // As a supervisor would (systemd's Restart=on-failure): serve exits when it cannot
        // start (the exchange unreachable at start), and is started again.
        let mut failures = Vec::new();
        while failures.len() < START_ATTEMPTS {
            match Serve::start(&self.config) {
                Ok(serve) => {
                    self.note(format!("serve started on {}", serve.addr));
                    self.serve = Some(serve);
                    return Ok(());
                }
                Err(e) => {
                    self.note(format!("serve did not start: {e:#}"));
                    failures.push(format!("{e:#}"));
                }
            }
        }
        Err(anyhow!(
            "serve did not start {START_ATTEMPTS} times: {failures:?}"
        ))
    }

    /// The script: the trades' steps in a random interleaving, with faults and restarts
    /// between them and, now and then, a kill in the middle of a call.
    async fn drive(&mut self) -> Result<(), String> {
        self.ensure_serving().map_err(|e| format!("{e:#}"))?;
        while let Some(i) = self.next_trade() {
            self.counts.steps += 1;
            // Before a call that sends creates (the entry, a close), half the time a fault
            // aimed at the create itself: faults on "the next request" are mostly taken by
            // the layer's background reads.
            let creates = matches!(self.trades[i].step, 0 | 5);
            if creates && self.rng.bool() {
                self.create_fault().await.map_err(|e| format!("{e:#}"))?;
            } else {
                self.maybe_fault().await.map_err(|e| format!("{e:#}"))?;
            }
            self.maybe_restart().await.map_err(|e| format!("{e:#}"))?;
            self.step(i).await.map_err(|e| format!("{e:#}"))?;
            if self.muted_for > 0 {
                self.muted_for -= 1;
                if self.muted_for == 0 {
                    self.control("ws/unmute", json!({"stream": "private"}))
                        .await?;
                    self.note("private stream unmuted");
                }
            }
            // A random pause lets the layer's own work (fills, the manager, the reconciler)
            // interleave differently with the next fault from seed to seed.
            let pause = self.rng.u64(0..250);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        Ok(())
    }

    fn next_trade(&mut self) -> Option<usize> {
        let open: Vec<usize> = (0..self.trades.len())
            .filter(|&i| !self.trades[i].done())
            .collect();
        if open.is_empty() {
            None
        } else {
            Some(open[self.rng.usize(0..open.len())])
        }
    }

    /// One step of trade `i`'s script.
    async fn step(&mut self, i: usize) -> Result<()> {
        let trade = self.trades[i].clone();
        self.trades[i].step += 1;
        match trade.step {
            0 => {
                let plan = trade.plan();
                self.call(&trade.tag, "/api/trades", plan).await?;
            }
            // The DCA fills (or, one run in four, the price never gets there).
            1 if self.rng.u8(0..4) > 0 => self.price(trade.symbol, trade.dca).await?,
            1 => {}
            // One of the operations a state machine above calls on its own, at most once.
            2 if self.rng.bool() => {
                let op = ["tps", "dcas", "breakeven"][self.rng.usize(0..3)];
                self.trades[i].op_called = true;
                let path = format!("/api/trades/{}/{op}", trade.tag);
                self.call(&trade.tag, &path, json!({})).await?;
            }
            2 => {}
            3 => self.price(trade.symbol, trade.tps[0]).await?,
            4 => self.price(trade.symbol, trade.tps[1]).await?,
            // Either the last take-profit fills (the manager closes the flat trade) or the
            // state machine closes the trade early.
            _ if self.rng.bool() => self.price(trade.symbol, trade.tps[2]).await?,
            _ => {
                self.trades[i].close_called = true;
                let path = format!("/api/trades/{}/close", trade.tag);
                self.trades[i].close_lost = !self.call(&trade.tag, &path, json!({})).await?;
            }
        }
        Ok(())
    }

    /// A price move on the exchange (the emulator's control API; always answered).
    async fn price(&mut self, symbol: &str, price: Decimal) -> Result<()> {
        self.note(format!("{symbol} price {price}"));
        self.control(
            "price",
            json!({"symbol": symbol, "price": price.to_string()}),
        )
        .await
        .map_err(|e| anyhow!(e))
    }

    /// A control-API call, made once: its answer is noted, a lost one too (`false`), and one call in
    /// eight is cut by a SIGKILL (or, one time in four, a SIGTERM) of `serve` at a random
    /// moment while it is in flight.
    async fn call(&mut self, tag: &str, path: &str, body: Value) -> Result<bool> {
        self.ensure_serving()?;
        self.counts.calls += 1;
        let url = format!(
            "{}{path}",
            self.serve.as_ref().map(Serve::url).unwrap_or_default()
        );
        let request = self
            .http
            .post(url)
            .header("X-Bybit-Exec", "1")
            .json(&body)
            .send();
        let answer = if self.rng.u8(0..8) == 0 {
            let after = Duration::from_millis(self.rng.u64(0..80));
            let call = tokio::spawn(async move { answer_of(request.await).await });
            tokio::time::sleep(after).await;
            let graceful = self.rng.u8(0..4) == 0;
            if let Some(serve) = self.serve.take() {
                if graceful {
                    // Stopping runs in the blocking pool: the call in flight still needs
                    // this runtime to read its answer.
                    // serve bounds its stop: a request still running after its grace time
                    // is cut and the exit status says so (1), so any status is accepted here.
                    let status = tokio::task::spawn_blocking(move || serve.terminate())
                        .await
                        .map_err(|e| anyhow!("SIGTERM task: {e}"))??;
                    self.note(format!("serve exited with {status} on SIGTERM"));
                    self.counts.stops += 1;
                } else {
                    serve.kill_9()?;
                    self.counts.kills += 1;
                }
            }
            self.counts.interrupted_calls += 1;
            self.allow.restarts += 1;
            let answer = call
                .await
                .unwrap_or_else(|e| format!("the call's task: {e}"));
            let how = if graceful {
                "stopped (SIGTERM)"
            } else {
                "killed -9"
            };
            self.note(format!("serve {how} {after:?} into POST {path} ({tag})"));
            answer
        } else {
            answer_of(request.await).await
        };
        let answered = !answer.starts_with("no answer");
        if !answered {
            self.counts.unanswered += 1;
        }
        self.note(format!("POST {path}: {answer}"));
        Ok(answered)
    }

    async fn control(&self, path: &str, body: Value) -> Result<(), String> {
        let url = format!("{}/emulator/{path}", self.emu.http_url());
        let r = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("emulator {path}: {e}"))?;
        if !r.status().is_success() {
            let code = r.status();
            let text = r.text().await.unwrap_or_default();
            return Err(format!("emulator {path} refused {body}: {code} {text}"));
        }
        Ok(())
    }

    /// A fault on the next order create: it lands and its reply is lost (and the next
    /// `n` creates fail unexecuted), or it is held past the client's timeout unexecuted; with
    /// creates over the order-entry stream, the same on the stream: it lands and the socket
    /// dies unanswered, or it is refused unexecuted (10429, or 10019 "open a new connection").
    async fn create_fault(&mut self) -> Result<(), String> {
        self.counts.faults += 1;
        let stream = self.config.order_path == "auto" && self.rng.bool();
        let what = if stream {
            match self.rng.u8(0..3) {
                0 => {
                    // Only a lookup can tell it landed, and it must: no extra create allowed.
                    self.control("ws/trade-lose", json!({"count": 1})).await?;
                    "the next create over the order-entry stream lands and its socket dies \
                     unanswered"
                        .to_owned()
                }
                1 => {
                    self.control("ws/trade-fail", json!({"count": 1, "retCode": 10429}))
                        .await?;
                    self.allow.request_faults += 1;
                    "the next create over the order-entry stream refused 10429, not executed"
                        .to_owned()
                }
                _ => {
                    self.control("ws/trade-restart", json!({})).await?;
                    self.allow.request_faults += 1;
                    "the order-entry stream's open connection answers 10019 (restarting)".to_owned()
                }
            }
        } else if self.rng.bool() {
            let n = self.rng.u8(0..3);
            self.control("create-unknown", json!({"count": n})).await?;
            self.allow.request_faults += 1 + u64::from(n);
            format!("the next create lands with its reply lost, {n} after it fail")
        } else {
            self.control("create-hold", json!({"count": 1, "ms": 3000}))
                .await?;
            self.allow.request_faults += 1;
            "the next create held 3 s, not executed".to_owned()
        };
        self.note(format!("fault: {what}"));
        Ok(())
    }

    /// Half the steps get a fault first.
    async fn maybe_fault(&mut self) -> Result<(), String> {
        if !self.rng.bool() {
            return Ok(());
        }
        self.counts.faults += 1;
        let symbol = ["BTCUSDT", "ETHUSDT"][self.rng.usize(0..2)];
        let what = match self.rng.u8(0..17) {
            0 => {
                let count = self.rng.u8(1..4);
                self.control("fail", json!({"count": count, "status": 503}))
                    .await?;
                self.allow.request_faults += 3;
                "REST 503s".to_owned()
            }
            1 => {
                self.control("fail", json!({"count": 1, "retCode": 10016}))
                    .await?;
                self.allow.request_faults += 1;
                "one retCode 10016".to_owned()
            }
            2 => {
                self.control("hold", json!({"count": 1, "ms": 3000}))
                    .await?;
                self.allow.request_faults += 1;
                "one request held 3 s".to_owned()
            }
            3 => {
                // No duplicate allowed: the layer sends a create once and looks it up when
                // its reply is lost (the REST client does not re-send creates under it).
                self.control("lose-response", json!({"count": 1})).await?;
                self.allow.request_faults += 1;
                "one response lost".to_owned()
            }
            4 => {
                self.control("create-hold", json!({"count": 1, "ms": 3000}))
                    .await?;
                self.allow.request_faults += 1;
                "one create held 3 s".to_owned()
            }
            5 => {
                self.control("create-unknown", json!({"count": 2})).await?;
                self.allow.request_faults += 3;
                "a create lands, its reply and two more lost".to_owned()
            }
            6 => {
                let skew = self.rng.i64(-3000..3000);
                self.control("clock", json!({"skewMs": skew})).await?;
                format!("clock skew {skew} ms")
            }
            7 => {
                self.control("rate-limit", json!({"cap": 2, "seconds": 1}))
                    .await?;
                self.allow.pressure = true;
                "rate-limit pressure 2/s for 1 s".to_owned()
            }
            // A stream cut can take a create in flight on the order-entry stream with it
            // (before it landed: the lookup finds nothing and the policy sends it again).
            8 => {
                self.control("ws/drop", json!({})).await?;
                self.allow.request_faults += 1;
                "every WebSocket dropped".to_owned()
            }
            9 => {
                let seconds = self.rng.u8(1..3);
                self.control("ws/refuse", json!({"seconds": seconds}))
                    .await?;
                self.allow.request_faults += 1;
                format!("WebSockets refused {seconds} s")
            }
            10 => {
                let pongs = self.rng.bool();
                self.control("ws/mute", json!({"stream": "private", "pongs": pongs}))
                    .await?;
                self.muted_for = self.rng.u32(1..4);
                format!("private stream muted (pongs {pongs})")
            }
            11 => {
                self.control("ws/shuffle", json!({"enabled": true})).await?;
                "private pushes reordered".to_owned()
            }
            12 => {
                self.control("ws/double-filled", json!({"count": 1}))
                    .await?;
                "the next Filled push doubled".to_owned()
            }
            13 => {
                self.control("book-gap", json!({"symbol": symbol})).await?;
                format!("{symbol} book gap")
            }
            14 => {
                self.control("exchange-restart", json!({})).await?;
                self.allow.duplicate_faults += 1;
                "exchange restart".to_owned()
            }
            15 => {
                self.control("history-lag", json!({"ms": 2000})).await?;
                "order history lags 2 s".to_owned()
            }
            // No IP ban: the client keeps Bybit's word that a ban lasts at least ten minutes
            // and sends nothing meanwhile, longer than a run.
            _ => {
                self.control("history-lag", json!({"ms": 0})).await?;
                "order history lag off".to_owned()
            }
        };
        self.note(format!("fault: {what}"));
        Ok(())
    }

    /// One step in eight restarts `serve`: SIGKILL or SIGTERM, and now and then days of
    /// downtime before it comes back (prices may move meanwhile: the next steps run while
    /// it is down until one needs it).
    async fn maybe_restart(&mut self) -> Result<()> {
        if self.rng.u8(0..8) != 0 {
            return Ok(());
        }
        let Some(serve) = self.serve.take() else {
            return Ok(());
        };
        self.allow.restarts += 1;
        if self.rng.bool() {
            serve.kill_9()?;
            self.counts.kills += 1;
            self.note("serve killed -9");
        } else {
            let status = serve.terminate()?;
            self.counts.stops += 1;
            if !status.success() {
                return Err(anyhow!("serve exited with {status} on SIGTERM"));
            }
            self.note("serve stopped (SIGTERM, exit 0)");
        }
        // At most four days in all: the exchange's execution list answers the last seven
        // days by default, and the judgement reads it.
        if self.rng.u8(0..4) == 0 && self.days_passed < 3 {
            let days = self.rng.u8(1..3);
            self.days_passed += days;
            self.control("time/pass", json!({"days": days}))
                .await
                .map_err(|e| anyhow!(e))?;
            self.note(format!("{days} days of downtime"));
        }
        if self.rng.bool() {
            self.ensure_serving()?;
        }
        Ok(())
    }

    /// Faults cleared, `serve` running: every trade the driver did not close is closed
    /// once, then the layer has [`SETTLE_WITHIN`] to finish; then `serve` is stopped and the
    /// run judged.
    async fn settle_and_judge(&mut self) -> Result<Report, String> {
        self.control("reset", json!({})).await?;
        self.control("ws/shuffle", json!({"enabled": false}))
            .await?;
        self.note("faults cleared");
        self.ensure_serving().map_err(|e| format!("{e:#}"))?;
        let base = self.serve.as_ref().map(Serve::url).unwrap_or_default();
        let settle_started = Instant::now();
        // The trades still open and not closed by the driver: closed once now (a state
        // machine ending its session).
        for i in 0..self.trades.len() {
            if self.trades[i].close_called {
                continue;
            }
            let tag = self.trades[i].tag.clone();
            let trade = judge::get_json(&self.http, &format!("{base}/api/trades/{tag}")).await;
            let open = matches!(&trade, Ok(t) if !matches!(t["phase"].as_str(), Some("CLOSED") | Some("ERROR")));
            if open {
                self.trades[i].close_called = true;
                self.trades[i].close_lost = !self
                    .call(&tag, &format!("/api/trades/{tag}/close"), json!({}))
                    .await
                    .map_err(|e| format!("{e:#}"))?;
            }
        }
        // The call may have been cut by a kill: the next start recovers what it left.
        self.ensure_serving().map_err(|e| format!("{e:#}"))?;
        let base = self.serve.as_ref().map(Serve::url).unwrap_or_default();
        let tags: Vec<String> = self.trades.iter().map(|t| t.tag.clone()).collect();
        let may_stay_open: Vec<String> = self
            .trades
            .iter()
            .filter(|t| t.close_lost)
            .map(|t| t.tag.clone())
            .collect();
        judge::settle(&self.http, &base, &tags, &may_stay_open, SETTLE_WITHIN).await?;
        // Then one clean restart, as after an operator's deploy: the stop must be clean (exit
        // 0), and the start catches up over REST before it serves, so whatever the stream
        // missed before the stop is in the journal when the run is judged.
        self.stop_cleanly()?;
        self.ensure_serving().map_err(|e| format!("{e:#}"))?;
        let base = self.serve.as_ref().map(Serve::url).unwrap_or_default();
        let settled = judge::settle(&self.http, &base, &tags, &may_stay_open, SETTLE_WITHIN).await;
        let settle_secs = settle_started.elapsed().as_secs_f64();
        self.stop_cleanly()?;
        let settled = settled?;
        let mut report = judge::judge(
            &self.http,
            &self.emu.http_url(),
            &self.config.journal,
            &self.allow,
            &settled,
        )
        .await?;
        report.counts = std::mem::take(&mut self.counts);
        report.settle_secs = settle_secs;
        Ok(report)
    }
}

impl World {
    /// SIGTERM to `serve`, which must exit 0.
    fn stop_cleanly(&mut self) -> Result<(), String> {
        let serve = self.serve.take().ok_or("serve is not running")?;
        let status = serve.terminate().map_err(|e| format!("{e:#}"))?;
        if !status.success() {
            return Err(format!(
                "serve exited with {status} on a SIGTERM after settling"
            ));
        }
        self.note("serve stopped (SIGTERM, exit 0)");
        Ok(())
    }
}

/// A control-API answer as one line: the status and the body's first words, or why none
/// came.
async fn answer_of(sent: reqwest::Result<reqwest::Response>) -> String {
    match sent {
        Err(e) => format!("no answer ({e})"),
        Ok(r) => {
            let code = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            let short: String = text.chars().take(160).collect();
            format!("{code} {short}")
        }
    }
}
