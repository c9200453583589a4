//! Amazon SES notifications: the JSON that SES (directly or through an SNS
//! topic subscribed by email) sends for bounces, complaints and deliveries,
//! instead of a DSN. Recipients, actions, status codes and the complaint's
//! feedback type are all in the JSON.

use super::report_format::{ReportFormat, ReportParts};
use crate::classify::original::Returned;
use crate::classify::report::{Delivery, Report};
use crate::classify::text::{clean_address, collapse_ws, find_smtp_code, find_status};
use serde_json::Value;

/// The SES format: a notification in the body, or SES's own headers.
pub(crate) struct Ses;

impl ReportFormat for Ses {
    fn name(&self) -> &'static str {
        "amazonses"
    }

    /// Only for a message that carries neither a DSN nor a feedback
    /// report: SES's own bounces to the sender are ordinary DSNs.
    fn read(&self, _parts: &ReportParts<'_>, report: &mut Report) {
        if !report.has_dsn && report.feedback_type.is_none() {
            read_notification(report);
        }
    }

    fn signature(&self) -> Option<&'static str> {
        Some(r"(?m)^X-SES-Outgoing:|^X-AWS-Outgoing|amazonses\.com|^Feedback-ID: .*:amazonses")
    }
}

/// Amazon SES notifications carry everything as JSON in the body.
fn read_notification(report: &mut Report) {
    // In an SNS envelope ("email-json" subscriptions) the SES object is a
    // JSON string, its quotes escaped.
    if ![
        "\"notificationType\"",
        "\"eventType\"",
        "\\\"notificationType\\\"",
    ]
    .iter()
    .any(|key| report.body.contains(key))
    {
        return;
    }
    let Some(n) = parse(&report.body) else {
        return;
    };

    if let Some(t) = n.feedback_type {
        report.feedback_type = Some(t);
        report.feedback_recipients = n.complaint_recipients.clone();
        if n.complaint_recipients.len() > 1 {
            report.deliveries = n
                .complaint_recipients
                .iter()
                .map(|a| Delivery {
                    recipient: Some(a.clone()),
                    ..Delivery::default()
                })
                .collect();
        }
    } else if !n.deliveries.is_empty() {
        report.deliveries = n.deliveries;
        report.has_dsn = true;
    }
    if report.reporting_mta.is_none() {
        report.reporting_mta = n.reporting_mta;
    }
    if report.returned.is_none() && (n.subject.is_some() || n.to.is_some()) {
        let mut r = Returned::default();
        r.original.subject = n.subject;
        r.original.message_id = n.message_id.map(|m| {
            if m.starts_with('<') {
                m
            } else {
                format!("<{m}>")
            }
        });
        r.original.from = n.from;
        r.to_addresses = n.to.iter().cloned().collect();
        r.original.to = n.to;
        report.returned = Some(r);
    }
}

#[derive(Debug, Default)]
pub(crate) struct Notification {
    pub deliveries: Vec<Delivery>,
    pub feedback_type: Option<String>,
    pub complaint_recipients: Vec<String>,
    pub reporting_mta: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The notification in a message body, if there is one.
pub(crate) fn parse(body: &str) -> Option<Notification> {
    let start = match body
        .find("\"notificationType\"")
        .or_else(|| body.find("\"eventType\""))
    {
        Some(at) => body[..at].rfind('{')?,
        // An SNS envelope: the object that holds the SES one in "Message".
        None => body[..body.find("\"Message\"")?].rfind('{')?,
    };
    let value: Value = match serde_json::Deserializer::from_str(&body[start..])
        .into_iter::<Value>()
        .next()
    {
        Some(Ok(v)) => v,
        // Mail relays wrap or cut long lines; read what is still there.
        _ => return salvage(&body[start..]),
    };
    // SNS wraps the SES object as a JSON string in "Message".
    let value = match value.get("Message").and_then(Value::as_str) {
        Some(inner) => serde_json::from_str(inner).ok()?,
        None => value,
    };
    let kind = value
        .get("notificationType")
        .or_else(|| value.get("eventType"))?
        .as_str()?
        .to_ascii_lowercase();
    let mut n = Notification::default();
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if let Some(h) = value.get("mail").and_then(|m| m.get("commonHeaders")) {
        {
            n.subject = str_of(h, "subject").map(|s| collapse_ws(&s));
            n.message_id = str_of(h, "messageId");
            n.from = first_address(h.get("from"));
            n.to = first_address(h.get("to"));
        }
    }
    match kind.as_str() {
        "bounce" => {
            let b = value.get("bounce")?;
            let transient =
                str_of(b, "bounceType").is_some_and(|t| t.eq_ignore_ascii_case("Transient"));
            n.reporting_mta = str_of(b, "reportingMTA").map(|m| strip_type(&m));
            for r in b.get("bouncedRecipients")?.as_array()? {
                let Some(addr) = str_of(r, "emailAddress").and_then(|a| clean_address(&a)) else {
                    continue;
                };
                let diagnostic = str_of(r, "diagnosticCode").map(|d| collapse_ws(&strip_type(&d)));
                let status = str_of(r, "status").and_then(|s| find_status(&s));
                n.deliveries.push(Delivery {
                    recipient: Some(addr),
                    action: str_of(r, "action")
                        .or_else(|| Some(if transient { "delayed" } else { "failed" }.into())),
                    smtp_code: diagnostic.as_deref().and_then(find_smtp_code),
                    status,
                    diagnostic,
                    ..Delivery::default()
                });
            }
        }
        "complaint" => {
            let c = value.get("complaint")?;
            n.feedback_type = Some(
                str_of(c, "complaintFeedbackType")
                    .unwrap_or_else(|| "abuse".into())
                    .to_ascii_lowercase(),
            );
            for r in c.get("complainedRecipients")?.as_array()? {
                if let Some(a) = str_of(r, "emailAddress").and_then(|a| clean_address(&a)) {
                    n.complaint_recipients.push(a);
                }
            }
        }
        "delivery" => {
            let d = value.get("delivery")?;
            let response = str_of(d, "smtpResponse").map(|r| collapse_ws(&r));
            n.reporting_mta = str_of(d, "reportingMTA");
            for r in d.get("recipients")?.as_array()? {
                let Some(addr) = r.as_str().and_then(clean_address) else {
                    continue;
                };
                n.deliveries.push(Delivery {
                    recipient: Some(addr),
                    action: Some("delivered".into()),
                    status: response.as_deref().and_then(find_status),
                    smtp_code: response.as_deref().and_then(find_smtp_code),
                    diagnostic: response.clone(),
                    ..Delivery::default()
                });
            }
        }
        _ => return None,
    }
    Some(n)
}

/// A built-in pattern with ASCII word boundaries. Only notifications whose
/// JSON is broken are read with these, so the plain regex crate serves.
fn builtin(pattern: &str) -> regex::Regex {
    regex::Regex::new(&crate::classify::text::ascii_word_boundaries(pattern))
        .expect("built-in pattern")
}

static RECIPIENT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    builtin(
        r#"\{\s*"emailAddress"\s*:\s*"([^"]+)"(?:\s*,\s*"action"\s*:\s*"([^"]*)")?(?:\s*,\s*"status"\s*:\s*"([^"]*)")?(?:\s*,\s*"diagnosticCode"\s*:\s*"([^"]*)")?"#,
    )
});

static NOTIFICATION_TYPE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| builtin(r#""notificationType"\s*:\s*"(\w+)""#));
static FEEDBACK_TYPE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| builtin(r#""complaintFeedbackType"\s*:\s*"([^"]+)""#));

/// Field-by-field reading of a notification whose JSON is broken.
fn salvage(text: &str) -> Option<Notification> {
    let kind = NOTIFICATION_TYPE.captures(text)?[1].to_ascii_lowercase();
    let mut n = Notification::default();
    for c in RECIPIENT.captures_iter(text) {
        let Some(addr) = clean_address(&c[1]) else {
            continue;
        };
        match kind.as_str() {
            "complaint" => n.complaint_recipients.push(addr),
            "bounce" => {
                let diagnostic = c.get(4).map(|d| collapse_ws(&strip_type(d.as_str())));
                n.deliveries.push(Delivery {
                    recipient: Some(addr),
                    action: Some(c.get(2).map_or("failed", |a| a.as_str()).to_string()),
                    status: c.get(3).and_then(|s| find_status(s.as_str())),
                    smtp_code: diagnostic.as_deref().and_then(find_smtp_code),
                    diagnostic,
                    ..Delivery::default()
                });
            }
            _ => {}
        }
    }
    if kind == "complaint" {
        let t = FEEDBACK_TYPE
            .captures(text)
            .map(|c| c[1].to_ascii_lowercase());
        n.feedback_type = Some(t.unwrap_or_else(|| "abuse".into()));
    }
    (!n.deliveries.is_empty() || !n.complaint_recipients.is_empty()).then_some(n)
}

fn first_address(v: Option<&Value>) -> Option<String> {
    v?.as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|s| crate::classify::text::addresses_in(s).next())
}

fn strip_type(s: &str) -> String {
    match s.split_once(';') {
        Some((t, rest)) if !t.contains(' ') => rest.trim().to_string(),
        _ => s.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bounce_and_complaint() {
        let b = super::parse(r#"x {"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"a@Example.com","action":"failed","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}]},"mail":{"commonHeaders":{"to":["a@example.com"],"subject":"hi"}}} trailing"#).unwrap();
        assert_eq!(b.deliveries[0].recipient.as_deref(), Some("a@example.com"));
        assert_eq!(b.deliveries[0].smtp_code, Some(550));
        assert_eq!(
            b.deliveries[0].diagnostic.as_deref(),
            Some("550 5.1.1 user unknown")
        );
        let c = super::parse(r#"{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"c@example.com"}],"complaintFeedbackType":"abuse"}}"#).unwrap();
        assert_eq!(c.complaint_recipients, vec!["c@example.com"]);
        assert!(super::parse("no json here").is_none());
        let envelope = r#"{
  "Type" : "Notification",
  "TopicArn" : "arn:aws:sns:eu-west-1:1:ses",
  "Message" : "{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",\"bouncedRecipients\":[{\"emailAddress\":\"e@example.com\",\"action\":\"failed\",\"status\":\"5.1.1\"}]}}",
  "Timestamp" : "2024-05-25T13:08:32.517Z"
}"#;
        let e = super::parse(envelope).unwrap();
        assert_eq!(e.deliveries[0].recipient.as_deref(), Some("e@example.com"));
        // A relay cut the line: the recipient is still read.
        let cut = super::parse("{\"notificationType\":\"Bounce\",\"bounce\":{\"bouncedRecipients\":[{\"emailAddress\":\"d@example.com\",\"action\":\"failed\",\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 no\"}],\"feedb\n rest").unwrap();
        assert_eq!(
            cut.deliveries[0].recipient.as_deref(),
            Some("d@example.com")
        );
        assert_eq!(cut.deliveries[0].status.as_deref(), Some("5.1.1"));
    }
}
