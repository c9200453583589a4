//! ESP events (bclassify(1), ESP EVENTS): the JSON that Amazon SES,
//! SendGrid, Postmark, Mailgun, SparkPost, Mailjet, Brevo and Postal post
//! to webhooks or export. [`JsonItems`] cuts an input into single events;
//! [`parse`] tells the provider from an event's shape and reads it into a
//! [`Notice`], one file per provider.

mod brevo;
mod items;
mod mailgun;
mod mailjet;
mod postal;
mod postmark;
mod sendgrid;
mod ses;
mod sparkpost;

pub use items::JsonItems;

use crate::stream::notice::{Notice, unix_to_rfc3339};
use serde_json::Value;

/// What one event is.
#[derive(Debug)]
pub enum Parsed {
    /// An event about delivery to one or more addresses.
    Notice(Box<Notice>),
    /// An event of a known provider that says nothing about delivery
    /// (sent, opened, clicked, …): it gives no record.
    Ignored,
    /// No provider's shape.
    Unknown,
}

/// Reads one event. Err when the bytes are not JSON.
pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let msg = e.to_string();
        let msg = msg
            .rsplit_once(" at line ")
            .map_or(msg.as_str(), |(m, _)| m);
        format!("invalid JSON: {msg}")
    })?;
    Ok(read(&value))
}

/// The provider from the event's shape, then the provider's reader.
pub fn read(v: &Value) -> Parsed {
    let Some(obj) = v.as_object() else {
        return Parsed::Unknown;
    };
    let has = |k: &str| obj.contains_key(k);
    // SNS wraps an SES notification as a JSON string in "Message".
    if let Some(inner) = obj.get("Message").and_then(Value::as_str)
        && (has("TopicArn") || has("Type"))
    {
        if obj.get("Type").and_then(Value::as_str) != Some("Notification") {
            // SubscriptionConfirmation and the like.
            return Parsed::Ignored;
        }
        return match serde_json::from_str::<Value>(inner) {
            Ok(inner) if ses::is_ses(&inner) => ses::read(&inner),
            Ok(inner) if inner.get("notificationType").is_some() => Parsed::Ignored,
            Ok(_) => Parsed::Unknown,
            // "Successfully validated SNS topic for Amazon SES event
            // publishing." and other words of SNS itself.
            Err(_) => Parsed::Ignored,
        };
    }
    if ses::is_ses(v) {
        return ses::read(v);
    }
    if let Some(data) = obj.get("event-data") {
        return mailgun::read(data);
    }
    if let Some(msys) = obj.get("msys") {
        return sparkpost::read(msys);
    }
    if has("RecordType") {
        return postmark::read(v);
    }
    let event = obj.get("event").and_then(Value::as_str).unwrap_or("");
    if has("uuid") && has("payload") {
        return postal::read(v);
    }
    if has("sg_event_id") || has("sg_message_id") || has("smtp-id") {
        return sendgrid::read(v);
    }
    if has("MessageID") || has("Message_GUID") || has("mj_contact_id") || has("mj_campaign_id") {
        return mailjet::read(v);
    }
    if has("message-id") || has("ts_event") || has("ts_epoch") || has("camp_id") {
        return brevo::read(v);
    }
    // The Mailgun events API gives event-data objects without the envelope.
    if !event.is_empty() && (has("delivery-status") || has("log-level") || has("severity")) {
        return mailgun::read(v);
    }
    Parsed::Unknown
}

/// A field as text: a non-empty string, or a number or boolean written out.
pub(super) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A field as a string slice, when it is a string.
pub(super) fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Unix seconds in a number or a string of digits.
pub(super) fn unix_date(v: &Value, key: &str) -> Option<String> {
    let seconds = match v.get(key)? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    // Milliseconds (Brevo's ts_epoch) past the year 5138 in seconds.
    let seconds = if seconds > 1e11 {
        seconds / 1000.0
    } else {
        seconds
    };
    unix_to_rfc3339(seconds)
}

/// `"key": value` pairs of the fields that carry the provider's own
/// verdict, as they stand in the payload, for `evidence`.
pub(super) fn label(v: &Value, keys: &[&str]) -> String {
    let mut out = String::new();
    for k in keys {
        let Some(x) = v.get(*k) else { continue };
        if x.is_null() || x.as_str().is_some_and(|s| s.is_empty()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
        out.push_str(": ");
        let value = serde_json::to_string(x).unwrap_or_default();
        out.push_str(&value[..crate::stream::events::floor(&value, 80)]);
    }
    out
}

/// The largest char boundary at or below `i`.
pub(super) fn floor(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// An SMTP reply text that starts with its code: the code.
pub(super) fn leading_code(text: &str) -> Option<u16> {
    let t = text.trim_start();
    let b = t.as_bytes();
    (b.len() >= 3
        && matches!(b[0], b'2' | b'4' | b'5')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b.get(3).is_none_or(|c| matches!(c, b' ' | b'-')))
    .then(|| t[..3].parse().ok())
    .flatten()
}

/// Drops a DSN diagnostic-type prefix (`smtp; 550 …`, `dns; mx.example`).
pub(crate) fn strip_type(s: &str) -> String {
    match s.split_once(';') {
        Some((t, rest)) if !t.contains(' ') && t.len() < 12 => rest.trim().to_string(),
        _ => s.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_shapes_and_bad_json() {
        assert!(matches!(parse(b"{\"a\":1}"), Ok(Parsed::Unknown)));
        assert!(matches!(parse(b"[1]"), Ok(Parsed::Unknown)));
        assert!(parse(b"{\"a\":").unwrap_err().starts_with("invalid JSON"));
    }

    /// Hostile nesting is an error, not a stack overflow.
    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
        let items: Vec<_> =
            JsonItems::new(deep.as_bytes(), crate::record::Source::default(), 1 << 20).collect();
        assert_eq!(items.len(), 1);
        assert!(parse(&items[0].as_ref().unwrap().bytes).is_err());
    }

    #[test]
    fn sns_housekeeping_gives_nothing() {
        for body in [
            r#"{"Type":"Notification","MessageId":"1","TopicArn":"arn:x","Message":"Successfully validated SNS topic for Amazon SES event publishing."}"#,
            r#"{"Type":"Notification","MessageId":"2","TopicArn":"arn:x","Message":"{\"notificationType\": \"Received\"}"}"#,
            r#"{"Type":"SubscriptionConfirmation","MessageId":"3","TopicArn":"arn:x","Message":"You have chosen to subscribe","SubscribeURL":"https://sns.example/"}"#,
        ] {
            assert!(
                matches!(parse(body.as_bytes()), Ok(Parsed::Ignored)),
                "{body}"
            );
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(leading_code("550 5.1.1 no"), Some(550));
        assert_eq!(leading_code("550-5.1.1 no"), Some(550));
        assert_eq!(leading_code("5501 no"), None);
        assert_eq!(strip_type("smtp; 550 x"), "550 x");
        assert_eq!(strip_type("550 x; y"), "550 x; y");
        let v: Value = serde_json::from_str(r#"{"type":"bounce","n":10,"e":""}"#).unwrap();
        assert_eq!(
            label(&v, &["type", "n", "e", "z"]),
            r#""type": "bounce", "n": 10"#
        );
    }
}
