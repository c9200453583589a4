//! Notices that arrive inside another message and are read as if they had
//! come by themselves: qmail's double bounce, what Mailman's bounce
//! processor passes on, a colleague's inline forward. The record keeps the
//! outer message's identity. (A notice attached whole under another
//! tool's subject is read where the MIME tree is walked: `attached.rs`.)

use super::super::address;
use super::super::parser::{PARSER, bounced_bounce, without_blank_lead};
use super::super::person;
use super::super::report::Report;
use super::analyze_one;
use mail_parser::PartType;

/// The report of a message, or of the notice it carries.
pub(super) fn read(bytes: &[u8], subscriber_header: &str) -> Report {
    let outer = analyze_one(bytes, subscriber_header);
    let subject = outer.subject.trim();
    // qmail's double bounce has its fixed subject; nothing else is looked at.
    let inner = if subject.eq_ignore_ascii_case("failure notice") {
        bounced_bounce(bytes).map(<[u8]>::to_vec)
    } else if subject.eq_ignore_ascii_case("uncaught bounce notification")
        && outer.deliveries.is_empty()
        && outer.feedback_type.is_none()
    {
        // Mailman passes a list's owner what its bounce processor could not
        // read, attached whole: most often an auto-reply. It is read as if
        // it had come on its own.
        forwarded_message(bytes)
    } else {
        None
    };
    let Some(inner) = inner else {
        // A notice a colleague forwarded inline: read as the notice (the
        // forward's own words may give a reason but name nobody).
        if outer.deliveries.iter().all(|d| d.recipient.is_none())
            && outer.feedback_type.is_none()
            && let Some(notice) =
                super::super::forwarded::inline_notice(bytes, subject, &outer.to, &outer.from)
        {
            let mut report = analyze_one(&notice, subscriber_header);
            let names_someone = report.deliveries.iter().any(|d| d.recipient.is_some());
            if names_someone
                || outer.deliveries.is_empty()
                    && (!report.deliveries.is_empty() || person::answered_automatically(&report))
            {
                report.message_id = outer.message_id;
                report.date = outer.date;
                return report;
            }
        }
        return outer;
    };
    let mut report = analyze_one(&inner, subscriber_header);
    // The bounce that bounced was about one of our own addresses (a
    // subscriber's reply to a no-reply address, returned to the subscriber,
    // whose address then failed): the failure that matters is the outer
    // one, the subscriber's.
    let ours = |address: &str| {
        address::share_a_domain(address, &outer.from) || address::share_a_domain(address, &outer.to)
    };
    let inner_about_us = !report.deliveries.is_empty()
        && report
            .deliveries
            .iter()
            .all(|d| d.recipient.as_deref().is_some_and(ours));
    let outer_names_another = outer
        .deliveries
        .iter()
        .any(|d| d.recipient.as_deref().is_some_and(|r| !ours(r)));
    if inner_about_us && outer_names_another {
        return outer;
    }
    // The record names the message in the mailbox, not the one inside it.
    report.message_id = outer.message_id;
    report.date = outer.date;
    report
}

/// The first message attached whole (`message/rfc822`), as it was sent.
fn forwarded_message(bytes: &[u8]) -> Option<Vec<u8>> {
    let msg = PARSER.parse(without_blank_lead(bytes))?;
    msg.parts.iter().find_map(|part| match &part.body {
        PartType::Message(inner) => Some(inner.raw_message().to_vec()),
        _ => None,
    })
}
