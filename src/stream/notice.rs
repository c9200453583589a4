//! What an ESP event, an SMTP reply line or a mail-log line says about
//! delivery, in one shape for all of them: who was affected, the status,
//! reply code and text the receiving side gave, and the provider's own
//! label. The classifier decides category and reason from these with the
//! same rules as for mail (bclassify(1), ESP EVENTS).

use crate::record::{Category, Original, Reason};

/// What kind of event the provider says this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoticeKind {
    /// Delivery failed (bounce, block, drop, reject).
    #[default]
    Failure,
    /// Delivery is delayed and still being retried.
    Delay,
    /// Delivered.
    Delivery,
    /// The recipient complained (marked as spam).
    Complaint,
    /// The recipient unsubscribed.
    Unsubscribe,
    /// Something else the provider's type alone says (an auto-reply, a
    /// change of address, a challenge): the label decides.
    Other,
}

/// One affected address with what the receiving side said of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Affected {
    /// As the payload writes it; the classifier cleans it.
    pub address: String,
    /// Enhanced status code (RFC 3463), when the payload has one apart
    /// from the text.
    pub status: Option<String>,
    pub smtp_code: Option<u16>,
    /// The receiving server's reply or the failure text.
    pub diagnostic: Option<String>,
    pub remote_mta: Option<String>,
}

/// One event or log entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notice {
    /// Provider (`ses`, `sendgrid`, …) for ESP events; None for replies
    /// and log lines.
    pub esp: Option<&'static str>,
    /// Which format was read (`sendgrid`, `postfix`, `reply`, …): the
    /// record's `mta`.
    pub format: &'static str,
    /// The provider's id of this event, or the queue id of a log line.
    pub event_id: Option<String>,
    /// What makes this event the same as another delivery of it (the
    /// event id, or the queue id, recipient and time of a log line).
    pub dedup_key: Option<String>,
    /// RFC 3339 UTC.
    pub date: Option<String>,
    pub kind: NoticeKind,
    /// The provider's own words for what happened, as `"key": "value"`
    /// pairs from the payload: evidence when the status and text disagree.
    pub label: String,
    /// What the provider's type means when the event carries neither
    /// status nor text (or they decide nothing).
    pub label_category: Option<Category>,
    pub label_reason: Option<Reason>,
    pub affected: Vec<Affected>,
    pub original: Original,
    pub reporting_mta: Option<String>,
    /// For complaints: the feedback type (`abuse`, …).
    pub feedback_type: Option<String>,
}

impl Notice {
    /// Sets what the label means.
    pub fn means(&mut self, category: Category, reason: Reason) {
        self.label_category = Some(category);
        self.label_reason = Some(reason);
    }
}

/// Unix seconds (with or without a fraction) as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn unix_to_rfc3339(seconds: f64) -> Option<String> {
    if !seconds.is_finite() || !(0.0..=253_402_300_799.0).contains(&seconds) {
        return None;
    }
    let t = seconds.trunc() as i64;
    let (y, m, d) = crate::record::date::civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    ))
}

/// An RFC 3339 / ISO 8601 date in any offset, or `YYYY-MM-DD HH:MM:SS`
/// (taken as UTC), as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso_to_rfc3339(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return unix_to_rfc3339(t.timestamp() as f64);
    }
    let plain = text.get(..19)?;
    let t = chrono::NaiveDateTime::parse_from_str(plain, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(plain, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    unix_to_rfc3339(t.and_utc().timestamp() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            unix_to_rfc3339(1_700_000_000.5).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(unix_to_rfc3339(-1.0), None);
        assert_eq!(
            iso_to_rfc3339("2023-11-14T23:13:20.123+01:00").as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            iso_to_rfc3339("2023-11-14 22:13:20").as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(iso_to_rfc3339("yesterday"), None);
    }
}
