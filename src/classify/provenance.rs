//! Whether a bounce is one of our own mail (bounce-tools(7), PROVENANCE):
//! the address it came back to carries a valid tag we issued (btag(1)),
//! or the returned original's Message-ID is in the sent log. Sets each
//! record's `provenance`; with neither a key nor a log nothing here runs.

use super::report::Report;
use super::text;
use crate::record::{Category, Provenance, Record};
use crate::tag::{self, Keys, Verdict};
use std::collections::HashSet;

/// What bclassify checks provenance against (`--tag-key`, `--sent-log`).
#[derive(Debug, Clone, Default)]
pub struct ProvenanceCheck {
    pub keys: Option<Keys>,
    /// Days a tag stays valid.
    pub max_age_days: u32,
    /// Today, days since 1970-01-01 UTC.
    pub today: u32,
    /// Message-IDs of the mail we sent, without angle brackets.
    pub sent: Option<HashSet<String>>,
}

/// Header fields that hold the address a bounce came back to.
const ENVELOPE_FIELDS: [&str; 3] = ["To", "Delivered-To", "X-Original-To"];

impl ProvenanceCheck {
    /// A Message-ID as the sent log keeps it: trimmed, without `<>`.
    pub fn log_id(line: &str) -> &str {
        let id = line.trim();
        id.strip_prefix('<')
            .and_then(|i| i.strip_suffix('>'))
            .unwrap_or(id)
            .trim()
    }

    /// The subscriber of the first valid tag in the addresses the bounce
    /// came back to: To, Delivered-To, X-Original-To, and the returned
    /// original's Return-Path.
    fn signed_subscriber(&self, keys: &Keys, report: &Report) -> Option<String> {
        let returned = report
            .returned
            .as_ref()
            .and_then(|r| r.return_path.as_deref());
        let values = ENVELOPE_FIELDS
            .iter()
            .flat_map(|name| report.header_values(name))
            .chain(returned);
        for value in values {
            // A tag always carries its marker; most values need no parse.
            if !value.to_ascii_lowercase().contains("bt1=") {
                continue;
            }
            for address in text::addresses_in(value) {
                if let Verdict::Valid { subscriber, .. } =
                    tag::verify(keys, &address, self.today, self.max_age_days)
                {
                    return Some(subscriber);
                }
            }
        }
        None
    }

    /// Sets `provenance` on the records of one message. A valid tag makes
    /// `signed` only the records about the subscriber it carries (a forged
    /// report sent to someone's genuine return path may name anyone else),
    /// and gives that subscriber to a record that names no recipient.
    pub fn apply(&self, report: Option<&Report>, records: &mut [Record]) {
        let signed = match (&self.keys, report) {
            (Some(keys), Some(report)) => self.signed_subscriber(keys, report),
            _ => None,
        };
        for r in records {
            if let Some(subscriber) = &signed
                && r.recipient.is_none()
                && r.report.is_none()
                && r.category != Category::Unknown
            {
                r.recipient = Some(subscriber.clone());
            }
            let is_signed = signed.as_deref().is_some_and(|s| {
                r.recipient
                    .as_deref()
                    .is_some_and(|rcpt| rcpt.eq_ignore_ascii_case(s))
            });
            let is_known = || {
                self.sent.as_ref().is_some_and(|sent| {
                    r.original
                        .message_id
                        .as_deref()
                        .is_some_and(|id| sent.contains(Self::log_id(id)))
                })
            };
            r.provenance = Some(if is_signed {
                Provenance::Signed
            } else if is_known() {
                Provenance::Known
            } else {
                Provenance::Unverified
            });
        }
    }
}
