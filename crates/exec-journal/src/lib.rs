//! The intent journal on an embedded SQLite file (`rusqlite`, SQLite bundled): the adapter of
//! exec-gateway's [`Journal`] port that the application runs with.
//!
//! WAL mode with `synchronous=FULL`: a write that returned `Ok` survives the process being
//! killed the next instant. Columns a person reads after an incident (leg, orderLinkId, side,
//! qty, price, outcome) are plain text; each row also keeps its JSON so it can be read back
//! exactly. Open the file with the `sqlite3` shell:
//! `SELECT leg, order_link_id, side, qty, price FROM intents WHERE trade_tag = '…'`.
//!
//! One owner: [`SqliteJournal`] is a cheap handle. A dedicated thread owns the connection
//! (no fsync runs on a tokio worker); callers send it commands and await the answer.
//! Concurrent writes are committed together in one transaction (one fsync), and each caller
//! is answered only once that commit is done (see `owner`). What it does not know: the
//! gateway's rules; it stores and reads back what the port is given.

mod owner;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use async_trait::async_trait;
use exec_events::Fill;
use exec_gateway::{
    Intent, IntentRow, Journal, JournalError, Outcome, Phase, PlanRow, StateRow, TradePlan,
    WriteRecord,
};
use rusqlite::{params, Connection, OptionalExtension};

use owner::Command;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS plans (
    trade_tag TEXT PRIMARY KEY, plan_json TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_link_id TEXT NOT NULL UNIQUE,
    trade_tag TEXT NOT NULL, leg TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    qty TEXT NOT NULL, price TEXT, trigger_price TEXT, kind TEXT NOT NULL, reason TEXT NOT NULL,
    at_ms INTEGER NOT NULL, intent_json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS intents_by_trade ON intents (trade_tag);
CREATE TABLE IF NOT EXISTS outcomes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_link_id TEXT NOT NULL, outcome TEXT NOT NULL,
    outcome_json TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS outcomes_by_link ON outcomes (order_link_id);
CREATE TABLE IF NOT EXISTS fills (
    id INTEGER PRIMARY KEY AUTOINCREMENT, exec_id TEXT NOT NULL UNIQUE,
    order_link_id TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL, price TEXT NOT NULL,
    qty TEXT NOT NULL, fee TEXT NOT NULL, time_ms INTEGER NOT NULL, fill_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS states (
    id INTEGER PRIMARY KEY AUTOINCREMENT, trade_tag TEXT NOT NULL, phase TEXT NOT NULL,
    detail TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS states_by_trade ON states (trade_tag);
CREATE TABLE IF NOT EXISTS writes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, trade_tag TEXT NOT NULL, kind TEXT NOT NULL,
    symbol TEXT NOT NULL, order_link_id TEXT, value TEXT, stage TEXT NOT NULL,
    at_ms INTEGER NOT NULL, write_json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS writes_by_trade ON writes (trade_tag);
";

/// Migration: the exchange's realised P&L of each fill (`execPnl`) in a column of its own, so
/// the `sqlite3` shell can sum a trade's P&L (`fill_json` holds it too, which is what the
/// journal reads back). A file written before it gets the column, `NULL` on its older rows.
/// Run on every open; it alters the table only when the column is missing.
fn add_fill_pnl(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('fills') WHERE name = 'exec_pnl'",
        [],
        |r| r.get(0),
    )?;
    if !has {
        conn.execute_batch("ALTER TABLE fills ADD COLUMN exec_pnl TEXT")?;
    }
    Ok(())
}

/// Paper routing's simulated account: one row, the account's own text, replaced
/// with each change in the transaction that records the change's fills. Its own step, added
/// by `CREATE TABLE IF NOT EXISTS`, so older files open unchanged.
const PAPER_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS paper_account (
    id INTEGER PRIMARY KEY CHECK (id = 1), account_json TEXT NOT NULL, at_ms INTEGER NOT NULL);
";

/// A [`Journal`] in a SQLite file: a handle on the thread that owns the connection. Clones
/// share the thread; it ends when the last handle is dropped (after what is queued).
#[derive(Debug, Clone)]
pub struct SqliteJournal {
    path: PathBuf,
    commands: mpsc::Sender<Command>,
    #[cfg_attr(
        not(feature = "testing"),
        allow(dead_code, reason = "read by the test hooks")
    )]
    counters: Arc<owner::Counters>,
}

fn io(e: impl std::fmt::Display) -> JournalError {
    JournalError::Io(e.to_string())
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, JournalError> {
    serde_json::from_str(text).map_err(io)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, JournalError> {
    serde_json::to_string(value).map_err(io)
}

fn closed() -> JournalError {
    JournalError::Io("the journal's owner thread has stopped".into())
}

impl SqliteJournal {
    /// Opens (creating the directory and file if needed) the journal at `path` and starts the
    /// thread that owns it. A path that cannot be created or written is an error here, before
    /// any trade starts. Blocking (it opens the file): call it before trading, or from
    /// `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |reason: String| JournalError::Open {
            path: path.clone(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        let conn = Connection::open(&path).map_err(|e| open_err(e.to_string()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .and_then(|()| add_fill_pnl(&conn))
            .and_then(|()| conn.execute_batch(PAPER_SCHEMA))
            .map_err(|e| open_err(e.to_string()))?;
        let (commands, received) = mpsc::channel();
        let counters = Arc::new(owner::Counters::default());
        let owned = counters.clone();
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || owner::run(conn, received, &owned))
            .map_err(|e| open_err(format!("cannot start the journal thread: {e}")))?;
        Ok(SqliteJournal {
            path,
            commands,
            counters,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits what is queued, closes the file and ends the owner thread; answers once the
    /// connection is closed (so a lock held beside the file may be released after it). Every
    /// handle's later calls get [`JournalError::Io`]. Closing again is a no-op.
    pub async fn close(&self) {
        let (done, closed) = tokio::sync::oneshot::channel();
        if self.send(Command::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }

    fn send(&self, command: Command) -> Result<(), JournalError> {
        self.commands.send(command).map_err(|_| closed())
    }

    /// Runs `f` in the owner's next transaction; answers once it is committed.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let (job, answer) = owner::write_job(f);
        self.send(Command::Write(job))?;
        answer.await.map_err(|_| closed())?
    }

    /// Runs `f` on the owner's connection, after the writes queued before it are committed.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let (job, answer) = owner::read_job(f);
        self.send(Command::Read(job))?;
        answer.await.map_err(|_| closed())?
    }
}

/// Test hooks: drive the owner into the states a test must see (a batch built from queued
/// writes, a commit that fails, an owner that is gone).
#[cfg(feature = "testing")]
impl SqliteJournal {
    /// Blocks the owner (after it commits what it has) until the returned sender is dropped
    /// or sends: commands sent meanwhile queue up and are taken as one batch.
    pub fn hold(&self) -> Result<mpsc::Sender<()>, JournalError> {
        let (release, held) = mpsc::channel();
        self.send(Command::Hold(held))?;
        Ok(release)
    }

    /// The next batch is rolled back instead of committed (as a failed fsync would leave it).
    pub fn fail_next_commit(&self) -> Result<(), JournalError> {
        self.send(Command::FailNextCommit)
    }

    /// Ends the owner thread, as if it had died; later calls get [`JournalError::Io`].
    pub fn stop_owner(&self) -> Result<(), JournalError> {
        self.send(Command::Stop)
    }

    /// How many transactions the owner has committed.
    pub fn commits(&self) -> u64 {
        self.counters
            .commits
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn outcomes_of(c: &Connection, link: &str) -> Result<Vec<Outcome>, JournalError> {
    let texts = (|| {
        let mut stmt =
            c.prepare("SELECT outcome_json FROM outcomes WHERE order_link_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([link], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    })()
    .map_err(io)?;
    texts.iter().map(|t| from_json(t)).collect()
}

fn rows(c: &Connection, texts: Vec<String>) -> Result<Vec<IntentRow>, JournalError> {
    texts
        .iter()
        .map(|t| {
            let intent: Intent = from_json(t)?;
            let outcomes = outcomes_of(c, &intent.order_link_id)?;
            Ok(IntentRow { intent, outcomes })
        })
        .collect()
}

/// The texts of the first column of `sql`'s rows.
fn texts(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<String>, JournalError> {
    (|| {
        let mut stmt = c.prepare(sql)?;
        let rows = stmt.query_map(args, |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    })()
    .map_err(io)
}

/// The one way a fill is written (by [`Journal::record_fill`] and with a paper account):
/// `INSERT OR IGNORE` on the execId; the count of rows written.
fn insert_fill(c: &Connection, f: &Fill, json: &str) -> rusqlite::Result<usize> {
    c.execute(
        "INSERT OR IGNORE INTO fills (exec_id, order_link_id, symbol, side, price, qty,
         fee, time_ms, fill_json, exec_pnl) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            f.exec_id,
            f.order_link_id,
            f.symbol,
            f.side.as_str(),
            f.price.to_string(),
            f.qty.to_string(),
            f.fee.to_string(),
            f.time_ms,
            json,
            f.pnl.map(|p| p.to_string())
        ],
    )
}

#[async_trait]
impl Journal for SqliteJournal {
    async fn record_plan(&self, plan: &TradePlan, at_ms: i64) -> Result<(), JournalError> {
        let json = to_json(plan)?;
        let tag = plan.client_tag.clone();
        self.write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO plans (trade_tag, plan_json, at_ms) VALUES (?1, ?2, ?3)",
                params![tag, json, at_ms],
            )
            .map_err(io)
            .map(drop)
        })
        .await
    }

    async fn record_intent(&self, i: &Intent) -> Result<(), JournalError> {
        let json = to_json(i)?;
        let i = i.clone();
        self.write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO intents (order_link_id, trade_tag, leg, symbol, side, qty,
                 price, trigger_price, kind, reason, at_ms, intent_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    i.order_link_id,
                    i.trade_tag,
                    i.leg,
                    i.symbol,
                    i.side,
                    i.qty.to_string(),
                    i.price.map(|p| p.to_string()),
                    i.trigger_price.map(|p| p.to_string()),
                    i.kind,
                    i.reason,
                    i.at_ms,
                    json
                ],
            )
            .map_err(io)
            .map(drop)
        })
        .await
    }

    async fn record_outcome(
        &self,
        order_link_id: &str,
        outcome: &Outcome,
        at_ms: i64,
    ) -> Result<(), JournalError> {
        let json = to_json(outcome)?;
        let (link, name) = (order_link_id.to_owned(), outcome.name());
        self.write(move |c| {
            c.execute(
                "INSERT INTO outcomes (order_link_id, outcome, outcome_json, at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![link, name, json, at_ms],
            )
            .map_err(io)
            .map(drop)
        })
        .await
    }

    async fn record_write(&self, w: &WriteRecord) -> Result<(), JournalError> {
        let json = to_json(w)?;
        let w = w.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO writes (trade_tag, kind, symbol, order_link_id, value, stage, at_ms,
                 write_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    w.trade_tag,
                    w.kind.as_str(),
                    w.symbol,
                    w.order_link_id,
                    w.value.map(|v| v.to_string()),
                    w.stage.name(),
                    w.at_ms,
                    json
                ],
            )
            .map_err(io)
            .map(drop)
        })
        .await
    }

    async fn record_fill(&self, f: &Fill) -> Result<bool, JournalError> {
        let json = to_json(f)?;
        let f = f.clone();
        self.write(move |c| insert_fill(c, &f, &json).map_err(io).map(|n| n == 1))
            .await
    }

    async fn record_state(
        &self,
        trade_tag: &str,
        phase: Phase,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), JournalError> {
        let (tag, detail) = (trade_tag.to_owned(), detail.to_owned());
        self.write(move |c| {
            c.execute(
                "INSERT INTO states (trade_tag, phase, detail, at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![tag, phase.as_str(), detail, at_ms],
            )
            .map_err(io)
            .map(drop)
        })
        .await
    }

    async fn plan(&self, trade_tag: &str) -> Result<Option<TradePlan>, JournalError> {
        let tag = trade_tag.to_owned();
        self.read(move |c| {
            let text = c
                .query_row(
                    "SELECT plan_json FROM plans WHERE trade_tag = ?1",
                    [tag],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map_err(io)?;
            text.map(|t| from_json(&t)).transpose()
        })
        .await
    }

    async fn plans(&self) -> Result<Vec<PlanRow>, JournalError> {
        self.read(|c| {
            let rows = (|| {
                let mut stmt = c.prepare("SELECT plan_json, at_ms FROM plans ORDER BY rowid")?;
                let rows =
                    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })()
            .map_err(io)?;
            rows.into_iter()
                .map(|(json, at_ms)| {
                    Ok(PlanRow {
                        plan: from_json(&json)?,
                        at_ms,
                    })
                })
                .collect()
        })
        .await
    }

    async fn intent(&self, order_link_id: &str) -> Result<Option<IntentRow>, JournalError> {
        let link = order_link_id.to_owned();
        self.read(move |c| {
            let found = texts(
                c,
                "SELECT intent_json FROM intents WHERE order_link_id = ?1",
                [link],
            )?;
            Ok(rows(c, found)?.pop())
        })
        .await
    }

    async fn intents(&self, trade_tag: &str) -> Result<Vec<IntentRow>, JournalError> {
        let tag = trade_tag.to_owned();
        self.read(move |c| {
            let found = texts(
                c,
                "SELECT intent_json FROM intents WHERE trade_tag = ?1 ORDER BY id",
                [tag],
            )?;
            rows(c, found)
        })
        .await
    }

    async fn fills(&self, link_prefix: &str) -> Result<Vec<Fill>, JournalError> {
        let prefix = link_prefix.to_owned();
        self.read(move |c| {
            let found = texts(c, "SELECT fill_json FROM fills ORDER BY id", [])?;
            let fills = found
                .iter()
                .map(|t| from_json::<Fill>(t))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(fills
                .into_iter()
                .filter(|f| f.order_link_id.starts_with(&prefix))
                .collect())
        })
        .await
    }

    async fn writes(&self, trade_tag: &str) -> Result<Vec<WriteRecord>, JournalError> {
        let tag = trade_tag.to_owned();
        self.read(move |c| {
            let found = texts(
                c,
                "SELECT write_json FROM writes WHERE trade_tag = ?1 ORDER BY id",
                [tag],
            )?;
            found.iter().map(|t| from_json(t)).collect()
        })
        .await
    }

    /// One pass over the plans; each trade's last state is found through `states_by_trade`
    /// (an index on `trade_tag` keeps its rows in rowid order, so the newest is its last
    /// entry and no other index is needed).
    async fn open_trades(&self) -> Result<Vec<String>, JournalError> {
        self.read(|c| {
            texts(
                c,
                "SELECT p.trade_tag FROM plans p
                 WHERE COALESCE((SELECT s.phase FROM states s WHERE s.trade_tag = p.trade_tag
                                 ORDER BY s.id DESC LIMIT 1), '') NOT IN (?1, ?2)
                 ORDER BY p.rowid",
                params![Phase::Closed.as_str(), Phase::Error.as_str()],
            )
        })
        .await
    }

    async fn states(&self, trade_tag: &str) -> Result<Vec<StateRow>, JournalError> {
        let tag = trade_tag.to_owned();
        self.read(move |c| {
            let rows = (|| {
                let mut stmt = c.prepare(
                    "SELECT phase, detail, at_ms FROM states WHERE trade_tag = ?1 ORDER BY id",
                )?;
                let rows = stmt.query_map([tag], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })()
            .map_err(io)?;
            rows.into_iter()
                .map(|(phase, detail, at_ms)| {
                    let phase: Phase = from_json(&format!("\"{phase}\""))?;
                    Ok(StateRow {
                        phase,
                        detail,
                        at_ms,
                    })
                })
                .collect()
        })
        .await
    }

    /// One write (one savepoint of the owner's transaction): the fills, then the account;
    /// either both are in the file or neither.
    async fn save_paper_account(
        &self,
        account: &str,
        fills: &[Fill],
        at_ms: i64,
    ) -> Result<(), JournalError> {
        let texts = fills
            .iter()
            .map(|f| to_json(f).map(|json| (f.clone(), json)))
            .collect::<Result<Vec<_>, _>>()?;
        let account = account.to_owned();
        self.write(move |c| {
            for (fill, json) in &texts {
                insert_fill(c, fill, json).map_err(io)?;
            }
            c.execute(
                "INSERT INTO paper_account (id, account_json, at_ms) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET account_json = excluded.account_json,
                 at_ms = excluded.at_ms",
                params![account, at_ms],
            )
            .map_err(io)
            .map(drop)
        })
        .await
    }

    async fn paper_account(&self) -> Result<Option<String>, JournalError> {
        self.read(|c| {
            c.query_row(
                "SELECT account_json FROM paper_account WHERE id = 1",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(io)
        })
        .await
    }
}
