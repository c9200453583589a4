//! GNU Mailman's notice that a post awaits moderator approval (Mailman 2's
//! `postheld.txt`, Mailman 3's `list:user:notice:hold`): "Your mail to
//! 'List' with the subject … Is being held until the list moderator can
//! review it for approval." It reaches a sender whose list of subscribers
//! holds a mailing list's address. Nothing failed yet: the list is the
//! recipient and the delivery waits, so the notice is a delay about the
//! list's address, not a message of unknown meaning.

use super::report_format::{Recognition, ReportFormat, ReportParts};
use crate::classify::report::{Delivery, Report};
use crate::classify::text::{clean_address, collapse_ws};

pub(crate) struct MailmanHold;

/// How the notice's body says the post waits: Mailman's own template, and
/// the shorter wording of translated or site-edited ones.
const HELD: [&str; 3] = [
    "is being held until the list moderator can review it for approval",
    "held for moderator approval",
    "held for moderation",
];
const REASON_LEADS: [&str; 2] = [
    "the reason it is being held:",
    "the message is being held because:",
];

impl ReportFormat for MailmanHold {
    fn name(&self) -> &'static str {
        "mailman"
    }

    fn read(&self, parts: &ReportParts<'_>, report: &mut Report) {
        if report.has_dsn || !parts.feedback_report.is_empty() || !is_hold_notice(report) {
            return;
        }
        let Some(list) = list_address(report) else {
            return;
        };
        let body = collapse_ws(&report.body);
        let lower = body.to_ascii_lowercase();
        let reason = REASON_LEADS.iter().find_map(|lead| {
            let at = lower.find(lead)? + lead.len();
            let rest = body[at..].trim();
            // The reason is one line; the notice goes on with its advice.
            let end = rest
                .find("Either the message")
                .or_else(|| rest.find(". "))
                .unwrap_or(rest.len());
            Some(rest[..end].trim().to_string()).filter(|r| !r.is_empty())
        });
        report.deliveries = vec![Delivery {
            recipient: Some(list),
            action: Some("delayed".into()),
            diagnostic: reason,
            ..Delivery::default()
        }];
    }

    fn recognizes(&self, report: &Report) -> Recognition {
        if !report.has_dsn && is_hold_notice(report) {
            Recognition::Certain
        } else {
            Recognition::No
        }
    }
}

fn is_hold_notice(report: &Report) -> bool {
    let subject = report.subject.to_ascii_lowercase();
    subject.starts_with("your message to ")
        && subject.trim_end().ends_with("awaits moderator approval")
        && {
            let body = collapse_ws(&report.body).to_ascii_lowercase();
            HELD.iter().any(|held| body.contains(held))
        }
}

/// The list's posting address: Mailman 3 names it in the subject; Mailman
/// 2 in X-BeenThere, and its notice comes from the list's `-owner` or
/// `-bounces` address.
fn list_address(report: &Report) -> Option<String> {
    let named = report
        .subject
        .get("your message to ".len()..)
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|word| word.contains('@'))
        .and_then(clean_address);
    named
        .or_else(|| report.header("X-BeenThere").and_then(clean_address))
        .or_else(|| {
            let from = report.from_address.as_deref()?;
            let (local, domain) = from.rsplit_once('@')?;
            let list = local
                .strip_suffix("-owner")
                .or_else(|| local.strip_suffix("-bounces"))?;
            clean_address(&format!("{list}@{domain}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(subject: &str, from: &str, body: &str) -> Report {
        Report {
            subject: subject.into(),
            from_address: Some(from.into()),
            body: body.into(),
            ..Report::default()
        }
    }

    const MAILMAN2: &str = "Your mail to 'Birds' with the subject\n\n    Spring walk\n\nIs being held until the list moderator can review it for approval.\n\nThe reason it is being held:\n\n    Post by non-member to a members-only list\n\nEither the message will get posted to the list, or you will receive\nnotification of the moderator's decision.";

    #[test]
    fn a_held_post_is_a_delay_for_the_list() {
        let mut r = notice(
            "Your message to Birds awaits moderator approval",
            "birds-owner@lists.example.org",
            MAILMAN2,
        );
        MailmanHold.read(&ReportParts::default(), &mut r);
        let d = &r.deliveries[0];
        assert_eq!(d.recipient.as_deref(), Some("birds@lists.example.org"));
        assert_eq!(d.action.as_deref(), Some("delayed"));
        assert_eq!(
            d.diagnostic.as_deref(),
            Some("Post by non-member to a members-only list")
        );
        assert_eq!(MailmanHold.recognizes(&r), Recognition::Certain);

        let mut three = notice(
            "Your message to ant@example.com awaits moderator approval",
            "ant-owner@example.com",
            "Your mail to 'ant@example.com' with the subject\n\n    x\n\nIs being held until the list moderator can review it for approval.\n\nThe message is being held because:\n\n    Message has implicit destination\n",
        );
        MailmanHold.read(&ReportParts::default(), &mut three);
        assert_eq!(
            three.deliveries[0].recipient.as_deref(),
            Some("ant@example.com")
        );
    }

    #[test]
    fn talk_about_moderation_is_no_notice() {
        let mut r = notice(
            "Re: Your message to Birds awaits moderator approval",
            "anna@example.net",
            "Why was it held? Is being held until the list moderator can review it for approval, they said.",
        );
        MailmanHold.read(&ReportParts::default(), &mut r);
        assert!(r.deliveries.is_empty());
    }

    #[test]
    fn a_shorter_hold_wording_is_read_too() {
        let mut r = notice(
            "Your message to pta@lists.example.org.uk awaits moderator approval",
            "pta-owner@lists.example.org.uk",
            "Your message to the pta@lists.example.org.uk mailing-list was held for moderator\napproval.\n\nThe reason it is being held:\n\n    The message is not from a list member\n\nEither the message will get posted to the list, or you will receive\nnotification of the moderator's decision.",
        );
        MailmanHold.read(&ReportParts::default(), &mut r);
        let d = &r.deliveries[0];
        assert_eq!(d.recipient.as_deref(), Some("pta@lists.example.org.uk"));
        assert_eq!(d.action.as_deref(), Some("delayed"));
        assert_eq!(
            d.diagnostic.as_deref(),
            Some("The message is not from a list member")
        );
    }
}
