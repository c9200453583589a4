//! A message disposition notification (RFC 8098) that says the message was
//! refused unread by the recipient's own filter: a Sieve `reject` (RFC
//! 5429), as Dovecot's Pigeonhole sends it ("Your message to <x> was
//! automatically rejected: …", `Disposition: automatic-action/
//! MDN-sent-automatically; deleted`). A read receipt (`displayed`) says
//! nothing about a failure: it is marked so, and no rule takes it for one.

use super::dsn::{HeaderField, fields, strip_type};
use super::report_format::{Recognition, ReportFormat, ReportParts};
use crate::classify::pattern::Pattern;
use crate::classify::report::{Delivery, Report};
use crate::classify::text::{clean_address, collapse_ws, truncate_chars};
use std::sync::LazyLock;

pub(crate) struct Mdn;

/// What an MDN says: whom it is about and what became of the message.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Disposition {
    pub recipient: Option<String>,
    pub reporting_ua: Option<String>,
    /// An automatic action discarded or refused the message.
    pub refused: bool,
    /// A disposition was given, whatever it is.
    pub disposed: bool,
}

/// Reads the fields of a `message/disposition-notification` part.
pub(crate) fn parse(text: &str) -> Disposition {
    let mut d = Disposition::default();
    let mut original = None;
    for HeaderField { name, value } in fields(text) {
        let address = || clean_address(strip_type(&value));
        match name.as_str() {
            "final-recipient" => d.recipient = d.recipient.take().or_else(address),
            "original-recipient" => original = original.or_else(address),
            "reporting-ua" => {
                let host = value.split(';').next().unwrap_or("").trim();
                if !host.is_empty() {
                    d.reporting_ua = Some(host.to_ascii_lowercase());
                }
            }
            "disposition" => {
                d.disposed = true;
                d.refused = is_refusal(&value);
            }
            _ => {}
        }
    }
    d.recipient = d.recipient.or(original);
    d
}

/// `automatic-action/MDN-sent-automatically; deleted` (RFC 8098 section
/// 3.2.6; `denied` and `failed` in RFC 2298 and 3798): a machine, not the
/// person, did away with the message.
fn is_refusal(value: &str) -> bool {
    let value = value.to_ascii_lowercase();
    let Some((mode, kind)) = value.split_once(';') else {
        return false;
    };
    let automatic = mode.trim_start().starts_with("automatic-action");
    let kind = kind.trim();
    let kind = kind.split(['/', ' ', '(']).next().unwrap_or("");
    automatic && matches!(kind, "deleted" | "denied" | "failed")
}

/// Outlook and Exchange write the same `automatic-action …; deleted` when
/// the person deleted the message unread (a non-read notification, subject
/// "Not read:"): that is the reader's choice, not a filter's refusal.
fn deleted_unread(report: &Report) -> bool {
    static SUBJECT: LazyLock<Pattern> = LazyLock::new(|| {
        crate::classify::text::regex(
            r"(?i)^\s*(not read|nicht gelesen|non lu|no le[ií]do|non letto|niet gelezen|ej l[äa]st|n[ãa]o lida|nie przeczytan[ao]|未読|未读)\s*:",
        )
    });
    static BODY: LazyLock<Pattern> = LazyLock::new(|| {
        crate::classify::text::regex(
            r"(?i)(deleted without being read|ohne gelesen zu werden gel[öo]scht|supprim[ée] sans avoir [ée]t[ée] lu|eliminado sin (haber sido )?le[ií]do|eliminato senza essere (stato )?letto|verwijderd zonder te zijn gelezen)",
        )
    });
    SUBJECT.is_match(&report.subject) || BODY.is_match(&collapse_ws(&report.body))
}

impl ReportFormat for Mdn {
    fn name(&self) -> &'static str {
        "mdn"
    }

    fn read(&self, parts: &ReportParts<'_>, report: &mut Report) {
        if parts.disposition_notification.is_empty() || !report.deliveries.is_empty() {
            return;
        }
        let d = parse(parts.disposition_notification);
        if !d.refused || deleted_unread(report) {
            // Its words ("sent to <x>", from "Postmaster") must not pass
            // for a failure notice.
            report.receipt = d.disposed;
            return;
        }
        // The notice's own words are the only reason given: the filter's
        // text ("I no longer accept newsletters at this address.").
        let said = collapse_ws(&report.body);
        report.deliveries.push(Delivery {
            recipient: d.recipient,
            action: Some("failed".into()),
            diagnostic: (!said.is_empty()).then(|| truncate_chars(&said, 600)),
            ..Delivery::default()
        });
        if report.reporting_mta.is_none() {
            report.reporting_mta = d.reporting_ua;
        }
    }

    fn recognizes(&self, report: &Report) -> Recognition {
        let refused = report.content_type.contains("disposition-notification")
            && !report.has_dsn
            && report
                .deliveries
                .iter()
                .any(|d| d.action.as_deref() == Some("failed"));
        if refused {
            Recognition::Certain
        } else {
            Recognition::No
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_automatic_deletion_is_a_refusal_and_a_read_receipt_is_not() {
        let sieve = parse(
            "Reporting-UA: mx.example.net; Dovecot Mail Delivery Agent\nFinal-Recipient: rfc822; Ana@Example.net\nOriginal-Message-ID: <a@b>\nDisposition: automatic-action/MDN-sent-automatically; deleted\n",
        );
        assert_eq!(
            sieve,
            Disposition {
                recipient: Some("Ana@example.net".into()),
                reporting_ua: Some("mx.example.net".into()),
                refused: true,
                disposed: true,
            }
        );
        let read = parse(
            "Final-Recipient: rfc822; ana@example.net\nDisposition: manual-action/MDN-sent-manually; displayed\n",
        );
        assert!(!read.refused && read.disposed);
        assert!(!is_refusal("manual-action/MDN-sent-manually; deleted"));
        assert!(is_refusal(
            "automatic-action/MDN-sent-automatically; denied"
        ));
        assert!(!is_refusal("automatic-action/MDN-sent-automatically"));
        assert_eq!(
            parse("Original-Recipient: rfc822;bo@example.org\nDisposition: automatic-action/MDN-sent-automatically; deleted/error\n").recipient.as_deref(),
            Some("bo@example.org")
        );
    }
}
