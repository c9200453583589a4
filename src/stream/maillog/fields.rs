//! What the mail-log formats share: time stamps, host names, and the key
//! that makes a log line's report the same when it is read again.

/// A syslog time stamp (`Jan  5 10:00:01`, no year: the latest such time
/// not in the future) or an ISO 8601 one, as RFC 3339 UTC.
pub(super) fn syslog_date(stamp: &str) -> Option<String> {
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
pub(super) fn host_of(relay: &str) -> Option<String> {
    let h = relay
        .split(['[', ' ', ','])
        .next()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    (!h.is_empty() && h != "none").then_some(h)
}

/// The key that makes a log line's report the same when read again.
pub(super) fn dedup_key(
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
