//! The state store: every event bapply has counted, per contact, and every
//! update it has emitted, in one SQLite file.
//!
//! Events are keyed by (contact, bounce message), which is what makes a
//! second run over the same mailbox count nothing twice. Thresholds and
//! windows are computed from the event history rather than from stored
//! counters, so a changed policy applies to the history as it is, and a
//! `delivered` event clears what came before it by date, whatever order the
//! records arrive in.
//!
//! A run is one `BEGIN IMMEDIATE` transaction: two concurrent runs queue on
//! the write lock (busy timeout), and a run that fails or is held back by
//! the guard leaves no trace. `--no-state` uses the same code on an
//! in-memory database.

use super::policy::Action;
use super::update::Update;
use crate::classify::taxonomy::{Category, Reason};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use std::path::Path;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS contact (
    id  INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
);
-- One row per (contact, bounce message); `message` is a 64-bit hash of the
-- message's identity, `at` its date in Unix seconds.
CREATE TABLE IF NOT EXISTS event (
    contact  INTEGER NOT NULL,
    message  INTEGER NOT NULL,
    category TEXT NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (contact, message)
) WITHOUT ROWID;
-- What was emitted, so each update goes out once; `ukey` tells updates of
-- one contact apart (`block`, `manual:challenge`, `change-address:NEW`).
CREATE TABLE IF NOT EXISTS emitted (
    contact    INTEGER NOT NULL,
    ukey       TEXT NOT NULL,
    emitted_at INTEGER NOT NULL,
    email TEXT, action TEXT NOT NULL, category TEXT NOT NULL,
    reason TEXT NOT NULL, status TEXT, count INTEGER NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, subscriber TEXT,
    new_email TEXT, rule TEXT NOT NULL, evidence TEXT,
    UNIQUE (contact, ukey)
);
PRAGMA user_version = 1;
";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database is locked by another run (waited {0:?})")]
    Locked(Duration),
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
}

impl StateError {
    fn from_sql(e: rusqlite::Error, wait: Duration) -> StateError {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StateError::Locked(wait),
            _ => StateError::Sql(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StateError>;

pub struct Store {
    conn: Connection,
    wait: Duration,
}

impl Store {
    /// Opens (creating when needed) the store at `path`, or an in-memory one,
    /// and starts the run's write transaction.
    pub fn open(path: Option<&Path>, wait: Duration) -> Result<Store> {
        let conn = match path {
            Some(p) => Connection::open(p)?,
            None => Connection::open_in_memory()?,
        };
        let store = Store { conn, wait };
        store.setup().map_err(|e| StateError::from_sql(e, wait))?;
        Ok(store)
    }

    fn setup(&self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(self.wait)?;
        // WAL lets readers (a person running sqlite3 on the file) in while a
        // run writes; NORMAL sync is durable at each commit in WAL mode
        // except for a power loss, which costs at most the last run.
        self.conn
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Enough cache for a million events without going over the memory
        // budget (bench: 128 MB peak for the whole process).
        self.conn.pragma_update(None, "cache_size", -40_000)?;
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        self.conn.execute_batch(SCHEMA)?;
        Ok(())
    }

    fn map<T>(&self, r: rusqlite::Result<T>) -> Result<T> {
        r.map_err(|e| StateError::from_sql(e, self.wait))
    }

    pub fn commit(self) -> Result<()> {
        let r = self.conn.execute_batch("COMMIT");
        self.map(r)
    }

    pub fn rollback(self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    pub fn contact_id(&self, key: &str) -> Result<i64> {
        let r = (|| {
            let mut sel = self
                .conn
                .prepare_cached("SELECT id FROM contact WHERE key = ?1")?;
            if let Some(id) = sel.query_row([key], |r| r.get(0)).optional()? {
                return Ok(id);
            }
            let mut ins = self
                .conn
                .prepare_cached("INSERT INTO contact (key) VALUES (?1)")?;
            ins.execute([key])?;
            Ok(self.conn.last_insert_rowid())
        })();
        self.map(r)
    }

    /// Records an event; false when it was already known (a duplicate).
    pub fn add_event(
        &self,
        contact: i64,
        message: i64,
        category: Category,
        at: i64,
    ) -> Result<bool> {
        let r = (|| {
            let mut st = self.conn.prepare_cached(
                "INSERT OR IGNORE INTO event (contact, message, category, at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            Ok(st.execute(params![contact, message, category.as_str(), at])? == 1)
        })();
        self.map(r)
    }

    /// Every event of one contact, oldest first.
    pub fn events(&self, contact: i64, out: &mut Vec<(Category, i64)>) -> Result<()> {
        out.clear();
        let r = (|| {
            let mut st = self
                .conn
                .prepare_cached("SELECT category, at FROM event WHERE contact = ?1")?;
            let mut rows = st.query([contact])?;
            while let Some(row) = rows.next()? {
                let c: String = row.get(0)?;
                // A category this version does not know (written by a newer
                // one) cannot count toward anything here.
                if let Ok(c) = c.parse::<Category>() {
                    out.push((c, row.get(1)?));
                }
            }
            Ok(())
        })();
        self.map(r)
    }

    pub fn was_emitted(&self, contact: i64, ukey: &str) -> Result<bool> {
        let r = (|| {
            let mut st = self
                .conn
                .prepare_cached("SELECT 1 FROM emitted WHERE contact = ?1 AND ukey = ?2")?;
            st.exists(params![contact, ukey])
        })();
        self.map(r)
    }

    pub fn record_emitted(&self, contact: i64, ukey: &str, now: i64, u: &Update) -> Result<()> {
        let r = (|| {
            let mut st = self.conn.prepare_cached(
                "INSERT OR REPLACE INTO emitted (contact, ukey, emitted_at, email, action, \
                 category, reason, status, count, first_seen, last_seen, subscriber, \
                 new_email, rule, evidence) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?;
            st.execute(params![
                contact,
                ukey,
                now,
                u.email,
                u.action.as_str(),
                u.category.as_str(),
                u.reason.as_str(),
                u.status,
                u.count,
                u.first_seen,
                u.last_seen,
                u.subscriber,
                u.new_email,
                u.rule,
                u.evidence,
            ])?;
            Ok(())
        })();
        self.map(r)
    }

    /// Every update ever emitted (`--all`), by contact, in a stable order.
    pub fn all_emitted(&self) -> Result<Vec<Update>> {
        let r = (|| {
            let mut st = self.conn.prepare(
                "SELECT email, action, category, reason, status, count, first_seen, \
                 last_seen, subscriber, new_email, rule, evidence \
                 FROM emitted ORDER BY contact, rowid",
            )?;
            let rows = st.query_map([], |r| {
                let action: String = r.get(1)?;
                let category: String = r.get(2)?;
                let reason: String = r.get(3)?;
                Ok((
                    action,
                    category,
                    reason,
                    Update {
                        email: r.get(0)?,
                        action: Action::None,
                        category: Category::Unknown,
                        reason: Reason::Undefined,
                        status: r.get(4)?,
                        count: r.get(5)?,
                        first_seen: r.get(6)?,
                        last_seen: r.get(7)?,
                        subscriber: r.get(8)?,
                        new_email: r.get(9)?,
                        rule: r.get(10)?,
                        evidence: r.get(11)?,
                    },
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (a, c, re, mut u) = row?;
                // Rows from a newer version with names this one does not
                // know are left out rather than misreported.
                let (Ok(a), Ok(c), Ok(re)) = (a.parse(), c.parse(), re.parse()) else {
                    continue;
                };
                u.action = a;
                u.category = c;
                u.reason = re;
                out.push(u);
            }
            Ok(out)
        })();
        self.map(r)
    }
}
