//! Sendmail delivery lines: `QUEUEID: to=<a>[,<b>…], …, relay=…,
//! dsn=X.Y.Z, stat=Sent (…)|Deferred: …|reason`. One notice per
//! recipient the line names.

use super::fields::{dedup_key, host_of, syslog_date};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind};
use regex::Regex;
use std::sync::LazyLock;

static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<time>[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) (?:\S+ )?(?:sendmail[\w-]*|sm-mta|sm-msp-queue)\[\d+\]: (?P<qid>[0-9A-Za-z]+): to=(?P<to>.*?), (?P<rest>(?:[a-z_]+=.*, )?stat=(?P<stat>.*))$",
    )
    .expect("sendmail pattern")
});

pub(super) fn parse(line: &str) -> Vec<Notice> {
    let Some(c) = LINE.captures(line) else {
        return Vec::new();
    };
    let rest = &c["rest"];
    let field = |name: &str| {
        rest.split(", ")
            .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(str::to_string)
    };
    let dsn = field("dsn");
    let stat = c["stat"].trim().to_string();
    // Sendmail 8.15 and later log the server's reply before `stat=`.
    let reply = rest
        .find("reply=")
        .map(|i| &rest[i + 6..])
        .and_then(|r| r.rfind(", stat=").map(|j| r[..j].trim().to_string()));
    let class = dsn.as_deref().and_then(|d| d.chars().next());
    let (kind, category, reason) = match class {
        Some('2') => (NoticeKind::Delivery, Category::Delivered, Reason::Delivered),
        Some('4') => (NoticeKind::Delay, Category::Delayed, Reason::Delayed),
        Some('5') => (NoticeKind::Failure, Category::Failed, Reason::Undefined),
        _ if stat.starts_with("Sent") => {
            (NoticeKind::Delivery, Category::Delivered, Reason::Delivered)
        }
        _ if stat.starts_with("Deferred") => {
            (NoticeKind::Delay, Category::Delayed, Reason::Delayed)
        }
        _ => (NoticeKind::Failure, Category::Failed, Reason::Undefined),
    };
    // "Deferred: 451 …" and "Sent (…)": the reply is what follows.
    let diagnostic = reply.unwrap_or_else(|| {
        stat.strip_prefix("Deferred: ")
            .or_else(|| stat.strip_prefix("Sent (").map(|s| s.trim_end_matches(')')))
            .unwrap_or(&stat)
            .to_string()
    });
    let qid = &c["qid"];
    let remote = field("relay").and_then(|r| host_of(&r));
    c["to"]
        .split(',')
        .map(|a| a.trim())
        .filter(|a| a.contains('@'))
        .map(|address| {
            let address = address.trim_matches(['<', '>']).to_string();
            let mut n = Notice {
                format: "sendmail",
                kind,
                event_id: Some(qid.to_string()),
                dedup_key: Some(dedup_key("sendmail", qid, &address, &c["time"], &stat)),
                date: syslog_date(&c["time"]),
                ..Notice::default()
            };
            n.means(category, reason);
            n.affected.push(Affected {
                address,
                status: dsn.clone(),
                diagnostic: Some(diagnostic.clone()),
                remote_mta: remote.clone(),
                ..Affected::default()
            });
            n
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::stream::notice::NoticeKind;

    #[test]
    fn failed_deferred_sent() {
        let n = super::parse(
            "Jan 10 10:00:01 mx sm-mta[1234]: 40AA0123: to=<user@example.com>,<other@example.com>, ctladdr=<list@example.org> (1000/1000), delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120000, relay=mx.example.com. [192.0.2.1], dsn=5.1.1, stat=User unknown",
        );
        assert_eq!(n.len(), 2);
        assert_eq!(n[1].affected[0].address, "other@example.com");
        assert_eq!(n[0].affected[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(
            n[0].affected[0].remote_mta.as_deref(),
            Some("mx.example.com")
        );
        let n = super::parse(
            "Jan 10 10:00:01 mx sendmail[1]: 40AA0124: to=<a@example.org>, delay=00:00:05, xdelay=00:00:05, mailer=esmtp, pri=30000, relay=mx.example.org. [192.0.2.2], dsn=4.2.2, stat=Deferred: 452 4.2.2 Mailbox full",
        );
        assert_eq!(n[0].kind, NoticeKind::Delay);
        assert_eq!(
            n[0].affected[0].diagnostic.as_deref(),
            Some("452 4.2.2 Mailbox full")
        );
        let n = super::parse(
            "Jan 10 10:00:01 mx sendmail[1]: 40AA0125: to=b@example.net, delay=00:00:01, mailer=esmtp, pri=30000, relay=mx.example.net. [192.0.2.3], dsn=2.0.0, stat=Sent (Ok: queued as 123)",
        );
        assert_eq!(n[0].kind, NoticeKind::Delivery);
        assert!(
            super::parse("Jan 10 10:00:01 mx sendmail[1]: 40AA0125: from=<x@example.org>, size=1")
                .is_empty()
        );
    }
}
