//! SendGrid's event webhook: arrays of flat objects with `event`,
//! `email`, `sg_event_id`. Delivery events: bounce (`type` bounce or
//! blocked), dropped, deferred, delivered, spamreport, unsubscribe,
//! group_unsubscribe.

use super::{Parsed, label, str_of, text, unix_date};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind, iso_to_rfc3339};
use serde_json::Value;

pub(super) fn read(v: &Value) -> Parsed {
    let event = str_of(v, "event").unwrap_or("");
    let mut n = Notice {
        esp: Some("sendgrid"),
        format: "sendgrid",
        date: unix_date(v, "timestamp").or_else(|| str_of(v, "timestamp").and_then(iso_to_rfc3339)),
        ..Notice::default()
    };
    n.event_id = text(v, "sg_event_id").or_else(|| {
        text(v, "sg_message_id")
            .map(|m| format!("{m}:{event}:{}", text(v, "timestamp").unwrap_or_default()))
    });
    n.original.message_id = text(v, "smtp-id");
    let mut affected = Affected {
        address: text(v, "email").unwrap_or_default(),
        ..Affected::default()
    };
    match event {
        "bounce" | "blocked" => {
            n.kind = NoticeKind::Failure;
            let blocked = event == "blocked" || str_of(v, "type") == Some("blocked");
            n.label = label(v, &["event", "type", "bounce_classification"]);
            let (category, reason) = match str_of(v, "bounce_classification") {
                Some("Invalid Address") => (Category::Hard, Reason::UserUnknown),
                Some("Mailbox Unavailable") => (Category::Hard, Reason::Suspend),
                Some("Technical") => (Category::Soft, Reason::SystemError),
                Some("Content") => (Category::Blocked, Reason::ContentError),
                Some("Reputation") => (Category::Blocked, Reason::BadReputation),
                Some("Frequency or Volume") => (Category::Soft, Reason::Speeding),
                _ if blocked => (Category::Blocked, Reason::Blocked),
                _ => (Category::Hard, Reason::Undefined),
            };
            n.means(category, reason);
            affected.status = text(v, "status");
            affected.diagnostic = text(v, "reason");
        }
        "dropped" => {
            // SendGrid did not send: its reason is its own, not a server's.
            n.kind = NoticeKind::Failure;
            n.label = label(v, &["event", "reason"]);
            let reason = str_of(v, "reason").unwrap_or("").to_ascii_lowercase();
            if reason.contains("unsubscribe") {
                n.kind = NoticeKind::Unsubscribe;
                n.means(Category::Unsubscribe, Reason::Unsubscribe);
            } else if reason.contains("spam report") {
                n.kind = NoticeKind::Complaint;
                n.feedback_type = Some("abuse".into());
                n.means(Category::Complaint, Reason::Feedback);
            } else if reason.contains("bounced") {
                n.means(Category::Hard, Reason::Undefined);
            } else if reason.starts_with("invalid") && !reason.contains("smtpapi") {
                n.means(Category::Hard, Reason::UserUnknown);
            } else {
                n.means(Category::Failed, Reason::Undefined);
            }
        }
        "deferred" => {
            n.kind = NoticeKind::Delay;
            n.label = label(v, &["event", "attempt"]);
            n.means(Category::Delayed, Reason::Delayed);
            affected.diagnostic = text(v, "response").or_else(|| text(v, "reason"));
        }
        "delivered" => {
            n.kind = NoticeKind::Delivery;
            n.label = label(v, &["event"]);
            n.means(Category::Delivered, Reason::Delivered);
            affected.diagnostic = text(v, "response");
        }
        "spamreport" => {
            n.kind = NoticeKind::Complaint;
            n.label = label(v, &["event"]);
            n.feedback_type = Some("abuse".into());
            n.means(Category::Complaint, Reason::Feedback);
        }
        "unsubscribe" | "group_unsubscribe" => {
            n.kind = NoticeKind::Unsubscribe;
            n.label = label(v, &["event", "asm_group_id"]);
            n.means(Category::Unsubscribe, Reason::Unsubscribe);
        }
        _ => return Parsed::Ignored,
    }
    n.affected.push(affected);
    Parsed::Notice(Box::new(n))
}
