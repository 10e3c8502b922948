//! The judgement of a run, against the exchange (`/emulator/state`) and the journal file:
//! what the layer must never do, whatever happened on the way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use exec_events::{ExecKind, Fill, Side};
use exec_gateway::{Journal, Phase};
use exec_journal::SqliteJournal;
use rust_decimal::Decimal;
use serde_json::Value;

/// The gateway's `max_send_attempts`: the most creates one call of the layer may cost a leg.
const SENDS_PER_CALL: u64 = 3;

/// What the faults of a run allow beyond one create per leg.
#[derive(Debug, Default)]
pub(crate) struct Allowances {
    /// Faults that can each fail one request (and so cost one more create).
    pub(crate) request_faults: u64,
    /// Faults after which a create may rightly meet an order the exchange already has
    /// (110072): an exchange restart that forgot closed orders.
    pub(crate) duplicate_faults: u64,
    /// Rate-limit pressure can refuse any number of requests.
    pub(crate) pressure: bool,
    /// `serve` restarts (each recovery may resume a leg once).
    pub(crate) restarts: u64,
}

/// How the trades ended once the faults were cleared.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    pub(crate) finished: Vec<String>,
    pub(crate) flagged: Vec<(String, String)>,
    /// Open and neither finished nor flagged, allowed because the driver's close call got no
    /// answer (the layer may never have taken it; a state machine would call again).
    pub(crate) left_open: Vec<String>,
    /// Tags `serve` does not list (never journaled, or finished before its last start):
    /// the journal says which.
    pub(crate) not_listed: Vec<String>,
}

/// What the run did, for its summary and for a failure's story.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) steps: u32,
    pub(crate) faults: u32,
    pub(crate) kills: u32,
    pub(crate) interrupted_calls: u32,
    pub(crate) stops: u32,
    pub(crate) calls: u32,
    pub(crate) unanswered: u32,
}

/// A passed run's figures.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) counts: Counts,
    pub(crate) orders: usize,
    pub(crate) fills: usize,
    pub(crate) funding: usize,
    pub(crate) creates: u64,
    /// Creates the exchange refused as a duplicate orderLinkId (each allowed by a fault).
    pub(crate) duplicates_refused: u64,
    pub(crate) finished: usize,
    pub(crate) flagged: usize,
    pub(crate) left_open: usize,
    pub(crate) never_opened: usize,
    pub(crate) settle_secs: f64,
}

impl Report {
    pub(crate) fn summary(&self) -> String {
        let c = &self.counts;
        format!(
            "{} steps, {} faults, {} kill -9, {} SIGTERM ({} into a call), {} calls ({} unanswered); \
             {} orders, {} fills (+{} funding), {} creates, {} refused as duplicates; \
             trades {} finished, {} flagged, {} left open (close cut), {} never opened; settled in {:.1} s",
            c.steps,
            c.faults,
            c.kills,
            c.stops,
            c.interrupted_calls,
            c.calls,
            c.unanswered,
            self.orders,
            self.fills,
            self.funding,
            self.creates,
            self.duplicates_refused,
            self.finished,
            self.flagged,
            self.left_open,
            self.never_opened,
            self.settle_secs
        )
    }
}

/// The figures of every run.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    steps: u64,
    faults: u64,
    kills: u64,
    stops: u64,
    orders: usize,
    fills: usize,
    finished: usize,
    flagged: usize,
    left_open: usize,
}

impl Totals {
    pub(crate) fn add(&mut self, r: &Report) {
        self.passed += 1;
        self.steps += u64::from(r.counts.steps);
        self.faults += u64::from(r.counts.faults);
        self.kills += u64::from(r.counts.kills);
        self.stops += u64::from(r.counts.stops);
        self.orders += r.orders;
        self.fills += r.fills;
        self.finished += r.finished;
        self.flagged += r.flagged;
        self.left_open += r.left_open;
    }

    pub(crate) fn summary(&self) -> String {
        format!(
            "{} passed, {} failed; {} steps, {} faults, {} kill -9, {} SIGTERM; {} orders, \
             {} fills; trades {} finished, {} flagged, {} left open (close cut); 0 duplicates, 0 lost or doubled \
             fills, 0 position mismatches, 0 unresolved in every passed run",
            self.passed,
            self.failed,
            self.steps,
            self.faults,
            self.kills,
            self.stops,
            self.orders,
            self.fills,
            self.finished,
            self.flagged,
            self.left_open
        )
    }
}

/// GET `url` as JSON; `Err` with the status for anything but 200.
pub(crate) async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let r = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let code = r.status().as_u16();
    if code != 200 {
        return Err(format!("GET {url}: {code}"));
    }
    r.json().await.map_err(|e| format!("GET {url}: {e}"))
}

/// Waits (at most `within`) until `serve` is healthy, lists no unresolved intent and every
/// trade is finished (CLOSED or ERROR) or flagged (a flag, unprotected, or problems it
/// reports), or is one of `may_stay_open`.
pub(crate) async fn settle(
    http: &reqwest::Client,
    base: &str,
    tags: &[String],
    may_stay_open: &[String],
    within: Duration,
) -> Result<Settled, String> {
    let deadline = Instant::now() + within;
    loop {
        let last = observe(http, base, tags, may_stay_open).await;
        match last {
            Ok(settled) => return Ok(settled),
            Err(why) if Instant::now() >= deadline => {
                return Err(format!("not settled within {within:?}: {why}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn observe(
    http: &reqwest::Client,
    base: &str,
    tags: &[String],
    may_stay_open: &[String],
) -> Result<Settled, String> {
    let status = get_json(http, &format!("{base}/api/status")).await?;
    // Healthy: REST answering and both streams connected (the private one authenticated),
    // so the fills made while it was down were caught up over REST when it came back.
    // (Fallback polling is no sign of trouble: a quiet account's stream is silent.)
    if status["healthy"].as_bool() != Some(true) {
        return Err(format!("serve not healthy: {}", status["health"]));
    }
    let unresolved = status["unresolved"].as_array().map_or(0, Vec::len);
    if unresolved > 0 {
        return Err(format!("unresolved intents: {}", status["unresolved"]));
    }
    let flags = status["flagged"].as_object().cloned().unwrap_or_default();
    let mut settled = Settled::default();
    for tag in tags {
        let r = http
            .get(format!("{base}/api/trades/{tag}"))
            .send()
            .await
            .map_err(|e| format!("GET trade {tag}: {e}"))?;
        if r.status().as_u16() == 404 {
            settled.not_listed.push(tag.clone());
            continue;
        }
        let trade: Value = r.json().await.map_err(|e| format!("trade {tag}: {e}"))?;
        let phase = trade["phase"].as_str().unwrap_or_default();
        if matches!(phase, "CLOSED" | "ERROR") {
            settled.finished.push(tag.clone());
        } else if let Some(flag) = flags.get(tag) {
            settled.flagged.push((tag.clone(), flag.to_string()));
        } else if trade["unprotected"].as_bool() == Some(true)
            || trade["problems"].as_array().is_some_and(|p| !p.is_empty())
        {
            settled
                .flagged
                .push((tag.clone(), trade["problems"].to_string()));
        } else if may_stay_open.contains(tag) {
            settled.left_open.push(tag.clone());
        } else {
            return Err(format!(
                "trade {tag} is {phase}, neither finished nor flagged: {trade}"
            ));
        }
    }
    Ok(settled)
}

/// A fill as judged: (execId, orderLinkId, qty, price).
type FillKey = (String, String, Decimal, Decimal);

fn decimal(v: &Value) -> Decimal {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_default()
}

/// Judges the run once `serve` has stopped: the exchange's state against the journal file.
pub(crate) async fn judge(
    http: &reqwest::Client,
    emulator_url: &str,
    journal_path: &Path,
    allow: &Allowances,
    settled: &Settled,
) -> Result<Report, String> {
    let state = get_json(http, &format!("{emulator_url}/emulator/state")).await?;
    let mut report = Report {
        finished: settled.finished.len(),
        flagged: settled.flagged.len(),
        left_open: settled.left_open.len(),
        ..Report::default()
    };
    let mut problems = Vec::new();

    // No orderLinkId on two orders.
    let mut per_link: BTreeMap<String, u32> = BTreeMap::new();
    for key in ["openOrders", "closedOrders"] {
        for order in state[key].as_array().into_iter().flatten() {
            report.orders += 1;
            let link = order["orderLinkId"].as_str().unwrap_or_default();
            if !link.is_empty() {
                *per_link.entry(link.to_owned()).or_default() += 1;
            }
        }
    }
    let twice: Vec<_> = per_link.iter().filter(|(_, n)| **n > 1).collect();
    if !twice.is_empty() {
        problems.push(format!("orderLinkIds on two orders: {twice:?}"));
    }

    // Creates as the exchange counted them on arrival: every one beyond the first of a leg
    // paid for by a fault or a restart, none refused as a duplicate unless a fault allows.
    let requests = &state["requests"];
    report.duplicates_refused = requests["duplicates"].as_u64().unwrap_or(u64::MAX);
    if report.duplicates_refused > allow.duplicate_faults {
        problems.push(format!(
            "{} creates refused as a duplicate orderLinkId, but only {} faults allow one: {}",
            report.duplicates_refused, allow.duplicate_faults, requests["duplicatesByOrderLinkId"]
        ));
    }
    let mut extra = 0;
    let per_leg_cap = SENDS_PER_CALL * (allow.restarts + 3);
    for (link, n) in requests["createsByOrderLinkId"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let n = n.as_u64().unwrap_or(u64::MAX);
        report.creates += n;
        extra += n.saturating_sub(1);
        if n > per_leg_cap {
            problems.push(format!("{link}: {n} creates, beyond {per_leg_cap}"));
        }
    }
    if !allow.pressure && extra > allow.request_faults + allow.restarts {
        problems.push(format!(
            "{extra} creates beyond one per leg, but only {} request faults and {} restarts",
            allow.request_faults, allow.restarts
        ));
    }

    // Each exchange fill in the journal exactly once, with its orderLinkId, qty and price.
    let journal = SqliteJournal::open(journal_path).map_err(|e| format!("journal: {e}"))?;
    let journaled = journal
        .fills("")
        .await
        .map_err(|e| format!("journal fills: {e}"))?;
    let open_trades = journal
        .open_trades()
        .await
        .map_err(|e| format!("journal open trades: {e}"))?;
    // A trade `serve` no longer lists: never journaled (its opening call was cut before
    // the plan was written), or finished before `serve`'s last start.
    let mut idle = BTreeSet::new();
    for tag in &settled.not_listed {
        let plan = journal
            .plan(tag)
            .await
            .map_err(|e| format!("journal plan: {e}"))?;
        let states = journal
            .states(tag)
            .await
            .map_err(|e| format!("journal states: {e}"))?;
        let sent = !journal
            .intents(tag)
            .await
            .map_err(|e| format!("journal intents: {e}"))?
            .is_empty();
        match (plan, states.last().map(|s| s.phase)) {
            (None, _) => report.never_opened += 1,
            // The plan journaled and nothing more (the call cut right after it): nothing was
            // sent, recovery leaves it (IDLE), and the caller may call again with it.
            (Some(_), None) if !sent => {
                report.never_opened += 1;
                idle.insert(tag.as_str());
            }
            (Some(_), Some(Phase::Closed | Phase::Error)) => report.finished += 1,
            (Some(_), phase) => problems.push(format!(
                "trade {tag} is {phase:?} in the journal but serve does not list it"
            )),
        }
    }
    journal.close().await;
    let mut truth: Vec<FillKey> = Vec::new();
    for x in state["executions"].as_array().into_iter().flatten() {
        if x["execType"].as_str() == Some("Funding") {
            report.funding += 1;
        } else {
            report.fills += 1;
        }
        truth.push((
            x["execId"].as_str().unwrap_or_default().to_owned(),
            x["orderLinkId"].as_str().unwrap_or_default().to_owned(),
            decimal(&x["execQty"]),
            decimal(&x["execPrice"]),
        ));
    }
    truth.sort();
    let mut ours: Vec<FillKey> = journaled
        .iter()
        .map(|f| (f.exec_id.clone(), f.order_link_id.clone(), f.qty, f.price))
        .collect();
    ours.sort();
    if ours != truth {
        let ids: BTreeSet<&str> = truth.iter().map(|k| k.0.as_str()).collect();
        let mut seen = BTreeMap::new();
        for k in &ours {
            *seen.entry(k.0.as_str()).or_insert(0) += 1;
        }
        let doubled: Vec<_> = seen
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| id)
            .collect();
        let lost: Vec<_> = truth.iter().filter(|k| !ours.contains(k)).collect();
        let invented: Vec<_> = ours
            .iter()
            .filter(|k| !ids.contains(k.0.as_str()) || !truth.contains(k))
            .collect();
        problems.push(format!(
            "journal fills differ from the exchange's: doubled {doubled:?}, lost {lost:?}, \
             not as on the exchange {invented:?}"
        ));
    }

    // The journal's positions equal the exchange's.
    let mut from_journal: BTreeMap<String, Decimal> = BTreeMap::new();
    for f in journaled
        .iter()
        .filter(|f| f.exec_kind != ExecKind::Funding)
    {
        *from_journal.entry(f.symbol.clone()).or_default() += signed(f);
    }
    let mut on_exchange: BTreeMap<String, Decimal> = BTreeMap::new();
    for p in state["positions"].as_array().into_iter().flatten() {
        let size = decimal(&p["size"]);
        let signed = match p["side"].as_str() {
            Some("Sell") => -size,
            _ => size,
        };
        *on_exchange
            .entry(p["symbol"].as_str().unwrap_or_default().to_owned())
            .or_default() += signed;
    }
    from_journal.retain(|_, q| !q.is_zero());
    on_exchange.retain(|_, q| !q.is_zero());
    if from_journal != on_exchange {
        problems.push(format!(
            "positions: journal {from_journal:?}, exchange {on_exchange:?}"
        ));
    }

    // Every trade the journal holds open is one `serve` flagged, or one whose close call was
    // cut.
    let flagged: BTreeSet<&str> = settled
        .flagged
        .iter()
        .map(|(t, _)| t.as_str())
        .chain(settled.left_open.iter().map(String::as_str))
        .chain(idle)
        .collect();
    let unfinished: Vec<_> = open_trades
        .iter()
        .filter(|t| !flagged.contains(t.as_str()))
        .collect();
    if !unfinished.is_empty() {
        problems.push(format!(
            "trades the journal holds open that serve did not flag: {unfinished:?}"
        ));
    }

    if problems.is_empty() {
        Ok(report)
    } else {
        Err(problems.join("; "))
    }
}

fn signed(f: &Fill) -> Decimal {
    match f.side {
        Side::Buy => f.qty,
        Side::Sell => -f.qty,
    }
}
