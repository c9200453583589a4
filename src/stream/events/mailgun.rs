//! Mailgun webhooks: the event in `event-data` inside the signed envelope
//! (or bare, as the events API lists them). failed (severity permanent,
//! or temporary: still retried), complained, unsubscribed, delivered.

use super::{Parsed, label, leading_code, str_of, text, unix_date};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind};
use serde_json::Value;

pub(super) fn read(d: &Value) -> Parsed {
    let event = str_of(d, "event").unwrap_or("");
    let mut n = Notice {
        esp: Some("mailgun"),
        format: "mailgun",
        event_id: text(d, "id"),
        date: unix_date(d, "timestamp"),
        ..Notice::default()
    };
    if let Some(h) = d.get("message").and_then(|m| m.get("headers")) {
        n.original.message_id = text(h, "message-id").map(|m| {
            if m.starts_with('<') {
                m
            } else {
                format!("<{m}>")
            }
        });
        n.original.subject = text(h, "subject");
        n.original.from = text(h, "from");
        n.original.to = text(h, "to");
    }
    let status = d.get("delivery-status").unwrap_or(&Value::Null);
    let mut affected = Affected {
        address: text(d, "recipient").unwrap_or_default(),
        remote_mta: text(status, "mx-host"),
        ..Affected::default()
    };
    match event {
        "failed" | "bounced" | "dropped" => {
            let severity = str_of(d, "severity").unwrap_or("permanent");
            let reason = str_of(d, "reason").unwrap_or("");
            n.label = label(d, &["event", "severity", "reason"]);
            if severity == "temporary" {
                n.kind = NoticeKind::Delay;
                n.means(Category::Delayed, Reason::Delayed);
            } else {
                n.kind = NoticeKind::Failure;
                match reason {
                    // Mailgun did not send: the address is on a list.
                    "suppress-bounce" => n.means(Category::Hard, Reason::Undefined),
                    "suppress-unsubscribe" => {
                        n.kind = NoticeKind::Unsubscribe;
                        n.means(Category::Unsubscribe, Reason::Unsubscribe);
                    }
                    "suppress-complaint" => {
                        n.kind = NoticeKind::Complaint;
                        n.feedback_type = Some("abuse".into());
                        n.means(Category::Complaint, Reason::Feedback);
                    }
                    "old" => n.means(Category::Soft, Reason::Expired),
                    _ => n.means(Category::Hard, Reason::Undefined),
                }
            }
            if !reason.starts_with("suppress-") {
                fill(&mut affected, status);
            }
        }
        "delivered" => {
            n.kind = NoticeKind::Delivery;
            n.label = label(d, &["event"]);
            n.means(Category::Delivered, Reason::Delivered);
            fill(&mut affected, status);
        }
        "complained" => {
            n.kind = NoticeKind::Complaint;
            n.label = label(d, &["event"]);
            n.feedback_type = Some("abuse".into());
            n.means(Category::Complaint, Reason::Feedback);
        }
        "unsubscribed" => {
            n.kind = NoticeKind::Unsubscribe;
            n.label = label(d, &["event"]);
            n.means(Category::Unsubscribe, Reason::Unsubscribe);
        }
        _ => return Parsed::Ignored,
    }
    n.affected.push(affected);
    Parsed::Notice(Box::new(n))
}

/// Reply code, enhanced status and text from `delivery-status`.
fn fill(a: &mut Affected, status: &Value) {
    let code = status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (200..600).contains(c));
    let message = text(status, "message").or_else(|| text(status, "description"));
    a.smtp_code = code;
    a.status = text(status, "enhanced-code").or_else(|| text(status, "bounce-code"));
    a.diagnostic = match (code, message) {
        (Some(c), Some(m)) if leading_code(&m).is_none() => Some(format!("{c} {m}")),
        (_, m) => m,
    };
}
