//! Exim main.log delivery lines: `DATE ID ** addr …: text` (failed),
//! `== addr … defer (n): text` (deferred), `=> addr … C="250 …"`
//! (delivered; `->` for a further address of the same delivery).

use super::fields::{dedup_key, syslog_date};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind};
use regex::Regex;
use std::sync::LazyLock;

static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [+-]\d{4})?) (?:\[\d+\] )?(?P<qid>[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}) (?P<flag>\*\*|==|=>|->) (?P<rest>.*)$",
    )
    .expect("exim pattern")
});

static HOST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r" H=(?P<host>[^\s:]+)").expect("host pattern"));
static CONFIRMATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#" C="(?P<c>(?:[^"\\]|\\.)*)""#).expect("C= pattern"));

pub(super) fn parse(line: &str) -> Option<Notice> {
    let c = LINE.captures(line)?;
    let rest = &c["rest"];
    let flag = &c["flag"];
    let address_field = rest.split(' ').next().unwrap_or("");
    let address = address_field.trim_end_matches(':').trim_matches(['<', '>']);
    if !address.contains('@') {
        return None;
    }
    let after = &rest[address_field.len()..];
    // "addr <original@…>": the address the message was sent to.
    let original = after
        .trim_start()
        .strip_prefix('<')
        .and_then(|r| r.split_once('>'))
        .map(|(o, _)| o.to_string());
    let text = || {
        if address_field.ends_with(':') {
            return Some(after.trim().to_string());
        }
        after.find(": ").map(|i| after[i + 2..].trim().to_string())
    };
    let (kind, category, reason, diagnostic) = match flag {
        "**" => (
            NoticeKind::Failure,
            Category::Failed,
            Reason::Undefined,
            text(),
        ),
        "==" => (
            NoticeKind::Delay,
            Category::Delayed,
            Reason::Delayed,
            text(),
        ),
        _ => (
            NoticeKind::Delivery,
            Category::Delivered,
            Reason::Delivered,
            CONFIRMATION.captures(after).map(|m| m["c"].to_string()),
        ),
    };
    let qid = &c["qid"];
    let mut n = Notice {
        format: "exim",
        kind,
        event_id: Some(qid.to_string()),
        dedup_key: Some(dedup_key("exim", qid, address, &c["time"], flag)),
        date: syslog_date(&c["time"]),
        ..Notice::default()
    };
    n.means(category, reason);
    n.original.to = original.filter(|o| !o.eq_ignore_ascii_case(address));
    n.affected.push(Affected {
        address: address.to_string(),
        diagnostic,
        remote_mta: HOST
            .captures(after)
            .map(|h| h["host"].trim_end_matches('.').to_ascii_lowercase()),
        ..Affected::default()
    });
    Some(n)
}

#[cfg(test)]
mod tests {
    use crate::stream::notice::NoticeKind;

    #[test]
    fn failed_deferred_delivered() {
        let n = super::parse("2024-01-10 10:00:01 1rNXYZ-000ABC-12 ** user@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<user@example.com>: 550 5.1.1 <user@example.com>: Recipient address rejected: User unknown").unwrap();
        assert_eq!(n.kind, NoticeKind::Failure);
        assert_eq!(n.affected[0].remote_mta.as_deref(), Some("mx.example.com"));
        assert!(n.affected[0].diagnostic.as_deref().unwrap().starts_with(
            "SMTP error from remote mail server after RCPT TO:<user@example.com>: 550 5.1.1"
        ));
        let n = super::parse(
            "2024-01-10 10:00:01 1rNXYZ-000ABC-12 ** nobody@example.org: Unrouteable address",
        )
        .unwrap();
        assert_eq!(n.affected[0].address, "nobody@example.org");
        assert_eq!(
            n.affected[0].diagnostic.as_deref(),
            Some("Unrouteable address")
        );
        let n = super::parse("2024-01-10 10:00:01 1rNXYZ-000ABC-12 == user@example.net R=dnslookup T=remote_smtp defer (-44) H=mx.example.net [192.0.2.3]: SMTP error from remote mail server after RCPT TO:<user@example.net>: 451 4.7.1 Greylisted, try again later").unwrap();
        assert_eq!(n.kind, NoticeKind::Delay);
        let n = super::parse(r#"2024-01-10 10:00:01 1rNXYZ-000ABC-12 => user@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C="250 2.0.0 Ok: queued as 4BXYZ""#).unwrap();
        assert_eq!(n.kind, NoticeKind::Delivery);
        assert_eq!(
            n.affected[0].diagnostic.as_deref(),
            Some("250 2.0.0 Ok: queued as 4BXYZ")
        );
        assert!(super::parse("2024-01-10 10:00:01 1rNXYZ-000ABC-12 <= sender@example.org H=x [1.2.3.4] P=esmtp S=100").is_none());
    }
}
