//! From raw bytes to a [`Report`]: everything the rules look at, gathered
//! once per message. MIME structure comes from mail-parser; the report
//! parts it leaves opaque (delivery-status, feedback-report) are read by
//! the report formats (`formats`), in their order, and the prose of
//! plain-text bounces by `prose`.

use super::aggregate;
use super::diagnostic;
use super::formats::{self, ReportParts};
use super::html;
use super::notice;
use super::original::{self, Returned};
use super::parser::{
    PARSER, iso2022kr_header, iso2022kr_part, misdeclared_utf8, undeclared_iso2022jp,
    undeclared_utf8, without_blank_lead,
};
use super::person;
use super::prose;
use super::report::{Delivery, Report};
use super::text::{clean_address, collapse_ws, composed, floor_char_boundary, truncate_chars};
use mail_parser::{HeaderName, Message, MimeHeaders, PartType};
use std::cell::OnceCell;

mod aliases;
mod attached;
mod wrapped;

/// What the message says: its headers, the report formats' parts, the
/// prose of the report and the returned original; a notice that came
/// inside another message is read as itself. Never fails: a message that
/// cannot be parsed gives a report marked `unparsable`.
pub fn analyze(bytes: &[u8], subscriber_header: &str) -> Report {
    wrapped::read(bytes, subscriber_header)
}

/// Body text kept per message: reports are short, and rules must not scan
/// megabytes of attachments.
const MAX_TEXT: usize = 256 << 10;

#[derive(Default)]
struct Walk {
    text: String,
    html: String,
    dsn: String,
    feedback: String,
    mdn: String,
    returned: Option<Returned>,
    returned_text: Option<String>,
    aggregate: Option<crate::record::AggregateReport>,
    /// Attachments tried as aggregate reports (a few at most).
    aggregate_tries: u8,
    /// Inside a message attached to the one parsed, whose parts' offsets
    /// do not index the bytes its `raw_message` gives.
    nested: bool,
    /// A mail system's notice attached whole was read.
    attached_notice: bool,
}

fn analyze_one(bytes: &[u8], subscriber_header: &str) -> Report {
    let mut report = Report::default();
    let Some(msg) = PARSER.parse(without_blank_lead(bytes)) else {
        report.unparsable = true;
        return report;
    };
    read_headers(&msg, &mut report);
    let mut walk = Walk::default();
    visit(&msg, 0, 0, &mut walk, subscriber_header);
    read_text(&mut walk, &mut report, subscriber_header);

    let parts = ReportParts {
        delivery_status: &walk.dsn,
        feedback_report: &walk.feedback,
        disposition_notification: &walk.mdn,
    };
    formats::read(&parts, &mut report);
    report.mta = formats::name(&report);
    let from_a_daemon = notice::from_a_daemon(&report);
    report.bounce_like =
        notice::is_bounce_like(&report) && !person::written_by_a_person(&report, from_a_daemon);
    if report.kind() == "message" {
        report.quoted_to = person::quoted_to(&report);
        report.body = person::own_words(&report.body);
    }
    // A format name only means something for a report; an ordinary message
    // relayed by Postfix is not a "postfix" bounce.
    if !report.bounce_like && report.feedback_type.is_none() {
        report.mta = None;
    }
    report.aggregate = walk.aggregate.take();
    if let Some(a) = &report.aggregate {
        report.mta = Some(if a.kind == "dmarc" { "dmarc" } else { "tlsrpt" });
    }
    // The prose lower-cased, made at most once: both steps below look
    // addresses up in it, and most reports need neither.
    let body_lower = OnceCell::new();
    if report.feedback_type.is_none() && report.bounce_like && report.aggregate.is_none() {
        read_prose(&mut report, &body_lower);
    }
    fill_commands(&mut report, &body_lower);
    report
}

/// The report's text, without the returned message, and the returned
/// message (a part of its own, or inline after a marker line).
fn read_text(walk: &mut Walk, report: &mut Report, subscriber_header: &str) {
    // A short plain part with no address and no reply code beside an HTML
    // one is a pointer to it ("Please view this message in HTML").
    let placeholder = walk.text.trim().len() < 400
        && !walk.text.contains('@')
        && super::text::find_smtp_code(&walk.text).is_none();
    if placeholder && !walk.html.is_empty() {
        // Some MTAs label a plain-text notice text/html; read as HTML its
        // lines would run together.
        walk.text = if html::looks_like_html(&walk.html) {
            html::to_text(&walk.html)
        } else {
            std::mem::take(&mut walk.html)
        };
    }
    let mut body = std::mem::take(&mut walk.text);
    truncate(&mut body, MAX_TEXT);
    // A notice saved with CRLF line ends reads as the same notice with LF:
    // paragraphs end at "\n\n" wherever the text is searched.
    if body.contains('\r') {
        body = body.replace("\r\n", "\n");
    }
    // Only a reply's or forward's text is looked at for a quote: most
    // messages are reports, and the look reads the whole text.
    report.quotes = person::replying_subject(&report.subject) && person::quotes_a_message(&body);

    // Plain-text bounces carry the original inline, after a marker line.
    let split = original::split_original(&body);
    let report_text = split.report.to_string();
    if walk.returned.is_none()
        && let Some(t) = walk.returned_text.as_deref().or(split.original)
    {
        walk.returned = original::from_header_text(t, subscriber_header);
    }
    report.returned = walk.returned.take();
    report.attached_notice = walk.attached_notice;
    report.body = report_text;
}

/// The recipients and diagnostics the prose of a bounce gives, added to
/// what the report formats read.
fn read_prose(report: &mut Report, body_lower: &OnceCell<String>) {
    let mut exclude: Vec<String> = report.from_address.iter().cloned().collect();
    // The mailbox a notice came to is ours. A notice in no MTA's format
    // that returns nothing and names only its own addressee ("news@…, 3
    // messages could not be delivered to your inbox") is about that
    // mailbox, not a subscriber: most often a phishing lure, which may copy
    // a known format's words. A report with a DSN or the returned message
    // may name it (a message sent to oneself), and so may a known format's
    // from our own domain's server.
    if report.returned.is_none()
        && !report.has_dsn
        && (report.mta.is_none() || !from_our_domain(report))
    {
        exclude.extend(super::text::addresses_in(&report.to));
    }
    let unlikely = own_addresses(report);
    name_local_delivery(report);
    // A DSN that names every recipient with a diagnostic of its own leaves
    // the prose nothing to add but the SMTP command, which `fill_commands`
    // reads from the report as a whole; most bounces are such DSNs, and the
    // scan is the dearest step of reading one.
    let complete = report.has_dsn
        && !report.deliveries.is_empty()
        && report.deliveries.iter().all(|d| {
            d.recipient.is_some() && d.diagnostic.as_deref().is_some_and(|t| t.len() >= 8)
        });
    let paragraphs = if complete {
        recipient_paragraphs(&report.body, body_lower, &report.deliveries)
    } else {
        None
    };
    let scanned = if let Some(paragraphs) = paragraphs {
        // Each recipient's refusal in the prose ("<x>: … (in reply to MAIL
        // FROM command)") tells the step its DSN leaves out.
        for (d, paragraph) in report.deliveries.iter_mut().zip(paragraphs) {
            if d.command.is_none() {
                d.command = diagnostic::find_replied_command(paragraph);
            }
            if let Some(longer) = d
                .diagnostic
                .as_deref()
                .and_then(|t| diagnostic::continued_in(paragraph, t))
            {
                d.diagnostic = Some(longer);
            }
        }
        Vec::new()
    } else {
        prose::scan(&report.body, &report.failed_header, &exclude, &unlikely)
    };
    merge(
        &mut report.deliveries,
        scanned,
        report.has_dsn,
        &report.body,
    );
    aliases::report_generating_addresses(report);
    // A DSN that quotes only the first line of a multi-line reply: the
    // transcript in the prose has the rest.
    for d in &mut report.deliveries {
        if let Some(longer) = d
            .diagnostic
            .as_deref()
            .and_then(|t| diagnostic::reply_continued_in(&report.body, t))
        {
            d.diagnostic = Some(longer);
        }
    }
    if report.deliveries.is_empty() {
        report.deliveries = super::screen_names::deliveries(report);
    }
    // A report that names nobody but returns a message sent to one
    // address is about that address, and its prose is the reason.
    // One that names nobody at all still gives its prose as the reason, so
    // the wording decides the record's reason even without an address.
    if report.deliveries.is_empty() {
        let to = report
            .returned
            .as_ref()
            .and_then(|r| r.sole_recipient())
            .filter(|to| !unlikely.iter().any(|u| u.eq_ignore_ascii_case(to)));
        let prose = collapse_ws(&report.body);
        if !prose.is_empty() {
            report.deliveries.push(Delivery {
                recipient: to,
                diagnostic: Some(truncate_chars(&prose, 600)),
                ..Delivery::default()
            });
        }
    }
}

/// Whether the notice's sender is on the domain (or a parent or subdomain
/// of it) of an address it was sent to.
fn from_our_domain(report: &Report) -> bool {
    report
        .from_address
        .as_deref()
        .is_some_and(|from| super::address::share_a_domain(from, &report.to))
}

/// Exim's DSN names a pipe or a file as the Final-Recipient of a local
/// delivery ("|/usr/bin/filter", "/var/mail/x"), which is no address; its
/// X-Failed-Recipients header names the address. With one of each, they
/// are the same delivery, and the prose about that address is its reason.
fn name_local_delivery(report: &mut Report) {
    let [failed] = report.failed_header.as_slice() else {
        return;
    };
    let failed = failed.clone();
    let named = report.deliveries.iter().any(|d| {
        d.recipient
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(&failed))
    });
    let unnamed: Vec<usize> = (0..report.deliveries.len())
        .filter(|&i| report.deliveries[i].recipient.is_none())
        .collect();
    if let [only] = unnamed.as_slice()
        && !named
    {
        report.deliveries[*only].recipient = Some(failed);
    }
}

/// The SMTP command each delivery was refused at, and the status and reply
/// code its diagnostic gives.
fn fill_commands(report: &mut Report, body_lower: &OnceCell<String>) {
    // A report that names one SMTP command for the whole session (a
    // transcript, "in reply to RCPT TO command" in the prose) tells it for
    // recipients whose own diagnostic does not.
    // A transcript's "MAIL FROM:<sender>" says nothing about a recipient.
    // Searched for only when a delivery's own diagnostic names no command:
    // the body is the longest text the command pattern would read.
    let report_command: OnceCell<Option<String>> = OnceCell::new();
    let body = &report.body;
    let bounce_like = report.bounce_like;
    for d in &mut report.deliveries {
        if let Some(diag) = d.diagnostic.take() {
            diagnostic::fill_from_diagnostic(d, &diag);
        }
        if d.command.is_none() && d.diagnostic.is_some() {
            // A transcript that sent "RCPT TO:<this address>" was refused
            // at that step.
            let asked = d.recipient.as_deref().is_some_and(|r| {
                body_lower
                    .get_or_init(|| body.to_ascii_lowercase())
                    .contains(&format!("rcpt to:<{}>", r.to_ascii_lowercase()))
            });
            d.command = if asked {
                Some("RCPT".into())
            } else if bounce_like {
                report_command
                    .get_or_init(|| diagnostic::find_command(body).filter(|c| c != "MAIL"))
                    .clone()
            } else {
                None
            };
        }
    }
}

/// A header field's raw value, whitespace collapsed. Raw 8-bit text
/// (a name in Latin-1, common in old mail) is read lossily: an empty From
/// would pass for a null sender, the mark of a bounce.
fn raw_header_lossy(msg: &Message<'_>, name: HeaderName<'static>) -> String {
    let Some(raw) = msg
        .parts
        .first()
        .and_then(|p| p.headers.iter().rev().find(|h| h.name == name))
        .and_then(|h| {
            msg.raw_message
                .get(h.offset_start as usize..h.offset_end as usize)
        })
    else {
        return String::new();
    };
    match std::str::from_utf8(raw) {
        Ok(text) => collapse_ws(text),
        Err(_) => collapse_ws(&String::from_utf8_lossy(raw)),
    }
}

fn read_headers(msg: &Message<'_>, report: &mut Report) {
    report.message_id = msg.message_id().map(|s| format!("<{s}>"));
    report.date = msg
        .date()
        .map(|d| crate::record::date::rfc3339_utc(d.to_timestamp()));
    report.subject = msg
        .subject()
        .map(|s| {
            // Only a subject mail-parser could not decode is read again.
            let korean = s
                .contains('\u{FFFD}')
                .then(|| iso2022kr_header(&raw_header_lossy(msg, HeaderName::Subject)))
                .flatten();
            collapse_ws(&composed(korean.as_deref().unwrap_or(s)))
        })
        .unwrap_or_default();
    report.from = raw_header_lossy(msg, HeaderName::From);
    // "Wagner, Markus <m@x>" with the comma unquoted parses as two
    // entries, the first without an address: the one with it is the sender.
    report.from_address = msg
        .from()
        .and_then(|list| {
            list.iter()
                .find_map(|a| a.address().and_then(clean_address))
        })
        .or_else(|| super::text::addresses_in(&report.from).next());
    report.to = raw_header_lossy(msg, HeaderName::To);
    if let Some(ct) = msg.content_type() {
        report.content_type = match ct.subtype() {
            Some(s) => format!("{}/{}", ct.ctype(), s),
            None => ct.ctype().to_string(),
        }
        .to_ascii_lowercase();
        if let Some(rt) = ct.attribute("report-type") {
            report.content_type.push_str("; report-type=");
            report.content_type.push_str(&rt.to_ascii_lowercase());
        }
    }
    report.headers.clear();
    report.header_spans.clear();
    for (name, value) in msg.headers_raw() {
        if report.headers.len() > 64 << 10 {
            break;
        }
        let value = value.trim();
        let v = value.as_bytes();
        if memchr::memchr3(b'\n', b'\r', b'\t', v).is_some()
            || memchr::memmem::find(v, b"  ").is_some()
        {
            report.push_header(name, &collapse_ws(value));
        } else {
            report.push_header(name, value);
        }
    }
    report.failed_header = msg
        .header_raw("X-Failed-Recipients")
        .map(|v| v.split(',').filter_map(clean_address).collect())
        .unwrap_or_default();
}

/// A part's media type and subtype, lower-cased (`text/plain` when it
/// declares none).
struct MediaType {
    kind: String,
    subtype: String,
}

fn media_type_of(part: &mail_parser::MessagePart<'_>) -> MediaType {
    match part.content_type() {
        Some(ct) => MediaType {
            kind: ct.ctype().to_ascii_lowercase(),
            subtype: ct.subtype().unwrap_or("").to_ascii_lowercase(),
        },
        None => MediaType {
            kind: "text".into(),
            subtype: "plain".into(),
        },
    }
}

/// Depth-first over the MIME tree, collecting report text and the typed
/// report parts; a returned message is recorded, not descended into.
fn visit(msg: &Message<'_>, id: usize, depth: usize, walk: &mut Walk, subscriber_header: &str) {
    let Some(part) = msg.parts.get(id) else {
        return;
    };
    if depth > 64 {
        return;
    }
    let media_type = media_type_of(part);
    match &part.body {
        PartType::Multipart(children) => {
            for &child in children {
                visit(msg, child as usize, depth + 1, walk, subscriber_header);
            }
        }
        PartType::Message(inner) => {
            attached::visit_attached(msg, inner, depth, walk, subscriber_header)
        }
        // A notice saved as a file and attached as bytes ("bounce.eml").
        _ if media_type.subtype == "octet-stream"
            && part
                .attachment_name()
                .is_some_and(|n| n.to_ascii_lowercase().ends_with(".eml")) =>
        {
            if let Some(inner) = super::parser::PARSER.parse(part.contents()) {
                attached::visit_attached(msg, &inner, depth, walk, subscriber_header);
            }
        }
        _ if walk.aggregate.is_none()
            && walk.aggregate_tries < 4
            && aggregate::is_candidate(
                &media_type.kind,
                &media_type.subtype,
                part.attachment_name(),
            )
            && {
                walk.aggregate_tries += 1;
                walk.aggregate = aggregate::read(part.contents());
                walk.aggregate.is_some()
            } => {}
        _ => {
            let kind = (media_type.kind.as_str(), media_type.subtype.as_str());
            match kind {
                ("message", "delivery-status") | ("message", "global-delivery-status") => {
                    append(&mut walk.dsn, &String::from_utf8_lossy(part.contents()));
                }
                ("message", "disposition-notification")
                | ("message", "global-disposition-notification") => {
                    append(&mut walk.mdn, &String::from_utf8_lossy(part.contents()));
                }
                ("message", "feedback-report") => {
                    append(
                        &mut walk.feedback,
                        &String::from_utf8_lossy(part.contents()),
                    );
                }
                ("text", "rfc822-headers")
                | ("message", "rfc822-headers")
                | ("message", "global-headers")
                | ("message", "rfc822")
                | ("message", "global")
                    if walk.returned_text.is_none() =>
                {
                    walk.returned_text =
                        Some(String::from_utf8_lossy(part.contents()).into_owned());
                }
                ("application" | "text", "xml") if walk.dsn.is_empty() => {
                    let xml = String::from_utf8_lossy(part.contents());
                    if let Some(dsn) = formats::pec::daticert_delivery_status(&xml) {
                        walk.dsn = dsn;
                    }
                }
                ("text", "html") => {
                    if let Some(t) = part.text_contents() {
                        append(&mut walk.html, &composed(t));
                    }
                }
                // A multipart whose boundary never appears is read as text:
                // the report is still in there.
                ("text", _) | ("", _) | ("multipart", _) => {
                    let utf8 = (!walk.nested).then(|| undeclared_utf8(msg, part)).flatten();
                    let korean = (!walk.nested && utf8.is_none())
                        .then(|| iso2022kr_part(msg, part))
                        .flatten();
                    let read_as_utf8 = utf8.is_some() || korean.is_some();
                    if let Some(t) = utf8.or(korean.as_deref()).or_else(|| part.text_contents()) {
                        let repaired = (!read_as_utf8).then(|| misdeclared_utf8(part, t)).flatten();
                        let t = repaired.as_deref().unwrap_or(t);
                        if walk.feedback.is_empty() && !walk.nested && is_plain_feedback_report(t) {
                            append(&mut walk.feedback, t);
                        }
                        append(&mut walk.text, &composed(&undeclared_iso2022jp(t)));
                    } else {
                        append(
                            &mut walk.text,
                            &undeclared_iso2022jp(&String::from_utf8_lossy(part.contents())),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

/// A feedback report sent as plain text: a home-grown feedback loop that
/// wraps RFC 5965's fields in multipart/mixed, or labels its report part
/// text/plain. Its "Feedback-Type:" stands at the start of a line with
/// "Version:" or "User-Agent:", as in a message/feedback-report part.
fn is_plain_feedback_report(text: &str) -> bool {
    let bytes = text.as_bytes();
    if memchr::memmem::find(bytes, b"eedback-").is_none()
        && memchr::memmem::find(bytes, b"EEDBACK-").is_none()
    {
        return false;
    }
    let (mut feedback_type, mut report_field) = (false, false);
    for line in text.lines().take(200) {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "feedback-type" => feedback_type = true,
            "version" | "user-agent" => report_field = true,
            _ => {}
        }
    }
    feedback_type && report_field
}

fn append(buf: &mut String, text: &str) {
    if buf.len() >= MAX_TEXT {
        return;
    }
    if !buf.is_empty() {
        buf.push('\n');
    }
    buf.push_str(&text[..floor_char_boundary(text, MAX_TEXT - buf.len())]);
}

fn truncate(s: &mut String, max: usize) {
    s.truncate(floor_char_boundary(s, max));
}

/// Addresses that belong to the sender side and never are the subscriber.
fn own_addresses(report: &Report) -> Vec<String> {
    let mut v: Vec<String> = report.from_address.iter().cloned().collect();
    v.extend(report.our_addresses());
    v
}

/// Adds what the prose says to what the DSN said: a DSN recipient without a
/// diagnostic takes the prose's; without a DSN the prose is all there is.
fn merge(deliveries: &mut Vec<Delivery>, scanned: Vec<Delivery>, has_dsn: bool, body: &str) {
    // A report that names no one (an MDN without Final-Recipient, a DSN
    // block without a recipient field) is about the one address its prose
    // names.
    if let [only] = deliveries.as_mut_slice()
        && only.recipient.is_none()
        && let [named] = scanned.as_slice()
    {
        only.recipient = named.recipient.clone();
    }
    if !has_dsn {
        if deliveries.is_empty() {
            *deliveries = scanned;
        }
        return;
    }
    for d in deliveries.iter_mut() {
        let Some(r) = d.recipient.as_deref() else {
            continue;
        };
        let found = scanned.iter().find(|s| {
            s.recipient
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(r))
                || d.original_recipient.as_deref().is_some_and(|o| {
                    s.recipient
                        .as_deref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(o))
                })
        });
        // A multi-line reply the DSN cut after its first line.
        if let Some(t) = d.diagnostic.as_deref()
            && t.len() > 4
            && t.as_bytes()[3] == b'-'
            && let Some(full) = diagnostic::transcript_reply(body, t)
            && full.len() > t.len()
        {
            d.diagnostic = Some(full);
        }
        let weak = d.diagnostic.as_deref().is_none_or(|t| t.len() < 8);
        let Some(s) = found else {
            if weak && let Some(t) = prose::context_of(body, r) {
                d.diagnostic = Some(t);
            }
            continue;
        };
        if weak && s.diagnostic.is_some() {
            d.diagnostic = s.diagnostic.clone();
            d.smtp_code = d.smtp_code.or(s.smtp_code);
        }
        d.command = d.command.take().or(s.command.clone());
    }
}

/// For each delivery, the prose paragraph that names its recipient (from
/// the address to the next blank line); the whole prose for a report of
/// one recipient. None when a recipient of several is not in the prose.
fn recipient_paragraphs<'a>(
    body: &'a str,
    body_lower: &OnceCell<String>,
    deliveries: &[Delivery],
) -> Option<Vec<&'a str>> {
    if deliveries.len() == 1 {
        return Some(vec![body]);
    }
    let lower = body_lower.get_or_init(|| body.to_ascii_lowercase());
    deliveries
        .iter()
        .map(|d| {
            let recipient = d.recipient.as_deref()?.to_ascii_lowercase();
            let at = lower.find(&recipient)?;
            let end = lower[at..].find("\n\n").map_or(body.len(), |i| at + i);
            body.get(at..end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::classify::html::looks_like_html;
    use crate::classify::parser::without_blank_lead;

    #[test]
    fn blank_lines_before_a_header_are_skipped() {
        assert_eq!(
            without_blank_lead(b"   \n\r\nFrom: a@b\n\nx"),
            b"From: a@b\n\nx"
        );
        // A message with no header stays as it is.
        assert_eq!(without_blank_lead(b"\nbody text\n"), b"\nbody text\n");
        assert_eq!(without_blank_lead(b"From: a@b\n"), b"From: a@b\n");
        assert_eq!(without_blank_lead(b"  \n"), b"  \n");
    }

    #[test]
    fn markup_is_told_from_a_plain_notice_labelled_html() {
        assert!(looks_like_html("<HTML><body>x</body></HTML>"));
        assert!(looks_like_html("text<br>more"));
        assert!(looks_like_html("<!-- note -->"));
        assert!(looks_like_html("a </b> c"));
        assert!(!looks_like_html("To: <peter@example.org>\nSubject: x"));
        assert!(!looks_like_html(
            "I'm afraid I wasn't able to deliver the following message."
        ));
        assert!(!looks_like_html("trailing <"));
    }
}
