//! What the bounce tells about the message that bounced: its Message-ID,
//! Subject, From, To and List-Id, and the subscriber it was sent to, from a
//! subscriber-id header, a VERP return path, or List-Unsubscribe; and
//! where a plain-text report's copy of it begins.

use super::pattern::Pattern;
use super::text::{clean_address, collapse_ws};
use crate::record::Original;
use mail_parser::Message;
use std::sync::LazyLock;

/// Lines that end the report and start the copy of the original message.
static ORIGINAL_MARKER: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?ix)^\s*(?:
          -+\s*(?:below\s+this\s+line\s+is\s+a\s+copy\s+of\s+the\s+message
              |this\s+is\s+a\s+copy\s+of\s+the\s+message
              |original\s+message(?:\s+follows)?
              |(?:the\s+)?(?:header|headers)\s+of\s+(?:the\s+)?(?:original|source)\s+(?:message|mail)
              |unsent\s+message\s+follows
              |returned\s+(?:message|mail)
              |start\s+of\s+returned\s+(?:message|mail)
              |message\s+header\s+follows
              |original\s+message\s+header
              |the\s+original\s+message\s+(?:was|is|follows)
              |copy\s+of\s+(?:the\s+)?original\s+message
              |undelivered\s+message\s+(?:follows|headers)
              |included\s+message
              |rejected\s+message(?:\s+\(\d+\s+lines?\))?
              |(?:kopf\s+der\s+)?urspr(?:ü|ue)nglichen?\s+(?:nachricht|e-?mail)
              |message\s+d'origine|mensaje\s+original|messaggio\s+originale
              |元の(?:メッセージ|メール))
        | original\s+message(?:\s+follows)?\s*[:.]?\s*$
        | possibly\s+truncated\s+original\s+message\s+follows
        | original\s+(?:message\s+)?headers?\s*(?:follow|are\s+below)?\s*:?\s*$
        | \|?-+\s*(?:message\s+text|original\s+text|text\s+of\s+(?:the\s+)?message)\s+follows
        | the\s+original\s+message\s+(?:headers?\s+)?(?:was|were|is|follows?)\s*:?\s*$
        | (?:a\s+)?copy\s+of\s+(?:the\s+|your\s+)?(?:original\s+)?message\s+(?:is\s+)?(?:below|follows|attached)
        | (?:the\s+)?(?:original\s+)?message\s+headers?\s+(?:follow|below)
        | -+\s*(?:forwarded|original)\s+message\s*-+
        | content-type:\s*message/(?:rfc822|partial)
        | \*{3,}\s*original\s+message
        )",
    )
});

/// A plain-text bounce split at the line that introduces the pasted
/// original.
pub struct SplitText<'a> {
    /// The report, up to the marker line.
    pub report: &'a str,
    /// What follows the marker line, when there is one.
    pub original: Option<&'a str>,
}

/// Whether a line could be an [`ORIGINAL_MARKER`]: every alternative
/// starts with one of these characters (in either case), or with
/// GroupWise's "Possibly". Most lines of a report start otherwise, and
/// skip the automaton.
fn may_be_marker(line: &str) -> bool {
    let line = line.trim_start();
    line.chars()
        .next()
        .is_some_and(|c| "-|*otacmOTACM".contains(c))
        || line
            .get(..8)
            .is_some_and(|w| w.eq_ignore_ascii_case("possibly"))
}

/// Splits a plain-text bounce into the report and the pasted original.
pub fn split_original(text: &str) -> SplitText<'_> {
    let mut offset = 0;
    let mut after_blank = false;
    for line in text.split_inclusive('\n') {
        if may_be_marker(line) && ORIGINAL_MARKER.is_match(line.trim_end()) {
            return SplitText {
                report: &text[..offset],
                original: Some(&text[offset + line.len()..]),
            };
        }
        // No marker line, but the copy's own header begins after a blank
        // line (AOL's AirMail): the report ends there.
        if after_blank && starts_pasted_header(line) && text[..offset].contains(char::is_alphabetic)
        {
            return SplitText {
                report: &text[..offset],
                original: Some(&text[offset..]),
            };
        }
        after_blank = line.trim().is_empty();
        offset += line.len();
    }
    SplitText {
        report: text,
        original: None,
    }
}

/// The first field of a message's header pasted into a report: a trace
/// field as the sending server wrote it.
fn starts_pasted_header(line: &str) -> bool {
    ["Received: from ", "Return-Path: <"].iter().any(|p| {
        line.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })
}

/// Header values of the returned message, as far as the bounce carries it.
#[derive(Debug, Default, Clone)]
pub struct Returned {
    pub original: Original,
    pub to_addresses: Vec<String>,
    /// Whether the message was also copied to others (Cc).
    pub copied: bool,
    pub subscriber: Option<String>,
    pub return_path: Option<String>,
    pub list_unsubscribe: Option<String>,
    /// The Hotmail user a JMRP complaint is about, as Microsoft writes it
    /// into the complained-of message (`X-HmXmrOriginalRecipient`).
    pub hotmail_recipient: Option<String>,
}

impl Returned {
    /// The one address the returned message was sent to, unless it went
    /// from that address too (a list's post goes From the list To the
    /// list, with the subscribers out of sight) or was copied to others
    /// (a post to one person copied to a list reached the subscriber
    /// through the list).
    pub fn sole_recipient(&self) -> Option<String> {
        let [to] = self.to_addresses.as_slice() else {
            return None;
        };
        if self.copied {
            return None;
        }
        let from = self.original.from.as_deref();
        (!from.is_some_and(|f| f.eq_ignore_ascii_case(to))).then(|| to.clone())
    }
}

/// Whether a message comes from a mail system's own address
/// (MAILER-DAEMON, postmaster, "Mail Delivery System"): a returned message
/// from one is itself a bounce.
pub fn from_a_daemon(msg: &Message<'_>) -> bool {
    msg.from().and_then(|a| a.first()).is_some_and(|a| {
        let local = a.address().and_then(|x| x.split('@').next()).unwrap_or("");
        local.eq_ignore_ascii_case("mailer-daemon")
            || local.eq_ignore_ascii_case("postmaster")
            || a.name()
                .is_some_and(|n| n.to_ascii_lowercase().contains("mail delivery"))
    })
}

pub fn from_message(msg: &Message<'_>, subscriber_header: &str) -> Returned {
    let mut r = Returned::default();
    let o = &mut r.original;
    o.message_id = msg.message_id().map(|s| format!("<{s}>"));
    o.subject = msg.subject().map(collapse_ws);
    o.from = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .and_then(clean_address);
    r.to_addresses = msg
        .to()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.address())
                .filter_map(clean_address)
                .collect()
        })
        .unwrap_or_default();
    o.to = r.to_addresses.first().cloned();
    r.copied = msg
        .cc()
        .is_some_and(|a| a.iter().any(|x| x.address().is_some()));
    o.list_id = msg
        .header_raw("List-Id")
        .map(collapse_ws)
        .filter(|s| !s.is_empty());
    r.subscriber = msg
        .header_raw(subscriber_header)
        .map(collapse_ws)
        .filter(|s| !s.is_empty());
    r.return_path = msg.header_raw("Return-Path").and_then(clean_address);
    r.list_unsubscribe = msg.header_raw("List-Unsubscribe").map(collapse_ws);
    r.hotmail_recipient = msg
        .header_raw("X-HmXmrOriginalRecipient")
        .and_then(clean_address);
    r
}

/// Parses a header block given as text (text/rfc822-headers, or the copy
/// of the message pasted under a plain-text bounce).
pub fn from_header_text(text: &str, subscriber_header: &str) -> Option<Returned> {
    let start = text.lines().position(looks_like_header_line)?;
    // Each line ends in a newline: the parser drops a last field without one.
    let block: String = text
        .lines()
        .skip(start)
        .take(400)
        .flat_map(|l| [l, "\n"])
        .collect();
    let msg = super::parser::PARSER.parse_headers(block.as_bytes())?;
    let r = from_message(&msg, subscriber_header);
    let o = &r.original;
    (o.message_id.is_some() || o.subject.is_some() || o.from.is_some() || o.to.is_some())
        .then_some(r)
}

fn looks_like_header_line(l: &str) -> bool {
    match l.split_once(':') {
        Some((name, _)) => {
            !name.is_empty()
                && name.len() < 40
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }
        None => false,
    }
}

/// `bounces+alice=example.org@lists.example.com` -> `alice@example.org`.
/// A signed return path (btag(1)) gives the address it carries, checked
/// or not: the tag is checked where provenance is (`--tag-key`).
pub fn verp_address(return_path: &str) -> Option<String> {
    if let Some(signed) = crate::tag::decode(return_path) {
        return clean_address(&signed.subscriber);
    }
    let (local, _) = return_path.rsplit_once('@')?;
    // "list-bounces+anne=example.org": the tag follows the first `+`
    // when there is one, the list name may hold `-`.
    let tag = local
        .split_once('+')
        .or_else(|| local.split_once('-'))
        .map(|(_, t)| t)?;
    // ezmlm and its kin number the message: "list-return-1742-anne=example.org";
    // SendGrid adds a short hash after the number: "bounces+1234-ab12-anne=example.org".
    let tag = ["return-", "bounce-", "bounces-", ""]
        .iter()
        .find_map(|word| {
            let rest = tag.strip_prefix(word)?;
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let rest = (digits > 0)
                .then(|| rest[digits..].strip_prefix('-'))
                .flatten()?;
            Some(match rest.split_once('-') {
                Some((hash, after))
                    if hash.len() == 4
                        && hash.bytes().all(|b| b.is_ascii_hexdigit())
                        && after.contains('=') =>
                {
                    after
                }
                _ => rest,
            })
        })
        .unwrap_or(tag);
    let (user, domain) = tag.rsplit_once('=')?;
    if user.is_empty() || !domain.contains('.') {
        return None;
    }
    clean_address(&format!("{user}@{domain}"))
}

/// A subscriber id from a List-Unsubscribe value: a well-known query
/// parameter of the URL, else the tag of the mailto local part.
pub fn list_unsubscribe_id(value: &str) -> Option<String> {
    for part in value.split(',') {
        let uri = part.trim().trim_start_matches('<').trim_end_matches('>');
        if let Some(query) = uri.split_once('?').map(|(_, q)| q) {
            for pair in query.split('&') {
                if let Some((k, v)) = pair.split_once('=') {
                    let k = k.to_ascii_lowercase();
                    if matches!(
                        k.as_str(),
                        "subscriber"
                            | "subscriber_id"
                            | "subscriberid"
                            | "sid"
                            | "uid"
                            | "u"
                            | "id"
                    ) && !v.is_empty()
                        && !uri.starts_with("mailto:")
                    {
                        return Some(v.to_string());
                    }
                }
            }
        }
        if let Some(addr) = uri.strip_prefix("mailto:") {
            let local = addr.split(['@', '?']).next().unwrap_or("");
            if let Some((_, tag)) = local.split_once(['+', '-'])
                && !tag.is_empty()
            {
                return Some(tag.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_markers() {
        let split =
            split_original("report\n--- Below this line is a copy of the message.\n\nSubject: x\n");
        assert_eq!(split.report, "report\n");
        assert_eq!(split.original, Some("\nSubject: x\n"));
        // LISTSERV returns a refused post under a line of its own.
        let split = split_original("refused\n----- Rejected message (62 lines) -----\nFrom: a@b\n");
        assert_eq!(split.original, Some("From: a@b\n"));
        // No marker: the pasted header's first trace field after a blank line.
        let text = "not accepting mail from you:\n\tamy\n\nReceived: from a by b\nTo: amy@x\n";
        let split = split_original(text);
        assert_eq!(split.report, "not accepting mail from you:\n\tamy\n\n");
        assert_eq!(split.original, Some("Received: from a by b\nTo: amy@x\n"));
        let text = "Sorry.\n\nreturn-path: <a@b>\n";
        assert_eq!(split_original(text).original, Some("return-path: <a@b>\n"));
        // A report that is only a pasted header is not cut to nothing.
        assert_eq!(split_original("\nReceived: from a by b\n").original, None);
        // Nor is a trace field inside the report's own paragraph.
        assert_eq!(split_original("Error:\nReceived: from a\n").original, None);
    }

    #[test]
    fn verp() {
        assert_eq!(
            verp_address("bounces+alice=example.org@lists.example.com").as_deref(),
            Some("alice@example.org")
        );
        assert_eq!(verp_address("bounces@lists.example.com"), None);
        assert_eq!(
            verp_address("club-return-1742-marit.oen=example.no@lists.example.org").as_deref(),
            Some("marit.oen@example.no")
        );
        assert_eq!(
            verp_address("bounces+4412077-9f3a-jo.lee=example.net@em.example.com").as_deref(),
            Some("jo.lee@example.net")
        );
        // A local part that only looks like a hash stays whole.
        assert_eq!(
            verp_address("bounces+beef-cake=example.net@lists.example.com").as_deref(),
            Some("beef-cake@example.net")
        );
        // Mailman's list-bounces+tag: the list name's `-` is not the tag's.
        assert_eq!(
            verp_address("team-bounces+anne=example.com@lists.example.com").as_deref(),
            Some("anne@example.com")
        );
        assert_eq!(
            verp_address("bounces-bo=example.net@lists.example.com").as_deref(),
            Some("bo@example.net")
        );
    }

    #[test]
    fn unsubscribe_ids() {
        assert_eq!(
            list_unsubscribe_id("<https://l.example/u?list=3&sid=abc123>, <mailto:x@l.example>")
                .as_deref(),
            Some("abc123")
        );
        assert_eq!(
            list_unsubscribe_id("<mailto:unsub-77f@l.example?subject=unsubscribe>").as_deref(),
            Some("77f")
        );
    }

    #[test]
    fn header_text() {
        let r = from_header_text(
            "junk\nMessage-ID: <x@y>\nSubject: Hi\nTo: A <a@Example.org>\nX-Subscriber-Id: 42\n",
            "X-Subscriber-Id",
        )
        .unwrap();
        assert_eq!(r.original.message_id.as_deref(), Some("<x@y>"));
        assert_eq!(r.original.to.as_deref(), Some("a@example.org"));
        assert_eq!(r.subscriber.as_deref(), Some("42"));
    }

    #[test]
    fn sole_recipient_is_a_subscriber_only_when_alone_and_not_the_sender() {
        let sole = |headers: &str| {
            from_header_text(headers, "X-Subscriber-Id").and_then(|r| r.sole_recipient())
        };
        assert_eq!(
            sole("From: news@l.example\nTo: ann@example.org\n").as_deref(),
            Some("ann@example.org")
        );
        assert_eq!(
            sole("From: news@l.example\nTo: News <news@l.example>\n"),
            None
        );
        assert_eq!(
            sole("From: bob@example.net\nTo: ann@example.org\nCc: list@l.example\n"),
            None
        );
        assert_eq!(
            sole("From: news@l.example\nTo: ann@example.org, cy@example.org\n"),
            None
        );
    }
}
