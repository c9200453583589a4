//! List servers' notices to a list's owners that their bounce processing
//! has acted on members, with no bounce attached: Mailman 3's "X's
//! subscription disabled on L" and "X unsubscribed from L mailing list due
//! to bounces", and Sympa's "List L automatic bounce management" with the
//! members it removed (or warned, or picked as severely bouncing), one
//! address per line. Each member is a delivery whose diagnostic is the
//! notice's own sentence: the list saw that address fail repeatedly, but
//! names no cause. (Mailman 2's "Bounce action notification" attaches the
//! bounce that triggered it and is read as that bounce.)

use super::report_format::{Recognition, ReportFormat, ReportParts};
use crate::classify::report::{Delivery, Report};
use crate::classify::text::{addresses_in, collapse_ws};

pub(crate) struct MailmanRemoval;
pub(crate) struct SympaBounceManagement;

/// Most members read from one notice.
const MAX_MEMBERS: usize = 1000;

impl ReportFormat for MailmanRemoval {
    fn name(&self) -> &'static str {
        "mailman3"
    }

    fn read(&self, _parts: &ReportParts<'_>, report: &mut Report) {
        if report.has_dsn || !report.deliveries.is_empty() {
            return;
        }
        if let Some(delivery) = mailman_member(report) {
            report.deliveries.push(delivery);
        }
    }

    fn recognizes(&self, report: &Report) -> Recognition {
        if !report.has_dsn && mailman_member(report).is_some() {
            Recognition::Certain
        } else {
            Recognition::No
        }
    }
}

impl ReportFormat for SympaBounceManagement {
    fn name(&self) -> &'static str {
        "sympa"
    }

    fn read(&self, _parts: &ReportParts<'_>, report: &mut Report) {
        if report.has_dsn || !report.deliveries.is_empty() || !is_sympa_notice(report) {
            return;
        }
        report.deliveries = sympa_members(&report.body);
    }

    fn recognizes(&self, report: &Report) -> Recognition {
        if !report.has_dsn && is_sympa_notice(report) {
            Recognition::Certain
        } else {
            Recognition::No
        }
    }
}

/// A person's reply or forward of a notice is not the notice.
fn is_reply(subject: &str) -> bool {
    subject.split_once(':').is_some_and(|(prefix, _)| {
        ["re", "fw", "fwd", "aw", "wg", "sv", "tr"]
            .iter()
            .any(|p| prefix.trim().eq_ignore_ascii_case(p))
    })
}

/// The member a Mailman 3 disable or removal notice names in its subject,
/// with the body's sentence about it as the diagnostic.
fn mailman_member(report: &Report) -> Option<Delivery> {
    // Asked of every message: the cheap subject test first, no allocation
    // until it passes.
    let subject = report.subject.trim();
    let member = if let Some(at) = find_ci(subject, "'s subscription disabled on ") {
        find_ci(&report.body, "subscription has been disabled")?;
        find_ci(&report.body, "bounce score")?;
        &subject[..at]
    } else if let Some(at) = find_ci(subject, " unsubscribed from ") {
        if !ends_with_ci(subject, "mailing list due to bounces") {
            return None;
        }
        find_ci(&report.body, "due to excessive bounces")?;
        &subject[..at]
    } else {
        return None;
    };
    if is_reply(subject) {
        return None;
    }
    let recipient = addresses_in(member).next()?;
    // The first paragraph, whatever the line ends (`lines` drops CRs).
    let paragraph: Vec<&str> = report
        .body
        .lines()
        .map(str::trim)
        .skip_while(|line| line.is_empty())
        .take_while(|line| !line.is_empty())
        .collect();
    if paragraph.is_empty() {
        return None;
    }
    let sentence = collapse_ws(&paragraph.join(" "));
    Some(Delivery {
        recipient: Some(recipient),
        action: Some("failed".into()),
        diagnostic: Some(sentence),
        ..Delivery::default()
    })
}

/// "List L automatic bounce management", with Sympa's sentence in the
/// body.
fn is_sympa_notice(report: &Report) -> bool {
    let subject = report.subject.trim();
    subject.len() > 5
        && subject.is_char_boundary(5)
        && subject[..5].eq_ignore_ascii_case("list ")
        && ends_with_ci(subject, " automatic bounce management")
        && find_ci(&report.body, "we received many non-delivery reports").is_some()
}

/// The addresses listed under Sympa's sentence, up to the link or text
/// that follows the list; each with the sentence as its diagnostic.
fn sympa_members(body: &str) -> Vec<Delivery> {
    let Some(at) = find_ci(body, "because we received many non-delivery reports") else {
        return Vec::new();
    };
    let mut lines = body[at..].lines();
    let sentence = collapse_ws(lines.next().unwrap_or_default());
    let mut members: Vec<Delivery> = Vec::new();
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            if members.is_empty() {
                continue;
            }
            break;
        }
        // Only lines that are an address and nothing else: the text and
        // link under the list are not members.
        let mut found = addresses_in(line);
        let (Some(address), None) = (found.next(), found.next()) else {
            break;
        };
        if line.split_whitespace().count() != 1 || members.len() == MAX_MEMBERS {
            break;
        }
        members.push(Delivery {
            recipient: Some(address),
            action: Some("failed".into()),
            diagnostic: Some(sentence.clone()),
            ..Delivery::default()
        });
    }
    members
}

/// Where `needle` (ASCII) starts in `haystack`, ignoring ASCII case.
fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

fn ends_with_ci(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len()
        && text.as_bytes()[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sympa_list_ends_at_the_text_under_it() {
        let body = "Because we received MANY non-delivery reports, the 2 subscribers listed below have been removed from list choir:\n\na@example.org\nB@Example.NET\n\nManaging bouncing subscribers: https://lists.example.org/sympa/reviewbouncing/choir\n";
        let members = sympa_members(body);
        let got: Vec<_> = members.iter().filter_map(|d| d.recipient.clone()).collect();
        assert_eq!(got, ["a@example.org", "B@example.net"]);
        assert!(
            members[0]
                .diagnostic
                .as_deref()
                .unwrap()
                .contains("removed from list choir")
        );
        let prose = "Because we received MANY non-delivery reports, these were removed:\nplease write to owner@example.org for help\n";
        assert!(sympa_members(prose).is_empty());
    }

    #[test]
    fn replies_are_not_notices() {
        assert!(is_reply(
            "Re: x@example.org unsubscribed from L mailing list due to bounces"
        ));
        assert!(!is_reply(
            "x@example.org unsubscribed from L mailing list due to bounces"
        ));
        assert!(!is_reply(
            "Kofi <k@example.org>'s subscription disabled on L"
        ));
    }
}
