//! Postfix delivery lines (smtp, lmtp, local, virtual, pipe, error,
//! discard): `QUEUEID: to=<…>, [orig_to=<…>,] relay=…, …, dsn=X.Y.Z,
//! status=bounced|deferred|sent (text)`.

use super::fields::{dedup_key, host_of, syslog_date};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind};
use regex::Regex;
use std::sync::LazyLock;

static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<time>[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) (?:\S+ )?postfix[\w.-]*/[\w/.-]+\[\d+\]: (?P<qid>[0-9A-Za-z]+): to=<(?P<to>[^>]*)>, (?P<rest>.*)$",
    )
    .expect("postfix pattern")
});

static STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|, )status=(?P<status>[a-z]+)(?: \((?P<text>.*)\))?\s*$")
        .expect("status pattern")
});

static EXPIRED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<time>[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) (?:\S+ )?postfix[\w.-]*/qmgr\[\d+\]: (?P<qid>[0-9A-Za-z]+): from=<[^>]*>, status=expired",
    )
    .expect("expiry pattern")
});

/// What a delivery line says for the expiry bookkeeping of the reader:
/// the queue id, recipient, status and text.
pub struct Attempt {
    pub queue_id: String,
    pub recipient: String,
    pub deferred: bool,
    pub text: String,
}

/// The attempt a Postfix delivery line reports.
pub fn attempt(line: &str) -> Option<Attempt> {
    let c = LINE.captures(line)?;
    let s = STATUS.captures(&c["rest"])?;
    Some(Attempt {
        queue_id: c["qid"].to_string(),
        recipient: c["to"].to_string(),
        deferred: &s["status"] == "deferred",
        text: s.name("text").map_or("", |t| t.as_str()).to_string(),
    })
}

/// The queue id of a message Postfix gave up on (`status=expired,
/// returned to sender`: the line names no recipient).
pub fn expired_queue_id(line: &str) -> Option<String> {
    EXPIRED.captures(line).map(|c| c["qid"].to_string())
}

/// An expiry item as the reader writes it: the qmgr line, then one
/// `RECIPIENT<TAB>last deferral text` line per recipient still deferred.
pub(super) fn parse_expired(item: &str) -> Vec<Notice> {
    let mut lines = item.lines();
    let Some(c) = lines.next().and_then(|l| EXPIRED.captures(l)) else {
        return Vec::new();
    };
    let qid = &c["qid"];
    lines
        .filter_map(|l| l.split_once('\t'))
        .map(|(to, text)| {
            let mut n = Notice {
                format: "postfix",
                kind: NoticeKind::Other,
                event_id: Some(qid.to_string()),
                dedup_key: Some(dedup_key("postfix", qid, to, &c["time"], "expired")),
                date: syslog_date(&c["time"]),
                label: "status=expired, returned to sender".into(),
                ..Notice::default()
            };
            n.means(Category::Soft, Reason::Expired);
            n.affected.push(Affected {
                address: to.to_string(),
                diagnostic: (!text.is_empty()).then(|| text.to_string()),
                ..Affected::default()
            });
            n
        })
        .collect()
}

pub(super) fn parse(line: &str) -> Option<Notice> {
    if !line.contains("postfix") {
        return None;
    }
    let c = LINE.captures(line)?;
    let rest = &c["rest"];
    let s = STATUS.captures(rest)?;
    let status = &s["status"];
    let (kind, category, reason) = match status {
        "bounced" => (NoticeKind::Failure, Category::Failed, Reason::Undefined),
        "deferred" => (NoticeKind::Delay, Category::Delayed, Reason::Delayed),
        "sent" => (NoticeKind::Delivery, Category::Delivered, Reason::Delivered),
        _ => return None,
    };
    let field = |name: &str| {
        rest.split(", ")
            .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(str::to_string)
    };
    let qid = &c["qid"];
    let to = &c["to"];
    let mut n = Notice {
        format: "postfix",
        kind,
        event_id: Some(qid.to_string()),
        dedup_key: Some(dedup_key("postfix", qid, to, &c["time"], status)),
        date: syslog_date(&c["time"]),
        ..Notice::default()
    };
    n.means(category, reason);
    n.original.to = field("orig_to").map(|o| o.trim_matches(['<', '>']).to_string());
    n.affected.push(Affected {
        address: to.to_string(),
        status: field("dsn"),
        diagnostic: s.name("text").map(|t| t.as_str().to_string()),
        remote_mta: field("relay").and_then(|r| host_of(&r)),
        ..Affected::default()
    });
    Some(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bounced_deferred_sent() {
        let n = super::parse("Jan 10 10:00:01 mx postfix/smtp[1234]: 4BXYZ123: to=<user@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced (host mx.example.com[192.0.2.1] said: 550 5.1.1 <user@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command))").unwrap();
        assert_eq!(n.affected[0].address, "user@example.com");
        assert_eq!(n.affected[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(n.affected[0].remote_mta.as_deref(), Some("mx.example.com"));
        assert!(
            n.affected[0]
                .diagnostic
                .as_deref()
                .unwrap()
                .ends_with("(in reply to RCPT TO command)")
        );
        let n = super::parse("2024-01-10T10:00:01.123456+00:00 mx postfix/smtp[1]: ABC: to=<a@example.org>, orig_to=<b@example.org>, relay=none, delay=30, delays=30/0/0/0, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.2]:25: Connection refused)").unwrap();
        assert_eq!(n.kind, crate::stream::notice::NoticeKind::Delay);
        assert_eq!(n.original.to.as_deref(), Some("b@example.org"));
        assert_eq!(n.date.as_deref(), Some("2024-01-10T10:00:01Z"));
        assert!(super::parse("Jan 10 10:00:01 mx postfix/qmgr[1]: ABC: from=<a@example.org>, size=1, nrcpt=1 (queue active)").is_none());
    }
}
