//! The paper router keeps its account in the journal file. A router started
//! again on the same file (a process killed: nothing of the old router runs) continues the
//! account with every fill, and a crash between the engine's change and its save never makes
//! `recover()` place an order twice nor lose one (SPEC R-GW-6).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use exec_events::Fill;
use exec_gateway::{
    Intent, IntentRow, Journal, JournalError, Outcome, Phase, PositionService, StateRow, Symbol,
    TradePlan, WriteRecord,
};
use exec_journal::SqliteJournal;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sim_engine::OrderQuery;

use crate::support::{paper, plan};

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

/// What a restart must keep of the account.
#[derive(Debug, PartialEq)]
struct Account {
    position: (Option<bybit_types::WireSide>, Decimal, Option<Decimal>),
    wallet: Option<Decimal>,
    /// (orderLinkId, orderId) of every open order.
    open: Vec<(String, String)>,
    /// Every fill's execId.
    fills: Vec<String>,
}

async fn account(router: &exec_sim::PaperRouter) -> Account {
    router
        .with_engine(|e, _| {
            let p = e.position_of("BTCUSDT").unwrap();
            let mut open: Vec<_> = e
                .open_orders(&OrderQuery::default())
                .into_iter()
                .map(|o| (o.order_link_id, o.order_id))
                .collect();
            open.sort();
            let mut fills: Vec<_> = e
                .executions(&sim_engine::ExecutionQuery::default())
                .into_iter()
                .map(|x| x.exec_id)
                .collect();
            fills.sort();
            Account {
                position: (p.side, p.size, p.avg_price),
                wallet: e.wallet().total_wallet_balance,
                open,
                fills,
            }
        })
        .await
}

/// The orderLinkIds the engine holds (open and closed orders), each with how many orders.
async fn link_counts(router: &exec_sim::PaperRouter) -> std::collections::BTreeMap<String, usize> {
    router
        .with_engine(|e, _| {
            let mut count = std::collections::BTreeMap::new();
            let orders = e
                .open_orders(&OrderQuery::default())
                .into_iter()
                .chain(e.order_history(&OrderQuery::default()));
            for o in orders.filter(|o| !o.order_link_id.is_empty()) {
                *count.entry(o.order_link_id).or_insert(0) += 1;
            }
            count
        })
        .await
}

async fn open_trade(p: &crate::support::Paper, plan: &TradePlan) {
    p.gateway.execute_entry(plan).await.unwrap();
    let position = p.router.get_position(&btc()).await.unwrap();
    p.gateway.setup_tps(plan, &position).await.unwrap();
    p.gateway.setup_dcas(plan, &position).await.unwrap();
}

#[tokio::test]
async fn a_restarted_router_continues_the_account_with_the_last_fill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let first = paper(
        dec!(10000),
        Arc::new(SqliteJournal::open(&path).unwrap()),
        None,
    )
    .await;
    let plan = plan("R1");
    open_trade(&first, &plan).await;
    // TP1 fills: the last change before the process dies.
    first.clock.advance(1000);
    first
        .router
        .set_price("BTCUSDT", dec!(51000))
        .await
        .unwrap();
    let before = account(&first.router).await;
    assert_eq!(
        before.fills.len(),
        2,
        "the entry and TP1 filled: {before:?}"
    );
    drop(first);

    // A new process: a new connection to the file, a fresh engine of the same configuration.
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&path).unwrap());
    let second = paper(dec!(10000), journal.clone(), None).await;
    assert_eq!(account(&second.router).await, before);
    // The journal's fills are the account's: each once, none the account lacks.
    let mut journaled: Vec<_> = journal
        .fills("")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.exec_id)
        .collect();
    journaled.sort();
    assert_eq!(journaled, before.fills);

    let recovered = second.gateway.recover().await.unwrap();
    let trade = &recovered
        .iter()
        .find(|r| r.state.tag == "R1")
        .expect("R1 recovered")
        .state;
    assert_eq!(trade.phase, Phase::InPosition, "{trade:?}");
    for (leg, (_, status)) in &trade.orders {
        let want = if leg == "ENTRY" || leg == "TP1" {
            exec_gateway::OrderStatus::Filled
        } else {
            exec_gateway::OrderStatus::Open
        };
        assert_eq!(*status, Some(want), "{leg}: {trade:?}");
    }
    assert_eq!(
        account(&second.router).await,
        before,
        "recover() placed nothing"
    );
    assert!(link_counts(&second.router).await.values().all(|n| *n == 1));
}

/// The file's journal, whose paper-account saves fail once the account holds `needle`: the
/// process "dies" after the engine made the change and before it was saved.
struct CrashingJournal {
    inner: SqliteJournal,
    needle: String,
    crashed: AtomicBool,
}

#[async_trait::async_trait]
impl Journal for CrashingJournal {
    async fn record_plan(&self, plan: &TradePlan, at_ms: i64) -> Result<(), JournalError> {
        self.inner.record_plan(plan, at_ms).await
    }
    async fn record_intent(&self, intent: &Intent) -> Result<(), JournalError> {
        self.inner.record_intent(intent).await
    }
    async fn record_outcome(
        &self,
        link: &str,
        outcome: &Outcome,
        at: i64,
    ) -> Result<(), JournalError> {
        self.inner.record_outcome(link, outcome, at).await
    }
    async fn record_write(&self, write: &WriteRecord) -> Result<(), JournalError> {
        self.inner.record_write(write).await
    }
    async fn record_fill(&self, fill: &Fill) -> Result<bool, JournalError> {
        self.inner.record_fill(fill).await
    }
    async fn record_state(
        &self,
        tag: &str,
        p: Phase,
        d: &str,
        at: i64,
    ) -> Result<(), JournalError> {
        self.inner.record_state(tag, p, d, at).await
    }
    async fn plan(&self, tag: &str) -> Result<Option<TradePlan>, JournalError> {
        self.inner.plan(tag).await
    }
    async fn plans(&self) -> Result<Vec<exec_gateway::PlanRow>, JournalError> {
        self.inner.plans().await
    }
    async fn intent(&self, link: &str) -> Result<Option<IntentRow>, JournalError> {
        self.inner.intent(link).await
    }
    async fn intents(&self, tag: &str) -> Result<Vec<IntentRow>, JournalError> {
        self.inner.intents(tag).await
    }
    async fn fills(&self, prefix: &str) -> Result<Vec<Fill>, JournalError> {
        self.inner.fills(prefix).await
    }
    async fn writes(&self, tag: &str) -> Result<Vec<WriteRecord>, JournalError> {
        self.inner.writes(tag).await
    }
    async fn states(&self, tag: &str) -> Result<Vec<StateRow>, JournalError> {
        self.inner.states(tag).await
    }
    async fn open_trades(&self) -> Result<Vec<String>, JournalError> {
        self.inner.open_trades().await
    }
    async fn save_paper_account(
        &self,
        account: &str,
        fills: &[Fill],
        at: i64,
    ) -> Result<(), JournalError> {
        if account.contains(&self.needle) {
            self.crashed.store(true, Ordering::SeqCst);
            return Err(JournalError::Io("the process died".into()));
        }
        self.inner.save_paper_account(account, fills, at).await
    }
    async fn paper_account(&self) -> Result<Option<String>, JournalError> {
        self.inner.paper_account().await
    }
}

#[tokio::test]
async fn a_crash_between_the_engine_and_the_save_places_each_order_once_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let crashing = Arc::new(CrashingJournal {
        inner: SqliteJournal::open(&path).unwrap(),
        needle: "andre_TP1_R2".into(),
        crashed: AtomicBool::new(false),
    });
    let first = paper(dec!(10000), crashing.clone(), None).await;
    let plan = plan("R2");
    first.gateway.execute_entry(&plan).await.unwrap();
    let position = first.router.get_position(&btc()).await.unwrap();
    // The engine places TP1, its save fails: the router answers "outcome unknown" and
    // refuses everything after, as a dead process would.
    let tps = first.gateway.setup_tps(&plan, &position).await;
    assert!(crashing.crashed.load(Ordering::SeqCst));
    assert!(
        first.router.get_position(&btc()).await.is_err(),
        "the router refuses calls once its account could not be saved: {tps:?}"
    );
    drop(first);

    // The restarted process: the account as last saved (the entry, no TP1), and the journal
    // with TP1's intent but no acknowledgement. recover() looks TP1 up, does not find it, and
    // places it once; the other legs too.
    let second = paper(
        dec!(10000),
        Arc::new(SqliteJournal::open(&path).unwrap()),
        None,
    )
    .await;
    let counts = link_counts(&second.router).await;
    assert_eq!(counts.get("andre_TP1_R2"), None, "TP1 was never saved");
    let recovered = second.gateway.recover().await.unwrap();
    assert!(recovered.iter().any(|r| r.state.tag == "R2"));
    let position = second.router.get_position(&btc()).await.unwrap();
    second.gateway.setup_tps(&plan, &position).await.unwrap();
    second.gateway.setup_dcas(&plan, &position).await.unwrap();
    let counts = link_counts(&second.router).await;
    let expected: std::collections::BTreeMap<String, usize> = [
        "andre_ENTRY_R2",
        "andre_TP1_R2",
        "andre_TP2_R2",
        "andre_TP3_R2",
        "andre_DCA1_R2",
        "andre_DCA2_R2",
    ]
    .into_iter()
    .map(|l| (l.to_owned(), 1))
    .collect();
    assert_eq!(counts, expected);
    let open = account(&second.router).await.open.len();
    assert_eq!(open, 5, "every TP and DCA rests once");
}

/// The SPEC's client tags carry the prefix (`andre_RAD_…`, ids `andre_ENTRY_RAD_…`). After a
/// restart, recover() finds the trade once, under its own tag: the tag its orders on the
/// exchange carry (`RX1`, without the prefix) is the same trade, not a second one "with
/// orders on the exchange but no plan in the journal" reported on every pass.
#[tokio::test]
async fn recover_finds_a_prefixed_client_tags_trade_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let first = paper(
        dec!(10000),
        Arc::new(SqliteJournal::open(&path).unwrap()),
        None,
    )
    .await;
    let plan = plan("andre_RX1");
    open_trade(&first, &plan).await;
    drop(first);

    let second = paper(
        dec!(10000),
        Arc::new(SqliteJournal::open(&path).unwrap()),
        None,
    )
    .await;
    let mut errors = second.bus.subscribe();
    let recovered = second.gateway.recover().await.unwrap();
    let tags: Vec<&str> = recovered.iter().map(|r| r.state.tag.as_str()).collect();
    assert_eq!(tags, ["andre_RX1"], "{recovered:?}");
    assert!(recovered[0].disagreements.is_empty(), "{recovered:?}");
    while let Some(received) = errors.try_recv() {
        if let exec_events::Received::Event(env) = received {
            if let exec_events::Event::ExecutionError(e) = env.event.as_ref() {
                panic!("recover() reported {e:?}");
            }
        }
    }
}

/// A prefixed client tag's trade whose position was closed by hand while its DCAs still
/// rest: recover() sees those orders as the trade's (open), so it does not close the trade
/// and leave them resting untracked (a DCA filling later would open a position nobody
/// manages).
#[tokio::test]
async fn recover_sees_a_prefixed_client_tags_resting_orders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let first = paper(
        dec!(10000),
        Arc::new(SqliteJournal::open(&path).unwrap()),
        None,
    )
    .await;
    let plan = plan("andre_RX2");
    open_trade(&first, &plan).await;
    let size = first.router.get_position(&btc()).await.unwrap().size;
    first
        .router
        .with_engine(|e, now| {
            let close = sim_engine::NewOrder::market("BTCUSDT", bybit_types::WireSide::Sell, size)
                .reduce_only();
            e.create_order(now, &close).unwrap();
        })
        .await;
    assert!(first.router.get_position(&btc()).await.unwrap().is_flat());
    drop(first);

    let second = paper(
        dec!(10000),
        Arc::new(SqliteJournal::open(&path).unwrap()),
        None,
    )
    .await;
    let recovered = second.gateway.recover().await.unwrap();
    let trade = &recovered
        .iter()
        .find(|r| r.state.tag == "andre_RX2")
        .expect("recovered")
        .state;
    assert_ne!(trade.phase, Phase::Closed, "{trade:?}");
    assert_eq!(
        trade.orders.get("DCA1").and_then(|(_, s)| *s),
        Some(exec_gateway::OrderStatus::Open),
        "{trade:?}"
    );
}
