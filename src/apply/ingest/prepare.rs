//! A record reduced, on the parsing threads, to what collecting it under
//! its contact needs: its date, the hash of its message and of its
//! contact key, and for categories that lead to an action what the update
//! would report. The one thread that collects records then has little
//! left to do but look things up.

use super::super::diagnostic::push_normalised_diagnostic;
use super::super::printable::printable;
use super::parse::{message_hash, parse_date};
use crate::record::{Category, Provenance, Reason, RecordRef, is_placeholder_address};
use std::borrow::Cow;
use std::hash::BuildHasher as _;

/// A piece of a chunk's text (hosts and masked diagnostics worked out
/// on the parsing threads go into one buffer per chunk).
#[derive(Clone, Copy)]
pub(super) struct Span {
    start: usize,
    len: usize,
}

impl Span {
    pub(super) fn get<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..][..self.len]
    }

    fn push(text: &mut String, f: impl FnOnce(&mut String)) -> Span {
        let start = text.len();
        f(text);
        Span {
            start,
            len: text.len() - start,
        }
    }
}

/// A text with its hash, computed on the parsing threads so that the one
/// thread that collects records under contacts only looks them up.
pub(super) struct Hashed<T> {
    pub hash: u64,
    pub value: T,
}

/// Who a record is about: its subscriber id when it has one, else its
/// address. The state keys contacts the same way (`id:…`, `addr:…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ContactKey<'a> {
    Subscriber(&'a str),
    Address(&'a str),
}

impl<'a> ContactKey<'a> {
    /// The prefix of the key in the state.
    pub(super) fn prefix(self) -> &'static str {
        match self {
            ContactKey::Subscriber(_) => "id:",
            ContactKey::Address(_) => "addr:",
        }
    }

    pub(super) fn name(self) -> &'a str {
        match self {
            ContactKey::Subscriber(n) | ContactKey::Address(n) => n,
        }
    }

    /// The key's hash; both sides of the contact index use it.
    pub(super) fn hash(self, hasher: &Hasher) -> u64 {
        hasher.hash_one((matches!(self, ContactKey::Subscriber(_)), self.name()))
    }
}

/// A record reduced to what collecting it needs, computed on the parallel
/// side: the date, the message hash, the contact key's hash, and for
/// categories that lead to an action what the update would report,
/// including the host and masked diagnostic the guard groups by.
pub(super) struct PreparedRecord<'a> {
    /// Unix seconds.
    pub at: i64,
    /// Hash of the bounce message's identity.
    pub message: i64,
    pub category: Category,
    pub reason: Reason,
    pub recipient: Option<Cow<'a, str>>,
    pub subscriber: Option<Cow<'a, str>>,
    /// Hash of the contact key; 0 when the record names no contact.
    pub key_hash: u64,
    pub detail: Option<ReportedDetail<'a>>,
    /// The recipient was no mailbox or a placeholder, and was dropped.
    pub placeholder: bool,
}

impl PreparedRecord<'_> {
    /// The contact the record names, if any.
    pub(super) fn contact_key(&self) -> Option<ContactKey<'_>> {
        match (&self.subscriber, &self.recipient) {
            (Some(s), _) => Some(ContactKey::Subscriber(s)),
            (None, Some(r)) => Some(ContactKey::Address(r)),
            (None, None) => None,
        }
    }
}

/// What an update for an actionable record would report.
pub(super) struct ReportedDetail<'a> {
    pub status: Option<Hashed<Cow<'a, str>>>,
    pub rule: Hashed<Cow<'a, str>>,
    pub host: Option<Hashed<Span>>,
    pub diagnostic: Option<Hashed<Span>>,
    pub evidence: Option<Cow<'a, str>>,
    pub new_address: Option<Cow<'a, str>>,
    /// Evidence a destructive update may rest on: not asked for, or the
    /// record's provenance is `signed` or `known`.
    pub verified: bool,
}

/// The hasher shared by the parsing threads and the collecting: seeded
/// per process, since contact keys and texts come from strangers.
pub(super) type Hasher = foldhash::fast::RandomState;

/// Prepares records for one run.
pub(super) struct Preparer {
    /// Date for records without one.
    pub now: i64,
    /// Categories (by index) whose action is not `none`.
    pub actionable: Vec<bool>,
    pub hasher: Hasher,
    /// `--require-provenance`.
    pub require_provenance: bool,
}

impl Preparer {
    pub(super) fn prepare<'a>(
        &self,
        rec: RecordRef<'a>,
        text: &mut String,
    ) -> Result<PreparedRecord<'a>, String> {
        let at = match rec.date.as_deref() {
            None => self.now,
            Some(d) => {
                parse_date(d).ok_or_else(|| format!("date {:?} is not RFC 3339", printable(d)))?
            }
        };
        let message = message_hash(&rec);
        // bapply(1): a recipient without `@` or a placeholder (a redacted
        // feedback-loop address) is never acted on; a subscriber id the
        // record also names still is. Other odd addresses are the caller's
        // data and are written out, escaped.
        let mut rec = rec;
        let placeholder = rec
            .recipient
            .take_if(|r| !r.contains('@') || is_placeholder_address(r))
            .is_some();
        let key = match (&rec.subscriber, &rec.recipient) {
            (Some(s), _) => Some(ContactKey::Subscriber(s)),
            (None, Some(r)) => Some(ContactKey::Address(r)),
            (None, None) => None,
        };
        let key_hash = key.map_or(0, |k| k.hash(&self.hasher));
        let mut detail = None;
        if self.actionable[rec.category as usize] {
            let hasher = &self.hasher;
            let host = rec
                .remote_mta
                .as_deref()
                .or_else(|| {
                    rec.recipient
                        .as_deref()
                        .and_then(|r| r.rsplit_once('@'))
                        .map(|(_, d)| d)
                })
                .filter(|h| !h.is_empty())
                .map(|host| {
                    let value = Span::push(text, |t| {
                        let at = t.len();
                        t.push_str(host);
                        t[at..].make_ascii_lowercase();
                    });
                    Hashed {
                        hash: hasher.hash_one(value.get(text)),
                        value,
                    }
                });
            let diagnostic = rec.diagnostic.as_deref().map(|d| {
                let value = Span::push(text, |t| push_normalised_diagnostic(d, t));
                Hashed {
                    hash: hasher.hash_one(value.get(text)),
                    value,
                }
            });
            detail = Some(ReportedDetail {
                status: rec.status.map(|s| Hashed {
                    hash: hasher.hash_one(&*s),
                    value: s.0,
                }),
                rule: Hashed {
                    hash: hasher.hash_one(&*rec.rule),
                    value: rec.rule.0,
                },
                host,
                diagnostic,
                evidence: rec.evidence.map(|e| e.0),
                new_address: rec.new_address.map(|a| a.0),
                verified: !self.require_provenance
                    || matches!(rec.provenance, Some(Provenance::Signed | Provenance::Known)),
            });
        }
        Ok(PreparedRecord {
            at,
            message,
            category: rec.category,
            reason: rec.reason,
            recipient: rec.recipient.map(|r| r.0),
            subscriber: rec.subscriber.map(|s| s.0),
            key_hash,
            detail,
            placeholder,
        })
    }
}
