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
/// address; under `--scope list` on the list the record names. The state
/// keys contacts the same way (`id:…`, `addr:…`, `list:N:LIST-ID:addr:…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ContactKey<'a> {
    subscriber: bool,
    name: &'a str,
    /// The List-Id under `--scope list`; None: every list.
    list: Option<&'a str>,
}

impl<'a> ContactKey<'a> {
    /// The prefix of the key in the state after the list's.
    fn prefix(self) -> &'static str {
        if self.subscriber { "id:" } else { "addr:" }
    }

    /// The key in the state.
    pub(super) fn text(self) -> String {
        match self.list {
            None => [self.prefix(), self.name].concat(),
            Some(l) => format!("list:{}:{l}:{}{}", l.len(), self.prefix(), self.name),
        }
    }

    /// Whether `key` is this key in the state.
    pub(super) fn is(self, key: &str) -> bool {
        let rest = match self.list {
            None => key,
            Some(l) => {
                let Some(rest) = key.strip_prefix("list:") else {
                    return false;
                };
                let Some((n, rest)) = rest.split_once(':') else {
                    return false;
                };
                let Some(rest) = rest.strip_prefix(l) else {
                    return false;
                };
                match rest.strip_prefix(':') {
                    Some(rest) if n.parse() == Ok(l.len()) => rest,
                    _ => return false,
                }
            }
        };
        rest.strip_prefix(self.prefix()) == Some(self.name)
    }

    /// The key's hash; both sides of the contact index use it.
    pub(super) fn hash(self, hasher: &Hasher) -> u64 {
        hasher.hash_one((self.subscriber, self.name, self.list))
    }
}

/// A List-Id as `--scope list` keys it: the id between `<` and `>` (RFC
/// 2919; the phrase before it is a description that may change), ASCII
/// lower-cased; None when empty.
pub(super) fn list_key(list_id: &str) -> Option<Cow<'_, str>> {
    let id = match (list_id.rfind('<'), list_id.rfind('>')) {
        (Some(a), Some(b)) if a < b => &list_id[a + 1..b],
        _ => list_id,
    }
    .trim();
    if id.is_empty() {
        None
    } else if id.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(id.to_ascii_lowercase().into())
    } else {
        Some(id.into())
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
    /// Under `--scope list`: the record's List-Id ([`list_key`]).
    pub list_id: Option<Cow<'a, str>>,
}

impl PreparedRecord<'_> {
    /// The contact the record names, if any.
    pub(super) fn contact_key(&self) -> Option<ContactKey<'_>> {
        let (subscriber, name) = match (&self.subscriber, &self.recipient) {
            (Some(s), _) => (true, &**s),
            (None, Some(r)) => (false, &**r),
            (None, None) => return None,
        };
        Some(ContactKey {
            subscriber,
            name,
            list: self.list_id.as_deref(),
        })
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
    /// `--scope list`: contacts are keyed by List-Id too.
    pub scope_list: bool,
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
        let list_id = if self.scope_list {
            rec.original.list_id.take().and_then(|l| match l.0 {
                Cow::Borrowed(s) => list_key(s),
                Cow::Owned(s) => list_key(&s).map(|k| Cow::Owned(k.into_owned())),
            })
        } else {
            None
        };
        let key = match (&rec.subscriber, &rec.recipient) {
            (Some(s), _) => Some((true, &**s)),
            (None, Some(r)) => Some((false, &**r)),
            (None, None) => None,
        };
        let key_hash = key.map_or(0, |(subscriber, name)| {
            ContactKey {
                subscriber,
                name,
                list: list_id.as_deref(),
            }
            .hash(&self.hasher)
        });
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
                // A new address that is no mailbox or a placeholder is no
                // address to change to: the notice becomes `manual`.
                new_address: rec
                    .new_address
                    .filter(|a| a.contains('@') && !is_placeholder_address(a))
                    .map(|a| a.0),
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
            list_id,
        })
    }
}
