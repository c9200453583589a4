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

/// The remote server's answer that Gmail and Google Workspace quote in
/// English under "The response was:" (or "The response from the remote
/// server was:") below a sentence in the sender's language: the lines up
/// to the next blank line, whitespace collapsed, at most 600 characters.
pub(super) fn quoted_response(lines: &[&str]) -> Option<String> {
    let label = lines.iter().position(|l| {
        let t = l.trim().to_ascii_lowercase();
        t == "the response was:" || t == "the response from the remote server was:"
    })?;
    let text: Vec<&str> = lines[label + 1..]
        .iter()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .take(12)
        .copied()
        .collect();
    (!text.is_empty()).then(|| truncate_chars(&collapse_ws(&text.join(" ")), 600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_quotes_the_remote_answer_under_its_label() {
        let lines = [
            "Sua mensagem não foi entregue a ana@example.br porque o domínio não foi encontrado.",
            "",
            "The response was:",
            "",
            "DNS Error: DNS type 'mx' lookup of example.br responded with code NXDOMAIN",
            "Domain name not found: example.br",
            "",
            "For more information, go to https://support.google.com/mail/",
        ];
        assert_eq!(
            quoted_response(&lines).as_deref(),
            Some(
                "DNS Error: DNS type 'mx' lookup of example.br responded with code NXDOMAIN Domain name not found: example.br"
            )
        );
        assert_eq!(quoted_response(&lines[..2]), None);
    }
}
