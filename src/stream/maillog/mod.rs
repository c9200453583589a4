//! Mail-log lines (bclassify(1), SMTP REPLIES AND LOGS): Postfix
//! (`status=bounced/deferred/sent` with `dsn=` and the reply in
//! parentheses), Exim's main.log (`**` failed, `==` deferred, `=>`
//! delivered), Sendmail (`stat=` with `dsn=`) and PowerMTA accounting CSV
//! (`type` b, t, d with `dsnStatus`, `dsnDiag`). One [`Notice`] per line
//! that reports a final or deferred delivery attempt, keyed by queue id,
//! recipient and time so that a log read twice gives each once.

mod exim;
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

/// A syslog time stamp (`Jan  5 10:00:01`, no year: the latest such time
/// not in the future) or an ISO 8601 one, as RFC 3339 UTC.
pub(crate) fn syslog_date(stamp: &str) -> Option<String> {
    if stamp.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return crate::stream::notice::iso_to_rfc3339(stamp);
    }
    use chrono::Datelike;
    let now = chrono::Utc::now();
    let squeezed = stamp.split_whitespace().collect::<Vec<_>>().join(" ");
    for year in [now.year(), now.year() - 1] {
        let Ok(t) = chrono::NaiveDateTime::parse_from_str(
            &format!("{year} {squeezed}"),
            "%Y %b %d %H:%M:%S",
        ) else {
            continue;
        };
        let t = t.and_utc();
        if t <= now + chrono::Duration::days(1) {
            return crate::stream::notice::unix_to_rfc3339(t.timestamp() as f64);
        }
    }
    None
}

/// `host[192.0.2.1]:25` or `host. [192.0.2.1]` to `host`.
pub(crate) fn host_of(relay: &str) -> Option<String> {
    let h = relay
        .split(['[', ' ', ','])
        .next()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    (!h.is_empty() && h != "none").then_some(h)
}

/// The key that makes a log line's report the same when read again.
pub(crate) fn dedup_key(
    format: &str,
    queue_id: &str,
    recipient: &str,
    stamp: &str,
    what: &str,
) -> String {
    format!(
        "{format}\u{1}{queue_id}\u{1}{}\u{1}{stamp}\u{1}{what}",
        recipient.to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_dates() {
        assert_eq!(
            host_of("mx.example.com[192.0.2.1]:25").as_deref(),
            Some("mx.example.com")
        );
        assert_eq!(
            host_of("mx.example.com. [192.0.2.1]").as_deref(),
            Some("mx.example.com")
        );
        assert_eq!(host_of("none"), None);
        assert!(
            syslog_date("Jan  5 10:00:01")
                .unwrap()
                .ends_with("-01-05T10:00:01Z")
        );
        assert_eq!(
            syslog_date("2024-01-05T10:00:01.123+01:00").as_deref(),
            Some("2024-01-05T09:00:01Z")
        );
    }
}
