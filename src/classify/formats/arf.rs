//! ARF (RFC 5965), the abuse reporting format: the
//! `message/feedback-report` part of an abuse or complaint report (a
//! feedback loop). The affected subscriber is `Original-Rcpt-To`, else the
//! `To` of the returned message.

use super::dsn::{HeaderField, fields};
use super::report_format::{Recognition, ReportFormat, ReportParts};
use crate::classify::report::{Delivery, Report};
use crate::classify::text::clean_address;

/// The ARF format: the feedback-report part.
pub(crate) struct Arf;

impl ReportFormat for Arf {
    fn name(&self) -> &'static str {
        "arf"
    }

    fn read(&self, parts: &ReportParts<'_>, report: &mut Report) {
        if parts.feedback_report.is_empty() {
            return;
        }
        let f = parse(parts.feedback_report);
        report.feedback_type = f.feedback_type.or(Some("abuse".into()));
        report.feedback_recipients = f.rcpt_to;
        // A complaint about a message sent to several subscribers names
        // each of them (one Original-Rcpt-To per address).
        if report.deliveries.is_empty() && report.feedback_recipients.len() > 1 {
            report.deliveries = report
                .feedback_recipients
                .iter()
                .map(|a| Delivery {
                    recipient: Some(a.clone()),
                    ..Delivery::default()
                })
                .collect();
        }
        if report.reporting_mta.is_none() {
            report.reporting_mta = f.reporting_mta;
        }
    }

    /// A feedback report is one whatever server sent it.
    fn recognizes(&self, report: &Report) -> Recognition {
        if report.feedback_type.is_some() {
            Recognition::Certain
        } else {
            Recognition::No
        }
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct FeedbackReport {
    pub feedback_type: Option<String>,
    pub rcpt_to: Vec<String>,
    pub mail_from: Option<String>,
    pub source_ip: Option<String>,
    pub reporting_mta: Option<String>,
}

pub(crate) fn parse(text: &str) -> FeedbackReport {
    let mut r = FeedbackReport::default();
    for HeaderField { name, value } in fields(text) {
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
