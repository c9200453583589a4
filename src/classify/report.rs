//! From raw bytes to a [`Report`]: everything the rules look at, gathered
//! once per message. MIME structure comes from mail-parser; the report
//! parts it leaves opaque (delivery-status, feedback-report) and the
//! prose of plain-text bounces are read by our own parsers.

use super::original::{self, Returned};
use super::pattern::Pattern;
use super::text::{clean_address, collapse_ws};
use super::{Delivery, arf, dsn, mta, scan, ses};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use std::sync::LazyLock;

/// Only the headers read as typed values are parsed. Every other header
/// is still listed with its raw text (`headers_raw`, `header_raw` read it
/// from the message by offset), but its value is not decoded: Received
/// chains and the like cost most of the parse and are only ever read raw.
pub(crate) static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_minimal_headers()
        .with_message_ids()
        .default_header_ignore()
});

/// Body text kept per message: reports are short, and rules must not scan
/// megabytes of attachments.
const MAX_TEXT: usize = 256 << 10;

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub message_id: Option<String>,
    pub date: Option<String>,
    pub subject: String,
    pub from: String,
    pub from_address: Option<String>,
    pub to: String,
    pub content_type: String,
    /// `Name: value` lines of the message's own header, unfolded.
    pub headers: String,
    /// The human-readable report, without the returned message.
    pub body: String,
    pub mta: Option<&'static str>,
    pub reporting_mta: Option<String>,
    pub deliveries: Vec<Delivery>,
    pub has_dsn: bool,
    /// The start of the delivery-status part: its extension fields
    /// (`X-PowerMTA-…`) tell which server wrote it.
    pub dsn_head: String,
    pub feedback_type: Option<String>,
    pub feedback_recipients: Vec<String>,
    pub returned: Option<Returned>,
    pub failed_header: Vec<String>,
    /// The message could not be parsed at all (no header found).
    pub unparsable: bool,
    /// The message looks like a delivery report of some kind.
    pub bounce_like: bool,
}

impl Report {
    /// The `kind` rule field: what sort of message this is.
    pub fn kind(&self) -> &'static str {
        if self.feedback_type.is_some() {
            "feedback"
        } else if self.bounce_like {
            "bounce"
        } else {
            "message"
        }
    }
}

#[derive(Default)]
struct Walk {
    text: String,
    html: String,
    dsn: String,
    feedback: String,
    returned: Option<Returned>,
    returned_text: Option<String>,
}

pub fn analyze(bytes: &[u8], subscriber_header: &str) -> Report {
    let mut report = Report::default();
    let Some(msg) = PARSER.parse(bytes) else {
        report.unparsable = true;
        return report;
    };
    read_headers(&msg, &mut report);

    let mut walk = Walk::default();
    visit(&msg, 0, 0, &mut walk, subscriber_header);
    if walk.text.trim().is_empty() && !walk.html.is_empty() {
        walk.text = mail_parser::decoders::html::html_to_text(&walk.html);
    }
    let mut body = std::mem::take(&mut walk.text);
    truncate(&mut body, MAX_TEXT);

    // Plain-text bounces carry the original inline, after a marker line.
    let (report_text, inline_original) = scan::split_original(&body);
    let report_text = report_text.to_string();
    if walk.returned.is_none()
        && let Some(t) = walk.returned_text.as_deref().or(inline_original)
    {
        walk.returned = original::from_header_text(t, subscriber_header);
    }
    report.returned = walk.returned;
    report.body = report_text;

    // RFC 3464 part, or the same fields pasted into the text.
    let dsn_text = if !walk.dsn.is_empty() {
        walk.dsn
    } else if has_inline_dsn(&report.body) {
        report.body.clone()
    } else {
        String::new()
    };
    if !dsn_text.is_empty() {
        report.dsn_head = dsn_text[..floor(&dsn_text, 2048)].to_string();
        let d = dsn::parse(&dsn_text);
        report.has_dsn = !d.deliveries.is_empty();
        report.reporting_mta = d.reporting_mta;
        report.deliveries = d.deliveries;
    }
    if !walk.feedback.is_empty() {
        let f = arf::parse(&walk.feedback);
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

    if !report.has_dsn && report.feedback_type.is_none() {
        apply_ses(&mut report);
    }

    report.mta = mta::detect(&report);
    mta::refine(&mut report);
    report.bounce_like = report.has_dsn
        || !report.failed_header.is_empty()
        || report.content_type.contains("report-type=delivery-status")
        || BOUNCE_SENDER.is_match(&report.from)
        || BOUNCE_SUBJECT.is_match(&report.subject)
        || BOUNCE_INTRO.is_match(&report.body[..report.body.len().min(floor(&report.body, 6000))]);

    // A format name only means something for a report; an ordinary message
    // relayed by Postfix is not a "postfix" bounce.
    if !report.bounce_like && report.feedback_type.is_none() {
        report.mta = None;
    }

    if report.feedback_type.is_none() && report.bounce_like {
        let exclude: Vec<String> = report.from_address.iter().cloned().collect();
        let unlikely = own_addresses(&report);
        let scanned = scan::scan(&report.body, &report.failed_header, &exclude, &unlikely);
        merge(
            &mut report.deliveries,
            scanned,
            report.has_dsn,
            &report.body,
        );
        // A report that names nobody but returns a message sent to one
        // address is about that address, and its prose is the reason.
        if report.deliveries.is_empty()
            && let Some(to) = report
                .returned
                .as_ref()
                .filter(|r| r.to_addresses.len() == 1)
                .and_then(|r| r.original.to.clone())
        {
            let prose = collapse_ws(&report.body);
            if !prose.is_empty() {
                report.deliveries.push(Delivery {
                    recipient: Some(to),
                    diagnostic: Some(super::text::truncate_chars(&prose, 600)),
                    ..Delivery::default()
                });
            }
        }
    }
    // A report that names one SMTP command for the whole session (a
    // transcript, "in reply to RCPT TO command" in the prose) tells it for
    // recipients whose own diagnostic does not.
    // A transcript's "MAIL FROM:<sender>" says nothing about a recipient.
    let report_command =
        if report.bounce_like && report.deliveries.iter().any(|d| d.command.is_none()) {
            scan::find_command(&report.body).filter(|c| c != "MAIL")
        } else {
            None
        };
    let body_lower = if report.deliveries.iter().any(|d| d.command.is_none()) {
        report.body.to_ascii_lowercase()
    } else {
        String::new()
    };
    for d in &mut report.deliveries {
        if let Some(diag) = d.diagnostic.take() {
            scan::fill_from_diagnostic(d, &diag);
        }
        if d.command.is_none() && d.diagnostic.is_some() {
            // A transcript that sent "RCPT TO:<this address>" was refused
            // at that step.
            let asked = d.recipient.as_deref().is_some_and(|r| {
                body_lower.contains(&format!("rcpt to:<{}>", r.to_ascii_lowercase()))
            });
            d.command = if asked {
                Some("RCPT".into())
            } else {
                report_command.clone()
            };
        }
    }
    report
}

fn read_headers(msg: &Message<'_>, report: &mut Report) {
    report.message_id = msg.message_id().map(|s| format!("<{s}>"));
    report.date = msg.date().map(|d| rfc3339_utc(d.to_timestamp()));
    report.subject = msg.subject().map(collapse_ws).unwrap_or_default();
    if let Some(addr) = msg.from().and_then(|a| a.first()) {
        report.from_address = addr.address().and_then(clean_address);
    }
    report.from = msg.header_raw("From").map(collapse_ws).unwrap_or_default();
    report.to = msg.header_raw("To").map(collapse_ws).unwrap_or_default();
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
    let mut headers = String::new();
    for (name, value) in msg.headers_raw() {
        if headers.len() > 64 << 10 {
            break;
        }
        headers.push_str(name);
        headers.push_str(": ");
        let value = value.trim();
        let v = value.as_bytes();
        if memchr::memchr3(b'\n', b'\r', b'\t', v).is_some()
            || memchr::memmem::find(v, b"  ").is_some()
        {
            headers.push_str(&collapse_ws(value));
        } else {
            headers.push_str(value);
        }
        headers.push('\n');
    }
    report.failed_header = msg
        .header_raw("X-Failed-Recipients")
        .map(|v| v.split(',').filter_map(clean_address).collect())
        .unwrap_or_default();
    report.headers = headers;
}

fn content_type_of(part: &mail_parser::MessagePart<'_>) -> (String, String) {
    match part.content_type() {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase(),
        ),
        None => ("text".into(), "plain".into()),
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
    let (ctype, subtype) = content_type_of(part);
    match &part.body {
        PartType::Multipart(children) => {
            for &child in children {
                visit(msg, child as usize, depth + 1, walk, subscriber_header);
            }
        }
        PartType::Message(inner) => {
            // A forwarded bounce: the attached message is itself a delivery
            // report, and the report inside is the one that counts.
            let inner_is_report = walk.dsn.is_empty()
                && inner.content_type().is_some_and(|ct| {
                    ct.ctype().eq_ignore_ascii_case("multipart")
                        && ct
                            .attribute("report-type")
                            .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
                });
            if inner_is_report {
                visit(inner, 0, depth + 1, walk, subscriber_header);
            } else if walk.returned.is_none() {
                walk.returned = Some(original::from_message(inner, subscriber_header));
            }
        }
        _ => {
            let kind = (ctype.as_str(), subtype.as_str());
            match kind {
                ("message", "delivery-status") | ("message", "global-delivery-status") => {
                    append(&mut walk.dsn, &String::from_utf8_lossy(part.contents()));
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
                ("text", "html") => {
                    if let Some(t) = part.text_contents() {
                        append(&mut walk.html, t);
                    }
                }
                // A multipart whose boundary never appears is read as text:
                // the report is still in there.
                ("text", _) | ("", _) | ("multipart", _) => {
                    if let Some(t) = part.text_contents() {
                        append(&mut walk.text, &undeclared_iso2022jp(t));
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

/// Japanese reports are often ISO-2022-JP without saying so (a 7-bit
/// charset that passes for ASCII): decode them when the escape sequences
/// are there, so the rules see the words.
fn undeclared_iso2022jp(text: &str) -> std::borrow::Cow<'_, str> {
    if !(text.contains("\x1b$B") || text.contains("\x1b$@") || text.contains("\x1b(J")) {
        return std::borrow::Cow::Borrowed(text);
    }
    match mail_parser::decoders::charsets::map::charset_decoder(b"iso-2022-jp") {
        Some(decode) => std::borrow::Cow::Owned(decode(text.as_bytes())),
        None => std::borrow::Cow::Borrowed(text),
    }
}

fn append(buf: &mut String, text: &str) {
    if buf.len() >= MAX_TEXT {
        return;
    }
    if !buf.is_empty() {
        buf.push('\n');
    }
    let room = MAX_TEXT - buf.len();
    if text.len() <= room {
        buf.push_str(text);
    } else {
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        buf.push_str(&text[..cut]);
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

fn has_inline_dsn(text: &str) -> bool {
    let lower_has = |needle: &str| {
        text.lines().any(|l| {
            l.as_bytes()
                .get(..needle.len())
                .is_some_and(|b| b.eq_ignore_ascii_case(needle.as_bytes()))
        })
    };
    lower_has("Final-Recipient:") || (lower_has("Original-Recipient:") && lower_has("Status:"))
}

/// Amazon SES notifications carry everything as JSON in the body.
fn apply_ses(report: &mut Report) {
    if !report.body.contains("\"notificationType\"") && !report.body.contains("\"eventType\"") {
        return;
    }
    let Some(n) = ses::parse(&report.body) else {
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

/// Addresses that belong to the sender side and never are the subscriber.
fn own_addresses(report: &Report) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    v.extend(report.from_address.clone());
    v.extend(super::text::addresses_in(&report.to));
    if let Some(r) = &report.returned {
        v.extend(r.original.from.clone());
    }
    v
}

/// Adds what the prose says to what the DSN said: a DSN recipient without a
/// diagnostic takes the prose's; without a DSN the prose is all there is.
fn merge(deliveries: &mut Vec<Delivery>, scanned: Vec<Delivery>, has_dsn: bool, body: &str) {
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
            && let Some(full) = scan::transcript_reply(body, t)
            && full.len() > t.len()
        {
            d.diagnostic = Some(full);
        }
        let weak = d.diagnostic.as_deref().is_none_or(|t| t.len() < 8);
        let Some(s) = found else {
            if weak && let Some(t) = scan::context_of(body, r) {
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

static BOUNCE_SENDER: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)mailer-daemon|postmaster|mail delivery (?:sub)?system|mail administrator|mmdf|\bsmtp gateway|\bdelivery[-_ ]?(?:notification|status)|^\s*<?>?\s*$",
    )
});
static BOUNCE_SUBJECT: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)undeliver|undelivered|delivery (?:status notification|failure|failed|has failed|notification|problem|report)|returned mail|returning message|mail delivery failed|failure notice|non[- ]?delivery|could not be delivered|not delivered|delivery error|bounced|rejected|mail system error|permanent error|delayed mail|warning: could not send|nondeliverable|unable to deliver|message you sent|delivery final failure|notification d'[eé]tat de remise|unzustellbar|non recapitabile|no se puede entregar|error de entrega",
    )
});
static BOUNCE_INTRO: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)this is the qmail-send program|created automatically by mail delivery software|this is the mail system at host|the following addresses had permanent fatal errors|delivery to the following recipients? failed|could not be delivered to one or more|your message (?:could not|couldn't|wasn't|was not) (?:be )?delivered|i'm afraid i wasn't able to deliver|delivery has failed to these recipients|your message did not reach some or all|the original message was received at|this is an automatically generated delivery status notification|unable to deliver (?:your )?message|message delivery failed|permanent error|the error that the other server returned|sorry, we were unable to deliver|undeliverable|smtp error from remote mail server|delivery status notification",
    )
});

fn floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Unix seconds to `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339_utc(t: i64) -> String {
    let (y, m, d) = crate::record::date::civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}
