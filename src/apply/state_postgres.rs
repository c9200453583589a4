//! The state store in PostgreSQL (`--state postgres://…`), so that several
//! hosts share one history: the tables of [`super::schema`] in a schema of
//! their own (`bapply`, or `?schema=NAME`).
//!
//! Concurrency: a run takes a transaction-scoped advisory lock, keyed by
//! the state's schema, before it reads or writes anything, and holds it to
//! its commit — the same discipline as SQLite's `BEGIN IMMEDIATE`. Runs on
//! one state therefore execute one after the other: each sees everything
//! the runs before it committed (READ COMMITTED takes a new snapshot per
//! statement, all after the lock), so the result is exactly that of a
//! serial order, for the state and for the updates emitted alike. The
//! other ways were weighed and left: SERIALIZABLE needs a retry of the
//! whole run on a serialization failure, and a run writes its updates to
//! its output before it commits (the state advances only once they are
//! out, bapply(1)), so a retry would emit them twice or hold them until
//! after the commit; row locks would have to cover rows that do not exist
//! yet (new contacts, the `next_contact` counter) and be taken in one
//! order to avoid deadlocks. The lock serialises runs, as SQLite does;
//! runs are short next to the minutes between them.
//!
//! Everything a run does, creating the schema and migrating it included,
//! is in that one transaction: a run that fails, is held back, or is
//! killed at any point leaves the state as it was (the server rolls back
//! a transaction whose connection goes away).

use super::schema::{
    GOOD_CATEGORY, POSTGRES_FIRST_VERSION, POSTGRES_MIGRATIONS, POSTGRES_VERSION_ROW, SCHEMA,
    SCHEMA_VERSION, for_postgres,
};
use super::state_backend::{
    Backend, EmittedRow, KnownEvent, KnownUpdate, ListContact, NewEvent, PageKey, PageRow, Result,
};
use super::state_error::StateError;
use super::update::Update;
use crate::record::Category;
use postgres::Client;
use std::borrow::Cow;
use std::cell::RefCell;
use std::time::Duration;

/// The schema the state's tables live in unless the URL names another.
pub const DEFAULT_SCHEMA: &str = "bapply";

/// Rows per statement of the inserts: arrays of this many values each.
pub(super) const INSERT_CHUNK: usize = 10_000;

/// A PostgreSQL state: the server's URL and the schema in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresLocation {
    /// The URL without bapply's own `schema=` parameter, as the server
    /// gets it.
    url: String,
    schema: String,
    /// The URL as given, without its password: how messages name it.
    display: String,
}

impl PostgresLocation {
    /// `postgres://…` or `postgresql://…`, with an optional `schema=NAME`
    /// query parameter (letters, digits and `_`); None for anything else
    /// (an SQLite path).
    pub fn parse(s: &str) -> Option<std::result::Result<PostgresLocation, String>> {
        if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
            return None;
        }
        let display = super::postgres_error::redact(s);
        let fail = |why: String| Err(format!("--state {display}: {why}"));
        let (base, query) = s.split_once('?').unwrap_or((s, ""));
        let mut schema = None;
        let mut rest = Vec::new();
        for param in query.split('&').filter(|p| !p.is_empty()) {
            match param.strip_prefix("schema=") {
                Some(name) => schema = Some(name.to_string()),
                None => rest.push(param),
            }
        }
        let schema = schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_string());
        let valid = !schema.is_empty()
            && schema.len() <= 63
            && !schema.starts_with("pg_")
            && !schema.starts_with(|c: char| c.is_ascii_digit())
            && schema
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Some(fail(format!(
                "schema={schema}: give a schema name of letters, digits and _ \
                 (not starting with a digit or pg_)"
            )));
        }
        let url = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        if let Err(e) = url.parse::<postgres::Config>() {
            return Some(fail(super::postgres_error::describe(&e)));
        }
        Some(Ok(PostgresLocation {
            url,
            schema,
            display,
        }))
    }

    /// The URL as given, without its password.
    pub fn display(&self) -> &str {
        &self.display
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Connects, naming the program to the server (`pg_stat_activity`).
    pub(super) fn connect(&self) -> std::result::Result<Client, postgres::Error> {
        let mut config: postgres::Config = self.url.parse()?;
        if config.get_application_name().is_none() {
            config.application_name("bapply");
        }
        config.connect(postgres::NoTls)
    }

    /// The advisory lock that runs on this state take: a 64-bit FNV-1a
    /// hash of the schema's name (advisory locks are per database).
    fn lock_key(&self) -> i64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in b"bapply state ".iter().chain(self.schema.as_bytes()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h as i64
    }
}

/// `"name"`: a schema name, checked in [`PostgresLocation::parse`], as an
/// identifier.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `SET LOCAL lock_timeout`: `--lock-timeout`, at least a millisecond
/// (0 would mean no limit to PostgreSQL).
pub(super) fn set_lock_timeout(wait: Duration) -> String {
    format!(
        "SET LOCAL lock_timeout = {}",
        wait.as_millis().clamp(1, i32::MAX as u128)
    )
}

/// PostgreSQL text cannot hold NUL: it becomes U+FFFD, as for `--apply`.
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

pub(super) fn owned(s: &str) -> String {
    text(s).into_owned()
}

pub(super) struct PostgresState {
    client: RefCell<Client>,
    /// This run's contact ids, by position ([`Backend::resolve_contacts`]).
    ids: RefCell<Vec<i64>>,
    wait: Duration,
}

impl PostgresState {
    /// Connects, begins the run's transaction, waits up to `wait` for the
    /// state's lock, then creates or upgrades the schema (refusing one
    /// from a newer bapply before it writes anything).
    pub(super) fn open(at: &PostgresLocation, wait: Duration) -> Result<PostgresState> {
        let pg = |e| StateError::from_postgres(e, wait);
        let mut client = at.connect().map_err(pg)?;
        // A run reads its input inside the transaction, so a slow pipe
        // keeps it idle: the server's idle timeout must not end it.
        // statement_timeout stays the server's: a statement it cuts off
        // ends the run (75), changing nothing.
        client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED; {}; \
                 SET LOCAL idle_in_transaction_session_timeout = 0",
                set_lock_timeout(wait)
            ))
            .map_err(pg)?;
        client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&at.lock_key()])
            .map_err(pg)?;
        let exists = client
            .query_opt(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                &[&at.schema],
            )
            .map_err(pg)?
            .is_some();
        let schema = quote_ident(&at.schema);
        if !exists {
            client
                .batch_execute(&format!("CREATE SCHEMA {schema}"))
                .map_err(pg)?;
        }
        client
            .batch_execute(&format!("SET LOCAL search_path = {schema}"))
            .map_err(pg)?;
        let version =
            read_version(&mut client, &at.schema).map_err(|e| e.into_state(&at.schema, wait))?;
        match version {
            Some(v) if v > SCHEMA_VERSION => return Err(StateError::Newer(v)),
            Some(v) if v < POSTGRES_FIRST_VERSION => {
                return Err(StateError::Damaged(format!(
                    "schema {} says schema version {v}, which no PostgreSQL state has; \
                     nothing was changed",
                    at.schema
                )));
            }
            _ => {}
        }
        if let Some(v) = version {
            for (_, migration) in POSTGRES_MIGRATIONS.iter().filter(|(from, _)| *from >= v) {
                client.batch_execute(&for_postgres(migration)).map_err(pg)?;
            }
        }
        if version != Some(SCHEMA_VERSION) {
            client.batch_execute(&for_postgres(SCHEMA)).map_err(pg)?;
            client
                .execute(
                    "INSERT INTO meta (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    &[&POSTGRES_VERSION_ROW, &SCHEMA_VERSION],
                )
                .map_err(pg)?;
        }
        Ok(PostgresState {
            client: RefCell::new(client),
            ids: RefCell::new(Vec::new()),
            wait,
        })
    }

    pub(super) fn map<T>(&self, r: std::result::Result<T, postgres::Error>) -> Result<T> {
        r.map_err(|e| StateError::from_postgres(e, self.wait))
    }

    /// Runs `f` on the connection (the run's transaction).
    pub(super) fn with_client<T>(
        &self,
        f: impl FnOnce(&mut Client) -> std::result::Result<T, postgres::Error>,
    ) -> std::result::Result<T, postgres::Error> {
        f(&mut self.client.borrow_mut())
    }

    /// The ids of the contacts at positions `lo..=hi`.
    fn ids(&self, lo: u32, hi: u32) -> Vec<i64> {
        let ids = self.ids.borrow();
        let lo = (lo as usize).min(ids.len());
        let hi = (hi as usize).saturating_add(1).min(ids.len());
        ids[lo..hi].to_vec()
    }
}

/// The state's schema version: None when the schema holds no state yet
/// (no table `meta`); an error when `meta` has no version, which no
/// PostgreSQL state bapply wrote lacks.
pub(super) fn read_version(
    client: &mut Client,
    schema: &str,
) -> std::result::Result<Option<i64>, VersionError> {
    let has_meta = client
        .query_opt(
            "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'meta'",
            &[&schema],
        )?
        .is_some();
    if !has_meta {
        return Ok(None);
    }
    let row = client.query_opt(
        &format!(
            "SELECT value FROM {}.meta WHERE name = $1",
            quote_ident(schema)
        ),
        &[&POSTGRES_VERSION_ROW],
    )?;
    match row {
        Some(r) => Ok(Some(r.try_get::<_, i64>(0)?)),
        None => Err(VersionError::Missing),
    }
}

/// Why a schema's version could not be read.
#[derive(Debug)]
pub(super) enum VersionError {
    Postgres(postgres::Error),
    /// A table `meta` without the version row: not a state bapply wrote.
    Missing,
}

impl From<postgres::Error> for VersionError {
    fn from(e: postgres::Error) -> Self {
        VersionError::Postgres(e)
    }
}

impl VersionError {
    pub(super) fn into_state(self, schema: &str, wait: Duration) -> StateError {
        match self {
            VersionError::Postgres(e) => StateError::from_postgres(e, wait),
            VersionError::Missing => StateError::Damaged(format!(
                "schema {schema} has a table meta without a schema version: not a bapply \
                 state; nothing was changed"
            )),
        }
    }
}

impl Backend for PostgresState {
    fn link_list_contacts(&self, rows: &[ListContact<'_>]) -> Result<()> {
        PostgresState::link_list_contacts(self, rows)
    }

    fn stage_good(&self, addresses: &[String]) -> Result<()> {
        PostgresState::stage_good(self, addresses)
    }

    fn apply_good(&self, now: i64) -> Result<u64> {
        PostgresState::apply_good(self, now)
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let r = self.client.borrow_mut().batch_execute("COMMIT");
        self.map(r)
    }

    fn rollback(self: Box<Self>) {
        let _ = self.client.borrow_mut().batch_execute("ROLLBACK");
    }

    /// New contacts get ids from the `meta` counter `next_contact`, as in
    /// SQLite; the lock makes the counter this run's alone.
    fn resolve_contacts(&self, keys: &[&str]) -> Result<Vec<i64>> {
        let mut client = self.client.borrow_mut();
        let r = (|| {
            let texts: Vec<Cow<'_, str>> = keys.iter().map(|k| text(k)).collect();
            let mut ids: Vec<i64> = Vec::with_capacity(keys.len());
            for chunk in texts.chunks(INSERT_CHUNK) {
                let chunk: Vec<&str> = chunk.iter().map(|k| &**k).collect();
                let rows = client.query(
                    "SELECT c.id FROM unnest($1::text[]) WITH ORDINALITY AS k(key, idx) \
                     LEFT JOIN contact c ON c.key = k.key ORDER BY k.idx",
                    &[&chunk],
                )?;
                for row in rows {
                    ids.push(row.try_get::<_, Option<i64>>(0)?.unwrap_or(0));
                }
            }
            let mut next: i64 = client
                .query_opt("SELECT value FROM meta WHERE name = 'next_contact'", &[])?
                .map(|r| r.try_get(0))
                .transpose()?
                .unwrap_or(1);
            // Two keys that differ only by a NUL and U+FFFD are one here.
            let mut new: std::collections::HashMap<&str, i64> = Default::default();
            let (mut new_keys, mut new_ids) = (Vec::new(), Vec::new());
            for (i, id) in ids.iter_mut().enumerate() {
                if *id == 0 {
                    *id = *new.entry(&texts[i]).or_insert_with(|| {
                        new_keys.push(&*texts[i]);
                        new_ids.push(next);
                        next += 1;
                        next - 1
                    });
                }
            }
            for (keys, ids) in new_keys
                .chunks(INSERT_CHUNK)
                .zip(new_ids.chunks(INSERT_CHUNK))
            {
                client.execute(
                    "INSERT INTO contact (key, id) SELECT * FROM unnest($1::text[], $2::bigint[])",
                    &[&keys, &ids],
                )?;
            }
            client.execute(
                "INSERT INTO meta (name, value) VALUES ('next_contact', $1) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[&next],
            )?;
            Ok(ids)
        })();
        drop(client);
        let ids = self.map(r)?;
        *self.ids.borrow_mut() = ids.clone();
        Ok(ids)
    }

    fn known_events(&self, lo: u32, hi: u32, out: &mut Vec<KnownEvent>) -> Result<()> {
        let ids = self.ids(lo, hi);
        let r = self.client.borrow_mut().query(
            "SELECT k.idx, e.message, e.category, e.at \
             FROM unnest($1::bigint[]) WITH ORDINALITY AS k(cid, idx) \
             JOIN event e ON e.contact = k.cid ORDER BY k.idx, e.message",
            &[&ids],
        );
        for row in self.map(r)? {
            let r = (|| {
                // A category this version does not know (written by a
                // newer one) counts toward nothing here; it still
                // deduplicates.
                let c: &str = row.try_get(2)?;
                Ok(KnownEvent {
                    position: lo + (row.try_get::<_, i64>(0)? - 1) as u32,
                    message: row.try_get(1)?,
                    category: c.parse::<Category>().unwrap_or(Category::Unknown),
                    at: row.try_get(3)?,
                    good: c == GOOD_CATEGORY,
                })
            })();
            out.push(self.map(r)?);
        }
        Ok(())
    }

    fn known_emitted(
        &self,
        lo: u32,
        hi: u32,
        dest: &str,
        out: &mut Vec<KnownUpdate>,
    ) -> Result<()> {
        let ids = self.ids(lo, hi);
        let dest = text(dest);
        let r = self.client.borrow_mut().query(
            "SELECT k.idx, m.ukey FROM unnest($1::bigint[]) WITH ORDINALITY AS k(cid, idx) \
             JOIN emitted m ON m.contact = k.cid AND m.dest IN ('', $2) ORDER BY k.idx",
            &[&ids, &dest],
        );
        for row in self.map(r)? {
            let r = (|| {
                Ok(KnownUpdate {
                    position: lo + (row.try_get::<_, i64>(0)? - 1) as u32,
                    update_key: row.try_get(1)?,
                })
            })();
            out.push(self.map(r)?);
        }
        Ok(())
    }

    fn insert_events(&self, rows: &[NewEvent]) -> Result<()> {
        let mut client = self.client.borrow_mut();
        let r = (|| {
            for chunk in rows.chunks(INSERT_CHUNK) {
                let contact: Vec<i64> = chunk.iter().map(|e| e.contact_id).collect();
                let message: Vec<i64> = chunk.iter().map(|e| e.message).collect();
                let category: Vec<&str> = chunk.iter().map(|e| e.category.as_str()).collect();
                let at: Vec<i64> = chunk.iter().map(|e| e.at).collect();
                client.execute(
                    "INSERT INTO event (contact, message, category, at) SELECT * FROM \
                     unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[]) \
                     ON CONFLICT DO NOTHING",
                    &[&contact, &message, &category, &at],
                )?;
            }
            Ok(())
        })();
        drop(client);
        self.map(r)
    }

    fn record_emitted(&self, now: i64, dest: &str, rows: &[EmittedRow<'_>]) -> Result<()> {
        let mut client = self.client.borrow_mut();
        let dest = text(dest);
        let r = (|| {
            for chunk in rows.chunks(INSERT_CHUNK) {
                // One row per (contact, update key), the last: ON CONFLICT
                // DO UPDATE may not meet a row twice in one statement.
                let mut seen = std::collections::HashSet::new();
                let chunk: Vec<&EmittedRow<'_>> = chunk
                    .iter()
                    .rev()
                    .filter(|r| seen.insert((r.contact_id, &r.update_key)))
                    .collect();
                let col = |f: fn(&Update<'_>) -> Option<String>| -> Vec<Option<String>> {
                    chunk.iter().map(|r| f(&r.update)).collect()
                };
                let contact: Vec<i64> = chunk.iter().map(|r| r.contact_id).collect();
                let ukey: Vec<String> = chunk.iter().map(|r| owned(&r.update_key)).collect();
                let email = col(|u| u.email.as_deref().map(owned));
                let action = col(|u| Some(u.action.as_str().into()));
                let category = col(|u| Some(u.category.as_str().into()));
                let reason = col(|u| Some(u.reason.as_str().into()));
                let status = col(|u| u.status.as_deref().map(owned));
                let count: Vec<i64> = chunk.iter().map(|r| i64::from(r.update.count)).collect();
                let first_seen = col(|u| Some(owned(&u.first_seen)));
                let last_seen = col(|u| Some(owned(&u.last_seen)));
                let subscriber = col(|u| u.subscriber.as_deref().map(owned));
                let new_email = col(|u| u.new_email.as_deref().map(owned));
                let rule = col(|u| Some(owned(&u.rule)));
                let evidence = col(|u| u.evidence.as_deref().map(owned));
                let list_id = col(|u| u.list_id.as_deref().map(owned));
                client.execute(
                    "INSERT INTO emitted (contact, ukey, emitted_at, email, action, category, \
                     reason, status, count, first_seen, last_seen, subscriber, new_email, rule, \
                     evidence, dest, list_id) \
                     SELECT u.contact, u.ukey, $15::bigint, u.email, u.action, u.category, \
                     u.reason, u.status, u.count, u.first_seen, u.last_seen, u.subscriber, \
                     u.new_email, u.rule, u.evidence, $16::text, u.list_id \
                     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
                     $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[], \
                     $12::text[], $13::text[], $14::text[], $17::text[]) AS u(contact, ukey, \
                     email, action, category, reason, status, count, first_seen, last_seen, \
                     subscriber, new_email, rule, evidence, list_id) \
                     ON CONFLICT (contact, ukey, dest) DO UPDATE SET \
                     emitted_at = excluded.emitted_at, email = excluded.email, \
                     action = excluded.action, category = excluded.category, \
                     reason = excluded.reason, status = excluded.status, \
                     count = excluded.count, first_seen = excluded.first_seen, \
                     last_seen = excluded.last_seen, subscriber = excluded.subscriber, \
                     new_email = excluded.new_email, rule = excluded.rule, \
                     evidence = excluded.evidence, list_id = excluded.list_id",
                    &[
                        &contact,
                        &ukey,
                        &email,
                        &action,
                        &category,
                        &reason,
                        &status,
                        &count,
                        &first_seen,
                        &last_seen,
                        &subscriber,
                        &new_email,
                        &rule,
                        &evidence,
                        &now,
                        &dest,
                        &list_id,
                    ],
                )?;
            }
            Ok(())
        })();
        drop(client);
        self.map(r)
    }

    fn emitted_page(
        &self,
        after: &Option<PageKey>,
        limit: usize,
        dest: &str,
    ) -> Result<Vec<PageRow>> {
        let (c, k) = match after {
            Some(a) => (a.contact_id, a.update_key.as_str()),
            None => (i64::MIN, ""),
        };
        let dest = text(dest);
        let r = self.client.borrow_mut().query(
            "SELECT contact, ukey, email, action, category, reason, status, count, \
             first_seen, last_seen, subscriber, new_email, rule, evidence, list_id \
             FROM emitted WHERE (contact, ukey) > ($1, $2) AND dest IN ('', $4) \
             ORDER BY contact, ukey LIMIT $3",
            &[&c, &k, &(limit as i64), &dest],
        );
        let mut out = Vec::new();
        for r in self.map(r)? {
            let row = (|| -> std::result::Result<PageRow, postgres::Error> {
                let key = PageKey {
                    contact_id: r.try_get(0)?,
                    update_key: r.try_get(1)?,
                };
                let names = (
                    r.try_get::<_, &str>(3)?.parse(),
                    r.try_get::<_, &str>(4)?.parse(),
                    r.try_get::<_, &str>(5)?.parse(),
                );
                let (Ok(action), Ok(category), Ok(reason)) = names else {
                    return Ok((key, None));
                };
                let owned = |i: usize| -> std::result::Result<Option<Cow<'static, str>>, _> {
                    Ok(r.try_get::<_, Option<String>>(i)?.map(Cow::Owned))
                };
                let count: i64 = r.try_get(7)?;
                Ok((
                    key,
                    Some(Update {
                        email: owned(2)?,
                        action,
                        category,
                        reason,
                        status: owned(6)?,
                        count: u32::try_from(count.max(0)).unwrap_or(u32::MAX),
                        first_seen: r.try_get::<_, String>(8)?.into(),
                        last_seen: r.try_get::<_, String>(9)?.into(),
                        subscriber: owned(10)?,
                        new_email: owned(11)?,
                        rule: r.try_get::<_, String>(12)?.into(),
                        evidence: owned(13)?,
                        list_id: owned(14)?,
                    }),
                ))
            })();
            out.push(self.map(row)?);
        }
        Ok(out)
    }
}
