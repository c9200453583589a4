//! A DMARC failure report in plain text: Exim's forensic report
//! (`dmarc_send_forensic_report`: "DMARC Forensic Report for <domain> from
//! IP <ip>", "A message claiming to be from you has failed the published
//! DMARC policy for your domain.") and the reporters that copy its subject
//! ("DMARC Failure Report for …"). It is an RFC 6591 auth-failure report
//! without the `message/feedback-report` part: a report about our own
//! sending, with the failed message's header pasted below.

use super::report_format::{Recognition, ReportFormat, ReportParts};
use crate::classify::report::Report;

pub(crate) struct DmarcFailure;

const SUBJECTS: [&str; 2] = ["dmarc forensic report for ", "dmarc failure report for "];
const OPENING: &str = "has failed the published dmarc";

impl ReportFormat for DmarcFailure {
    fn name(&self) -> &'static str {
        "dmarc-failure"
    }

    fn read(&self, parts: &ReportParts<'_>, report: &mut Report) {
        // An ARF report or a bounce says for itself what it is.
        if !parts.feedback_report.is_empty() || report.has_dsn || report.feedback_type.is_some() {
            return;
        }
        if is_plain_failure_report(report) {
            report.feedback_type = Some("auth-failure".into());
        }
    }

    fn recognizes(&self, report: &Report) -> Recognition {
        if report.feedback_type.as_deref() == Some("auth-failure")
            && is_plain_failure_report(report)
        {
            Recognition::Certain
        } else {
            Recognition::No
        }
    }
}

/// The subject names a DMARC failure report and the text opens like one
/// (both: a person's mail about such reports is neither).
fn is_plain_failure_report(report: &Report) -> bool {
    let subject = report.subject.trim_start().to_ascii_lowercase();
    if !SUBJECTS.iter().any(|s| subject.starts_with(s)) {
        return false;
    }
    let head = &report.body[..crate::classify::text::floor_char_boundary(&report.body, 2000)];
    let head = crate::classify::text::collapse_ws(head).to_ascii_lowercase();
    head.contains(OPENING) || head.contains("dmarc results:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(subject: &str, body: &str) -> Report {
        Report {
            subject: subject.into(),
            body: body.into(),
            ..Report::default()
        }
    }

    #[test]
    fn exims_forensic_report_is_an_auth_failure_report() {
        let mut r = report(
            "DMARC Forensic Report for example.org from IP 192.0.2.8",
            "A message claiming to be from you has failed the published DMARC\npolicy for your domain.\n\n  Sender Domain: example.org\n",
        );
        DmarcFailure.read(&ReportParts::default(), &mut r);
        assert_eq!(r.feedback_type.as_deref(), Some("auth-failure"));
        assert_eq!(DmarcFailure.recognizes(&r), Recognition::Certain);
    }

    #[test]
    fn a_persons_mail_about_reports_is_none() {
        for (subject, body) in [
            (
                "Re: DMARC Forensic Report for example.org",
                "Why do we get these?",
            ),
            (
                "DMARC Forensic Report for example.org",
                "See the attachment.",
            ),
            (
                "Question",
                "A message claiming to be from you has failed the published DMARC policy",
            ),
        ] {
            let mut r = report(subject, body);
            DmarcFailure.read(&ReportParts::default(), &mut r);
            assert_eq!(r.feedback_type, None, "{subject}");
        }
    }
}
