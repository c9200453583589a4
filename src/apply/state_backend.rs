//! What a state backend is ([`Backend`]: SQLite's, PostgreSQL's) and the
//! rows it reads and writes for the state store.

use super::state_error::StateError;
use super::update::Update;
use crate::record::Category;

pub type Result<T> = std::result::Result<T, StateError>;

/// An event the state already holds for one of this run's contacts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KnownEvent {
    /// The contact's position in this run ([`Backend::resolve_contacts`]).
    pub position: u32,
    /// Hash of the bounce message's identity.
    pub message: i64,
    pub category: Category,
    /// Unix seconds.
    pub at: i64,
    /// A `--good` reset (category `good` in the state): clears every
    /// count up to `at`; `category` is then `unknown`.
    pub good: bool,
}

/// An event new to the state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewEvent {
    pub contact_id: i64,
    pub message: i64,
    pub category: Category,
    pub at: i64,
}

/// An update the state says was emitted for one of this run's contacts.
#[derive(Debug, Clone)]
pub(crate) struct KnownUpdate {
    pub position: u32,
    /// `block`, `manual:challenge`, `change-address:NEW`: what tells one
    /// contact's updates apart.
    pub update_key: String,
}

/// An update to remember as emitted.
#[derive(Debug, Clone)]
pub(crate) struct EmittedRow<'u> {
    pub contact_id: i64,
    pub update_key: String,
    pub update: Update<'u>,
}

/// Where a page of `--all` ends: the last (contact id, update key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageKey {
    pub contact_id: i64,
    pub update_key: String,
}

/// A contact of `--scope list`: which address on which list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListContact<'a> {
    pub address: &'a str,
    pub list_id: &'a str,
    pub contact_id: i64,
}

/// A row of `--all`: None when it was written by a newer bapply with names
/// this one does not know.
pub(crate) type PageRow = (PageKey, Option<Update<'static>>);

/// What a state backend does within the run's transaction, which it begins
/// when it opens. `dest` names where this run's updates go (`output`,
/// `target:…`): an update counts as emitted only for the destination it
/// reached.
pub(crate) trait Backend {
    fn commit(self: Box<Self>) -> Result<()>;
    fn rollback(self: Box<Self>);
    /// Ids of this run's contact keys, in order, creating the new ones; the
    /// positions of `keys` are what the other queries take.
    fn resolve_contacts(&self, keys: &[&str]) -> Result<Vec<i64>>;
    /// Known events of the contacts at positions `lo..=hi`, ordered by
    /// position and message.
    fn known_events(&self, lo: u32, hi: u32, out: &mut Vec<KnownEvent>) -> Result<()>;
    /// Updates emitted to `dest` (or before destinations were kept) for the
    /// contacts at positions `lo..=hi`, ordered by position.
    fn known_emitted(&self, lo: u32, hi: u32, dest: &str, out: &mut Vec<KnownUpdate>)
    -> Result<()>;
    /// Inserts events (sorted by contact and message); those the state
    /// holds already are left as they are.
    fn insert_events(&self, rows: &[NewEvent]) -> Result<()>;
    /// Remembers updates as emitted to `dest` at `now`, replacing what
    /// was there for the same (contact, update key, destination).
    fn record_emitted(&self, now: i64, dest: &str, rows: &[EmittedRow<'_>]) -> Result<()>;
    /// Up to `limit` updates emitted to `dest`, in (contact, update key)
    /// order after `after`.
    fn emitted_page(
        &self,
        after: &Option<PageKey>,
        limit: usize,
        dest: &str,
    ) -> Result<Vec<PageRow>>;
    /// Remembers which address and list each `--scope list` contact is,
    /// for [`Backend::apply_good`]; known ones are left as they are.
    fn link_list_contacts(&self, rows: &[ListContact<'_>]) -> Result<()>;
    /// Adds addresses of `--good` (normalised) to this run's set.
    fn stage_good(&self, addresses: &[String]) -> Result<()>;
    /// Resets every contact of the staged `--good` addresses (the address
    /// itself and, under `--scope list`, each of its lists) with a `good`
    /// event dated at the contact's latest known event up to `now`;
    /// empties the set. Returns the contacts reset.
    fn apply_good(&self, now: i64) -> Result<u64>;
}
