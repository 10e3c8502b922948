//! A trade's history and realised P&L from the journal, and a journal file
//! written before fills kept their P&L still opening and reading back.

use exec_events::{ExecKind, Fill, Side};
use exec_gateway::{
    trade_histories, trade_history, Journal, LinkIds, MemoryJournal, Phase, DEFAULT_LINK_PREFIX,
};
use exec_journal::SqliteJournal;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::plan;

#[allow(clippy::too_many_arguments, reason = "a test row")]
fn fill(
    id: &str,
    link: &str,
    side: Side,
    price: Decimal,
    qty: Decimal,
    fee: Decimal,
    pnl: Option<Decimal>,
    time_ms: i64,
) -> Fill {
    Fill {
        exec_id: id.into(),
        symbol: "BTCUSDT".into(),
        side,
        order_id: format!("o-{id}"),
        order_link_id: link.into(),
        price,
        qty,
        fee,
        fee_currency: "USDT".into(),
        is_maker: false,
        pnl,
        exec_kind: ExecKind::Trade,
        time_ms,
        simulated: false,
    }
}

fn links() -> LinkIds {
    LinkIds::new(DEFAULT_LINK_PREFIX).unwrap()
}

/// Two trades on one symbol, one after the other; a funding execution (no orderLinkId) in
/// the first one's life, a fill of someone else's order, and one of the second trade.
async fn journal_two_trades(j: &dyn Journal) {
    j.record_plan(&plan("T1"), 100).await.unwrap();
    j.record_state("T1", Phase::Entering, "entry", 101)
        .await
        .unwrap();
    let buy = Side::Buy;
    let sell = Side::Sell;
    for f in [
        fill(
            "e1",
            "andre_ENTRY_T1",
            buy,
            dec!(50000),
            dec!(0.02),
            dec!(0.55),
            Some(dec!(0)),
            110,
        ),
        fill(
            "e2",
            "andre_DCA1_T1",
            buy,
            dec!(49000),
            dec!(0.02),
            dec!(0.539),
            Some(dec!(0)),
            120,
        ),
        fill(
            "e3",
            "andre_TP1_T1",
            sell,
            dec!(51000),
            dec!(0.03),
            dec!(0.02805),
            Some(dec!(45)),
            130,
        ),
        fill(
            "e4",
            "andre_TP2_T1",
            sell,
            dec!(52000),
            dec!(0.01),
            dec!(0.0286),
            Some(dec!(25)),
            140,
        ),
        fill(
            "x1",
            "someone_else",
            buy,
            dec!(50000),
            dec!(1),
            dec!(9),
            Some(dec!(0)),
            135,
        ),
    ] {
        j.record_fill(&f).await.unwrap();
    }
    let mut funding = fill(
        "f1",
        "",
        buy,
        dec!(50000),
        dec!(0.04),
        dec!(0.2),
        Some(dec!(0)),
        125,
    );
    funding.exec_kind = ExecKind::Funding;
    j.record_fill(&funding).await.unwrap();
    j.record_state("T1", Phase::Closed, "flat", 150)
        .await
        .unwrap();
    // After T1 closed: its window is over, this funding is not T1's.
    let mut late = funding.clone();
    late.exec_id = "f2".into();
    late.time_ms = 160;
    j.record_fill(&late).await.unwrap();
    j.record_plan(&plan("T2"), 200).await.unwrap();
    j.record_fill(&fill(
        "e5",
        "andre_ENTRY_T2",
        buy,
        dec!(50000),
        dec!(0.01),
        dec!(0.275),
        Some(dec!(0)),
        210,
    ))
    .await
    .unwrap();
}

async fn check_two_trades(j: &dyn Journal) {
    let all = trade_histories(j, &links()).await.unwrap();
    assert_eq!(all.len(), 2);
    let t1 = &all[0];
    assert_eq!(t1.tag, "T1");
    assert_eq!(t1.opened_time_ms, 100);
    assert_eq!(t1.closed_time_ms, Some(150));
    assert_eq!(t1.phase, Some(Phase::Closed));
    assert_eq!(t1.qty, dec!(0.04));
    assert_eq!(t1.closed_qty, dec!(0.04));
    assert_eq!(t1.avg_entry, Some(dec!(49500)));
    assert_eq!(t1.avg_exit, Some(dec!(51250)));
    assert_eq!(t1.fills, 5, "four trade fills and the funding in its life");
    assert_eq!(t1.pnl.closed_pnl, dec!(70));
    assert_eq!(t1.pnl.fees, dec!(1.14565));
    assert_eq!(t1.pnl.funding, dec!(-0.2));
    // Σ execPnl − Σ execFee over the trade's executions, funding included.
    assert_eq!(t1.pnl.realised, dec!(68.65435));
    assert!(t1.is_finished());
    let t2 = &all[1];
    assert_eq!(t2.tag, "T2");
    assert_eq!(t2.closed_time_ms, None, "open");
    assert_eq!(t2.fills, 1, "the funding at 160 is before T2 opened");
    assert_eq!(t2.pnl.realised, dec!(-0.275));
    assert_eq!(
        trade_history(j, &links(), "T1").await.unwrap().as_ref(),
        Some(t1)
    );
    assert_eq!(trade_history(j, &links(), "NOPE").await.unwrap(), None);
}

/// Fills without an orderLinkId in the trade's life: a position stop's (closing) fill is the
/// trade's, a fill on the trade's own side (an order placed by hand) is not.
#[tokio::test]
async fn a_fill_without_order_link_id_counts_only_when_it_closes() {
    let j = MemoryJournal::new();
    j.record_plan(&plan("T3"), 100).await.unwrap();
    let buy = Side::Buy;
    for f in [
        fill(
            "e1",
            "andre_ENTRY_T3",
            buy,
            dec!(50000),
            dec!(0.02),
            dec!(0.55),
            Some(dec!(0)),
            110,
        ),
        fill(
            "hand",
            "",
            buy,
            dec!(50000),
            dec!(0.5),
            dec!(13.75),
            Some(dec!(0)),
            120,
        ),
        fill(
            "stop",
            "",
            Side::Sell,
            dec!(49900),
            dec!(0.02),
            dec!(0.5),
            Some(dec!(-2)),
            130,
        ),
    ] {
        j.record_fill(&f).await.unwrap();
    }
    j.record_state("T3", Phase::Closed, "stopped", 140)
        .await
        .unwrap();
    let t3 = trade_history(&j, &links(), "T3").await.unwrap().unwrap();
    assert_eq!(t3.fills, 2, "{t3:?}");
    assert_eq!((t3.qty, t3.closed_qty), (dec!(0.02), dec!(0.02)));
    assert_eq!(t3.pnl.realised, dec!(-3.05));
}

#[tokio::test]
async fn a_trades_history_and_realised_pnl_come_from_its_fills_in_memory() {
    let j = MemoryJournal::new();
    journal_two_trades(&j).await;
    check_two_trades(&j).await;
}

#[tokio::test]
async fn a_trades_history_and_realised_pnl_come_from_its_fills_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    journal_two_trades(&SqliteJournal::open(&path).unwrap()).await;
    check_two_trades(&SqliteJournal::open(&path).unwrap()).await;
    // The P&L is in a column of its own for the sqlite3 shell.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let pnl: String = conn
        .query_row("SELECT exec_pnl FROM fills WHERE exec_id = 'e3'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(pnl, "45");
}

/// A journal written before fills carried execPnl (no `exec_pnl` column, JSON with the old
/// time names `time_ms` / `at_ms`) opens, reads back, and takes new fills with their P&L.
#[tokio::test]
async fn a_journal_file_from_before_the_pnl_column_opens_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE plans (
                trade_tag TEXT PRIMARY KEY, plan_json TEXT NOT NULL, at_ms INTEGER NOT NULL);
             CREATE TABLE intents (
                id INTEGER PRIMARY KEY AUTOINCREMENT, order_link_id TEXT NOT NULL UNIQUE,
                trade_tag TEXT NOT NULL, leg TEXT NOT NULL, symbol TEXT NOT NULL,
                side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT, trigger_price TEXT,
                kind TEXT NOT NULL, reason TEXT NOT NULL, at_ms INTEGER NOT NULL,
                intent_json TEXT NOT NULL);
             CREATE TABLE fills (
                id INTEGER PRIMARY KEY AUTOINCREMENT, exec_id TEXT NOT NULL UNIQUE,
                order_link_id TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
                price TEXT NOT NULL, qty TEXT NOT NULL, fee TEXT NOT NULL,
                time_ms INTEGER NOT NULL, fill_json TEXT NOT NULL);",
        )
        .unwrap();
        let plan_json = serde_json::to_string(&plan("OLD")).unwrap();
        conn.execute(
            "INSERT INTO plans VALUES ('OLD', ?1, 100)",
            [plan_json.as_str()],
        )
        .unwrap();
        conn.execute(
            r#"INSERT INTO intents (order_link_id, trade_tag, leg, symbol, side, qty, kind,
               reason, at_ms, intent_json) VALUES ('andre_ENTRY_OLD', 'OLD', 'ENTRY', 'BTCUSDT',
               'Buy', '0.02', 'market', 'execute_entry', 101, '{"trade_tag":"OLD","leg":"ENTRY",
               "order_link_id":"andre_ENTRY_OLD","symbol":"BTCUSDT","side":"Buy","qty":"0.02",
               "price":null,"trigger_price":null,"kind":"market","reason":"execute_entry",
               "at_ms":101}')"#,
            [],
        )
        .unwrap();
        conn.execute(
            r#"INSERT INTO fills (exec_id, order_link_id, symbol, side, price, qty, fee, time_ms,
               fill_json) VALUES ('old1', 'andre_ENTRY_OLD', 'BTCUSDT', 'Buy', '50000', '0.02',
               '0.55', 110, '{"exec_id":"old1","symbol":"BTCUSDT","side":"Buy",
               "order_id":"o1","order_link_id":"andre_ENTRY_OLD","price":"50000","qty":"0.02",
               "fee":"0.55","fee_currency":"USDT","is_maker":false,"exec_kind":"Trade",
               "time_ms":110,"simulated":false}')"#,
            [],
        )
        .unwrap();
    }
    let j = SqliteJournal::open(&path).unwrap();
    let fills = j.fills("").await.unwrap();
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].time_ms, 110, "the old time name reads back");
    assert_eq!(fills[0].pnl, None, "an old fill has no execPnl");
    assert_eq!(j.intents("OLD").await.unwrap()[0].intent.at_ms, 101);
    let old = trade_history(&j, &links(), "OLD").await.unwrap().unwrap();
    assert_eq!(old.pnl.unknown_pnl_fills, 1, "{old:?}");
    assert_eq!(old.pnl.fees, dec!(0.55));
    // New fills keep their P&L; the migration ran once and runs again harmlessly.
    j.record_fill(&fill(
        "new1",
        "andre_TP1_OLD",
        Side::Sell,
        dec!(51000),
        dec!(0.02),
        dec!(0.561),
        Some(dec!(20)),
        120,
    ))
    .await
    .unwrap();
    drop(j);
    let j = SqliteJournal::open(&path).unwrap();
    let old = trade_history(&j, &links(), "OLD").await.unwrap().unwrap();
    assert_eq!(old.pnl.closed_pnl, dec!(20));
    assert_eq!(old.pnl.realised, dec!(18.889));
}

/// A client tag may carry the orderLinkId prefix (`andre_T9`: its ids are `andre_ENTRY_T9`,
/// the prefix is not repeated). Its fills are still the trade's: its P&L is not 0.
#[tokio::test]
async fn a_client_tag_carrying_the_prefix_keeps_its_fills_and_pnl() {
    let j = MemoryJournal::new();
    j.record_plan(&plan("andre_T9"), 100).await.unwrap();
    for f in [
        fill(
            "e1",
            "andre_ENTRY_T9",
            Side::Buy,
            dec!(50000),
            dec!(0.02),
            dec!(0.55),
            Some(dec!(0)),
            110,
        ),
        fill(
            "e2",
            "andre_TP1_T9",
            Side::Sell,
            dec!(51000),
            dec!(0.02),
            dec!(0.561),
            Some(dec!(20)),
            120,
        ),
    ] {
        j.record_fill(&f).await.unwrap();
    }
    j.record_state("andre_T9", Phase::Closed, "flat", 130)
        .await
        .unwrap();
    let h = trade_history(&j, &links(), "andre_T9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.fills, 2, "{h:?}");
    assert_eq!((h.qty, h.closed_qty), (dec!(0.02), dec!(0.02)));
    assert_eq!(h.pnl.realised, dec!(18.889));
    assert_eq!(trade_histories(&j, &links()).await.unwrap(), vec![h]);
}

/// `journal TAG` lists the fills its P&L line counts: a position stop's fill (no
/// orderLinkId) too, and a prefixed client tag's own fills; not a fill of another trade
/// whose tag ends the same way (`X_T3`).
#[tokio::test]
async fn trade_fills_are_the_fills_the_pnl_counts() {
    let j = MemoryJournal::new();
    j.record_plan(&plan("andre_T3"), 100).await.unwrap();
    j.record_plan(&plan("X_T3"), 100).await.unwrap();
    for f in [
        fill(
            "e1",
            "andre_ENTRY_T3",
            Side::Buy,
            dec!(50000),
            dec!(0.02),
            dec!(0.55),
            Some(dec!(0)),
            110,
        ),
        fill(
            "other",
            "andre_ENTRY_X_T3",
            Side::Buy,
            dec!(50000),
            dec!(0.01),
            dec!(0.2),
            Some(dec!(0)),
            115,
        ),
        fill(
            "stop",
            "",
            Side::Sell,
            dec!(49900),
            dec!(0.02),
            dec!(0.5),
            Some(dec!(-2)),
            130,
        ),
    ] {
        j.record_fill(&f).await.unwrap();
    }
    j.record_state("andre_T3", Phase::Closed, "stopped", 140)
        .await
        .unwrap();
    let ids: Vec<String> = exec_gateway::trade_fills(&j, &links(), "andre_T3")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.exec_id)
        .collect();
    assert_eq!(ids, ["e1", "stop"]);
    let h = trade_history(&j, &links(), "andre_T3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.fills, ids.len());
    assert!(exec_gateway::trade_fills(&j, &links(), "NOPE")
        .await
        .unwrap()
        .is_empty());
}
