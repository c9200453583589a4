//! The state store: every event bapply has counted, per contact, and every
//! update it has emitted — in one SQLite file ([`super::state_sqlite`]) or
//! in a PostgreSQL database that several hosts share
//! ([`super::state_postgres`]), behind one trait ([`Backend`]) with the
//! same schema ([`super::schema`]).
//!
//! Events are keyed by (contact, bounce message), which is what makes a
//! second run over the same mailbox count nothing twice. Thresholds and
//! windows are computed from the event history rather than from stored
//! counters, so a changed policy applies to the history as it is, and a
//! `delivered` event clears what came before it by date, whatever order the
//! records arrive in.
//!
//! A run is one transaction that holds the state to itself from start to
//! commit (SQLite's write lock, PostgreSQL's advisory lock): concurrent runs
//! queue, each sees everything the runs before it committed, and a run that
//! fails, is held back by the guard, or is killed leaves no trace.

use super::action::Action;
use super::update::Update;
use crate::record::{Category, Reason};
use std::path::Path;
use std::time::Duration;

pub use super::state_error::StateError;
pub use super::state_postgres::PostgresLocation;

pub(crate) use super::state_backend::{
    Backend, EmittedRow, KnownEvent, KnownUpdate, ListContact, NewEvent, PageKey, Result,
};

/// Where the state lives.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Location<'l> {
    /// `--no-state`: an in-memory SQLite database.
    Memory,
    Sqlite(&'l Path),
    Postgres(&'l PostgresLocation),
}

pub struct Store {
    backend: Box<dyn Backend>,
    /// Where this run's updates go: `output` or `target:…`.
    dest: String,
}

impl Store {
    /// Opens (creating when needed) the store and starts the run's
    /// transaction; waits up to `wait` for a run that holds it.
    pub(crate) fn open(location: Location<'_>, wait: Duration) -> Result<Store> {
        let backend: Box<dyn Backend> = match location {
            Location::Memory => Box::new(super::state_sqlite::SqliteState::open(None, wait)?),
            Location::Sqlite(p) => Box::new(super::state_sqlite::SqliteState::open(Some(p), wait)?),
            Location::Postgres(pg) => {
                Box::new(super::state_postgres::PostgresState::open(pg, wait)?)
            }
        };
        Ok(Store {
            backend,
            dest: "output".into(),
        })
    }

    /// Names where this run's updates go (`output`, `target:…`): an
    /// update counts as emitted only for the destination it reached.
    pub fn set_destination(&mut self, dest: String) {
        self.dest = dest;
    }

    pub fn commit(self) -> Result<()> {
        self.backend.commit()
    }

    pub fn rollback(self) {
        self.backend.rollback()
    }

    /// Resolves this run's contact keys (in order) to ids, creating the
    /// new ones.
    pub fn resolve_contacts<'a>(&self, keys: impl Iterator<Item = &'a str>) -> Result<Vec<i64>> {
        let keys: Vec<&str> = keys.collect();
        self.backend.resolve_contacts(&keys)
    }

    /// Known events of this run's contacts `lo..=hi` (by their position in
    /// `resolve_contacts`), ordered by position and message.
    pub(crate) fn known_events(&self, lo: u32, hi: u32, out: &mut Vec<KnownEvent>) -> Result<()> {
        out.clear();
        self.backend.known_events(lo, hi, out)
    }

    /// Updates already emitted for this run's contacts `lo..=hi`, ordered
    /// by position.
    pub(crate) fn known_emitted(&self, lo: u32, hi: u32, out: &mut Vec<KnownUpdate>) -> Result<()> {
        out.clear();
        self.backend.known_emitted(lo, hi, &self.dest, out)
    }

    /// Inserts events and empties the list.
    pub(crate) fn insert_events(&self, rows: &mut Vec<NewEvent>) -> Result<()> {
        rows.sort_unstable_by_key(|r| (r.contact_id, r.message));
        let r = self.backend.insert_events(rows);
        rows.clear();
        r
    }

    /// Remembers emitted updates.
    pub(crate) fn record_emitted(&self, now: i64, rows: &[EmittedRow<'_>]) -> Result<()> {
        self.backend.record_emitted(now, &self.dest, rows)
    }

    /// Remembers which address and list each `--scope list` contact is,
    /// for [`Store::apply_good`]; known ones are left as they are.
    pub(crate) fn link_list_contacts(&self, rows: &[ListContact<'_>]) -> Result<()> {
        self.backend.link_list_contacts(rows)
    }

    /// Adds addresses of `--good` (normalised) to this run's set; a chunk
    /// at a time, so that a large file never sits in memory whole.
    pub(crate) fn stage_good(&self, addresses: &[String]) -> Result<()> {
        self.backend.stage_good(addresses)
    }

    /// Resets every contact of the staged `--good` addresses (the address
    /// itself and, under `--scope list`, each of its lists): a `good` event
    /// dated at the contact's latest known event up to `now` clears every
    /// count up to it, so the events this run adds still count (and an
    /// event dated in the future, which anyone can forge, cannot stretch
    /// the reset ahead of the run). Returns the contacts reset. Contacts
    /// keyed by subscriber id are not reached.
    pub(crate) fn apply_good(&self, now: i64) -> Result<u64> {
        self.backend.apply_good(now)
    }

    /// Every update ever emitted (`--all`), page by page. An error ends
    /// the iteration and waits in [`AllEmitted::take_error`].
    pub(crate) fn all_emitted(&self) -> AllEmitted<'_> {
        AllEmitted {
            store: self,
            after: None,
            page: Vec::new().into_iter(),
            error: None,
        }
    }

    /// One page of `--all`; paged so that memory does not grow with the
    /// state.
    fn emitted_page(
        &self,
        after: &Option<PageKey>,
        limit: usize,
    ) -> Result<Vec<(PageKey, Update<'static>)>> {
        let rows = self.backend.emitted_page(after, limit, &self.dest)?;
        // Rows from a newer version with names this one does not know are
        // left out rather than misreported.
        Ok(rows
            .into_iter()
            .map(|(k, u)| (k, u.unwrap_or_else(placeholder)))
            .collect())
    }
}

/// Updates read back from the state for `--all`.
pub(crate) struct AllEmitted<'s> {
    store: &'s Store,
    after: Option<PageKey>,
    page: std::vec::IntoIter<(PageKey, Update<'static>)>,
    error: Option<StateError>,
}

/// Rows per page of `--all`.
const PAGE_ROWS: usize = 4096;

impl AllEmitted<'_> {
    /// The error that ended the iteration early, if one did.
    pub(crate) fn take_error(&mut self) -> Option<StateError> {
        self.error.take()
    }
}

impl Iterator for AllEmitted<'_> {
    type Item = Update<'static>;

    fn next(&mut self) -> Option<Update<'static>> {
        loop {
            if let Some((key, u)) = self.page.next() {
                self.after = Some(key);
                if u.action == Action::None {
                    continue;
                }
                return Some(u);
            }
            if self.error.is_some() {
                return None;
            }
            match self.store.emitted_page(&self.after, PAGE_ROWS) {
                Ok(p) if p.is_empty() => return None,
                Ok(p) => self.page = p.into_iter(),
                Err(e) => {
                    self.error = Some(e);
                    return None;
                }
            }
        }
    }
}

/// Stands in for a row this version cannot read; filtered out by callers
/// through its action `none`, which is never stored.
fn placeholder() -> Update<'static> {
    Update {
        email: None,
        action: Action::None,
        category: Category::Unknown,
        reason: Reason::Undefined,
        status: None,
        count: 0,
        first_seen: "".into(),
        last_seen: "".into(),
        subscriber: None,
        new_email: None,
        rule: "".into(),
        evidence: None,
        list_id: None,
    }
}
