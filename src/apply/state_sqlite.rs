//! The state store in one SQLite file: the `state` module says what it
//! holds.
//!
//! A run is one `BEGIN IMMEDIATE` transaction: two concurrent runs queue on
//! the write lock (busy timeout), and a run that fails or is held back by
//! the guard leaves no trace. `--no-state` uses the same code on an
//! in-memory database.

use super::state_backend::{
    Backend, EmittedRow, KnownEvent, KnownUpdate, ListContact, NewEvent, PageKey, PageRow, Result,
};
use super::update::Update;
use crate::record::Category;
use rusqlite::Connection;
use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use super::schema::{GOOD_CATEGORY, MIGRATE_V1, MIGRATE_V2, SCHEMA, SCHEMA_VERSION};
use super::state_error::{StateError, check_header, is_busy};

/// Rows per multi-row INSERT (4 parameters each, well under SQLite's limit).
pub const INSERT_CHUNK: usize = 128;

pub(super) struct SqliteState {
    /// Also used by the policy limits' queries (`state_limits`).
    pub(super) conn: Connection,
    wait: Duration,
}

impl SqliteState {
    /// Opens (creating when needed) the store at `path`, or an in-memory one,
    /// and starts the run's write transaction.
    pub(super) fn open(path: Option<&Path>, wait: Duration) -> Result<SqliteState> {
        let conn = match path {
            Some(p) => {
                check_header(p)?;
                Connection::open(p)?
            }
            None => Connection::open_in_memory()?,
        };
        let store = SqliteState { conn, wait };
        // A state from a newer bapply is refused before anything (the
        // switch to WAL included) writes to it.
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| StateError::from_sql(e, wait))?;
        if version > SCHEMA_VERSION {
            return Err(StateError::Newer(version));
        }
        store.setup().map_err(|e| StateError::from_sql(e, wait))?;
        Ok(store)
    }

    fn setup(&self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(self.wait)?;
        // WAL lets readers (a person running sqlite3 on the file) in while a
        // run writes; NORMAL sync is durable at each commit in WAL mode
        // except for a power loss, which costs at most the last run.
        // Switching a new file to WAL takes a lock that SQLite does not wait
        // for, so two runs starting on a new state at once retry here.
        let start = std::time::Instant::now();
        loop {
            match self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            {
                Err(e) if is_busy(&e) && start.elapsed() < self.wait => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                r => break r?,
            }
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Inserts arrive sorted and mostly append, so a modest cache does;
        // the whole process must stay under 128 MB for a million records.
        self.conn.pragma_update(None, "cache_size", -8_000)?;
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 1 {
            self.conn.execute_batch(MIGRATE_V1)?;
        }
        if version == 1 || version == 2 {
            self.conn.execute_batch(MIGRATE_V2)?;
        }
        self.conn.execute_batch(SCHEMA)?;
        Ok(())
    }

    pub(super) fn map<T>(&self, r: rusqlite::Result<T>) -> Result<T> {
        r.map_err(|e| StateError::from_sql(e, self.wait))
    }
}

impl Backend for SqliteState {
    fn link_list_contacts(&self, rows: &[ListContact<'_>]) -> Result<()> {
        SqliteState::link_list_contacts(self, rows)
    }

    fn stage_good(&self, addresses: &[String]) -> Result<()> {
        SqliteState::stage_good(self, addresses)
    }

    fn apply_good(&self, now: i64) -> Result<u64> {
        SqliteState::apply_good(self, now)
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let r = self.conn.execute_batch("COMMIT");
        self.map(r)
    }

    fn rollback(self: Box<Self>) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    /// Set-based through a temporary table: per-key statements cost more
    /// than the work for a hundred thousand contacts.
    fn resolve_contacts(&self, keys: &[&str]) -> Result<Vec<i64>> {
        let r = (|| {
            self.conn.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS run_key (
                     idx INTEGER PRIMARY KEY, key TEXT NOT NULL);
                 CREATE TEMP TABLE IF NOT EXISTS run_contact (
                     idx INTEGER PRIMARY KEY, cid INTEGER NOT NULL);
                 DELETE FROM run_key;
                 DELETE FROM run_contact;",
            )?;
            let mut rows: Vec<(i64, &str)> = Vec::new();
            let flush = |rows: &mut Vec<(i64, &str)>| -> rusqlite::Result<()> {
                let sql = multi_insert("INSERT INTO run_key (idx, key) VALUES ", 2, rows.len());
                let mut st = self.conn.prepare_cached(&sql)?;
                for (i, (idx, key)) in rows.iter().enumerate() {
                    st.raw_bind_parameter(2 * i + 1, idx)?;
                    st.raw_bind_parameter(2 * i + 2, key)?;
                }
                st.raw_execute()?;
                rows.clear();
                Ok(())
            };
            let keys_seen = keys;
            for (i, key) in keys_seen.iter().enumerate() {
                rows.push((i as i64, key));
                if rows.len() == INSERT_CHUNK {
                    flush(&mut rows)?;
                }
            }
            if !rows.is_empty() {
                flush(&mut rows)?;
            }
            let mut ids: Vec<i64> = {
                let mut st = self.conn.prepare(
                    "SELECT c.id FROM run_key r LEFT JOIN contact c ON c.key = r.key \
                     ORDER BY r.idx",
                )?;
                st.query_map([], |r| Ok(r.get::<_, Option<i64>>(0)?.unwrap_or(0)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let mut next: i64 = self
                .conn
                .query_row(
                    "SELECT value FROM meta WHERE name = 'next_contact'",
                    [],
                    |r| r.get(0),
                )
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(1),
                    e => Err(e),
                })?;
            // New contacts get ids in order of appearance, so that their
            // events append to the event table; they go into the contact
            // table in key order, which is that B-tree's order.
            let mut new: Vec<(&str, i64)> = Vec::new();
            for (i, id) in ids.iter_mut().enumerate() {
                if *id == 0 {
                    *id = next;
                    next += 1;
                    new.push((keys_seen[i], *id));
                }
            }
            new.sort_unstable();
            for chunk in new.chunks(INSERT_CHUNK) {
                let mut st = self.conn.prepare_cached(&multi_insert(
                    "INSERT INTO contact (key, id) VALUES ",
                    2,
                    chunk.len(),
                ))?;
                for (i, (key, id)) in chunk.iter().enumerate() {
                    st.raw_bind_parameter(2 * i + 1, key)?;
                    st.raw_bind_parameter(2 * i + 2, id)?;
                }
                st.raw_execute()?;
            }
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('next_contact', ?1)",
                [next],
            )?;
            // The joins of known_events and known_emitted go through this.
            for (c, chunk) in ids.chunks(INSERT_CHUNK).enumerate() {
                let mut st = self.conn.prepare_cached(&multi_insert(
                    "INSERT INTO run_contact (idx, cid) VALUES ",
                    2,
                    chunk.len(),
                ))?;
                for (i, id) in chunk.iter().enumerate() {
                    st.raw_bind_parameter(2 * i + 1, (c * INSERT_CHUNK + i) as i64)?;
                    st.raw_bind_parameter(2 * i + 2, id)?;
                }
                st.raw_execute()?;
            }
            Ok(ids)
        })();
        self.map(r)
    }

    fn known_events(&self, lo: u32, hi: u32, out: &mut Vec<KnownEvent>) -> Result<()> {
        let r = (|| {
            let mut st = self.conn.prepare_cached(
                "SELECT r.idx, e.message, e.category, e.at FROM run_contact r \
                 JOIN event e ON e.contact = r.cid WHERE r.idx BETWEEN ?1 AND ?2 \
                 ORDER BY r.idx, e.message",
            )?;
            let mut rows = st.query([lo, hi])?;
            while let Some(row) = rows.next()? {
                let name = row.get_ref(2)?.as_str()?;
                // A category this version does not know (written by a newer
                // one) counts toward nothing here; it still deduplicates.
                let c = name.parse::<Category>().unwrap_or(Category::Unknown);
                out.push(KnownEvent {
                    position: row.get(0)?,
                    message: row.get(1)?,
                    category: c,
                    at: row.get(3)?,
                    good: name == GOOD_CATEGORY,
                });
            }
            Ok(())
        })();
        self.map(r)
    }

    fn known_emitted(
        &self,
        lo: u32,
        hi: u32,
        dest: &str,
        out: &mut Vec<KnownUpdate>,
    ) -> Result<()> {
        let r = (|| {
            let mut st = self.conn.prepare_cached(
                "SELECT r.idx, m.ukey FROM run_contact r \
                 JOIN emitted m ON m.contact = r.cid AND m.dest IN ('', ?3) \
                 WHERE r.idx BETWEEN ?1 AND ?2 ORDER BY r.idx",
            )?;
            let mut rows = st.query(rusqlite::params![lo, hi, dest])?;
            while let Some(row) = rows.next()? {
                out.push(KnownUpdate {
                    position: row.get(0)?,
                    update_key: row.get(1)?,
                });
            }
            Ok(())
        })();
        self.map(r)
    }

    /// Many rows per statement: a million single-row inserts cost more in
    /// statement overhead than in the B-tree.
    fn insert_events(&self, rows: &[NewEvent]) -> Result<()> {
        let r = (|| {
            for chunk in rows.chunks(INSERT_CHUNK) {
                let mut st = self.conn.prepare_cached(&multi_insert(
                    "INSERT OR IGNORE INTO event (contact, message, category, at) VALUES ",
                    4,
                    chunk.len(),
                ))?;
                for (i, e) in chunk.iter().enumerate() {
                    st.raw_bind_parameter(4 * i + 1, e.contact_id)?;
                    st.raw_bind_parameter(4 * i + 2, e.message)?;
                    st.raw_bind_parameter(4 * i + 3, e.category.as_str())?;
                    st.raw_bind_parameter(4 * i + 4, e.at)?;
                }
                st.raw_execute()?;
            }
            Ok(())
        })();
        self.map(r)
    }

    fn record_emitted(&self, now: i64, dest: &str, rows: &[EmittedRow<'_>]) -> Result<()> {
        const COLS: usize = 17;
        const CHUNK: usize = 64;
        let r = (|| {
            for chunk in rows.chunks(CHUNK) {
                let mut st = self.conn.prepare_cached(&multi_insert(
                    "INSERT OR REPLACE INTO emitted (contact, ukey, emitted_at, email, action, \
                     category, reason, status, count, first_seen, last_seen, subscriber, \
                     new_email, rule, evidence, dest, list_id) VALUES ",
                    COLS,
                    chunk.len(),
                ))?;
                for (i, row) in chunk.iter().enumerate() {
                    let (p, u) = (i * COLS, &row.update);
                    st.raw_bind_parameter(p + 1, row.contact_id)?;
                    st.raw_bind_parameter(p + 2, &row.update_key)?;
                    st.raw_bind_parameter(p + 3, now)?;
                    st.raw_bind_parameter(p + 4, u.email.as_deref())?;
                    st.raw_bind_parameter(p + 5, u.action.as_str())?;
                    st.raw_bind_parameter(p + 6, u.category.as_str())?;
                    st.raw_bind_parameter(p + 7, u.reason.as_str())?;
                    st.raw_bind_parameter(p + 8, u.status.as_deref())?;
                    st.raw_bind_parameter(p + 9, u.count)?;
                    st.raw_bind_parameter(p + 10, &*u.first_seen)?;
                    st.raw_bind_parameter(p + 11, &*u.last_seen)?;
                    st.raw_bind_parameter(p + 12, u.subscriber.as_deref())?;
                    st.raw_bind_parameter(p + 13, u.new_email.as_deref())?;
                    st.raw_bind_parameter(p + 14, &*u.rule)?;
                    st.raw_bind_parameter(p + 15, u.evidence.as_deref())?;
                    st.raw_bind_parameter(p + 16, dest)?;
                    st.raw_bind_parameter(p + 17, u.list_id.as_deref())?;
                }
                st.raw_execute()?;
            }
            Ok(())
        })();
        self.map(r)
    }

    fn emitted_page(
        &self,
        after: &Option<PageKey>,
        limit: usize,
        dest: &str,
    ) -> Result<Vec<PageRow>> {
        let r = (|| {
            let mut st = self.conn.prepare_cached(
                "SELECT contact, ukey, email, action, category, reason, status, count, \
                 first_seen, last_seen, subscriber, new_email, rule, evidence, list_id \
                 FROM emitted WHERE (contact, ukey) > (?1, ?2) AND dest IN ('', ?4) \
                 ORDER BY contact, ukey LIMIT ?3",
            )?;
            let (c, k) = match after {
                Some(a) => (a.contact_id, a.update_key.as_str()),
                None => (i64::MIN, ""),
            };
            let mut rows = st.query(rusqlite::params![c, k, limit as i64, dest])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let key = PageKey {
                    contact_id: r.get(0)?,
                    update_key: r.get(1)?,
                };
                let names = (
                    r.get_ref(3)?.as_str()?.parse(),
                    r.get_ref(4)?.as_str()?.parse(),
                    r.get_ref(5)?.as_str()?.parse(),
                );
                // Rows from a newer version with names this one does not
                // know are left out rather than misreported.
                let (Ok(action), Ok(category), Ok(reason)) = names else {
                    out.push((key, None));
                    continue;
                };
                out.push((
                    key,
                    Some(Update {
                        email: text(r, 2)?,
                        action,
                        category,
                        reason,
                        status: text(r, 6)?,
                        count: r.get(7)?,
                        first_seen: r.get::<_, String>(8)?.into(),
                        last_seen: r.get::<_, String>(9)?.into(),
                        subscriber: text(r, 10)?,
                        new_email: text(r, 11)?,
                        rule: r.get::<_, String>(12)?.into(),
                        evidence: text(r, 13)?,
                        list_id: text(r, 14)?,
                    }),
                ));
            }
            Ok(out)
        })();
        self.map(r)
    }
}

/// A nullable text column, owned.
fn text(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<Cow<'static, str>>> {
    Ok(r.get::<_, Option<String>>(i)?.map(Cow::Owned))
}

/// `INSERT ... VALUES (?,?),(?,?)...` for `rows` rows of `cols` columns.
/// Built once per shape: the statement cache is keyed by the SQL text.
pub(super) fn multi_insert(head: &'static str, cols: usize, rows: usize) -> std::sync::Arc<str> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Key = (&'static str, usize, usize);
    static BUILT: OnceLock<Mutex<HashMap<Key, Arc<str>>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    built
        .entry((head, cols, rows))
        .or_insert_with(|| build_multi_insert(head, cols, rows).into())
        .clone()
}

fn build_multi_insert(head: &str, cols: usize, rows: usize) -> String {
    let one = format!("({})", vec!["?"; cols].join(","));
    let mut sql = String::from(head);
    sql.push_str(&vec![one; rows].join(","));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 state keeps its emitted updates, for every destination.
    #[test]
    fn migrates_version_1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        let v1 = Connection::open(&path).unwrap();
        v1.execute_batch(
            "CREATE TABLE emitted (contact INTEGER NOT NULL, ukey TEXT NOT NULL,
               emitted_at INTEGER NOT NULL, email TEXT, action TEXT NOT NULL,
               category TEXT NOT NULL, reason TEXT NOT NULL, status TEXT,
               count INTEGER NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
               subscriber TEXT, new_email TEXT, rule TEXT NOT NULL, evidence TEXT,
               PRIMARY KEY (contact, ukey)) WITHOUT ROWID;
             INSERT INTO emitted VALUES (1, 'block', 0, 'a@example.org', 'block', 'hard',
               'userunknown', NULL, 1, 'x', 'x', NULL, NULL, 'r', NULL);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(v1);
        let store = Box::new(SqliteState::open(Some(&path), Duration::from_secs(1)).unwrap());
        let all = store.emitted_page(&None, 10, "target:sqlite:/x").unwrap();
        assert_eq!(all.len(), 1);
        let update = all[0].1.as_ref().unwrap();
        assert_eq!(update.email.as_deref(), Some("a@example.org"));
        store.commit().unwrap();
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
}
