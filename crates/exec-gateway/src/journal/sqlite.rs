//! The journal on an embedded SQLite file (`rusqlite`, SQLite bundled).
//!
//! WAL mode with `synchronous=FULL`: a write that returned `Ok` survives the process being
//! killed the next instant. Columns a person reads after an incident (leg, orderLinkId, side,
//! qty, price, outcome) are plain text; each row also keeps its JSON so it can be read back
//! exactly. Open the file with the `sqlite3` shell:
//! `SELECT leg, order_link_id, side, qty, price FROM intents WHERE trade_tag = '…'`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use exec_events::Fill;
use rusqlite::{params, Connection, OptionalExtension};

use super::{Intent, IntentRow, Journal, JournalError, Outcome, PlanRow, StateRow, WriteRecord};
use crate::types::{Phase, TradePlan};

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

/// A [`Journal`] in a SQLite file.
#[derive(Debug)]
pub struct SqliteJournal {
    path: PathBuf,
    conn: Mutex<Connection>,
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

impl SqliteJournal {
    /// Opens (creating the directory and file if needed) the journal at `path`. A path that
    /// cannot be created or written is an error here, before any trade starts.
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
            .map_err(|e| open_err(e.to_string()))?;
        Ok(SqliteJournal {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&conn).map_err(io)
    }

    fn outcomes_of(&self, link: &str) -> Result<Vec<Outcome>, JournalError> {
        let texts = self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT outcome_json FROM outcomes WHERE order_link_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([link], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        texts.iter().map(|t| from_json(t)).collect()
    }

    fn rows(&self, texts: Vec<String>) -> Result<Vec<IntentRow>, JournalError> {
        texts
            .iter()
            .map(|t| {
                let intent: Intent = from_json(t)?;
                let outcomes = self.outcomes_of(&intent.order_link_id)?;
                Ok(IntentRow { intent, outcomes })
            })
            .collect()
    }
}

impl Journal for SqliteJournal {
    fn record_plan(&self, plan: &TradePlan, at_ms: i64) -> Result<(), JournalError> {
        let json = to_json(plan)?;
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO plans (trade_tag, plan_json, at_ms) VALUES (?1, ?2, ?3)",
                params![plan.client_tag, json, at_ms],
            )
        })
        .map(drop)
    }

    fn record_intent(&self, i: &Intent) -> Result<(), JournalError> {
        let json = to_json(i)?;
        self.with(|c| {
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
        })
        .map(drop)
    }

    fn record_outcome(
        &self,
        order_link_id: &str,
        outcome: &Outcome,
        at_ms: i64,
    ) -> Result<(), JournalError> {
        let json = to_json(outcome)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO outcomes (order_link_id, outcome, outcome_json, at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![order_link_id, outcome.name(), json, at_ms],
            )
        })
        .map(drop)
    }

    fn record_write(&self, w: &WriteRecord) -> Result<(), JournalError> {
        let json = to_json(w)?;
        self.with(|c| {
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
        })
        .map(drop)
    }

    fn record_fill(&self, f: &Fill) -> Result<bool, JournalError> {
        let json = to_json(f)?;
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO fills (exec_id, order_link_id, symbol, side, price, qty,
                 fee, time_ms, fill_json, exec_pnl)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
        })
        .map(|n| n == 1)
    }

    fn record_state(
        &self,
        trade_tag: &str,
        phase: Phase,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO states (trade_tag, phase, detail, at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![trade_tag, phase.as_str(), detail, at_ms],
            )
        })
        .map(drop)
    }

    fn plan(&self, trade_tag: &str) -> Result<Option<TradePlan>, JournalError> {
        let text = self.with(|c| {
            c.query_row(
                "SELECT plan_json FROM plans WHERE trade_tag = ?1",
                [trade_tag],
                |r| r.get::<_, String>(0),
            )
            .optional()
        })?;
        text.map(|t| from_json(&t)).transpose()
    }

    fn plans(&self) -> Result<Vec<PlanRow>, JournalError> {
        let rows = self.with(|c| {
            let mut stmt = c.prepare("SELECT plan_json, at_ms FROM plans ORDER BY rowid")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(json, at_ms)| {
                Ok(PlanRow {
                    plan: from_json(&json)?,
                    at_ms,
                })
            })
            .collect()
    }

    fn intent(&self, order_link_id: &str) -> Result<Option<IntentRow>, JournalError> {
        let text = self.with(|c| {
            c.query_row(
                "SELECT intent_json FROM intents WHERE order_link_id = ?1",
                [order_link_id],
                |r| r.get::<_, String>(0),
            )
            .optional()
        })?;
        Ok(self.rows(text.into_iter().collect())?.pop())
    }

    fn intents(&self, trade_tag: &str) -> Result<Vec<IntentRow>, JournalError> {
        let texts = self.with(|c| {
            let mut stmt =
                c.prepare("SELECT intent_json FROM intents WHERE trade_tag = ?1 ORDER BY id")?;
            let rows = stmt.query_map([trade_tag], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        self.rows(texts)
    }

    fn fills(&self, link_prefix: &str) -> Result<Vec<Fill>, JournalError> {
        let texts = self.with(|c| {
            let mut stmt = c.prepare("SELECT fill_json FROM fills ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let fills = texts
            .iter()
            .map(|t| from_json::<Fill>(t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(fills
            .into_iter()
            .filter(|f| f.order_link_id.starts_with(link_prefix))
            .collect())
    }

    fn writes(&self, trade_tag: &str) -> Result<Vec<WriteRecord>, JournalError> {
        let texts = self.with(|c| {
            let mut stmt =
                c.prepare("SELECT write_json FROM writes WHERE trade_tag = ?1 ORDER BY id")?;
            let rows = stmt.query_map([trade_tag], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        texts.iter().map(|t| from_json(t)).collect()
    }

    /// One pass over the plans; each trade's last state is found through `states_by_trade`
    /// (an index on `trade_tag` keeps its rows in rowid order, so the newest is its last
    /// entry and no other index is needed).
    fn open_trades(&self) -> Result<Vec<String>, JournalError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT p.trade_tag FROM plans p
                 WHERE COALESCE((SELECT s.phase FROM states s WHERE s.trade_tag = p.trade_tag
                                 ORDER BY s.id DESC LIMIT 1), '') NOT IN (?1, ?2)
                 ORDER BY p.rowid",
            )?;
            let rows = stmt.query_map(
                params![Phase::Closed.as_str(), Phase::Error.as_str()],
                |r| r.get::<_, String>(0),
            )?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    fn states(&self, trade_tag: &str) -> Result<Vec<StateRow>, JournalError> {
        let rows = self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT phase, detail, at_ms FROM states WHERE trade_tag = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([trade_tag], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
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
    }
}
