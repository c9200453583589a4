//! What one diagnostic text says besides its words: the SMTP command the
//! remote side answered, the status and reply code, the remote host, and
//! the whole of a multi-line reply (`550-…` / `550 …`) that a report cut.

use super::pattern::Pattern;
use super::report::Delivery;
use super::text::{collapse_ws, find_smtp_code, find_status};
use std::sync::LazyLock;

/// Where a text names the SMTP step a reply answered. Group 1 is the
/// lead-in of a transcript line (`>>> RCPT`), group 2 a named command after
/// it or after a reply's words ("in reply to RCPT TO command"); groups 3 to
/// 5 are wordings that imply RCPT, DATA or MAIL; group 6 is a transcript's
/// "RCPT TO:<" and group 7 its "MAIL FROM:<".
static COMMAND: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)(?:(>>>|\bSMTP:|for)|after|in\s+reply\s+to|response\s+to|did\s+not\s+like\s+our|most\s+progress\s+was)\s*(?:the\s+)?(?:final\s+|end\s+of\s+)?(RCPT|MAIL|DATA|HELO|EHLO|STARTTLS)\b|(does\s+not\s+like\s+recipient)|(failed\s+after\s+I\s+sent\s+the\s+message|end\s+of\s+data|didn't\s+like\s+the\s+message)|(sender\s+was\s+rejected)|(RCPT\s+TO:?\s*<)|(MAIL\s+FROM:?\s*<)",
    )
});

/// The SMTP command one match names, and whether a reply's own words name
/// it rather than a transcript line.
fn command_of(c: &super::pattern::Captures<'_, '_>) -> (String, bool) {
    if let Some(m) = c.get(2) {
        (m.as_str().to_ascii_uppercase(), c.get(1).is_none())
    } else if c.get(3).is_some() {
        ("RCPT".into(), true)
    } else if c.get(4).is_some() {
        ("DATA".into(), true)
    } else if c.get(5).is_some() {
        ("MAIL".into(), true)
    } else if c.get(6).is_some() {
        ("RCPT".into(), false)
    } else {
        ("MAIL".into(), false)
    }
}

/// Gmail's SMTP client ends the remote reply it quotes with the number of
/// the session state it had reached ("550 550 Address unknown (state 14).").
static GMAIL_STATE: LazyLock<Pattern> =
    LazyLock::new(|| super::text::regex(r"\(state (\d{1,2})\)\.?(?:\s|$)"));

/// Yahoo's and AOL's SMTP client ends the remote reply it quotes with the
/// step it had reached ("... user not found [RCPT_TO]"), as Sisimai's
/// Yahoo reader takes it.
static STAGE_MARK: LazyLock<Pattern> =
    LazyLock::new(|| super::text::regex(r"\[(RCPT_TO|MAIL_FROM|DATA|CONNECT|EHLO|HELO)\]$"));

/// The command a client's own mark after the reply names: Gmail's state
/// number or Yahoo's bracketed step.
fn stage_mark_command(text: &str) -> Option<String> {
    if let Some(command) = gmail_state_command(text) {
        return Some(command);
    }
    // Most diagnostics end otherwise: no search for them.
    let text = text.trim_end();
    if !text.ends_with(']') {
        return None;
    }
    let mark = STAGE_MARK.captures(text)?;
    let command = match &mark[1] {
        "RCPT_TO" => "RCPT",
        "MAIL_FROM" => "MAIL",
        "CONNECT" => "CONN",
        other => other,
    };
    Some(command.into())
}

/// The command behind a Gmail state number, as Sisimai's Gmail reader
/// maps them from Gmail's help threads: 6 MAIL, 13 greeting, 14
/// recipient, 15, 17 and 18 message text. Other servers do not write
/// "(state N)." after a reply, so the mark is read wherever it stands.
fn gmail_state_command(text: &str) -> Option<String> {
    // Nearly every text has none: a byte search spares the automaton.
    memchr::memmem::find(text.as_bytes(), b"(state ")?;
    let c = GMAIL_STATE.captures(text)?;
    let command = match &c[1] {
        "6" => "MAIL",
        "13" => "EHLO",
        "14" => "RCPT",
        "15" | "17" | "18" => "DATA",
        _ => return None,
    };
    Some(command.into())
}

/// The SMTP command a text says the remote side answered.
pub fn find_command(text: &str) -> Option<String> {
    COMMAND
        .captures(text)
        .map(|c| command_of(&c).0)
        .or_else(|| stage_mark_command(text))
}

/// The SMTP command a reply's own words say it answered ("(in reply to
/// RCPT TO command)", "after end of data"), passing over transcript lines:
/// a transcript's "MAIL FROM:<sender>" comes before every recipient's
/// refusal and says nothing about one of them.
pub fn find_replied_command(text: &str) -> Option<String> {
    let mut from = 0;
    while from < text.len() {
        let Some(c) = COMMAND.captures(&text[from..]) else {
            break;
        };
        let (command, replied) = command_of(&c);
        if replied {
            return Some(command);
        }
        // A match is never empty, and ends on a character boundary.
        from += c.get(0).map_or(text.len(), |m| m.end().max(1));
    }
    stage_mark_command(text)
}

/// The text without a notice's section heading in front of the reply
/// ("----- Non-delivered information ----- …", "-------server message
/// 550 …"): the dashes and the heading they close are the notice's layout,
/// not what the remote side said.
fn without_dashed_heading(text: &str) -> &str {
    let rest = text.trim_start_matches('-');
    if text.len() - rest.len() < 3 {
        return text;
    }
    // A closing run of dashes within a short heading ends it.
    let closed = rest
        .char_indices()
        .take(60)
        .find(|&(i, _)| rest[i..].starts_with("---"))
        .map(|(i, _)| rest[i..].trim_start_matches('-'));
    closed.unwrap_or(rest).trim_start()
}

/// Status, reply code and SMTP command from a diagnostic text.
pub fn fill_from_diagnostic(d: &mut Delivery, text: &str) {
    let text = without_dashed_heading(text.trim());
    if text.is_empty() {
        return;
    }
    let clipped: String = super::text::truncate_chars(text, 1000);
    let clipped = sweep_multiline(&clipped);
    if d.smtp_code.is_none() {
        d.smtp_code = find_smtp_code(&clipped);
    }
    // The wrapper's " - " is rare in other replies: most skip the regex.
    let wrapped = clipped
        .contains(" - ")
        .then(|| ASYNCOS_WRAPPER.captures(&clipped));
    let found = match wrapped.flatten() {
        // The wrapper's own status is a class ("5.1.0 - Unknown address
        // error"); the reply it quotes says what happened.
        Some(c) => {
            find_status(c.get(1).map_or("", |m| m.as_str())).or_else(|| find_status(&clipped))
        }
        None => find_status(&clipped),
    };
    d.status = super::text::prefer_status(d.status.take(), found, d.smtp_code);
    if d.command.is_none() {
        d.command = find_command(&clipped);
    }
    if d.remote_mta.is_none() {
        d.remote_mta = remote_host(&clipped);
    }
    d.diagnostic = Some(clipped);
}

/// Cisco AsyncOS (IronPort, Amazon SES) wraps the remote reply in a class
/// of its own: "5.1.0 - Unknown address error 550-'5.2.2 <x>... Mailbox
/// Full'" (the reply's own code may already have been moved to the front).
/// Group 1 is the quoted reply.
static ASYNCOS_WRAPPER: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(r"\b[45]\.\d\.0 - [A-Za-z][A-Za-z ]{2,40} (?:[245]\d\d-)?'(.+)")
});

static MULTILINE: LazyLock<Pattern> =
    LazyLock::new(|| super::text::regex(r"(?:^|\s)([245]\d\d)-(?:([245]\.\d{1,3}\.\d{1,3})\s)?"));

/// A multi-line SMTP reply joined into one line repeats its code on every
/// line ("550-5.7.1 a 550-5.7.1 b 550 5.7.1 c"); keep it once, in front,
/// so that phrases read across the line breaks (Sisimai does the same).
pub fn sweep_multiline(text: &str) -> String {
    // A byte scan for "ddd-" spares the automaton on most texts.
    let b = text.as_bytes();
    let code_dash = memchr::memchr_iter(b'-', b).any(|i| {
        i >= 3
            && matches!(b[i - 3], b'2' | b'4' | b'5')
            && b[i - 2].is_ascii_digit()
            && b[i - 1].is_ascii_digit()
    });
    let Some(c) = code_dash.then(|| MULTILINE.captures(text)).flatten() else {
        return text.to_string();
    };
    let code = c[1].to_string();
    let status = c.get(2).map(|m| m.as_str().to_string());
    let mut out = text.to_string();
    let mut pieces: Vec<String> = Vec::new();
    if let Some(st) = &status {
        pieces.push(format!("{code}-{st} "));
        pieces.push(format!("{code} {st} "));
    }
    pieces.push(format!("{code}-"));
    pieces.push(format!("{code} "));
    for p in &pieces {
        out = out.replace(p.as_str(), " ");
    }
    let head = match &status {
        Some(st) => format!("{code} {st} "),
        None => format!("{code} "),
    };
    collapse_ws(&format!("{head}{out}"))
}

/// The full reply in a session transcript ("<<< 550-5.7.1 ...") whose
/// first line is `first`: DSNs often keep only that first line.
pub fn transcript_reply(report: &str, first: &str) -> Option<String> {
    let first = first.trim();
    if first.len() < 8 {
        return None;
    }
    let lines: Vec<&str> = report.lines().collect();
    let start = lines.iter().position(|l| {
        l.trim_start()
            .strip_prefix("<<<")
            .is_some_and(|r| r.trim() == first)
    })?;
    let mut text = String::new();
    for l in &lines[start..lines.len().min(start + 20)] {
        let Some(r) = l.trim_start().strip_prefix("<<<") else {
            break;
        };
        text.push(' ');
        text.push_str(r.trim());
        let r = r.trim();
        if r.len() >= 4 && r.as_bytes()[3] == b' ' {
            break;
        }
    }
    Some(collapse_ws(&text))
}

/// The DSN's diagnostic with what the report's own line adds after it:
/// Exim writes "451 4.3.0 Try again later: retry timeout exceeded" in its
/// prose and only the reply in Diagnostic-Code, and the addition is why
/// the message was returned.
pub fn continued_in(paragraph: &str, diagnostic: &str) -> Option<String> {
    let diagnostic = diagnostic.trim();
    if diagnostic.len() < 8 {
        return None;
    }
    // One searcher over the whole paragraph: most paragraphs do not hold
    // the diagnostic at all.
    memchr::memmem::find_iter(paragraph.as_bytes(), diagnostic.as_bytes()).find_map(|at| {
        let after = &paragraph[at + diagnostic.len()..];
        let mut lines = after.split('\n');
        let rest = lines.next().unwrap_or("").trim_end();
        // Exim may put its verdict on a line of its own under the reply.
        if rest.is_empty()
            && let Some(verdict) = lines
                .next()
                .map(str::trim)
                .filter(|l| l.eq_ignore_ascii_case("retry timeout exceeded"))
        {
            return Some(format!("{diagnostic}: {verdict}"));
        }
        let added = rest.strip_prefix(':').or_else(|| rest.strip_prefix(';'))?;
        (!added.trim().is_empty() && added.len() <= 200).then(|| format!("{diagnostic}{rest}"))
    })
}

/// The rest of a multi-line SMTP reply whose first line is all the DSN
/// gives ("550-5.7.1 … this message is"), from the report's transcript
/// ("<<< 550-5.7.1 likely unsolicited mail …", "<<< 550 5.7.1 more
/// information"): the words that say why are often on the later lines.
pub fn reply_continued_in(report: &str, diagnostic: &str) -> Option<String> {
    // Diagnostic-Code's type ("smtp; 550-…") is not part of the reply.
    let diagnostic = match diagnostic.split_once(';') {
        Some((kind, rest))
            if kind.len() <= 12 && kind.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') =>
        {
            rest
        }
        _ => diagnostic,
    };
    // Only a reply cut after its first line ends with the `-` that says
    // more lines follow: most diagnostics stop here, before any copy.
    let diagnostic = diagnostic.trim();
    let continued = diagnostic
        .get(..4)
        .filter(|c| c.as_bytes()[..3].iter().all(u8::is_ascii_digit) && c.ends_with('-'))?;
    let code = &continued[..3];
    if !report.contains(continued) {
        return None;
    }
    // The first line as the DSN's sweep leaves it (`-` made a space,
    // spaces collapsed); the transcript's lines are compared the same way.
    let mut diagnostic = collapse_ws(diagnostic);
    diagnostic.replace_range(3..4, " ");
    fn reply_line(l: &str) -> &str {
        l.trim().trim_start_matches("<<<").trim_start()
    }
    let mut lines = report.lines();
    while let Some(line) = lines.next() {
        let Some(text) = reply_line(line).strip_prefix(continued) else {
            continue;
        };
        if collapse_ws(&format!("{code} {text}")) != diagnostic {
            continue;
        }
        let mut joined = diagnostic.clone();
        for next in lines.take(12) {
            let next = reply_line(next);
            let Some(rest) = next.strip_prefix(code) else {
                break;
            };
            if !rest.starts_with(['-', ' ']) {
                break;
            }
            joined.push(' ');
            joined.push_str(&collapse_ws(next));
            if rest.starts_with(' ') || joined.len() > 1000 {
                break;
            }
        }
        return (joined.len() > diagnostic.len()).then_some(joined);
    }
    None
}

static REMOTE_HOST: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)(?:host|server|while\s+talking\s+to|remote\s+host|mail\s+server|giving\s+up\s+on)\s+\[?([a-z0-9][a-z0-9.\-]*\.[a-z]{2,}|\d{1,3}(?:\.\d{1,3}){3})\]?",
    )
});

/// The host a diagnostic names as the remote side; "Client host [x]" in a
/// blocklist reply is the sending side, named by the remote one.
fn remote_host(text: &str) -> Option<String> {
    let mut from = 0;
    while let Some(c) = REMOTE_HOST.captures(&text[from..]) {
        let (start, end) = c.get(0).map_or((0, 0), |m| (m.start(), m.end()));
        let before = text[..from + start].to_ascii_lowercase();
        if !before.ends_with("client ") {
            return Some(c[1].trim_end_matches('.').to_ascii_lowercase());
        }
        from += end.max(1);
        if from >= text.len() {
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dashed_heading_is_not_part_of_the_diagnostic() {
        assert_eq!(
            without_dashed_heading(
                "----- Non-delivered information ----- Mail Delivery Failed... User unknown"
            ),
            "Mail Delivery Failed... User unknown"
        );
        assert_eq!(
            without_dashed_heading("-------server message 550 5.4.1 rejected"),
            "server message 550 5.4.1 rejected"
        );
        assert_eq!(
            without_dashed_heading("- Sorry, no mailbox here"),
            "- Sorry, no mailbox here"
        );
        assert_eq!(
            without_dashed_heading("550 no -- such user"),
            "550 no -- such user"
        );
        assert_eq!(without_dashed_heading("--------"), "");
    }

    #[test]
    fn a_multi_line_reply_is_read_to_its_last_line() {
        let transcript = ">>> DATA\n<<< 550-5.7.1 [192.0.2.1 7] Our system has detected that this message is\n<<< 550-5.7.1 likely unsolicited mail.\n<<< 550 5.7.1 more information. - gsmtp\n554 5.0.0 Service unavailable\n";
        assert_eq!(
            reply_continued_in(
                transcript,
                "550-5.7.1 [192.0.2.1   7] Our system has detected that this message is"
            )
            .as_deref(),
            Some(
                "550 5.7.1 [192.0.2.1 7] Our system has detected that this message is 550-5.7.1 likely unsolicited mail. 550 5.7.1 more information. - gsmtp"
            )
        );
        // A one-line reply, or one the report does not quote, stays.
        assert_eq!(
            reply_continued_in(transcript, "550 5.7.1 more information."),
            None
        );
        assert_eq!(reply_continued_in(transcript, "550-5.1.1 not quoted"), None);
        assert!(
            reply_continued_in(
                transcript,
                "SMTP; 550-5.7.1 [192.0.2.1 7] Our system has detected that this message is"
            )
            .is_some_and(|t| t.ends_with("- gsmtp"))
        );
    }

    #[test]
    fn a_report_line_continues_the_dsn_diagnostic() {
        let prose = "  a@b.example\n    SMTP error from remote mail server after RCPT TO:<a@b.example>:\n    451 4.3.0 Temporary system problem. Try again later: retry timeout exceeded\n";
        assert_eq!(
            continued_in(prose, "451 4.3.0 Temporary system problem. Try again later").as_deref(),
            Some("451 4.3.0 Temporary system problem. Try again later: retry timeout exceeded")
        );
        assert_eq!(
            continued_in(prose, "451 4.3.0 Temporary"),
            None,
            "mid-sentence"
        );
        assert_eq!(continued_in(prose, "550 5.1.1 no such user"), None);
        assert_eq!(continued_in(prose, "451"), None, "too short to place");
        let own_line = "  a@b.example\n    SMTP error from remote mail server after MAIL FROM:<x@y>:\n    451 4.7.1 Too many messages, slow down\n    retry timeout exceeded\n";
        assert_eq!(
            continued_in(own_line, "451 4.7.1 Too many messages, slow down").as_deref(),
            Some("451 4.7.1 Too many messages, slow down: retry timeout exceeded")
        );
        let other_words = "    451 4.7.1 Too many messages, slow down\n    host b.example\n";
        assert_eq!(
            continued_in(other_words, "451 4.7.1 Too many messages, slow down"),
            None
        );
    }

    #[test]
    fn a_reply_names_its_command_and_a_transcript_line_does_not() {
        let paragraph = "MAIL FROM:<list@example.com> <a@example.org>: host mx said: 550 no such user (in reply to RCPT TO command)";
        assert_eq!(find_command(paragraph).as_deref(), Some("MAIL"));
        assert_eq!(find_replied_command(paragraph).as_deref(), Some("RCPT"));
        assert_eq!(
            find_replied_command("SMTP error from remote mail server after end of data: 554 spam")
                .as_deref(),
            Some("DATA")
        );
        assert_eq!(
            find_replied_command("x.example does not like recipient. 550 no").as_deref(),
            Some("RCPT")
        );
        assert_eq!(
            find_replied_command(">>> RCPT TO:<a@example.org> <<< 550 no"),
            None
        );
        assert_eq!(find_replied_command("é>>> DATA é"), None);
    }

    #[test]
    fn remote_host_is_not_the_blocklisted_client() {
        let text = "203.0.113.88 does not like recipient. Remote host said: 554 5.7.1 Service unavailable; Client host [198.51.100.71] blocked using bl.example.net Giving up on 203.0.113.88.";
        assert_eq!(remote_host(text).as_deref(), Some("203.0.113.88"));
        assert_eq!(remote_host("Client host [198.51.100.71] blocked"), None);
    }
}
