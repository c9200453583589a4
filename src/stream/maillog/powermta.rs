//! PowerMTA accounting files: CSV whose header line names the columns
//! (`type,timeLogged,…,rcpt,…,dsnAction,dsnStatus,dsnDiag,dsnMta,
//! bounceCat,…`). Rows of type `b` (bounce), `rb` (remote bounce), `t`
//! (transient: deferred) and `d` (delivered) are delivery attempts.

use super::fields::{dedup_key, host_of};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind};

/// A header line of an accounting file.
pub fn is_csv_header(line: &[u8]) -> bool {
    (line.starts_with(b"type,") || line.starts_with(b"#type,"))
        && memchr::memmem::find(line, b"rcpt").is_some()
}

/// A row that reports a delivery attempt.
pub fn is_csv_row(line: &[u8]) -> bool {
    [&b"b,"[..], b"rb,", b"t,", b"d,"]
        .iter()
        .any(|p| line.starts_with(p))
}

/// `header\nrow` to a notice.
pub(super) fn parse(bytes: &[u8]) -> Option<Notice> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = reader.headers().ok()?.clone();
    let row = reader.records().next()?.ok()?;
    let get = |name: &str| {
        header
            .iter()
            .position(|h| h.trim_start_matches('#') == name)
            .and_then(|i| row.get(i))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let kind = get("type")?;
    let rcpt = get("rcpt")?;
    let (notice_kind, category, reason) = match kind.as_str() {
        "b" | "rb" => (NoticeKind::Failure, Category::Failed, Reason::Undefined),
        "t" => (NoticeKind::Delay, Category::Delayed, Reason::Delayed),
        "d" => (NoticeKind::Delivery, Category::Delivered, Reason::Delivered),
        _ => return None,
    };
    let logged = get("timeLogged").unwrap_or_default();
    let id = get("envId").or_else(|| get("jobId")).unwrap_or_default();
    let mut n = Notice {
        format: "powermta",
        kind: notice_kind,
        event_id: (!id.is_empty()).then(|| id.clone()),
        dedup_key: Some(dedup_key("powermta", &id, &rcpt, &logged, &kind)),
        date: date(&logged),
        ..Notice::default()
    };
    n.means(category, reason);
    if let Some(cat) = get("bounceCat") {
        n.label = format!("\"bounceCat\": \"{}\"", cat.escape_default());
        if notice_kind == NoticeKind::Failure
            && let Some((c, r)) = bounce_category(&cat)
        {
            n.means(c, r);
        }
    }
    n.original.to = get("orcpt").map(|o| o.trim_start_matches("rfc822;").to_string());
    n.affected.push(Affected {
        address: rcpt,
        // "5.1.1 (bad destination mailbox address)"
        status: get("dsnStatus").and_then(|s| s.split_whitespace().next().map(str::to_string)),
        diagnostic: get("dsnDiag").map(|d| crate::stream::events::strip_type(&d)),
        remote_mta: get("dsnMta").and_then(|m| host_of(&m)),
        ..Affected::default()
    });
    Some(n)
}

/// PowerMTA's `timeLogged` (`2024-01-10 10:00:01-0500`).
fn date(text: &str) -> Option<String> {
    chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%z")
        .ok()
        .and_then(|t| crate::stream::notice::unix_to_rfc3339(t.timestamp() as f64))
        .or_else(|| crate::stream::notice::iso_to_rfc3339(text))
}

/// PowerMTA's bounce categories.
fn bounce_category(cat: &str) -> Option<(Category, Reason)> {
    Some(match cat {
        "bad-mailbox" => (Category::Hard, Reason::UserUnknown),
        "bad-domain" => (Category::Hard, Reason::HostUnknown),
        "inactive-mailbox" => (Category::Hard, Reason::Suspend),
        "quota-issues" => (Category::Soft, Reason::MailboxFull),
        "message-expired" => (Category::Soft, Reason::Expired),
        "no-answer-from-host" | "bad-connection" | "routing-errors" => {
            (Category::Soft, Reason::NetworkError)
        }
        "protocol-errors" => (Category::Soft, Reason::SystemError),
        "spam-related" => (Category::Blocked, Reason::SpamDetected),
        "policy-related" => (Category::Blocked, Reason::PolicyViolation),
        "content-related" => (Category::Blocked, Reason::ContentError),
        "relaying-issues" => (Category::Blocked, Reason::NoRelaying),
        "invalid-sender" => (Category::Blocked, Reason::Rejected),
        "virus-related" => (Category::Virus, Reason::VirusDetected),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    const HEADER: &str = "type,timeLogged,timeQueued,orig,rcpt,orcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,srcType,srcMta,dlvType,dlvSourceIp,dlvDestinationIp,dlvEsmtpAvailable,dlvSize,vmta,jobId,envId,queue,vmtaPool";

    #[test]
    fn rows() {
        let row = "b,2024-01-10 10:00:01-0500,2024-01-10 10:00:00-0500,list@example.org,user@example.com,,failed,5.1.1 (bad destination mailbox address),\"smtp;550 5.1.1 <user@example.com>... User unknown\",mx.example.com (192.0.2.1),bad-mailbox,smtp,,smtp,192.0.2.10,192.0.2.1,\"PIPELINING,8BITMIME\",1234,vmta1,job7,env42,example.com/vmta1,";
        let n = super::parse(format!("{HEADER}\n{row}").as_bytes()).unwrap();
        assert_eq!(n.affected[0].address, "user@example.com");
        assert_eq!(n.affected[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(
            n.affected[0].diagnostic.as_deref(),
            Some("550 5.1.1 <user@example.com>... User unknown")
        );
        assert_eq!(n.affected[0].remote_mta.as_deref(), Some("mx.example.com"));
        assert_eq!(n.date.as_deref(), Some("2024-01-10T15:00:01Z"));
        assert_eq!(n.label, "\"bounceCat\": \"bad-mailbox\"");
        assert!(super::is_csv_header(HEADER.as_bytes()));
        assert!(super::is_csv_row(row.as_bytes()));
    }
}
