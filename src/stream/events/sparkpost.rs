//! SparkPost webhooks: arrays of `{"msys": {"<class>_event": {…}}}`.
//! message_event bounce and out_of_band (with SparkPost's bounce_class),
//! policy_rejection, delay, delivery, spam_complaint; unsubscribe_event.

use super::{Parsed, label, str_of, text, unix_date};
use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind};
use serde_json::Value;

pub(super) fn read(msys: &Value) -> Parsed {
    let Some(events) = msys.as_object() else {
        return Parsed::Unknown;
    };
    // SparkPost's test ping is `{"msys": {}}`.
    let Some((class, e)) = events.iter().next() else {
        return Parsed::Ignored;
    };
    let kind = str_of(e, "type").unwrap_or("");
    let mut n = Notice {
        esp: Some("sparkpost"),
        format: "sparkpost",
        event_id: text(e, "event_id"),
        date: unix_date(e, "timestamp"),
        ..Notice::default()
    };
    n.original.message_id = text(e, "message_id");
    n.original.subject = text(e, "subject");
    n.original.from = text(e, "msg_from").or_else(|| text(e, "friendly_from"));
    let mut affected = Affected {
        address: text(e, "rcpt_to")
            .or_else(|| text(e, "raw_rcpt_to"))
            .unwrap_or_default(),
        ..Affected::default()
    };
    let reply = |a: &mut Affected| {
        a.diagnostic = text(e, "raw_reason").or_else(|| text(e, "reason"));
        a.smtp_code = text(e, "error_code").and_then(|c| c.parse().ok());
    };
    match (class.as_str(), kind) {
        ("message_event", "bounce" | "out_of_band" | "policy_rejection") => {
            n.label = label(e, &["type", "bounce_class"]);
            let code = text(e, "bounce_class")
                .and_then(|c| c.parse::<u32>().ok())
                .unwrap_or(1);
            let (kind, category, reason) = bounce_class(code);
            n.kind = kind;
            n.means(category, reason);
            if kind == NoticeKind::Failure {
                reply(&mut affected);
            }
        }
        ("message_event", "delay") => {
            n.kind = NoticeKind::Delay;
            n.label = label(e, &["type", "num_retries"]);
            n.means(Category::Delayed, Reason::Delayed);
            reply(&mut affected);
        }
        ("message_event", "delivery") => {
            n.kind = NoticeKind::Delivery;
            n.label = label(e, &["type"]);
            n.means(Category::Delivered, Reason::Delivered);
        }
        ("message_event", "spam_complaint") => {
            n.kind = NoticeKind::Complaint;
            n.label = label(e, &["type", "fbtype"]);
            n.feedback_type = Some(text(e, "fbtype").unwrap_or_else(|| "abuse".into()));
            n.means(Category::Complaint, Reason::Feedback);
        }
        ("unsubscribe_event", _) => {
            n.kind = NoticeKind::Unsubscribe;
            n.label = label(e, &["type"]);
            n.means(Category::Unsubscribe, Reason::Unsubscribe);
        }
        _ => return Parsed::Ignored,
    }
    n.affected.push(affected);
    Parsed::Notice(Box::new(n))
}

/// SparkPost's bounce classification codes and their documented
/// categories (hard, soft, block, admin, undetermined).
fn bounce_class(code: u32) -> (NoticeKind, Category, Reason) {
    use NoticeKind::*;
    match code {
        10 => (Failure, Category::Hard, Reason::UserUnknown),
        25 | 30 => (Failure, Category::Hard, Reason::Undefined),
        20 | 40 | 70 => (Failure, Category::Soft, Reason::Undefined),
        21 => (Failure, Category::Soft, Reason::NetworkError),
        22 => (Failure, Category::Soft, Reason::MailboxFull),
        23 => (Failure, Category::Soft, Reason::MesgTooBig),
        24 => (Failure, Category::Soft, Reason::Expired),
        26 => (Failure, Category::Failed, Reason::Undefined),
        50 | 51 => (Failure, Category::Blocked, Reason::Blocked),
        52 => (Failure, Category::Blocked, Reason::SpamDetected),
        53 => (Failure, Category::Blocked, Reason::ContentError),
        54 => (Failure, Category::Blocked, Reason::NoRelaying),
        60 => (Other, Category::Autoreply, Reason::Vacation),
        80 => (Other, Category::Subscribe, Reason::Subscribe),
        90 => (Unsubscribe, Category::Unsubscribe, Reason::Unsubscribe),
        100 => (Other, Category::Challenge, Reason::Challenge),
        _ => (Failure, Category::Undetermined, Reason::Undefined),
    }
}
