//! Mail a person wrote about a report: a colleague's "RE: Undeliverable:
//! …", a subscriber's "Fwd: Warning: message delayed". The report it
//! quotes was not sent to us, so it says nothing about the quoted address,
//! and the words above the quote are the person's.

use super::pattern::Pattern;
use super::report::Report;
use std::sync::LazyLock;

/// Whether the message is a person's reply to a report or forward of one:
/// a reply's or forward's subject, the quote a mail client writes, no
/// report of its own, and nothing in the header that marks a program
/// (RFC 3834's Auto-Submitted and the older conventions). A server that
/// answers with "Re:" and In-Reply-To (Apache James) quotes nothing.
pub fn written_by_a_person(report: &Report, from_a_daemon: bool) -> bool {
    let replying = || {
        report.header_values("in-reply-to").next().is_some()
            || report.header_values("references").next().is_some()
    };
    (report.quotes || composed_in_a_mail_client(report) && report.returned.is_none())
        && !from_a_daemon
        && !report.has_report_structure()
        && report.feedback_type.is_none()
        && match PERSON_SUBJECT.captures(&report.subject) {
            Some(c) => c.get(1).is_some() || replying(),
            None => false,
        }
        && !sent_automatically(report)
}

/// Whether the message names a mail client people write with as its
/// agent (User-Agent, X-Mailer): a reply from one that quotes nothing ("my
/// first email came back with 550 user unknown, I am writing again") is
/// still a person's. Servers that write reports name no such client.
fn composed_in_a_mail_client(report: &Report) -> bool {
    const CLIENTS: [&str; 16] = [
        "thunderbird",
        "microsoft outlook",
        "apple mail",
        "iphone mail",
        "ipad mail",
        "ymailnorrin",
        "yahoomail",
        "roundcube",
        "squirrelmail",
        "horde",
        "em client",
        "evolution",
        "kmail",
        "mutt",
        "mailbird",
        "the bat!",
    ];
    report
        .header_values("user-agent")
        .chain(report.header_values("x-mailer"))
        .any(|agent| {
            let agent = agent.to_ascii_lowercase();
            CLIENTS.iter().any(|client| agent.contains(client))
        })
}

/// Whether the header or the subject marks an automatic answer from a
/// mailbox (RFC 3834's `auto-replied`, the older auto-reply fields, the
/// reply an Exchange inbox rule writes, "Automatic reply:"). Its words
/// about mail that "came back as undeliverable" are its author's news, not
/// a report.
pub fn answered_automatically(report: &Report) -> bool {
    report
        .header_values("auto-submitted")
        .any(|v| v.trim().to_ascii_lowercase().starts_with("auto-replied"))
        || AUTO_REPLY_FIELDS
            .iter()
            .any(|h| report.header_values(h).next().is_some())
        || report
            .header_values("precedence")
            .any(|v| v.trim().eq_ignore_ascii_case("auto_reply"))
        || (report
            .header_values("x-ms-exchange-inbox-rules-loop")
            .next()
            .is_some()
            && report
                .header_values("x-auto-response-suppress")
                .any(|v| v.to_ascii_lowercase().contains("all")))
        || AUTO_REPLY_SUBJECT.is_match(&report.subject)
}

/// Whether the message came from a mailing list or a bulk sender: a
/// List-Unsubscribe or List-Id field in its own header. A newsletter that
/// explains "550 5.1.1 User unknown" to its readers is no report, and no
/// delivery report carries these fields (only the message it returns).
pub fn sent_to_a_list(report: &Report) -> bool {
    report.header_values("list-unsubscribe").next().is_some()
        || report.header_values("list-id").next().is_some()
}

/// The words a person wrote in a message, without what it quotes: lines
/// quoted with ">", attribution lines ("… wrote:"), and everything from a
/// separator ("-----Original Message-----", a forward's header, Outlook's
/// "From: … Sent: …" block) on. An "Unsubscribe" link in the newsletter a
/// subscriber answers is not their request.
pub fn own_words(text: &str) -> String {
    let end = QUOTE_SEPARATOR.find(text).map_or(text.len(), |m| m.start);
    text[..end]
        .lines()
        .filter(|line| !(line.trim_start().starts_with('>') || is_attribution(line)))
        .fold(String::with_capacity(end), |mut out, line| {
            out.push_str(line);
            out.push('\n');
            out
        })
}

/// Where a quoted or forwarded message starts below a person's words.
static QUOTE_SEPARATOR: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(&format!(
        r"(?im)^\s*(?:-{{2,}}\s*(?:{SEPARATOR_WORDS})|begin forwarded message|_{{10,}}\s*$|(?:from|von|de|da|van|från|od|от|від|від\s+кого|feladó|发件人|寄件者|差出人|보낸\s*사람)\s*[:：].*\n\s*(?:sent|gesendet|envoyé|enviado(?: el)?|inviato|verzonden|skickat|wysłano|date|datum|отправлено|надіслано|дата|elküldve|发送时间|寄件日期|送信日時|보낸\s*날짜)\s*[:：])",
    ))
});

/// The To of a message quoted in the text, when it is not the notice's
/// own sender or recipient: its first To line quoted with "> ", else a To
/// line pasted just below a From line of our own domain (an abuse desk's
/// "--- headers of the reported message ---" block).
pub fn quoted_to(report: &Report) -> Option<String> {
    let own = |a: &str| {
        report
            .from_address
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case(a))
            || super::text::addresses_in(&report.to).any(|t| t.eq_ignore_ascii_case(a))
    };
    let to_value = |line: &str| -> Option<String> {
        let value = line
            .get(..3)
            .filter(|name| name.eq_ignore_ascii_case("to:"))
            .map(|_| &line[3..])?;
        super::text::addresses_in(value).find(|a| !own(a))
    };
    let quoted = report.body.lines().find_map(|line| {
        to_value(
            line.trim_start()
                .strip_prefix('>')?
                .trim_start_matches(['>', ' ']),
        )
    });
    // One pass: how many lines ago a From line of our own domain stood
    // (each From line is read once).
    quoted.or_else(|| {
        let mut since_our_from: Option<usize> = None;
        report.body.lines().map(str::trim_start).find_map(|line| {
            let found = since_our_from
                .filter(|&n| n < 3)
                .and_then(|_| to_value(line));
            let from_ours = line
                .get(..5)
                .is_some_and(|name| name.eq_ignore_ascii_case("from:"))
                && super::address::share_a_domain(&line[5..], &report.to);
            since_our_from = if from_ours {
                Some(0)
            } else {
                since_our_from.map(|n| n + 1)
            };
            found
        })
    })
}

/// Whether a line is a mail client's attribution ("… wrote:"); the
/// automaton runs only on a line that ends with ':', as every one does.
fn is_attribution(line: &str) -> bool {
    let line_end = line.trim_end();
    (line_end.ends_with(':') || line_end.ends_with('：')) && ATTRIBUTION.is_match(line)
}

/// A mail client's line above what it quotes.
static ATTRIBUTION: LazyLock<Pattern> =
    LazyLock::new(|| super::text::regex(&format!(r"(?i)^{ATTRIBUTION_LINE}")));

/// The words a mail client's attribution line ends with ("… wrote:").
const ATTRIBUTION_LINE: &str = r"(?:.{0,160}(?:\b(?:wrote|schrieb|a écrit|escribió|scritto|schreef|skrev|napisał|kirjoitti|a scris|yazdı)|(?:^|[^\p{L}])(?:написал|написала|написав|napsal|napsala|napísal|napísala|έγραψε|írta|написа))\s*:|.{0,160}(?:写道|寫道)\s*[:：])\s*$";

/// What a mail client writes between dashes above a quoted or forwarded
/// message ("-----Original Message-----").
const SEPARATOR_WORDS: &str = "original message|forwarded message|ursprüngliche nachricht|weitergeleitete nachricht|message d'origine|message transféré|mensaje original|mensaje reenviado|messaggio originale|messaggio inoltrato|mensagem original|oorspronkelijk bericht|originalmeddelande|oprindelig meddelelse|opprinnelig melding|alkuperäinen viesti|oryginalna wiadomość|wiadomość oryginalna|původní zpráva|pôvodná správa|eredeti üzenet|mesaj original|исходное сообщение|пересылаемое сообщение|оригінальне повідомлення|αρχικό μήνυμα|원본 메시지|原始邮件|原始郵件|元のメッセージ";

/// The older header fields that mark an automatic answer, before RFC
/// 3834's Auto-Submitted.
const AUTO_REPLY_FIELDS: [&str; 3] = ["x-autoreply", "x-autorespond", "x-autoresponder"];

/// The subject prefixes mail servers give an out-of-office answer.
static AUTO_REPLY_SUBJECT: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)^\s*(?:automatic reply|auto(?:matische)? ?(?:antwort|reply|response)|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|automatisch antwoord|resposta autom[áa]tica|autosvar|out of (?:the )?office)\s*:",
    )
});

/// Whether a subject is an out-of-office answer's ("Automatic reply: …").
pub fn is_auto_reply_subject(subject: &str) -> bool {
    AUTO_REPLY_SUBJECT.is_match(subject)
}

/// Whether a subject is a reply's or a forward's.
pub fn replying_subject(subject: &str) -> bool {
    PERSON_SUBJECT.is_match(subject)
}

/// Whether a text quotes or forwards a message as mail clients do: a
/// quoted line or an attribution, or any separator `own_words` cuts at
/// (Outlook quotes under a line of underscores and a "From: … Sent: …"
/// block, with no ">" or "wrote:").
pub fn quotes_a_message(text: &str) -> bool {
    // Line by line, a '>' in the first column or an attribution: one
    // multi-line automaton with a bounded repetition is several times
    // slower.
    text.lines()
        .any(|line| line.starts_with('>') || is_attribution(line))
        || QUOTE_SEPARATOR.is_match(text)
}

/// "Fwd:" (group 1) or "Re:" as mail clients write them in their
/// languages.
static PERSON_SUBJECT: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)^\s*(?:(fwd?|wg|tr|enc|rv|i|doorst|vs|vb|pd|转发|轉寄|転送)|re|aw|sv|antw|antwort|rif|odp|res|r|回复|回覆|答复|返信)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]",
    )
});

/// Header fields that mark a message sent by a program: RFC 3834's
/// Auto-Submitted, the older auto-reply fields, a null return path.
fn sent_automatically(report: &Report) -> bool {
    report
        .header_values("auto-submitted")
        .any(|v| !v.trim().eq_ignore_ascii_case("no"))
        || AUTO_REPLY_FIELDS
            .iter()
            .chain(&["x-autogenerated"])
            .any(|h| report.header_values(h).next().is_some())
        || report.header_values("precedence").any(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "auto_reply" || v == "junk"
        })
        || report
            .header_values("return-path")
            .any(|v| v.trim().trim_matches(['<', '>']).trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(subject: &str, headers: &[(&str, &str)], body: &str) -> Report {
        let mut r = Report {
            subject: subject.into(),
            quotes: replying_subject(subject) && quotes_a_message(body),
            body: body.into(),
            ..Report::default()
        };
        let mut fields = vec![("Subject", subject)];
        fields.extend_from_slice(headers);
        r.set_headers(fields);
        r
    }

    #[test]
    fn an_abuse_desks_pasted_header_block_names_the_complainant() {
        let mut r = report(
            "Abuse Message [AbuseID:1]: spam complaint",
            &[],
            "--- Kopfzeilen der gemeldeten Nachricht ---\nFrom: news@shop.example\nTo: kerstin@hosted.example\nSubject: Sale\n",
        );
        r.to = "postmaster@shop.example".into();
        assert_eq!(quoted_to(&r).as_deref(), Some("kerstin@hosted.example"));
        // A pasted block of someone else's mail names nobody of ours.
        r.body = "From: friend@elsewhere.example\nTo: kerstin@hosted.example\n".into();
        assert_eq!(quoted_to(&r), None);
    }

    const QUOTED: &str = "Please keep her on the list.\n\nOn 12.04.25 06:04, Mail Delivery System wrote:\n> <a@b.example>: Connection timed out\n";

    #[test]
    fn a_reply_quoting_a_report_is_a_persons() {
        let r = report(
            "Re: Undelivered Mail Returned to Sender",
            &[("In-Reply-To", "<x@y>")],
            QUOTED,
        );
        assert!(written_by_a_person(&r, false));
        let f = report(
            "Fwd: Warning: message delayed",
            &[],
            "Did it arrive?\n\n---------- Forwarded message ---------\nFrom: Mail Delivery System\n",
        );
        assert!(written_by_a_person(&f, false));
        // Outlook's forward: underscores and a "From: … Sent: …" block.
        let outlook = report(
            "FW: Undeliverable: Re: Choir",
            &[],
            "Where should I write?\n\n________________________________\nFrom: Microsoft Outlook <postmaster@outlook.example>\nSent: 4 December 2026 18:30\nSubject: Undeliverable: Re: Choir\n\n550 5.1.1 User unknown\n",
        );
        assert!(written_by_a_person(&outlook, false));
    }

    #[test]
    fn servers_and_programs_are_not_persons() {
        // Apache James answers "Re:" with In-Reply-To and quotes nothing.
        let james = report(
            "Re:Test message",
            &[("In-Reply-To", "<x@y>")],
            "Undeliverable mail: 550 no such user\n",
        );
        assert!(!written_by_a_person(&james, false));
        let daemon = report("Re: Undelivered Mail", &[("In-Reply-To", "<x@y>")], QUOTED);
        assert!(!written_by_a_person(&daemon, true));
        for header in [
            ("Auto-Submitted", "auto-replied"),
            ("X-Autoreply", "yes"),
            ("Precedence", "auto_reply"),
            ("Return-Path", "<>"),
        ] {
            let r = report(
                "Re: Undelivered Mail",
                &[("In-Reply-To", "<x@y>"), header],
                QUOTED,
            );
            assert!(!written_by_a_person(&r, false), "{header:?}");
        }
        let manual = report(
            "Re: news",
            &[("In-Reply-To", "<x@y>"), ("Auto-Submitted", "no")],
            QUOTED,
        );
        assert!(written_by_a_person(&manual, false));
        // A reply's subject without In-Reply-To or References may be a
        // challenge-response system's.
        let bare = report("RE: BLAH", &[], QUOTED);
        assert!(!written_by_a_person(&bare, false));
    }
    #[test]
    fn own_words_leave_out_quotes_and_forwards() {
        assert_eq!(own_words(QUOTED), "Please keep her on the list.\n\n");
        let bottom =
            "On Tue, Ann wrote:\n> Unsubscribe: https://x.example/u\n\nunsubscribe please\n";
        assert_eq!(own_words(bottom), "\nunsubscribe please\n");
        let outlook = "Hello\n\nFrom: news@x.example [mailto:news@x.example]\nSent: Monday\nUnsubscribe<https://x.example/u>\n";
        assert_eq!(own_words(outlook), "Hello\n");
        let german = "Danke\n\nVon: news@x.example\nGesendet: Montag\nAbmelden\n";
        assert_eq!(own_words(german), "Danke\n");
        // A "From:" line alone is no quote header.
        assert_eq!(own_words("From: me\nremove me\n"), "From: me\nremove me\n");
    }
}
