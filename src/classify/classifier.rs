//! The classifier: from one raw message to its records, one per affected
//! address — the report read by `analyze`, each delivery decided by the
//! rules, the record filled in from both.

use super::analyze::analyze;
use super::original;
use super::provenance::ProvenanceCheck;
use super::report::{Delivery, Report};
use super::rules::{Rule, RuleSet};
use super::text::{collapse_ws, truncate_chars};
use crate::record::{Category, Reason};
use crate::record::{RECORD_VERSION, Record};
use crate::stream::RawMessage;
use crate::tag::strip_batv;
use std::sync::Arc;

/// Longest diagnostic written to a record.
const MAX_DIAGNOSTIC: usize = 1000;

/// Settings that shape classification.
#[derive(Debug, Clone)]
pub struct Options {
    /// Header in the returned original that carries the subscriber id.
    pub subscriber_header: String,
    /// `--tag-key`, `--sent-log`: what sets `provenance`; None leaves it
    /// null and costs nothing.
    pub provenance: Option<Arc<ProvenanceCheck>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            subscriber_header: "X-Subscriber-Id".into(),
            provenance: None,
        }
    }
}

pub struct Classifier {
    rules: RuleSet,
    options: Options,
}

impl Classifier {
    pub fn new(rules: RuleSet, options: Options) -> Self {
        Classifier { rules, options }
    }

    /// One record per affected address, at least one per message. Never
    /// fails: whatever the bytes, the final rule gives an answer, and a bug
    /// met on one message costs that message a record of category
    /// `unknown` (rule `internal-error`), not the batch.
    pub fn classify(&self, message: &RawMessage) -> Vec<Record> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.classify_inner(message)
        })) {
            Ok(mut records) => {
                for r in &mut records {
                    strip_signatures(r);
                    r.check_addresses();
                }
                records
            }
            Err(_) => {
                let mut r = base_record(message, &Report::default(), &Delivery::default());
                r.rule = "internal-error".into();
                vec![r]
            }
        }
    }

    /// What one item of a stream gives: a mail message's records, or an
    /// ESP event's, reply's or log line's (`events`), with what makes the
    /// item a duplicate of another. Never panics, as [`Self::classify`].
    pub fn classify_item(&self, message: &RawMessage) -> super::events::Classified {
        if message.kind == crate::stream::ItemKind::Mail {
            return super::events::Classified {
                records: self.classify(message),
                ..super::events::Classified::default()
            };
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            super::events::classify_item(&self.rules, message)
        })) {
            Ok(mut classified) => {
                for r in &mut classified.records {
                    strip_signatures(r);
                }
                if let Some(p) = &self.options.provenance {
                    p.apply(None, &mut classified.records);
                }
                classified
            }
            Err(_) => {
                let mut r = base_record(message, &Report::default(), &Delivery::default());
                r.rule = "internal-error".into();
                super::events::Classified {
                    records: vec![r],
                    ..super::events::Classified::default()
                }
            }
        }
    }

    fn classify_inner(&self, message: &RawMessage) -> Vec<Record> {
        let report = analyze(&message.bytes, &self.options.subscriber_header);
        let mut matches = self.rules.message_matches(&report);
        let pseudo = [Delivery::default()];
        let deliveries: &[Delivery] = if report.deliveries.is_empty() {
            &pseudo
        } else {
            &report.deliveries
        };
        let mut records: Vec<Record> = Vec::with_capacity(deliveries.len());
        let subscriber_id = subscriber(&report);
        for d in deliveries {
            let decision = self.rules.decide(&report, &mut matches, d);
            let mut record = match decision {
                Some(dec) => build_record(message, &report, d, dec.rule, dec.evidence),
                None => unmatched_record(message, &report, d),
            };
            record.subscriber = subscriber_id.clone();
            let duplicate = record.recipient.is_some()
                && records.iter().any(|r| {
                    r.recipient
                        .as_deref()
                        .zip(record.recipient.as_deref())
                        .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
                });
            if !duplicate {
                records.push(record);
            }
        }
        if let Some(p) = &self.options.provenance {
            p.apply(Some(&report), &mut records);
        }
        records
    }
}

/// A BATV-signed address (`prvs=TAG=local@domain`) read anywhere in a
/// record is the mailbox it signs (bounce-tools(7), PROVENANCE).
fn strip_signatures(r: &mut Record) {
    let o = &mut r.original;
    for field in [&mut r.recipient, &mut r.new_address, &mut o.from, &mut o.to] {
        if let Some(a) = field.as_mut() {
            let plain = strip_batv(a);
            if plain.len() != a.len() {
                *a = plain.to_string();
            }
        }
    }
}

/// When a user's `replace = true` file has no catch-all rule.
fn unmatched_record(message: &RawMessage, report: &Report, d: &Delivery) -> Record {
    let mut r = base_record(message, report, d);
    r.category = Category::Unknown;
    r.reason = Reason::Undefined;
    r.rule = "no-rule-matched".into();
    r
}

fn base_record(message: &RawMessage, report: &Report, d: &Delivery) -> Record {
    let returned = report.returned.as_ref();
    Record {
        v: RECORD_VERSION,
        source: message.source.clone(),
        message_id: report.message_id.clone(),
        date: report.date.clone(),
        recipient: d.recipient.clone(),
        category: Category::Unknown,
        reason: Reason::Undefined,
        bounce: None,
        action: d.action.clone(),
        status: d.status.clone(),
        smtp_code: d.smtp_code,
        diagnostic: d
            .diagnostic
            .as_deref()
            .map(|t| truncate_chars(&collapse_ws(t), MAX_DIAGNOSTIC))
            .filter(|t| !t.is_empty()),
        remote_mta: d.remote_mta.clone(),
        reporting_mta: report.reporting_mta.clone(),
        mta: report.mta.map(str::to_string),
        rule: String::new(),
        evidence: None,
        feedback_type: None,
        new_address: None,
        subscriber: None,
        original: returned.map(|r| r.original.clone()).unwrap_or_default(),
        provenance: None,
        report: report.aggregate.clone(),
    }
}

fn build_record(
    message: &RawMessage,
    report: &Report,
    d: &Delivery,
    rule: &Rule,
    evidence: Option<String>,
) -> Record {
    let mut r = base_record(message, report, d);
    r.category = rule.category;
    r.reason = rule.reason;
    r.rule = rule.name.clone();
    r.evidence = evidence;
    if report.aggregate.is_some() {
        // An aggregate report is about a domain, never about a subscriber.
        r.recipient = None;
    } else if r.recipient.is_none() {
        r.recipient = super::fallback::fallback_recipient(report, rule.category);
    }
    if rule.category == Category::Complaint {
        r.feedback_type = report.feedback_type.clone().or(Some("abuse".into()));
    } else if report.feedback_type.is_some() {
        // An ARF report that is no complaint (not-spam, auth-failure,
        // virus) still says which it was.
        r.feedback_type = report.feedback_type.clone();
    }
    if rule.category == Category::AddressChange {
        r.new_address =
            super::new_address::new_address(report, r.recipient.as_deref()).or_else(|| {
                // Written from the new address it announces: that is the new one.
                report
                    .from_address
                    .clone()
                    .filter(|from| {
                        r.recipient
                            .as_deref()
                            .is_some_and(|old| !old.eq_ignore_ascii_case(from))
                    })
                    .filter(|_| super::new_address::names_sender_as_new(report))
            });
    }
    if r.action.is_none() {
        r.action = match rule.category {
            // An ARF virus report is about a message that was delivered.
            c if c.is_failure() && report.feedback_type.is_none() => Some("failed".into()),
            Category::Delayed => Some("delayed".into()),
            Category::Delivered => Some("delivered".into()),
            _ => None,
        };
    }
    if r.status.is_none()
        && (rule.category.is_failure()
            || rule.category == Category::Delayed
            || rule.category == Category::Undetermined)
        && report.bounce_like
    {
        let temporary = rule.category == Category::Delayed || is_temporary(d);
        r.status = Some(internal_status(rule.reason, temporary));
    }
    r.bounce = rule
        .bounce
        .or_else(|| rule.reason.bounce(rule.category, r.status.as_deref()))
        .filter(|_| report.feedback_type.is_none());
    r.category = r.reason.settled_category(r.category, r.bounce);
    r
}

/// Sisimai's internal status codes (x.0.9NN) for reports that give no
/// enhanced status code, so results compare with Sisimai's line by line.
/// Reasons without a temporary code keep the permanent one.
fn internal_status(reason: Reason, temporary: bool) -> String {
    use Reason::*;
    let (permanent, temp) = match reason {
        OnHold => (901, Some(901)),
        SyntaxError => (902, None),
        NoRelaying => (909, None),
        Filtered => (910, Some(924)),
        UserUnknown => (911, None),
        HostUnknown => (912, None),
        HasMoved => (916, None),
        Rejected => (918, Some(918)),
        Suspend => (921, None),
        MailboxFull => (922, Some(922)),
        ExceedLimit => (923, None),
        SystemError => (930, Some(930)),
        SystemFull => (931, Some(931)),
        NotAccept => (932, Some(932)),
        MesgTooBig => (934, None),
        MailerError => (939, None),
        NetworkError => (944, Some(944)),
        TooManyConn => (945, Some(945)),
        Speeding => (946, Some(946)),
        // A delay notice reports the retrying that ends in expiry.
        Expired | Delayed => (947, Some(947)),
        ContentError => (960, Some(960)),
        SecurityError => (970, Some(970)),
        Blocked => (971, Some(971)),
        VirusDetected => (971, None),
        AuthFailure => (972, Some(972)),
        PolicyViolation => (972, None),
        RequirePtr => (973, Some(973)),
        NotCompliantRfc => (974, Some(974)),
        BadReputation => (975, Some(975)),
        SpamDetected => (980, Some(980)),
        _ => (900, Some(900)),
    };
    match (temporary, temp) {
        (true, Some(t)) => format!("4.0.{t}"),
        _ => format!("5.0.{permanent}"),
    }
}

/// Whether a failure is temporary, from its reply code or wording.
fn is_temporary(d: &Delivery) -> bool {
    if let Some(c) = d.smtp_code {
        return (400..500).contains(&c);
    }
    let text = d.diagnostic.as_deref().unwrap_or("").to_ascii_lowercase();
    text.contains("temporar") || text.contains("persistent")
}

fn subscriber(report: &Report) -> Option<String> {
    let returned = report.returned.as_ref();
    returned
        .and_then(|r| r.subscriber.clone())
        .or_else(|| super::fallback::verp_recipient(report))
        .or_else(|| {
            returned
                .and_then(|r| r.list_unsubscribe.as_deref())
                .and_then(original::list_unsubscribe_id)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wording the project's fixtures do not carry, one plain-text
    /// notice each: (diagnostic lines, expected reason).
    #[test]
    fn notice_wording_decides_the_reason() {
        let classifier = Classifier::new(RuleSet::builtin(), Options::default());
        let cases = [
            (
                "was not delivered to:\tmia@example.org\nbecause:\tRecipient's mail file is disabled",
                "suspend",
            ),
            (
                "Empfänger: pia@example.de\nGrund: Das Postfach des Empfängers wurde deaktiviert.",
                "suspend",
            ),
            (
                "  ned@example.org\n    SMTP error from remote mail server after RCPT TO:<ned@example.org>:\n    550 5.7.1 Service unavailable; client [192.0.2.10] listed at zen.spamhaus.org",
                "blocked",
            ),
            (
                "Не удалось доставить ваше письмо по адресу ula@example.ru:\nпочтовый ящик получателя переполнен.",
                "mailboxfull",
            ),
            (
                "  val@example.jp\n理由: 宛先のメールボックスの容量がいっぱいです。",
                "mailboxfull",
            ),
            (
                "Empfänger: wim@example.de\nGrund: Die Domain des Empfängers existiert nicht.",
                "hostunknown",
            ),
            (
                "Votre message n'a pas pu être remis à xia@example.fr.\nMotif : domaine inconnu ou inexistant.",
                "hostunknown",
            ),
            (
                "<vic@yahoo.example.net>:\n552 1 Requested mail action aborted, mailbox not found",
                "userunknown",
            ),
        ];
        for (text, reason) in cases {
            let bytes = format!(
                "From: Mail Delivery System <mailer-daemon@mx.example.org>\r\nTo: bounces@lists.example.com\r\nSubject: Undeliverable mail\r\nMessage-ID: <n1@mx.example.org>\r\n\r\nYour message could not be delivered.\r\n\r\n{}\r\n",
                text.replace('\n', "\r\n")
            );
            let message = RawMessage {
                bytes: bytes.into_bytes(),
                source: crate::record::Source::default(),
                truncated: false,
                ..RawMessage::default()
            };
            let records = classifier.classify(&message);
            assert_eq!(records[0].reason.to_string(), reason, "{text}");
        }
    }
}
