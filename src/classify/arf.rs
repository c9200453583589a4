//! RFC 5965 feedback reports: the `message/feedback-report` part of an
//! abuse or complaint report (a feedback loop). The affected subscriber is
//! `Original-Rcpt-To`, else the `To` of the returned message.

use super::dsn::fields;
use super::text::clean_address;

#[derive(Debug, Default, Clone)]
pub struct FeedbackReport {
    pub feedback_type: Option<String>,
    pub rcpt_to: Vec<String>,
    pub mail_from: Option<String>,
    pub source_ip: Option<String>,
    pub reporting_mta: Option<String>,
}

pub fn parse(text: &str) -> FeedbackReport {
    let mut r = FeedbackReport::default();
    for (name, value) in fields(text) {
        match name.as_str() {
            "feedback-type" => {
                let t = value
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if !t.is_empty() {
                    r.feedback_type = Some(t);
                }
            }
            "original-rcpt-to" | "removal-recipient" => {
                if let Some(a) = clean_address(&value)
                    && !r.rcpt_to.contains(&a)
                {
                    r.rcpt_to.push(a);
                }
            }
            "original-mail-from" => r.mail_from = clean_address(&value),
            "source-ip" => r.source_ip = Some(value.trim().to_string()),
            "reporting-mta" => {
                r.reporting_mta = Some(
                    value
                        .split_once(';')
                        .map_or(value.as_str(), |(_, v)| v)
                        .trim()
                        .to_string(),
                )
            }
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_fields() {
        let r = super::parse(
            "Feedback-Type: abuse\nUser-Agent: x/1\nVersion: 1\nOriginal-Rcpt-To: <u@Example.net>\nSource-IP: 192.0.2.1\n",
        );
        assert_eq!(r.feedback_type.as_deref(), Some("abuse"));
        assert_eq!(r.rcpt_to, vec!["u@example.net"]);
    }
}
