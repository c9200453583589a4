//! LISTSERV's "Daily error monitoring report" to a list's owners: the
//! subscribers whose deliveries fail, one row each ("  3 05/10 05/12 Kim
//! Tran <kt@example.edu>"), most with the last error under it ("Last
//! error: 550 5.1.1 …", continued on indented lines). Each row is a
//! delivery of its own, the error its diagnostic; a row with no error
//! line is a subscriber under monitoring whose cause is not given.

use super::report_format::{Recognition, ReportFormat, ReportParts};
use crate::classify::report::{Delivery, Report};
use crate::classify::text::{addresses_in, collapse_ws};

pub(crate) struct ListservMonitor;

/// The table's column heading.
const HEADING: &str = "Err First Last";
/// Most subscribers read from one report.
const MAX_ROWS: usize = 1000;

impl ReportFormat for ListservMonitor {
    fn name(&self) -> &'static str {
        "listserv"
    }

    fn read(&self, _parts: &ReportParts<'_>, report: &mut Report) {
        if report.has_dsn || !report.deliveries.is_empty() || !is_monitoring_report(report) {
            return;
        }
        report.deliveries = rows(&report.body);
    }

    fn recognizes(&self, report: &Report) -> Recognition {
        if !report.has_dsn && is_monitoring_report(report) {
            Recognition::Certain
        } else {
            Recognition::No
        }
    }
}

/// "LIST: Daily error monitoring report", with the table in its body; not
/// a person's reply or forward of one ("Re: …").
fn is_monitoring_report(report: &Report) -> bool {
    // Asked of every message (by `read` and `recognizes`): no allocation.
    const SUFFIX: &str = ": daily error monitoring report";
    let subject = report.subject.trim();
    let Some(cut) = subject.len().checked_sub(SUFFIX.len()) else {
        return false;
    };
    let (Some(list), Some(tail)) = (subject.get(..cut), subject.get(cut..)) else {
        return false;
    };
    tail.eq_ignore_ascii_case(SUFFIX)
        && !list.is_empty()
        && list
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !["re", "fw", "fwd", "aw", "wg", "sv", "tr"]
            .iter()
            .any(|prefix| list.eq_ignore_ascii_case(prefix))
        && report.body.contains(HEADING)
}

/// One delivery per row of the table, with its "Last error:" text.
fn rows(body: &str) -> Vec<Delivery> {
    let mut deliveries: Vec<Delivery> = Vec::new();
    let mut in_table = false;
    // Whether the lines under the current row continue its error text.
    let mut in_error = false;
    for line in body.lines() {
        if !in_table {
            in_table = line.trim_start().starts_with(HEADING);
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            // The legend under the table ("Err=   Number of …") ends it.
            if !deliveries.is_empty() {
                break;
            }
            continue;
        }
        if trimmed.starts_with("---") {
            continue;
        }
        if let Some(address) = row_address(line) {
            if deliveries.len() == MAX_ROWS {
                break;
            }
            deliveries.push(Delivery {
                recipient: Some(address),
                action: Some("failed".into()),
                ..Delivery::default()
            });
            in_error = false;
            continue;
        }
        let Some(last) = deliveries.last_mut() else {
            continue;
        };
        if let Some(error) = strip_prefix_ci(trimmed, "Last error:") {
            last.diagnostic = Some(collapse_ws(error));
            in_error = true;
        } else if in_error && line.starts_with([' ', '\t']) {
            let joined = format!("{} {}", last.diagnostic.as_deref().unwrap_or(""), trimmed);
            last.diagnostic = Some(collapse_ws(&joined));
        }
    }
    deliveries
}

/// The subscriber of a row: "  3 05/10 05/12 Name <address>" (an error
/// count and two mm/dd dates, then the address, with or without a name).
fn row_address(line: &str) -> Option<String> {
    let mut fields = line.split_whitespace();
    let count = fields.next()?;
    let first = fields.next()?;
    let last = fields.next()?;
    let is_date = |f: &str| {
        f.len() == 5 && f.as_bytes()[2] == b'/' && f.bytes().filter(u8::is_ascii_digit).count() == 4
    };
    if !count.bytes().all(|b| b.is_ascii_digit()) || !is_date(first) || !is_date(last) {
        return None;
    }
    let rest: Vec<&str> = fields.collect();
    addresses_in(&rest.join(" ")).next()
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "The following 3 subscribers are currently being monitored:\n\nErr First Last  Address\n--- ----- ----- -------\n  3 05/10 05/12 Kim Tran <ktran@example.edu>\n                Last error: 550 5.1.10 RESOLVER.ADR.RecipientNotFound;\n                            Recipient not found by SMTP address lookup\n  2 05/11 05/11 USER@EXAMPLE.COM\n  5 05/09 05/12 p.a@example.nl\n                Last error: 552 5.2.2 Mailbox full\n\nErr=   Number of delivery errors received thus far\n";

    fn report(subject: &str, body: &str) -> Report {
        Report {
            subject: subject.into(),
            body: body.into(),
            ..Report::default()
        }
    }

    #[test]
    fn each_row_is_a_delivery_with_its_last_error() {
        let mut r = report("PHYSED-L: Daily error monitoring report", REPORT);
        ListservMonitor.read(&ReportParts::default(), &mut r);
        let got: Vec<(Option<&str>, Option<&str>)> = r
            .deliveries
            .iter()
            .map(|d| (d.recipient.as_deref(), d.diagnostic.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some("ktran@example.edu"),
                    Some(
                        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
                    )
                ),
                (Some("USER@example.com"), None),
                (Some("p.a@example.nl"), Some("552 5.2.2 Mailbox full")),
            ]
        );
        assert_eq!(ListservMonitor.recognizes(&r), Recognition::Certain);
    }

    #[test]
    fn other_notices_and_other_tables_are_left_alone() {
        let mut r = report("Re: Daily error monitoring report", REPORT);
        ListservMonitor.read(&ReportParts::default(), &mut r);
        assert!(r.deliveries.is_empty());
        let mut r = report(
            "PHYSED-L: Daily error monitoring report",
            "Err First Last  Address\n--- ----- ----- -------\n  x 05/10 05/12 a@example.org\n",
        );
        ListservMonitor.read(&ReportParts::default(), &mut r);
        assert!(r.deliveries.is_empty());
    }
}
