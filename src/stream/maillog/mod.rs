//! Mail-log lines (bclassify(1), SMTP REPLIES AND LOGS): Postfix
//! (`status=bounced/deferred/sent` with `dsn=` and the reply in
//! parentheses), Exim's main.log (`**` failed, `==` deferred, `=>`
//! delivered), Sendmail (`stat=` with `dsn=`) and PowerMTA accounting CSV
//! (`type` b, t, d with `dsnStatus`, `dsnDiag`). One [`Notice`] per line
//! that reports a final or deferred delivery attempt, keyed by queue id,
//! recipient and time so that a log read twice gives each once.

mod exim;
mod fields;
pub mod postfix;
mod powermta;
pub mod reply;
mod sendmail;

use crate::stream::notice::Notice;

pub use powermta::{is_csv_header, is_csv_row};

/// A cheap look at a line: could it report a delivery attempt? Lines
/// that cannot are not handed on at all.
pub fn may_report_delivery(line: &[u8]) -> bool {
    let has = |needle: &[u8]| memchr::memmem::find(line, needle).is_some();
    has(b" status=")
        || has(b" stat=")
        || has(b" ** ")
        || has(b" == ")
        || has(b" => ")
        || has(b" -> ")
}

/// The delivery attempts a line reports: one notice per recipient (a
/// Sendmail line may name several); empty for any other line.
pub fn parse(bytes: &[u8]) -> Vec<Notice> {
    if bytes.starts_with(b"type,") || bytes.starts_with(b"#type,") {
        return powermta::parse(bytes).into_iter().collect();
    }
    let line = String::from_utf8_lossy(bytes);
    if line.contains("status=expired") {
        return postfix::parse_expired(&line);
    }
    if let Some(n) = postfix::parse(&line) {
        return vec![n];
    }
    if let Some(n) = exim::parse(&line) {
        return vec![n];
    }
    sendmail::parse(&line)
}
