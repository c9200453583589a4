//! Brevo (formerly Sendinblue) webhooks: flat objects with `event`
//! (hard_bounce, soft_bounce, blocked, spam, unsubscribed, invalid_email,
//! deferred, delivered), `email`, `message-id` and `reason`. Brevo's `id`
//! names the webhook, not the event: the message, event, time and address
//! stand for one.

use super::{Parsed, label, str_of, text, unix_date};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind, iso_to_rfc3339};
use serde_json::Value;

pub(super) fn read(v: &Value) -> Parsed {
    let event = str_of(v, "event").unwrap_or("");
    let address = text(v, "email").unwrap_or_default();
    let time = text(v, "ts_event")
        .or_else(|| text(v, "ts_epoch"))
        .or_else(|| text(v, "ts"))
        .or_else(|| text(v, "date_event"))
        .or_else(|| text(v, "date"))
        .unwrap_or_default();
    let message = text(v, "message-id")
        .or_else(|| text(v, "camp_id"))
        .unwrap_or_default();
    let mut n = Notice {
        esp: Some("brevo"),
        format: "brevo",
        event_id: Some(format!("{message}:{event}:{time}:{address}")),
        // ts_epoch is UTC (in milliseconds); ts and ts_event are in the
        // account's time zone.
        date: unix_date(v, "ts_epoch")
            .or_else(|| unix_date(v, "ts_event"))
            .or_else(|| unix_date(v, "ts"))
            .or_else(|| str_of(v, "date_event").and_then(iso_to_rfc3339))
            .or_else(|| str_of(v, "date").and_then(iso_to_rfc3339)),
        ..Notice::default()
    };
    n.original.message_id = text(v, "message-id");
    n.original.subject = text(v, "subject");
    n.label = label(v, &["event"]);
    let mut affected = Affected {
        address,
        ..Affected::default()
    };
    let (kind, category, reason) = match event {
        "hard_bounce" | "hardBounce" => (NoticeKind::Failure, Category::Hard, Reason::Undefined),
        "soft_bounce" | "softBounce" => (NoticeKind::Failure, Category::Soft, Reason::Undefined),
        // Brevo did not send: the address or its domain is on a blocklist.
        "blocked" => (NoticeKind::Failure, Category::Failed, Reason::Undefined),
        "invalid_email" | "invalid" => (NoticeKind::Failure, Category::Hard, Reason::UserUnknown),
        "deferred" => (NoticeKind::Delay, Category::Delayed, Reason::Delayed),
        "delivered" => (NoticeKind::Delivery, Category::Delivered, Reason::Delivered),
        "spam" | "complaint" => (NoticeKind::Complaint, Category::Complaint, Reason::Feedback),
        "unsubscribed" | "unsubscribe" => (
            NoticeKind::Unsubscribe,
            Category::Unsubscribe,
            Reason::Unsubscribe,
        ),
        _ => return Parsed::Ignored,
    };
    n.kind = kind;
    n.means(category, reason);
    if kind == NoticeKind::Complaint {
        n.feedback_type = Some("abuse".into());
    }
    if event == "blocked" {
        // Brevo's own reason ("blocked : due to blacklist user"), not a
        // receiving server's.
        n.label = label(v, &["event", "reason"]);
    } else if matches!(kind, NoticeKind::Failure | NoticeKind::Delay) {
        affected.diagnostic = text(v, "reason");
    }
    n.affected.push(affected);
    Parsed::Notice(Box::new(n))
}
