//! A failure notice or auto-reply that a colleague forwarded inline to the
//! bounce mailbox ("FW: Undeliverable: Spring newsletter", "WG:
//! Unzustellbar", "Fwd: Delivery Status Notification"): the mail client
//! writes the notice's header as a block of labelled lines ("From: …",
//! "Von: …", "De : …") under a separator, with the notice's text below,
//! sometimes quoted with '>'. The notice is rebuilt as a message of its
//! own and read as if it had come by itself.
//!
//! Only a notice sent to our own organisation counts: the block's To: is
//! on the domain the forward was sent to. A subscriber who forwards a
//! bounce of their own mail to ask about it ("it came back, did Gordon
//! change his address?") is a person writing, and stays one. When the
//! block's To names no address (Outlook writes the display name alone,
//! "A: Prenotazioni"; some clients leave it out), the forwarder or the
//! notice's sender being on that domain tells the same.

use super::address::addresses_in;
use super::parser::PARSER;

/// The notice a forward carries inline, as message bytes, when the
/// message's subject is a forward's and its text holds a forwarded header
/// block from a mail daemon (or an auto-reply) addressed to the domain of
/// `outer_to` (or, when it names no address, forwarded by `outer_from`
/// or sent by a server on that domain).
pub(super) fn inline_notice(
    bytes: &[u8],
    subject: &str,
    outer_to: &str,
    outer_from: &str,
) -> Option<Vec<u8>> {
    if !is_forward_subject(subject) {
        return None;
    }
    let msg = PARSER.parse(bytes)?;
    // An HTML-only forward is read with its rows and line breaks kept
    // apart, as the notice's own HTML would be.
    let text = match &msg.text_part(0)?.body {
        mail_parser::PartType::Html(html) => super::html::to_text(html).into(),
        _ => msg.body_text(0)?,
    };
    let lines: Vec<&str> = text.lines().collect();
    // A forward of a forward holds several blocks: the notice's is the one
    // from a daemon (or an auto-reply) to us.
    let found = lines.iter().enumerate().find_map(|(i, line)| {
        let (depth, rest) = unquoted(line);
        if label(rest).is_none() || !is_header_block(&lines[i..], depth) {
            return None;
        }
        let (header, end) = read_block(&lines, i);
        let ours = if addresses_in(&header.to).next().is_some() {
            addressed_to_us(&header.to, outer_to)
        } else {
            addressed_to_us(outer_from, outer_to) || addressed_to_us(&header.from, outer_to)
        };
        (ours && is_notice(&header)).then_some((depth, header, end))
    });
    let (depth, header, end) =
        found.or_else(|| attributed_notice(&lines, subject, outer_to, outer_from))?;
    let body: Vec<&str> = lines[end..]
        .iter()
        .map(|line| strip_quotes(line, depth))
        .collect();
    Some(
        format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            header.from,
            header.to,
            header.subject,
            body.join("\r\n")
        )
        .into_bytes(),
    )
}

/// A daemon's notice quoted the way a reply quotes ("On Wed, 20 Mar 2024,
/// Mail Delivery System <mailer-daemon@x> wrote:" over the notice's lines
/// behind '>'), as a help desk's forward ("Fwd: [#T-3391] Mail delivery
/// failed") or a mail client that quotes instead of attaching sends it on:
/// the quoting depth, a header made of the daemon's address and the
/// forward's own subject, and the first quoted line.
/// Only when the forward comes from our own domain or the daemon's notice
/// did: a subscriber quoting a bounce of their own mail is a person
/// writing.
fn attributed_notice(
    lines: &[&str],
    subject: &str,
    outer_to: &str,
    outer_from: &str,
) -> Option<(usize, Header, usize)> {
    const ATTRIBUTION_ENDS: [&str; 12] = [
        "wrote:",
        "schrieb:",
        "a écrit :",
        "a écrit:",
        "escribió:",
        "escreveu:",
        "ha scritto:",
        "schreef:",
        "skrev:",
        "napisał:",
        "napisał(a):",
        "написал:",
    ];
    lines.iter().enumerate().find_map(|(i, line)| {
        let attribution = line.trim();
        if !ATTRIBUTION_ENDS
            .iter()
            .any(|end| attribution.ends_with(end))
        {
            return None;
        }
        let daemon = addresses_in(attribution).find(|a| {
            let local = a.split('@').next().unwrap_or("").to_ascii_lowercase();
            matches!(
                local.as_str(),
                "mailer-daemon" | "mail-daemon" | "mailerdaemon" | "postmaster"
            )
        })?;
        // Apple Mail leaves a blank line under the attribution.
        let first = (i + 1..lines.len()).find(|&n| !lines[n].trim().is_empty())?;
        let depth = unquoted(lines[first]).0;
        if depth == 0
            || !(addressed_to_us(outer_from, outer_to) || addressed_to_us(&daemon, outer_to))
        {
            return None;
        }
        let subject = subject
            .split_once([':', '：'])
            .map_or(subject, |(_, rest)| rest)
            .trim()
            .to_string();
        let header = Header {
            from: daemon,
            to: String::new(),
            subject,
        };
        Some((depth, header, first))
    })
}

/// The fields of the header block at `start`, and the line after it.
fn read_block(lines: &[&str], start: usize) -> (Header, usize) {
    let mut header = Header::default();
    let mut end = start;
    for line in &lines[start..] {
        let (_, rest) = unquoted(line);
        let rest = rest.trim();
        if rest.is_empty() {
            break;
        }
        // HTML text may run the notice's first lines on under its
        // header: a complete block ends at a line that is no field.
        if !header.from.is_empty() && !header.subject.is_empty() && label(rest).is_none() {
            break;
        }
        end += 1;
        let Some((name, value)) = rest.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match field_named(name) {
            Some(Field::From) => header.from = value,
            Some(Field::To) => header.to = value,
            Some(Field::Subject) => header.subject = value,
            _ => {}
        }
    }
    (header, end)
}

#[derive(Default)]
struct Header {
    from: String,
    to: String,
    subject: String,
}

#[derive(PartialEq, Clone, Copy)]
enum Field {
    From,
    To,
    Subject,
    Other,
}

/// "FW:", "Fwd:", "WG:", "TR:", "RV:", "I:", … as mail clients prefix a
/// forward in their languages.
fn is_forward_subject(subject: &str) -> bool {
    let Some((prefix, _)) = subject.trim_start().split_once([':', '：']) else {
        return false;
    };
    let prefix = prefix.trim();
    [
        "fw", "fwd", "wg", "tr", "rv", "i", "enc", "doorst", "vs", "vb", "pd", "转发", "轉寄",
        "転送",
    ]
    .iter()
    .any(|p| prefix.eq_ignore_ascii_case(p))
}

/// The line without its '>' quoting: how many levels, and the rest.
fn unquoted(line: &str) -> (usize, &str) {
    let mut depth = 0;
    let mut rest = line.trim_start();
    while let Some(r) = rest.strip_prefix('>') {
        depth += 1;
        rest = r.trim_start();
    }
    (depth, rest)
}

fn strip_quotes(line: &str, depth: usize) -> &str {
    let mut rest = line;
    for _ in 0..depth {
        match rest.trim_start().strip_prefix('>') {
            Some(r) => rest = r.strip_prefix(' ').unwrap_or(r),
            None => break,
        }
    }
    rest
}

/// The field a forwarded header block's label names, in the languages of
/// Outlook, Gmail, Thunderbird and Apple Mail.
fn label(line: &str) -> Option<Field> {
    field_named(line.split_once(':')?.0)
}

/// The field a label's name (before its colon) stands for.
fn field_named(name: &str) -> Option<Field> {
    let name = name.trim().to_lowercase();
    let field = match name.as_str() {
        "from" | "von" | "de" | "da" | "van" | "od" | "fra" | "från" | "от" | "差出人"
        | "发件人" => Field::From,
        "to" | "an" | "à" | "a" | "aan" | "para" | "do" | "til" | "till" | "кому" | "宛先"
        | "收件人" => Field::To,
        "subject" | "betreff" | "objet" | "asunto" | "oggetto" | "onderwerp" | "assunto"
        | "temat" | "emne" | "ämne" | "тема" | "件名" | "主题" => Field::Subject,
        "date" | "sent" | "gesendet" | "datum" | "envoyé" | "enviado" | "enviado el"
        | "inviato" | "verzonden" | "wysłano" | "cc" | "reply-to" => Field::Other,
        _ => return None,
    };
    Some(field)
}

/// A header block: labelled lines at one quoting, up to a blank line,
/// with a From and a Subject among them (Thunderbird puts the subject
/// first, Outlook last).
fn is_header_block(lines: &[&str], depth: usize) -> bool {
    let fields: Vec<Field> = lines
        .iter()
        .take(8)
        .map(|line| unquoted(line))
        .take_while(|(d, rest)| *d == depth && !rest.trim().is_empty())
        .filter_map(|(_, rest)| label(rest))
        .collect();
    fields.contains(&Field::From) && fields.contains(&Field::Subject)
}

/// The notice went to an address on the domain (or a parent or subdomain
/// of it) the forward was sent to.
fn addressed_to_us(to: &str, outer_to: &str) -> bool {
    super::address::share_a_domain(to, outer_to)
}

/// A mail daemon's notice, or an automatic answer; not a forward of one
/// (a forward of a forward: the notice is in a block further down).
fn is_notice(header: &Header) -> bool {
    if is_forward_subject(&header.subject) {
        return false;
    }
    let from = header.from.to_ascii_lowercase();
    let daemon = [
        "mailer-daemon",
        "postmaster",
        "mail delivery",
        "microsoftexchange",
        "microsoft outlook",
    ]
    .iter()
    .any(|d| from.contains(d));
    daemon
        || super::notice::is_bounce_subject(&header.subject)
        || super::person::is_auto_reply_subject(&header.subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTLOOK: &str = "From: Claire <c.d@events.example.co.uk>\r\nTo: bounces@events.example.co.uk\r\nSubject: FW: Undeliverable: Spring newsletter\r\n\r\nAnother one, please take him off.\r\n\r\nFrom: Microsoft Outlook <MicrosoftExchange329e@events.example.co.uk>\r\nSent: 05 March 2025 14:02\r\nTo: Newsletter <news@events.example.co.uk>\r\nSubject: Undeliverable: Spring newsletter\r\n\r\nDelivery has failed to these recipients or groups:\r\n\r\nj.m@freight.example.co.uk\r\n";

    #[test]
    fn outlook_forward_is_rebuilt() {
        let inner = inline_notice(
            OUTLOOK.as_bytes(),
            "FW: Undeliverable: Spring newsletter",
            "bounces@events.example.co.uk",
            "c.d@events.example.co.uk",
        )
        .unwrap();
        let inner = String::from_utf8(inner).unwrap();
        assert!(inner.starts_with("From: Microsoft Outlook <MicrosoftExchange329e@events.example.co.uk>\r\nTo: Newsletter <news@events.example.co.uk>\r\nSubject: Undeliverable: Spring newsletter\r\n"));
        assert!(inner.contains("\r\n\r\nDelivery has failed to these recipients or groups:\r\n\r\nj.m@freight.example.co.uk"));
    }

    #[test]
    fn quoted_german_block() {
        let mail = "From: S <s@bib.example.de>\r\nTo: rueck@bib.example.de\r\nSubject: WG: Unzustellbar\r\n\r\n> Von: Mail Delivery System <MAILER-DAEMON@mx.bib.example.de>\r\n> An: Rundbrief <rundbrief@bib.example.de>\r\n> Betreff: Unzustellbar\r\n>\r\n> <x@example.org>: host said: 550 5.1.1 unknown\r\n";
        let inner = inline_notice(
            mail.as_bytes(),
            "WG: Unzustellbar",
            "rueck@bib.example.de",
            "s@bib.example.de",
        )
        .unwrap();
        let inner = String::from_utf8(inner).unwrap();
        assert!(inner.contains("\r\n\r\n<x@example.org>: host said: 550 5.1.1 unknown"));
    }

    #[test]
    fn thunderbird_block_starts_with_the_subject() {
        let mail = "From: Ops <ops@birds.example.org>\r\nTo: bounce@birds.example.org\r\nSubject: Fwd: Undelivered Mail Returned to Sender\r\n\r\nfyi\r\n\r\n-------- Forwarded Message --------\r\nSubject: \tUndelivered Mail Returned to Sender\r\nDate: \tWed, 12 Mar 2025 18:44:09 +0100\r\nFrom: \tMail Delivery System <MAILER-DAEMON@mail.birds.example.org>\r\nTo: \tops@birds.example.org\r\n\r\n<h.p@club.example.de>: host said: 550 5.1.1 unknown\r\n";
        let inner = inline_notice(
            mail.as_bytes(),
            "Fwd: Undelivered Mail Returned to Sender",
            "bounce@birds.example.org",
            "ops@birds.example.org",
        )
        .unwrap();
        let inner = String::from_utf8(inner).unwrap();
        assert!(inner.starts_with("From: Mail Delivery System <MAILER-DAEMON@mail.birds.example.org>\r\nTo: ops@birds.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"));
    }

    #[test]
    fn a_subscribers_own_bounce_is_not_ours() {
        let mail = "From: Helen <helen@mail.example.com>\r\nTo: secretary@club.example.org\r\nSubject: Fwd: Delivery Status Notification (Failure)\r\n\r\nDid Gordon change his address?\r\n\r\n---------- Forwarded message ---------\r\nFrom: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\nSubject: Delivery Status Notification (Failure)\r\nTo: <helen@mail.example.com>\r\n\r\n550 5.1.1 user unknown\r\n";
        assert!(
            inline_notice(
                mail.as_bytes(),
                "Fwd: Delivery Status Notification (Failure)",
                "secretary@club.example.org",
                "helen@mail.example.com"
            )
            .is_none()
        );
        assert!(
            inline_notice(
                OUTLOOK.as_bytes(),
                "Undeliverable: Spring newsletter",
                "bounces@events.example.co.uk",
                "c.d@events.example.co.uk"
            )
            .is_none()
        );
    }

    /// Outlook names the notice's To by display name alone: the
    /// colleague who forwards it is on our domain, and so is the server
    /// that sent it; a subscriber's forward with no To stays a person's.
    #[test]
    fn a_block_without_a_to_address_is_ours_through_the_forwarder() {
        let mail = "From: Marco <m.b@hotel.example.it>\r\nTo: crm@hotel.example.it\r\nSubject: I: Undeliverable: Conferma\r\n\r\nvedi sotto\r\n\r\nDa: Microsoft Outlook <postmaster@hotel.example.it>\r\nInviato: 17 novembre 2025 10:02\r\nA: Prenotazioni\r\nOggetto: Undeliverable: Conferma\r\n\r\nYour message to g.f@studio.example.it couldn't be delivered.\r\n";
        for forwarder in ["m.b@hotel.example.it", "someone@elsewhere.example"] {
            let inner = inline_notice(
                mail.as_bytes(),
                "I: Undeliverable: Conferma",
                "crm@hotel.example.it",
                forwarder,
            )
            .unwrap();
            assert!(
                String::from_utf8(inner)
                    .unwrap()
                    .contains("g.f@studio.example.it")
            );
        }
        let theirs = mail.replace("postmaster@hotel.example.it", "postmaster@isp.example.net");
        assert!(
            inline_notice(
                theirs.as_bytes(),
                "I: Undeliverable: Conferma",
                "crm@hotel.example.it",
                "someone@elsewhere.example"
            )
            .is_none()
        );
    }
}
