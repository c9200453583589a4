//! What reading hands to deciding: every contact the input names, once,
//! with the latest details of its actionable categories, and every event
//! kept small (a million of them stay in memory until the state is
//! consulted contact by contact). Texts that repeat across records are
//! interned.

use super::batch::ParsedLine;
use super::prepare::{ContactKey, PreparedRecord};
use crate::record::{Category, Reason};
use hashbrown::hash_table::{Entry, HashTable};

/// A contact's position in [`Ingested::contacts`].
pub(crate) type ContactIndex = u32;

/// Not a known contact (yet).
pub(super) const NO_CONTACT: ContactIndex = u32::MAX;

/// An interned text's position in [`Interner`]; [`NO_TEXT`] for none.
pub(crate) type TextId = u32;

/// No text.
pub(crate) const NO_TEXT: TextId = u32::MAX;

/// A hash and the position of what it is the hash of.
#[derive(Clone, Copy)]
struct HashedIndex {
    hash: u64,
    index: u32,
}

/// Interned text: the fields that repeat across records (status, rule,
/// host, masked diagnostic) are stored once. Hashes come from the parsing
/// threads.
#[derive(Default)]
pub(crate) struct Interner {
    table: HashTable<HashedIndex>,
    list: Vec<Box<str>>,
}

impl Interner {
    fn intern(&mut self, hash: u64, s: &str) -> TextId {
        let list = &mut self.list;
        let found = self.table.entry(
            hash,
            |e| e.hash == hash && *list[e.index as usize] == *s,
            |e| e.hash,
        );
        match found {
            Entry::Occupied(e) => e.get().index,
            Entry::Vacant(e) => {
                let index = list.len() as u32;
                list.push(s.into());
                e.insert(HashedIndex { hash, index });
                index
            }
        }
    }

    /// The text of `id`; None for [`NO_TEXT`].
    pub(crate) fn get(&self, id: TextId) -> Option<&str> {
        self.list.get(id as usize).map(|s| &**s)
    }
}

/// The latest event of one actionable category for one contact in this
/// input: what the update reports as reason and evidence.
pub(crate) struct Detail {
    pub at: i64,
    pub category: Category,
    pub reason: Reason,
    pub status: TextId,
    pub rule: TextId,
    pub host: TextId,
    pub diagnostic: TextId,
    pub evidence: Option<Box<str>>,
    pub new_address: Option<Box<str>>,
    /// Some record of this category in this input is verified evidence
    /// (bapply(1) `--require-provenance`; always true without it).
    pub verified: bool,
}

/// A contact named in this input.
pub(crate) struct Contact {
    /// `addr:ADDRESS` or `id:SUBSCRIBER`, as the state keys contacts;
    /// under `--scope list` prefixed with `list:N:LIST-ID:`, and then the
    /// address is in `email`.
    pub key: Box<str>,
    /// `--scope list`: the List-Id of the contact's records.
    pub list_id: Option<Box<str>>,
    /// The address, when the key does not already spell it.
    pub email: Option<Box<str>>,
    pub subscriber: Option<Box<str>>,
    pub details: Vec<Detail>,
}

impl Contact {
    /// Whether this is the contact with `key`.
    fn is(&self, key: ContactKey<'_>) -> bool {
        key.is(&self.key)
    }

    /// The contact's address, if known.
    pub(crate) fn email(&self) -> Option<&str> {
        self.email
            .as_deref()
            .or_else(|| self.key.strip_prefix("addr:"))
    }
}

/// One event of this input, kept small.
#[derive(Clone, Copy)]
pub(crate) struct Event {
    /// Hash of the bounce message's identity.
    pub message: i64,
    /// Unix seconds.
    pub at: i64,
    pub contact: ContactIndex,
    pub category: Category,
}

/// Everything reading hands to deciding.
#[derive(Default)]
pub(crate) struct Ingested {
    /// Contacts by the hash of their key.
    index: HashTable<HashedIndex>,
    pub contacts: Vec<Contact>,
    pub events: Vec<Event>,
    pub strings: Interner,
}

impl Ingested {
    /// The known contact of each of `lines`, or [`NO_CONTACT`], into
    /// `found`. Collecting is one thread, and the index and the contacts
    /// are far larger than the caches: looking up a chunk's contacts step
    /// by step, each step for all lines before the next, lets the memory
    /// loads of many lines overlap, where one line after another waits for
    /// each load.
    pub(super) fn look_up(&self, lines: &[ParsedLine<'_>], found: &mut Vec<ContactIndex>) {
        let contacts = &self.contacts;
        found.clear();
        // The index alone: an entry with the same hash.
        found.extend(lines.iter().map(|line| match &line.record {
            Ok(p) if p.contact_key().is_some() => {
                let hash = p.key_hash;
                self.index
                    .find(hash, |e| e.hash == hash)
                    .map_or(NO_CONTACT, |e| e.index)
            }
            _ => NO_CONTACT,
        }));
        // The contact's key, and the details collecting will read.
        for (line, f) in lines.iter().zip(found.iter_mut()) {
            if let (Ok(p), Some(c)) = (&line.record, contacts.get(*f as usize)) {
                if p.contact_key().is_some_and(|key| c.is(key)) {
                    std::hint::black_box(c.details.first().map(|d| d.at));
                } else {
                    // Another key with the same hash: the full lookup.
                    *f = self.find(p);
                }
            }
        }
    }

    /// The contact `p` names when it is already known, else [`NO_CONTACT`].
    fn find(&self, p: &PreparedRecord<'_>) -> ContactIndex {
        let Some(key) = p.contact_key() else {
            return NO_CONTACT;
        };
        let hash = p.key_hash;
        let contacts = &self.contacts;
        self.index
            .find(hash, |e| {
                e.hash == hash && contacts[e.index as usize].is(key)
            })
            .map_or(NO_CONTACT, |e| e.index)
    }

    /// Adds one record to its contact; `text` is its chunk's text and
    /// `found` the contact when [`Ingested::look_up`] knew it.
    pub(super) fn add(&mut self, p: PreparedRecord<'_>, text: &str, found: ContactIndex) {
        let Some(key) = p.contact_key() else {
            return;
        };
        let at = p.at;
        let hash = p.key_hash;
        let contacts = &mut self.contacts;
        let i = match found {
            NO_CONTACT => match self.index.entry(
                hash,
                |e| e.hash == hash && contacts[e.index as usize].is(key),
                |e| e.hash,
            ) {
                Entry::Occupied(e) => e.get().index,
                Entry::Vacant(e) => {
                    let index = contacts.len() as u32;
                    contacts.push(Contact {
                        key: key.text().into(),
                        list_id: p.list_id.as_deref().map(Into::into),
                        email: None,
                        subscriber: None,
                        details: Vec::new(),
                    });
                    e.insert(HashedIndex { hash, index });
                    index
                }
            },
            i => i,
        };
        self.events.push(Event {
            message: p.message,
            at,
            contact: i,
            category: p.category,
        });
        let c = &mut self.contacts[i as usize];
        // The address is kept only when the key does not already spell it,
        // which it does for most contacts: memory is per contact.
        if let Some(r) = p.recipient.as_deref() {
            if c.key.strip_prefix("addr:") == Some(r) {
                c.email = None;
            } else if c.email.as_deref() != Some(r) {
                c.email = Some(r.into());
            }
        }
        if let Some(r) = p.subscriber.as_deref()
            && c.subscriber.as_deref() != Some(r)
        {
            c.subscriber = Some(r.into());
        }
        // Only categories with an action carry a detail.
        let Some(d) = p.detail else {
            return;
        };
        let pos = c.details.iter().position(|d| d.category == p.category);
        if let Some(p) = pos
            && c.details[p].at > at
        {
            c.details[p].verified |= d.verified;
            return;
        }
        let strings = &mut self.strings;
        let host = d
            .host
            .map_or(NO_TEXT, |h| strings.intern(h.hash, h.value.get(text)));
        let diagnostic = d
            .diagnostic
            .map_or(NO_TEXT, |h| strings.intern(h.hash, h.value.get(text)));
        let d = Detail {
            at,
            category: p.category,
            reason: p.reason,
            status: d
                .status
                .map_or(NO_TEXT, |h| strings.intern(h.hash, &h.value)),
            rule: strings.intern(d.rule.hash, &d.rule.value),
            host,
            diagnostic,
            evidence: d.evidence.map(|e| e.into()),
            new_address: d.new_address.map(|a| a.into()),
            verified: d.verified || pos.is_some_and(|p| c.details[p].verified),
        };
        match pos {
            Some(p) => c.details[p] = d,
            None => {
                c.details.reserve_exact(1);
                c.details.push(d);
            }
        }
    }
}
