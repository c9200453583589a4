//! fml, the mailing-list manager common in Japan: the notices it sends back
//! to a poster ("You … are not member", "Loop Alert: Duplicated
//! Message-ID", "Security Alert"). They are plain prose with no DSN; the
//! address they concern is the list's own, written in angle brackets in
//! the notice's first lines ("You are not a member of this mailing list
//! <list@example.org>."), and the subject says what happened.

use super::report_format::{Recognition, ReportFormat, ReportParts};
use crate::classify::report::{Delivery, Report};
use crate::classify::text::{clean_address, collapse_ws};

pub(crate) struct Fml;

pub(crate) static FORMAT: Fml = Fml;

/// How many lines of the notice may come before the list's address.
const NOTICE_LINES: usize = 12;

impl ReportFormat for Fml {
    fn name(&self) -> &'static str {
        "fml"
    }

    fn read(&self, _parts: &ReportParts<'_>, report: &mut Report) {
        if report.has_dsn || !report.deliveries.is_empty() || !written_by_fml(report) {
            return;
        }
        let Some((line, list)) = list_address(report) else {
            return;
        };
        // The rules read the subject's verdict and the notice's sentence
        // together: "You x are not member (ML)" — "You are not a member of
        // this mailing list <list>."
        let diagnostic = collapse_ws(&format!("{} - {}", report.subject, line));
        report.deliveries.push(Delivery {
            recipient: Some(list),
            diagnostic: Some(diagnostic),
            ..Delivery::default()
        });
    }

    fn signature(&self) -> Option<&'static str> {
        Some(r"(?mi)^X-MLServer: fml|^X-ML-Name:")
    }

    fn recognizes(&self, report: &Report) -> Recognition {
        if written_by_fml(report) {
            Recognition::Certain
        } else {
            Recognition::No
        }
    }
}

fn written_by_fml(report: &Report) -> bool {
    report.header("X-MLServer").is_some_and(|value| {
        value
            .get(..3)
            .is_some_and(|v| v.eq_ignore_ascii_case("fml"))
    })
}

/// The first address in angle brackets in the notice's opening lines that
/// is not the poster's or the list's administrator's own.
fn list_address(report: &Report) -> Option<(String, String)> {
    let own: Vec<String> = report
        .from_address
        .iter()
        .cloned()
        .chain(crate::classify::text::addresses_in(&report.to))
        .collect();
    for line in report
        .body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(NOTICE_LINES)
    {
        let mut rest = line;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('>') else { break };
            if let Some(address) = clean_address(&after[..close])
                && !own.iter().any(|o| o.eq_ignore_ascii_case(&address))
            {
                return Some((line.trim().to_string(), address));
            }
            rest = &after[close + 1..];
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(subject: &str, body: &str) -> Report {
        let mut report = Report {
            subject: subject.into(),
            from_address: Some("list-admin@example.org".into()),
            to: "poster@example.net".into(),
            body: body.into(),
            ..Report::default()
        };
        report.set_headers([
            ("X-MLServer", "fml [fml 4.0.3 release]"),
            ("From", "list-admin@example.org"),
        ]);
        report
    }

    #[test]
    fn names_the_list_address_with_the_subject_as_diagnostic() {
        let mut r = notice(
            "You poster@example.net are not member (news ML)",
            "\nYou are not a member of this mailing list <news@example.org>.\n\nSend <news-ctl@example.org> a guide request.\n",
        );
        FORMAT.read(&ReportParts::default(), &mut r);
        assert_eq!(r.deliveries.len(), 1);
        assert_eq!(
            r.deliveries[0].recipient.as_deref(),
            Some("news@example.org")
        );
        assert!(
            r.deliveries[0]
                .diagnostic
                .as_deref()
                .unwrap()
                .starts_with("You poster@")
        );
        assert_eq!(FORMAT.recognizes(&r), Recognition::Certain);
    }

    #[test]
    fn other_list_servers_and_addressless_notices_are_left_alone() {
        let mut r = notice(
            "Loop Alert",
            "Duplicated Message-ID in <poster@example.net>.\n",
        );
        FORMAT.read(&ReportParts::default(), &mut r);
        assert!(r.deliveries.is_empty());
        let mut r = notice("x", "not a member <news@example.org>\n");
        r.set_headers([("X-MLServer", "Mailman")]);
        FORMAT.read(&ReportParts::default(), &mut r);
        assert!(r.deliveries.is_empty());
        assert_eq!(FORMAT.recognizes(&r), Recognition::No);
    }
}
