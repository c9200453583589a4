//! Exim names the address an alias led to and, on the line under it, the
//! address the sender used: "hng@x.org / (generated from helen.ng@x.org)".
//! A one-to-one alias within the organisation reports the address the
//! list holds, as a DSN's Original-Recipient does (`formats::dsn`); a
//! forward to another organisation keeps the mailbox that failed.

use super::formats::is_alias_expansion;
use crate::classify::report::Report;
use crate::classify::text::clean_address;

pub(super) fn report_generating_addresses(report: &mut Report) {
    if !report.body.contains("generated from") {
        return;
    }
    let lines: Vec<&str> = report.body.lines().take(2000).collect();
    for d in &mut report.deliveries {
        let Some(recipient) = d.recipient.clone() else {
            continue;
        };
        if d.original_recipient.is_some() {
            continue;
        }
        let origin = lines.windows(2).find_map(|pair| {
            let named = pair[0].trim().trim_matches(['<', '>']);
            if !named.eq_ignore_ascii_case(&recipient) {
                return None;
            }
            let under = pair[1].trim();
            let inner = under
                .strip_prefix("(generated from ")
                .or_else(|| under.strip_prefix("(ultimately generated from "))?
                .strip_suffix(')')?;
            clean_address(inner)
        });
        if let Some(origin) = origin
            && is_alias_expansion(&origin, &recipient)
        {
            d.original_recipient = d.recipient.replace(origin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::report::Delivery;

    fn report_naming(recipient: &str, body: &str) -> Report {
        let mut report = Report {
            body: body.to_string(),
            ..Report::default()
        };
        report.deliveries.push(Delivery {
            recipient: Some(recipient.to_string()),
            ..Delivery::default()
        });
        report
    }

    #[test]
    fn an_alias_in_the_organisation_reports_the_address_used() {
        let body = "The following address(es) failed:\n\n  hng@club.example.org\n    (generated from helen.ng@club.example.org)\n    mailbox is full: retry timeout exceeded\n";
        let mut report = report_naming("hng@club.example.org", body);
        report_generating_addresses(&mut report);
        let d = &report.deliveries[0];
        assert_eq!(d.recipient.as_deref(), Some("helen.ng@club.example.org"));
        assert_eq!(
            d.original_recipient.as_deref(),
            Some("hng@club.example.org")
        );
    }

    #[test]
    fn a_forward_to_another_organisation_keeps_the_failed_mailbox() {
        let body = "  someone@mail.example.net\n    (generated from alias@club.example.org)\n    550 5.1.1 user unknown\n";
        let mut report = report_naming("someone@mail.example.net", body);
        report_generating_addresses(&mut report);
        assert_eq!(
            report.deliveries[0].recipient.as_deref(),
            Some("someone@mail.example.net")
        );
    }
}
