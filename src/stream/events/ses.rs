//! Amazon SES notifications (through SNS, `notificationType`) and event
//! publishing (`eventType`): Bounce, Complaint, Delivery, DeliveryDelay,
//! Reject. Other event types (Send, Open, Click, …) say nothing about
//! delivery.

use super::{Parsed, label, str_of, strip_type, text};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind, iso_to_rfc3339};
use serde_json::Value;

pub(super) fn is_ses(v: &Value) -> bool {
    (v.get("notificationType").is_some() || v.get("eventType").is_some()) && v.get("mail").is_some()
}

pub(super) fn read(v: &Value) -> Parsed {
    let kind = str_of(v, "notificationType")
        .or_else(|| str_of(v, "eventType"))
        .unwrap_or("");
    let mail = v.get("mail").unwrap_or(&Value::Null);
    let mut n = Notice {
        esp: Some("ses"),
        format: "amazonses",
        ..Notice::default()
    };
    let headers = mail.get("commonHeaders").unwrap_or(&Value::Null);
    n.original.message_id = text(headers, "messageId").map(|m| {
        if m.starts_with('<') {
            m
        } else {
            format!("<{m}>")
        }
    });
    n.original.subject = text(headers, "subject");
    n.original.from = first(headers.get("from")).or_else(|| text(mail, "source"));
    n.original.to = first(headers.get("to"));
    let ses_id = text(mail, "messageId").unwrap_or_default();
    let type_key = if v.get("notificationType").is_some() {
        "notificationType"
    } else {
        "eventType"
    };
    match kind.to_ascii_lowercase().as_str() {
        "bounce" => {
            let Some(b) = v.get("bounce") else {
                return Parsed::Unknown;
            };
            n.kind = NoticeKind::Failure;
            n.event_id = text(b, "feedbackId");
            n.date = str_of(b, "timestamp").and_then(iso_to_rfc3339);
            n.reporting_mta = str_of(b, "reportingMTA").map(strip_type);
            n.label = label(b, &["bounceType", "bounceSubType"]);
            let (category, reason) = bounce_meaning(
                str_of(b, "bounceType").unwrap_or(""),
                str_of(b, "bounceSubType").unwrap_or(""),
            );
            n.means(category, reason);
            n.affected = recipients_with_status(list(b, "bouncedRecipients"));
        }
        "complaint" => {
            let Some(c) = v.get("complaint") else {
                return Parsed::Unknown;
            };
            n.kind = NoticeKind::Complaint;
            n.event_id = text(c, "feedbackId");
            n.date = str_of(c, "timestamp").and_then(iso_to_rfc3339);
            n.feedback_type = Some(
                text(c, "complaintFeedbackType")
                    .unwrap_or_else(|| "abuse".into())
                    .to_ascii_lowercase(),
            );
            n.label = label(c, &["complaintFeedbackType", "complaintSubType"]);
            n.means(Category::Complaint, Reason::Feedback);
            n.affected = addresses(list(c, "complainedRecipients"));
        }
        "delivery" => {
            let Some(d) = v.get("delivery") else {
                return Parsed::Unknown;
            };
            n.kind = NoticeKind::Delivery;
            n.date = str_of(d, "timestamp").and_then(iso_to_rfc3339);
            n.event_id = Some(format!("{ses_id}:delivery"));
            n.reporting_mta = text(d, "reportingMTA");
            n.label = format!("\"{type_key}\": \"{kind}\"");
            n.means(Category::Delivered, Reason::Delivered);
            let response = text(d, "smtpResponse");
            for r in list(d, "recipients") {
                if let Some(address) = r.as_str() {
                    n.affected.push(Affected {
                        address: address.to_string(),
                        diagnostic: response.clone(),
                        remote_mta: text(d, "remoteMtaIp"),
                        ..Affected::default()
                    });
                }
            }
        }
        "deliverydelay" => {
            let Some(d) = v.get("deliveryDelay") else {
                return Parsed::Unknown;
            };
            n.kind = NoticeKind::Delay;
            let stamp = text(d, "timestamp").unwrap_or_default();
            n.date = iso_to_rfc3339(&stamp);
            n.event_id = Some(format!("{ses_id}:delay:{stamp}"));
            n.reporting_mta = str_of(d, "reportingMTA").map(strip_type);
            n.label = label(d, &["delayType"]);
            n.means(Category::Delayed, Reason::Delayed);
            n.affected = recipients_with_status(list(d, "delayedRecipients"));
        }
        "reject" => {
            // SES found a virus and did not send the message.
            let r = v.get("reject").unwrap_or(&Value::Null);
            n.kind = NoticeKind::Failure;
            n.date = str_of(mail, "timestamp").and_then(iso_to_rfc3339);
            n.event_id = Some(format!("{ses_id}:reject"));
            n.label = format!("\"{type_key}\": \"{kind}\", {}", label(r, &["reason"]));
            n.means(Category::Virus, Reason::VirusDetected);
            n.affected = list(mail, "destination")
                .filter_map(Value::as_str)
                .map(|a| Affected {
                    address: a.to_string(),
                    ..Affected::default()
                })
                .collect();
        }
        _ => return Parsed::Ignored,
    }
    Parsed::Notice(Box::new(n))
}

/// What SES's bounce type and subtype mean (SES's documented list).
fn bounce_meaning(kind: &str, subtype: &str) -> (Category, Reason) {
    match (kind, subtype) {
        ("Permanent", "NoEmail") => (Category::Hard, Reason::UserUnknown),
        ("Permanent", _) => (Category::Hard, Reason::Undefined),
        ("Transient", "MailboxFull") => (Category::Soft, Reason::MailboxFull),
        ("Transient", "MessageTooLarge") => (Category::Soft, Reason::MesgTooBig),
        ("Transient", "ContentRejected" | "AttachmentRejected") => {
            (Category::Blocked, Reason::ContentError)
        }
        ("Transient", _) => (Category::Soft, Reason::Undefined),
        _ => (Category::Undetermined, Reason::Undefined),
    }
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter())
        .into_iter()
        .flatten()
}

fn addresses<'a>(items: impl Iterator<Item = &'a Value>) -> Vec<Affected> {
    items
        .filter_map(|r| text(r, "emailAddress"))
        .map(|address| Affected {
            address,
            ..Affected::default()
        })
        .collect()
}

fn first(v: Option<&Value>) -> Option<String> {
    v?.as_array()?
        .iter()
        .find_map(Value::as_str)
        .map(str::to_string)
}

/// SES's `bouncedRecipients` / `delayedRecipients`: each address with its
/// status and diagnostic.
fn recipients_with_status<'a>(recipients: impl Iterator<Item = &'a Value>) -> Vec<Affected> {
    recipients
        .filter_map(|r| {
            Some(Affected {
                address: text(r, "emailAddress")?,
                status: text(r, "status"),
                diagnostic: str_of(r, "diagnosticCode").map(strip_type),
                ..Affected::default()
            })
        })
        .collect()
}
