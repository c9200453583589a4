//! ESP events, SMTP replies and mail-log lines to records (bounce-tools(7),
//! ESP EVENTS). The stream reads each into a [`Notice`]; here every
//! affected address becomes a [`Delivery`] of a report, and the same rules
//! as for mail decide: the status, reply code and text the receiving side
//! gave decide category and reason, and the provider's own label goes to
//! `evidence` when it says otherwise. Only an event without status and
//! text (an unsubscribe, a complaint, a bounce the provider only names),
//! or one whose text the rules cannot place (they would say `failed` or
//! `undetermined` for want of a reason), takes its category from the
//! provider's documented type.

use super::diagnostic;
use super::report::{Delivery, Report};
use super::rules::RuleSet;
use super::text::{clean_address, collapse_ws, truncate_chars};
use crate::record::{Bounce, Category, RECORD_VERSION, Reason, Record, Source};
use crate::stream::events::{self, Parsed};
use crate::stream::maillog;
use crate::stream::notice::{Notice, NoticeKind};
use crate::stream::{ItemKind, RawMessage};

/// Longest diagnostic written to a record.
const MAX_DIAGNOSTIC: usize = 1000;

/// The rule name of a record whose category the provider's type decided.
pub const TYPE_RULE: &str = "event-type";

/// What one item of a stream gave.
#[derive(Debug, Default)]
pub struct Classified {
    pub records: Vec<Record>,
    /// What makes the item the same as another delivery of it: an item
    /// whose keys were all seen before is a duplicate.
    pub dedup_keys: Vec<String>,
    /// The item could not be read (not JSON, no address): reported, and
    /// the run goes on.
    pub error: Option<String>,
}

/// Records for one event, reply or log line.
pub fn classify_item(rules: &RuleSet, message: &RawMessage) -> Classified {
    let mut out = Classified::default();
    let notices = match message.kind {
        ItemKind::Event => match events::parse(&message.bytes) {
            Err(e) => {
                out.error = Some(e);
                return out;
            }
            Ok(Parsed::Notice(n)) => vec![*n],
            Ok(Parsed::Ignored) => return out,
            Ok(Parsed::Unknown) => {
                out.records.push(unknown_event(&message.source));
                return out;
            }
        },
        ItemKind::Reply => match maillog::reply::parse(&message.bytes) {
            Some(n) => vec![n],
            None => {
                out.error = Some("expected ADDRESS<TAB>REPLY".into());
                return out;
            }
        },
        ItemKind::LogLine => maillog::parse(&message.bytes),
        ItemKind::Mail => Vec::new(),
    };
    for n in &notices {
        if let Some(key) = n
            .dedup_key
            .clone()
            .or_else(|| Some(format!("{}\u{1}{}", n.esp?, n.event_id.as_deref()?)))
        {
            out.dedup_keys.push(key);
        }
        out.records.extend(records(rules, n, &message.source));
    }
    out
}

/// An event of no provider the program knows: one record, so that it
/// does not vanish.
fn unknown_event(source: &Source) -> Record {
    let mut r = record(source, &Notice::default(), None);
    r.mta = None;
    r.rule = "unknown-event".into();
    r
}

/// The records of one notice: one per affected address, or one without
/// an address when it names none.
pub fn records(rules: &RuleSet, n: &Notice, source: &Source) -> Vec<Record> {
    let report = Report {
        mta: Some(n.format),
        reporting_mta: n.reporting_mta.clone(),
        has_dsn: true,
        bounce_like: matches!(n.kind, NoticeKind::Failure | NoticeKind::Delay),
        feedback_type: (n.kind == NoticeKind::Complaint)
            .then(|| n.feedback_type.clone().unwrap_or_else(|| "abuse".into())),
        ..Report::default()
    };
    let mut matches = rules.message_matches(&report);
    let mut out: Vec<Record> = Vec::with_capacity(n.affected.len().max(1));
    let pseudo = [crate::stream::notice::Affected::default()];
    let affected = if n.affected.is_empty() {
        &pseudo[..]
    } else {
        &n.affected[..]
    };
    for a in affected {
        let mut d = Delivery {
            recipient: clean_address(&a.address),
            status: a
                .status
                .as_deref()
                .and_then(super::text::find_status)
                .filter(|s| !s.is_empty()),
            smtp_code: a.smtp_code,
            remote_mta: a.remote_mta.clone(),
            action: match n.kind {
                NoticeKind::Failure => Some("failed".into()),
                NoticeKind::Delay => Some("delayed".into()),
                NoticeKind::Delivery => Some("delivered".into()),
                _ => None,
            },
            ..Delivery::default()
        };
        if let Some(text) = a.diagnostic.as_deref() {
            diagnostic::fill_from_diagnostic(&mut d, text);
        }
        // A "deferral" whose server gave a permanent answer is a failure:
        // the status and text decide, not the provider's word.
        if n.kind == NoticeKind::Delay
            && (d.status.as_deref().is_some_and(|s| s.starts_with('5'))
                || d.smtp_code.is_some_and(|c| (500..600).contains(&c)))
        {
            d.action = Some("failed".into());
        }
        let facts = d.status.is_some() || d.smtp_code.is_some() || d.diagnostic.is_some();
        let by_rules = match n.kind {
            NoticeKind::Unsubscribe | NoticeKind::Other => false,
            NoticeKind::Complaint => true,
            _ => facts || n.label_category.is_none(),
        };
        let mut r = record(source, n, Some(&d));
        let decision = by_rules
            .then(|| rules.decide(&report, &mut matches, &d))
            .flatten()
            .filter(|dec| {
                // What the rules cannot place (a failure with no usable
                // reason), the provider's type decides.
                n.label_category.is_none() || !says_nothing(dec.rule.category, dec.rule.reason)
            });
        match decision {
            Some(dec) => {
                r.category = dec.rule.category;
                r.reason = dec.rule.reason;
                r.rule = dec.rule.name.clone();
                r.bounce = dec
                    .rule
                    .bounce
                    .or_else(|| dec.rule.reason.bounce(r.category, r.status.as_deref()));
                r.category = r.reason.settled_category(r.category, r.bounce);
                r.evidence = dec.evidence;
                if !n.label.is_empty() && n.label_category.is_some_and(|c| c != r.category) {
                    // The provider said otherwise: show what it said.
                    let said = match &r.evidence {
                        Some(e) => format!("{}; {}: {e}", n.label, r.rule),
                        None => n.label.clone(),
                    };
                    r.evidence = Some(truncate_chars(&said, 200));
                }
            }
            None => {
                let category = n.label_category.unwrap_or(Category::Unknown);
                let reason = n.label_reason.unwrap_or(Reason::Undefined);
                r.category = category;
                r.reason = reason;
                r.rule = TYPE_RULE.into();
                r.bounce = match category {
                    Category::Hard => Some(Bounce::Hard),
                    Category::Soft => Some(Bounce::Soft),
                    c => reason.bounce(c, r.status.as_deref()),
                };
                r.evidence = (!n.label.is_empty()).then(|| truncate_chars(&n.label, 200));
            }
        }
        if r.category == Category::Complaint {
            r.feedback_type = report.feedback_type.clone().or(Some("abuse".into()));
        }
        if r.category.is_failure() && r.action.is_none() {
            r.action = Some("failed".into());
        }
        let duplicate = r.recipient.is_some()
            && out
                .iter()
                .any(|o| o.recipient.as_deref() == r.recipient.as_deref());
        if !duplicate {
            out.push(r);
        }
    }
    out
}

/// A rule's verdict that names no reason: the catch-alls for failures
/// whose text matched nothing.
fn says_nothing(category: Category, reason: Reason) -> bool {
    matches!(
        category,
        Category::Failed | Category::Undetermined | Category::Unknown
    ) && matches!(reason, Reason::OnHold | Reason::Undefined)
}

/// A record with what the notice and delivery say, category still open.
fn record(source: &Source, n: &Notice, d: Option<&Delivery>) -> Record {
    let mut source = source.clone();
    source.esp = n.esp.map(str::to_string);
    source.event_id = n.event_id.clone();
    let d = d.cloned().unwrap_or_default();
    Record {
        v: RECORD_VERSION,
        source,
        message_id: None,
        date: n.date.clone(),
        recipient: d.recipient,
        category: Category::Unknown,
        reason: Reason::Undefined,
        bounce: None,
        action: d.action,
        status: d.status,
        smtp_code: d.smtp_code,
        diagnostic: d
            .diagnostic
            .as_deref()
            .map(|t| truncate_chars(&collapse_ws(t), MAX_DIAGNOSTIC))
            .filter(|t| !t.is_empty()),
        remote_mta: d.remote_mta,
        reporting_mta: n.reporting_mta.clone(),
        mta: Some(n.format.to_string()),
        rule: String::new(),
        evidence: None,
        feedback_type: None,
        new_address: None,
        subscriber: None,
        original: n.original.clone(),
        provenance: None,
        report: None,
    }
}
