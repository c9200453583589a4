//! Mailjet's event API: flat objects with `event` (bounce with
//! `hard_bounce` and Mailjet's `error`, blocked, spam, unsub, sent) and
//! `MessageID`. Mailjet gives no event id: the message, event, time and
//! address stand for one.

use super::{Parsed, label, str_of, text, unix_date};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind};
use serde_json::Value;

pub(super) fn read(v: &Value) -> Parsed {
    let event = str_of(v, "event").unwrap_or("");
    let time = text(v, "time").unwrap_or_default();
    let message = text(v, "MessageID")
        .or_else(|| text(v, "Message_GUID"))
        .unwrap_or_default();
    let address = text(v, "email").unwrap_or_default();
    let mut n = Notice {
        esp: Some("mailjet"),
        format: "mailjet",
        date: unix_date(v, "time"),
        event_id: Some(format!("{message}:{event}:{time}:{address}")),
        ..Notice::default()
    };
    let mut affected = Affected {
        address,
        ..Affected::default()
    };
    match event {
        "bounce" | "blocked" => {
            n.kind = NoticeKind::Failure;
            n.label = label(v, &["event", "hard_bounce", "error_related_to", "error"]);
            let hard = v.get("hard_bounce").and_then(Value::as_bool) == Some(true);
            let (category, reason) =
                error_meaning(str_of(v, "error").unwrap_or(""), event == "blocked", hard);
            n.means(category, reason);
            if category == Category::Complaint {
                n.kind = NoticeKind::Complaint;
                n.feedback_type = Some("abuse".into());
            }
            if category == Category::Delayed {
                // Mailjet retries a greylisted message.
                n.kind = NoticeKind::Delay;
            }
            // "comment" carries the receiving server's words, when any.
            affected.diagnostic = text(v, "comment");
        }
        "spam" => {
            n.kind = NoticeKind::Complaint;
            n.label = label(v, &["event", "source"]);
            n.feedback_type = Some("abuse".into());
            n.means(Category::Complaint, Reason::Feedback);
        }
        "unsub" => {
            n.kind = NoticeKind::Unsubscribe;
            n.label = label(v, &["event", "mj_list_id"]);
            n.means(Category::Unsubscribe, Reason::Unsubscribe);
        }
        "sent" => {
            n.kind = NoticeKind::Delivery;
            n.label = label(v, &["event"]);
            n.means(Category::Delivered, Reason::Delivered);
            affected.diagnostic = text(v, "smtp_reply");
        }
        _ => return Parsed::Ignored,
    }
    n.affected.push(affected);
    Parsed::Notice(Box::new(n))
}

/// Mailjet's documented `error` values.
fn error_meaning(error: &str, blocked: bool, hard: bool) -> (Category, Reason) {
    match error {
        "user unknown" | "typofix" => (Category::Hard, Reason::UserUnknown),
        "mailbox inactive" => (Category::Hard, Reason::Suspend),
        "invalid domain" | "no mail host" => (Category::Hard, Reason::HostUnknown),
        "quota exceeded" => (Category::Soft, Reason::MailboxFull),
        "greylisted" => (Category::Delayed, Reason::Delayed),
        "timeout" | "connection issue" => (Category::Soft, Reason::NetworkError),
        "system issue" | "protocol issue" => (Category::Soft, Reason::SystemError),
        "relay/access denied" => (Category::Blocked, Reason::NoRelaying),
        "sender blocked" | "blacklisted" => (Category::Blocked, Reason::Blocked),
        "content blocked" | "bad or empty template" | "error in template language" => {
            (Category::Blocked, Reason::ContentError)
        }
        "policy issue" => (Category::Blocked, Reason::PolicyViolation),
        "spam reporter" => (Category::Complaint, Reason::Feedback),
        "preblocked" => (Category::Hard, Reason::Undefined),
        "duplicate in campaign" => (Category::Failed, Reason::Undefined),
        _ if blocked => (Category::Blocked, Reason::Blocked),
        _ if hard => (Category::Hard, Reason::Undefined),
        _ => (Category::Soft, Reason::Undefined),
    }
}
