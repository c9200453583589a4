//! Where a notice says why when the lines at a failed address do not: a
//! permanent reply quoted elsewhere, a labelled reason line, the first
//! paragraph with a cause word in it.

use super::patterns::{REASON_ANYWHERE, REASON_LABEL_LINE};
use crate::classify::text::{collapse_ws, find_smtp_code, floor_char_boundary, truncate_chars};

/// The first line of a report that carries a permanent (5xx) SMTP reply
/// with its text. 4xx lines are the retries of a transcript, not the
/// verdict.
pub(super) fn permanent_reply_line<'a>(lines: &[&'a str]) -> Option<&'a str> {
    lines.iter().map(|l| l.trim()).find(|l| {
        l.len() < 500
            // Cheap test first: a reply line has a digit 5 at all.
            && l.contains('5')
            && find_smtp_code(l).is_some_and(|c| (500..600).contains(&c))
            && l.chars().any(char::is_alphabetic)
    })
}

/// The cause a report states under a label ("reject reason: Mailbox
/// full"): plainer than the first paragraph with a cause word in it.
pub(super) fn labelled_reason(report: &str) -> Option<String> {
    let start = REASON_LABEL_LINE.captures(report)?.name("reason")?.start();
    // The reason goes on to the end of its paragraph ("Reason: The email
    // you sent … / … is over disk quota.").
    // Only the next 1000 bytes are looked at, not the rest of a long report.
    let rest = &report[start..floor_char_boundary(report, start + 1000)];
    let end = [rest.find("\n\n"), rest.find("\n\r\n")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
    Some(truncate_chars(&collapse_ws(&rest[..end]), 600))
}

/// The paragraph (between blank lines) of the report's first cause
/// wording, whitespace collapsed, at most 600 characters.
pub(super) fn reason_paragraph(report: &str) -> Option<String> {
    let found = REASON_ANYWHERE.find(report)?;
    // A paragraph is a few lines; a report without blank lines is not
    // read whole.
    let floor = floor_char_boundary(report, found.start.saturating_sub(1000));
    let ceiling = floor_char_boundary(report, found.end + 1000);
    let report = &report[floor..ceiling];
    let found = (found.start - floor)..(found.end - floor);
    let before = &report[..found.start];
    let start = before
        .rfind("\n\n")
        .or_else(|| before.rfind("\n\r\n"))
        .map_or(0, |i| i + 1);
    let after = &report[found.end..];
    let end = after
        .find("\n\n")
        .or_else(|| after.find("\n\r\n"))
        .map_or(report.len(), |i| found.end + i);
    let paragraph = collapse_ws(&report[start..end]);
    Some(truncate_chars(&paragraph, 600))
}
