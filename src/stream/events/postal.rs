//! Postal's webhooks: `{"event", "timestamp", "payload", "uuid"}`.
//! MessageSent, MessageDelayed (SoftFail), MessageDeliveryFailed
//! (HardFail) carry the receiving server's `output`; MessageBounced says a
//! bounce came back, without reading it.

use super::{Parsed, label, str_of, text, unix_date};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind};
use serde_json::Value;

pub(super) fn read(v: &Value) -> Parsed {
    let event = str_of(v, "event").unwrap_or("");
    let payload = v.get("payload").unwrap_or(&Value::Null);
    let message = payload
        .get("message")
        .or_else(|| payload.get("original_message"))
        .unwrap_or(&Value::Null);
    // Mail Postal received, not mail it sent: nothing about a recipient.
    if str_of(message, "direction") == Some("incoming") {
        return Parsed::Ignored;
    }
    // A bounce that came back carries the original and the bounce, under
    // whatever event name.
    let bounced = payload.get("bounce").is_some() && payload.get("original_message").is_some();
    let mut n = Notice {
        esp: Some("postal"),
        format: "postal",
        event_id: text(v, "uuid"),
        date: unix_date(v, "timestamp").or_else(|| unix_date(payload, "timestamp")),
        ..Notice::default()
    };
    n.original.message_id = text(message, "message_id").map(|m| {
        if m.starts_with('<') {
            m
        } else {
            format!("<{m}>")
        }
    });
    n.original.subject = text(message, "subject");
    n.original.from = text(message, "from");
    n.original.to = text(message, "to");
    let mut affected = Affected {
        address: text(message, "to").unwrap_or_default(),
        ..Affected::default()
    };
    let output = text(payload, "output").or_else(|| text(payload, "details"));
    n.label = format!("\"event\": \"{}\"", event.escape_default());
    let status = label(payload, &["status"]);
    if !status.is_empty() {
        n.label = format!("{}, {status}", n.label);
    }
    match event {
        _ if bounced => {
            n.kind = NoticeKind::Failure;
            n.means(Category::Undetermined, Reason::Undefined);
        }
        "MessageSent" => {
            n.kind = NoticeKind::Delivery;
            n.means(Category::Delivered, Reason::Delivered);
            affected.diagnostic = output;
        }
        "MessageDelayed" => {
            n.kind = NoticeKind::Delay;
            n.means(Category::Delayed, Reason::Delayed);
            affected.diagnostic = output;
        }
        "MessageDeliveryFailed" => {
            n.kind = NoticeKind::Failure;
            n.means(Category::Hard, Reason::Undefined);
            affected.diagnostic = output;
        }
        _ => return Parsed::Ignored,
    }
    n.affected.push(affected);
    Parsed::Notice(Box::new(n))
}
