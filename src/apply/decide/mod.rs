//! Decide, the second stage of bapply: this input's events merged into the
//! state, each touched contact's history replayed under the policy
//! ([`replay`]), and the thresholds newly crossed collected as
//! [`Candidate`]s — the updates of this run, before the guard has seen
//! them.

mod replay;

use super::action::Action;
use super::ingest::{ContactIndex, Detail, Event, Ingested};
use super::policy::Policy;
use super::state::{self, EmittedRow, KnownEvent, KnownUpdate, NewEvent, Store};
use super::state_limits::ListContact;
use super::update::{self, Update};
use crate::record::Category;
use replay::{CategoryRules, HistoryEvent, HistoryReplay};
use std::borrow::Cow;

/// A threshold crossed: which contact, which of its details, what to do.
/// Kept small; the `Update` is built only when it is written.
pub(crate) struct Candidate {
    /// The contact's id in the state.
    pub contact_id: i64,
    contact: ContactIndex,
    /// Position in the contact's details.
    detail: u32,
    pub action: Action,
    count: u32,
    first: i64,
    last: i64,
}

impl Candidate {
    /// The detail the update reports.
    pub(crate) fn detail<'i>(&self, input: &'i Ingested) -> &'i Detail {
        &input.contacts[self.contact as usize].details[self.detail as usize]
    }

    /// The update this candidate writes.
    pub(crate) fn update<'i>(&self, input: &'i Ingested) -> Update<'i> {
        let contact = &input.contacts[self.contact as usize];
        let d = self.detail(input);
        let text = |i: u32| input.strings.get(i).map(Cow::Borrowed);
        Update {
            email: contact.email().map(Cow::Borrowed),
            action: self.action,
            category: d.category,
            reason: d.reason,
            status: text(d.status),
            count: self.count,
            first_seen: update::rfc3339(self.first).into(),
            last_seen: update::rfc3339(self.last).into(),
            subscriber: contact.subscriber.as_deref().map(Cow::Borrowed),
            new_email: if self.action == Action::ChangeAddress {
                d.new_address.as_deref().map(Cow::Borrowed)
            } else {
                None
            },
            rule: text(d.rule).unwrap_or_default(),
            evidence: d.evidence.as_deref().map(Cow::Borrowed),
            list_id: contact.list_id.as_deref().map(Cow::Borrowed),
        }
    }
}

/// Tells one contact's updates apart in the state (its column `ukey`):
/// `block`, `manual:challenge`, `change-address:NEW`. A contact gets each
/// update once.
fn update_key(action: Action, d: &Detail) -> String {
    match action {
        Action::Manual => format!("manual:{}", d.category),
        Action::ChangeAddress => {
            format!("change-address:{}", d.new_address.as_deref().unwrap_or(""))
        }
        a => a.as_str().to_string(),
    }
}

/// Whether `key` is `update_key(action, d)`, without building it.
fn is_update_key(key: &str, action: Action, d: &Detail) -> bool {
    match action {
        Action::Manual => key.strip_prefix("manual:") == Some(d.category.as_str()),
        Action::ChangeAddress => {
            key.strip_prefix("change-address:") == Some(d.new_address.as_deref().unwrap_or(""))
        }
        a => key == a.as_str(),
    }
}

/// What deciding found.
pub(crate) struct Decided {
    pub candidates: Vec<Candidate>,
    /// Events counted before: twice in this input, or already in the state.
    pub duplicates: u64,
    /// Thresholds crossed again for updates already emitted earlier.
    pub already_emitted: usize,
    /// Events new to the state of a category with an action, dated before
    /// `--max-age`: kept, counted toward nothing.
    pub too_old: u64,
    /// Destructive updates turned `manual` for want of verified
    /// provenance (`--require-provenance`).
    pub unverified: usize,
}

/// Contacts handled per round trip to the state.
const CONTACT_CHUNK: usize = 4096;

/// Merges this input's events into the state, replays each touched
/// contact's history, and collects the thresholds newly crossed.
/// Contacts go to SQLite in chunks with set-based queries, so a run costs
/// a handful of statements per thousand contacts rather than several each.
/// The events and emitted updates of one chunk are written to SQLite while
/// the next chunk is replayed on another thread: chunks are disjoint sets
/// of contacts, so a chunk's writes never change what the next one reads.
/// Updates are recorded as emitted before the guard has seen them all; a
/// run the guard holds back is rolled back whole.
pub(crate) fn decide(
    policy: &Policy,
    store: &Store,
    now: i64,
    cutoff: i64,
    input: &mut Ingested,
) -> state::Result<Decided> {
    let mut events = std::mem::take(&mut input.events);
    let input: &Ingested = input;
    // The sort needs no state: it runs while SQLite resolves the contacts.
    let ids = std::thread::scope(|s| {
        let sorted = s.spawn(|| events.sort_unstable_by_key(|e| (e.contact, e.message)));
        let ids = store.resolve_contacts(input.contacts.iter().map(|c| &*c.key));
        if let Err(e) = sorted.join() {
            std::panic::resume_unwind(e);
        }
        ids
    })?;
    link_list_contacts(store, input, &ids)?;
    let mut decider = Decider {
        rules: CategoryRules::new(policy, cutoff),
        replay: HistoryReplay::new(),
        input,
        contact_ids: &ids,
        candidates: Vec::new(),
        rows: Vec::new(),
        history: Vec::new(),
        new_categories: Vec::new(),
        duplicates: 0,
        already_emitted: 0,
        too_old: 0,
        unverified: 0,
    };
    let mut known = Vec::new();
    let mut emitted = Vec::new();
    let mut pending: Vec<NewEvent> = Vec::new();
    let mut writing: Vec<NewEvent> = Vec::new();
    let mut rows = Vec::new();
    let mut rest: &[Event] = &events;
    while !rest.is_empty() {
        let lo = rest[0].contact;
        let hi = lo.saturating_add(CONTACT_CHUNK as u32 - 1);
        let n = rest.partition_point(|e| e.contact <= hi);
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        store.known_events(lo, hi, &mut known)?;
        store.known_emitted(lo, hi, &mut emitted)?;
        std::mem::swap(&mut pending, &mut writing);
        std::mem::swap(&mut decider.rows, &mut rows);
        let written = std::thread::scope(|s| {
            let (decider, pending, known, emitted) = (&mut decider, &mut pending, &known, &emitted);
            let replayed = s.spawn(move || decider.chunk(chunk, known, emitted, pending));
            let written = store
                .insert_events(&mut writing)
                .and_then(|()| store.record_emitted(now, &rows));
            if let Err(e) = replayed.join() {
                std::panic::resume_unwind(e);
            }
            written
        });
        written?;
        rows.clear();
    }
    store.insert_events(&mut pending)?;
    store.record_emitted(now, &decider.rows)?;
    Ok(Decided {
        candidates: decider.candidates,
        duplicates: decider.duplicates,
        already_emitted: decider.already_emitted,
        too_old: decider.too_old,
        unverified: decider.unverified,
    })
}

/// `--scope list`: remembers the address and list of each address-keyed
/// contact on a list, so that a later `--good` reaches it.
fn link_list_contacts(store: &Store, input: &Ingested, ids: &[i64]) -> state::Result<()> {
    let rows: Vec<ListContact<'_>> = input
        .contacts
        .iter()
        .zip(ids)
        .filter(|(c, _)| c.subscriber.is_none())
        .filter_map(|(c, &contact_id)| {
            Some(ListContact {
                address: c.email()?,
                list_id: c.list_id.as_deref()?,
                contact_id,
            })
        })
        .collect();
    store.link_list_contacts(&rows)
}

/// The CPU half of [`decide`]: replays the contacts of one chunk.
struct Decider<'a> {
    rules: CategoryRules,
    replay: HistoryReplay,
    input: &'a Ingested,
    /// State ids of this run's contacts, by position.
    contact_ids: &'a [i64],
    candidates: Vec<Candidate>,
    /// The last chunk's candidates, for the state.
    rows: Vec<EmittedRow<'a>>,
    /// One contact's history, reused from one contact to the next.
    history: Vec<HistoryEvent>,
    /// Categories of the contact's events new to the state.
    new_categories: Vec<Category>,
    duplicates: u64,
    already_emitted: usize,
    too_old: u64,
    unverified: usize,
}

impl Decider<'_> {
    /// Replays the contacts of `chunk` (events sorted by contact and
    /// message) against their `known` events and `emitted` updates; the
    /// events new to the state go to `pending`.
    fn chunk(
        &mut self,
        chunk: &[Event],
        known: &[KnownEvent],
        emitted: &[KnownUpdate],
        pending: &mut Vec<NewEvent>,
    ) {
        let input = self.input;
        let (rules, replay) = (&self.rules, &mut self.replay);
        let (history, new_categories, candidates) = (
            &mut self.history,
            &mut self.new_categories,
            &mut self.candidates,
        );
        let mut known_rest = known;
        for group in chunk.chunk_by(|a, b| a.contact == b.contact) {
            let contact = group[0].contact;
            let k = known_rest.partition_point(|r| r.position < contact);
            let m = known_rest[k..].partition_point(|r| r.position == contact);
            let mine_known = &known_rest[k..k + m];
            known_rest = &known_rest[k + m..];
            let contact_id = self.contact_ids[contact as usize];
            history.clear();
            history.extend(mine_known.iter().map(|r| HistoryEvent {
                category: r.category,
                at: r.at,
                good: r.good,
            }));
            new_categories.clear();
            let mut last_message = None;
            for e in group {
                // Every category the input names is looked at again, also
                // from events counted before: an update emitted to another
                // destination (a review written to a file) still goes to
                // this one, once.
                if !new_categories.contains(&e.category) {
                    new_categories.push(e.category);
                }
                // Twice in this input, or already in the state: counted before.
                if last_message == Some(e.message)
                    || mine_known
                        .binary_search_by_key(&e.message, |r| r.message)
                        .is_ok()
                {
                    self.duplicates += 1;
                    continue;
                }
                last_message = Some(e.message);
                if e.at < rules.cutoff && rules.action[e.category as usize] != Action::None {
                    self.too_old += 1;
                }
                history.push(HistoryEvent {
                    category: e.category,
                    at: e.at,
                    good: false,
                });
                pending.push(NewEvent {
                    contact_id,
                    message: e.message,
                    category: e.category,
                    at: e.at,
                });
            }
            let c = &input.contacts[contact as usize];
            if new_categories.is_empty() || c.details.is_empty() {
                continue;
            }
            replay.run(rules, history);
            let first = candidates.len();
            for (di, d) in c.details.iter().enumerate() {
                if !new_categories.contains(&d.category) {
                    continue;
                }
                let streak = replay.get(d.category);
                if !streak.crossed {
                    continue;
                }
                let mut action = rules.action[d.category as usize];
                if action == Action::ChangeAddress && d.new_address.is_none() {
                    action = Action::Manual;
                }
                // bapply(1) --require-provenance: a person decides.
                let unverified = !d.verified
                    && matches!(
                        action,
                        Action::Block
                            | Action::Unsubscribe
                            | Action::Delete
                            | Action::ChangeAddress
                    );
                if unverified {
                    action = Action::Manual;
                }
                let key = update_key(action, d);
                let mine = &candidates[first..];
                if mine
                    .iter()
                    .any(|c: &Candidate| is_update_key(&key, c.action, c.detail(input)))
                {
                    continue;
                }
                let from = emitted.partition_point(|u| u.position < contact);
                if emitted[from..]
                    .iter()
                    .take_while(|u| u.position == contact)
                    .any(|u| u.update_key == key)
                {
                    self.already_emitted += 1;
                    continue;
                }
                let candidate = Candidate {
                    contact_id,
                    contact,
                    detail: di as u32,
                    action,
                    count: streak.count,
                    first: streak.first,
                    last: streak.last,
                };
                self.unverified += usize::from(unverified);
                self.rows.push(EmittedRow {
                    contact_id,
                    update_key: key,
                    update: candidate.update(input),
                });
                candidates.push(candidate);
            }
            candidates[first..].sort_by_key(|c| c.action.rank());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ingest::NO_TEXT;
    use crate::record::Reason;

    fn detail(category: Category, new_address: Option<&str>) -> Detail {
        Detail {
            at: 0,
            category,
            reason: Reason::Undefined,
            status: NO_TEXT,
            rule: NO_TEXT,
            host: NO_TEXT,
            diagnostic: NO_TEXT,
            evidence: None,
            new_address: new_address.map(Into::into),
            verified: true,
        }
    }

    #[test]
    fn update_keys_tell_a_contacts_updates_apart() {
        let cases = [
            (Action::Block, detail(Category::Hard, None), "block"),
            (
                Action::Manual,
                detail(Category::Challenge, None),
                "manual:challenge",
            ),
            (
                Action::ChangeAddress,
                detail(Category::AddressChange, Some("n@x")),
                "change-address:n@x",
            ),
        ];
        for (action, d, key) in &cases {
            assert_eq!(update_key(*action, d), *key);
            for (other_action, other, _) in &cases {
                assert_eq!(
                    is_update_key(key, *other_action, other),
                    update_key(*other_action, other) == *key
                );
            }
        }
        let unknown = detail(Category::Unknown, None);
        assert!(!is_update_key("manual:challenge", Action::Manual, &unknown));
    }
}
