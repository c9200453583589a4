//! Microsoft's Junk Mail Reporting Program (JMRP), the feedback loop of
//! Hotmail and Outlook.com before ARF: the complained-of message itself,
//! forwarded with its headers, the subscriber named in
//! `X-HmXmrOriginalRecipient`. No `message/feedback-report` part exists,
//! so without this format such a complaint names nobody.

use super::report_format::{Recognition, ReportFormat, ReportParts};
use crate::classify::report::Report;
use crate::classify::text::clean_address;

/// The JMRP format: a message whose own header names the complaining
/// Hotmail user.
pub(crate) struct HotmailJmrp;

const HEADER: &str = "X-HmXmrOriginalRecipient";

impl ReportFormat for HotmailJmrp {
    fn name(&self) -> &'static str {
        "hotmail-jmrp"
    }

    fn read(&self, parts: &ReportParts<'_>, report: &mut Report) {
        // A bounce or an ARF report says for itself what it is about.
        if !parts.feedback_report.is_empty() || report.has_dsn {
            return;
        }
        if let Some(recipient) = original_recipient(report) {
            report.feedback_type = Some("abuse".into());
            report.feedback_recipients = vec![recipient];
        }
    }

    fn recognizes(&self, report: &Report) -> Recognition {
        // Microsoft's ARF reports carry the header too; they are JMRP's
        // only when they name the same subscriber (a redacted ARF report
        // names nobody and stays the ARF format's).
        let named = original_recipient(report);
        if report.feedback_type.is_some()
            && named.is_some()
            && report.feedback_recipients.as_slice() == named.as_slice()
        {
            Recognition::Certain
        } else {
            Recognition::No
        }
    }
}

/// The address in the message's own `X-HmXmrOriginalRecipient` header,
/// or, in a report Hotmail's staff address sends with the complained-of
/// message attached, in that message's header.
fn original_recipient(report: &Report) -> Option<String> {
    report.header(HEADER).and_then(clean_address).or_else(|| {
        let from_staff = report
            .from_address
            .as_deref()
            .is_some_and(|from| from.eq_ignore_ascii_case("staff@hotmail.com"));
        from_staff
            .then(|| report.returned.as_ref()?.hotmail_recipient.clone())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_complaining_user_from_the_header() {
        let mut report = Report::default();
        report.set_headers([
            ("From", "staff@hotmail.com"),
            ("X-HmXmrOriginalRecipient", "<ana@hotmail.example>"),
        ]);
        HotmailJmrp.read(&ReportParts::default(), &mut report);
        assert_eq!(report.feedback_type.as_deref(), Some("abuse"));
        assert_eq!(report.feedback_recipients, ["ana@hotmail.example"]);
        assert_eq!(HotmailJmrp.recognizes(&report), Recognition::Certain);

        let mut plain = Report::default();
        plain.set_headers([("From", "ana@example.org")]);
        HotmailJmrp.read(&ReportParts::default(), &mut plain);
        assert_eq!(plain.feedback_type, None);
    }
}
