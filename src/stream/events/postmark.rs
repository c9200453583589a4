//! Postmark webhooks: `RecordType` Bounce (its `Type` and `TypeCode`
//! from Postmark's bounce-type list), SpamComplaint, Delivery and
//! SubscriptionChange. Open, Click and Inbound say nothing about delivery.

use super::{Parsed, label, str_of, strip_type, text};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind, iso_to_rfc3339};
use serde_json::Value;

pub(super) fn read(v: &Value) -> Parsed {
    let record_type = str_of(v, "RecordType").unwrap_or("");
    let mut n = Notice {
        esp: Some("postmark"),
        format: "postmark",
        ..Notice::default()
    };
    n.original.message_id = text(v, "MessageID");
    n.original.subject = text(v, "Subject");
    n.original.from = text(v, "From");
    let mut affected = Affected {
        address: text(v, "Email")
            .or_else(|| text(v, "Recipient"))
            .unwrap_or_default(),
        ..Affected::default()
    };
    let message = text(v, "MessageID").unwrap_or_default();
    match record_type {
        "Bounce" | "SpamComplaint" => {
            n.event_id = text(v, "ID");
            n.date = str_of(v, "BouncedAt").and_then(iso_to_rfc3339);
            n.label = label(v, &["Type", "TypeCode"]);
            let kind = str_of(v, "Type").unwrap_or(record_type);
            let code = v.get("TypeCode").and_then(Value::as_u64).unwrap_or(0);
            let (kind, category, reason) = bounce_type(kind, code);
            n.kind = kind;
            n.means(category, reason);
            if kind == NoticeKind::Complaint {
                n.feedback_type = Some("abuse".into());
            } else {
                // "Details" holds the receiving server's reply.
                affected.diagnostic = str_of(v, "Details").map(strip_type);
            }
        }
        "Delivery" => {
            n.kind = NoticeKind::Delivery;
            n.date = str_of(v, "DeliveredAt").and_then(iso_to_rfc3339);
            n.event_id = Some(format!("{message}:delivery:{}", affected.address));
            n.label = label(v, &["RecordType"]);
            n.means(Category::Delivered, Reason::Delivered);
            affected.diagnostic = text(v, "Details");
        }
        "SubscriptionChange" => {
            // Only a suppression says something; a reactivation does not.
            if v.get("SuppressSending").and_then(Value::as_bool) != Some(true) {
                return Parsed::Ignored;
            }
            let changed = text(v, "ChangedAt").unwrap_or_default();
            n.date = iso_to_rfc3339(&changed);
            n.event_id = Some(format!(
                "{message}:subscription:{}:{changed}",
                affected.address
            ));
            n.label = label(v, &["RecordType", "SuppressionReason", "Origin"]);
            match str_of(v, "SuppressionReason").unwrap_or("") {
                "HardBounce" => {
                    n.kind = NoticeKind::Failure;
                    n.means(Category::Hard, Reason::Undefined);
                }
                "SpamComplaint" => {
                    n.kind = NoticeKind::Complaint;
                    n.feedback_type = Some("abuse".into());
                    n.means(Category::Complaint, Reason::Feedback);
                }
                _ => {
                    n.kind = NoticeKind::Unsubscribe;
                    n.means(Category::Unsubscribe, Reason::Unsubscribe);
                }
            }
        }
        _ => return Parsed::Ignored,
    }
    n.affected.push(affected);
    Parsed::Notice(Box::new(n))
}

/// Postmark's bounce types (by name, else by TypeCode).
fn bounce_type(name: &str, code: u64) -> (NoticeKind, Category, Reason) {
    use NoticeKind::*;
    match (name, code) {
        ("HardBounce", _) | (_, 1) => (Failure, Category::Hard, Reason::Undefined),
        ("Transient", _) | (_, 2) => (Delay, Category::Delayed, Reason::Delayed),
        ("Unsubscribe", _) | (_, 16) => (Unsubscribe, Category::Unsubscribe, Reason::Unsubscribe),
        ("Subscribe", _) | (_, 32) => (Other, Category::Subscribe, Reason::Subscribe),
        ("AutoResponder", _) | (_, 64) => (Other, Category::Autoreply, Reason::Vacation),
        ("AddressChange", _) | (_, 128) => (Other, Category::AddressChange, Reason::HasMoved),
        ("DnsError", _) | (_, 256) => (Failure, Category::Soft, Reason::NetworkError),
        ("SpamNotification", _) | (_, 512) => (Failure, Category::Blocked, Reason::SpamDetected),
        ("SoftBounce", _) | (_, 4096) => (Failure, Category::Soft, Reason::Undefined),
        ("VirusNotification", _) | (_, 8192) => (Failure, Category::Virus, Reason::VirusDetected),
        ("ChallengeVerification", _) | (_, 16384) => {
            (Other, Category::Challenge, Reason::Challenge)
        }
        ("BadEmailAddress", _) | (_, 100_000) => (Failure, Category::Hard, Reason::UserUnknown),
        ("SpamComplaint", _) | (_, 100_001) => (Complaint, Category::Complaint, Reason::Feedback),
        ("Blocked", _) | (_, 100_006) => (Failure, Category::Blocked, Reason::Blocked),
        ("DMARCPolicy", _) | (_, 100_009) => (Failure, Category::Blocked, Reason::AuthFailure),
        _ => (Failure, Category::Undetermined, Reason::Undefined),
    }
}
