//! Plain-text bounces: the reports of mail servers that write prose
//! instead of (or besides) an RFC 3464 part — qmail, Exim, Sendmail's
//! transcript, Postfix's notice, Gmail, Exchange, Courier and many more.
//!
//! They differ in wording but share a shape: somewhere a line names the
//! failed address (alone, in angle brackets, followed by `:` or `...`, or
//! inside a sentence such as "Your message to `<x>` couldn't be delivered"),
//! and the lines around it say why. The scanner finds those lines and
//! takes the indented or following text as the diagnostic.

use super::diagnostic::fill_from_diagnostic;
use super::report::Delivery;
use super::text::{clean_address, collapse_ws, find_smtp_code, find_status};
use patterns::{
    ADDRESS_LINE, ADDRESS_SENTENCE, BOILERPLATE, CAUSE_LEAD_IN, DATED_REST, HEADER_LABEL,
    HEADER_SUMMARY, RCPT_REJECTED, REASON_ANYWHERE, REASON_WORDS, RECIPIENT_LIST_LINE,
    SENTENCE_ADDRESS_GROUPS, SUBJECT_LABEL, TRANSCRIPT_STAMP,
};

mod lines;
mod patterns;
mod reason;

use lines::{
    continues_reply, is_id_label, is_original_address, is_reply_line, is_separator,
    names_refused_sender, opens_with, reply_address, without_reply_code,
};
use reason::{labelled_reason, permanent_reply_line, quoted_response, reason_paragraph};

/// The lines of the report about one address, before they are joined
/// into its diagnostic.
struct Block {
    address: String,
    diagnostic: String,
    /// The line that names the address.
    line: usize,
    /// The address stands alone with another address on the very next
    /// line: one of a list whose reason follows the last of them.
    listed: bool,
}

struct Candidate {
    line: usize,
    address: String,
    rest: String,
    /// The line is a `To:` of a header summary the report quotes ("Your
    /// message To: … Subject: … Sent: … did not reach"): the original's
    /// addressee, which is not always who failed.
    quoted_header: bool,
}

/// A `To:` line among `Subject:`/`Date:`/`Sent:`/`CC:` lines: the report
/// repeats the header of the returned (or its own) message.
fn in_header_summary(lines: &[&str], at: usize) -> bool {
    let from = at.saturating_sub(3);
    let to = (at + 4).min(lines.len());
    (from..to)
        .filter(|&j| j != at)
        .any(|j| HEADER_SUMMARY.is_match(lines[j]))
}

/// A transcript line without its time stamp, so that "*  To: x@y" reads
/// like the header line it quotes.
fn without_transcript_stamp(line: &str) -> &str {
    // Cheap test first: a stamped line has its date's dash early on.
    if line.len() < 30 || !line.as_bytes()[..12].contains(&b'-') {
        return line;
    }
    match TRANSCRIPT_STAMP.find(line) {
        Some(m) => &line[m.end..],
        None => line,
    }
}

fn is_excluded(addr: &str, exclude: &[String]) -> bool {
    let lower = addr.to_ascii_lowercase();
    let local = lower.split('@').next().unwrap_or("");
    // A list's "-request" and "owner-" addresses are named for help, never
    // refused ("-owner" is left alone: "home-owner@" is a person).
    matches!(
        local,
        "mailer-daemon" | "postmaster" | "mail-daemon" | "mailerdaemon"
    ) || local.ends_with("-request")
        || local.starts_with("owner-")
        || exclude.iter().any(|e| e.eq_ignore_ascii_case(addr))
}

/// Finds failed recipients and their diagnostics in a report's prose.
/// `failed` is the list from `X-Failed-Recipients` (authoritative when
/// present); `exclude` holds the sender's own addresses.
pub fn scan(
    report: &str,
    failed: &[String],
    exclude: &[String],
    unlikely: &[String],
) -> Vec<Delivery> {
    let lines: Vec<&str> = report
        .lines()
        .map(|l| without_transcript_stamp(l.trim_end_matches('\r')))
        .collect();
    let mut candidates: Vec<Candidate> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.len() > 2000 || !line.contains('@') {
            continue;
        }
        let lower_start = line.trim_start().to_ascii_lowercase();
        if [
            "from:",
            "reply-to:",
            "sender:",
            "return-path:",
            "received:",
            "x-",
            "envelope-from",
            "in-reply-to:",
            "references:",
        ]
        .iter()
        .any(|p| lower_start.starts_with(p))
            || is_id_label(&lower_start)
        {
            continue;
        }
        // Most lines with an address hold one: the list pattern runs only
        // where a separator and the label's word are there.
        if (line.contains("ecipient") || line.contains("ECIPIENT"))
            && line.contains([',', ';'])
            && let Some(c) = RECIPIENT_LIST_LINE.captures(line)
        {
            // Each address of the list shares the lines that follow.
            for a in super::text::addresses_in(&c["list"]) {
                if !is_excluded(&a, exclude) {
                    candidates.push(Candidate {
                        line: i,
                        address: a,
                        rest: String::new(),
                        quoted_header: false,
                    });
                }
            }
            continue;
        }
        if let Some(c) = ADDRESS_LINE.captures(line) {
            let rest = c.name("rest").map_or("", |m| m.as_str());
            let addr = without_reply_code(&c["addr"], rest, &lines[..i]);
            // A bare address line must not be prose that happens to start
            // with an address and goes on with an unrelated sentence.
            let sep = c.name("sep").is_some();
            // Exchange: "addr on Thu, 29 Apr 2007 16:51:51 -0500" names the
            // recipient and the time; the reason follows on the next lines.
            let dated = DATED_REST.is_match(rest);
            let rest = if dated { "" } else { rest };
            // '"addr" <addr>': the display name is the address itself.
            let named_alike = rest
                .strip_prefix('<')
                .and_then(|r| r.trim_end().strip_suffix('>'))
                .is_some_and(|r| r.eq_ignore_ascii_case(addr));
            if (sep
                || named_alike
                || rest.is_empty()
                || rest.starts_with(['(', '['])
                // JetMail: addr "(0), ErrMsg=mail box space not enough, …"
                || rest.starts_with('"') && REASON_ANYWHERE.is_match(rest)
                || find_smtp_code(rest).is_some()
                || REASON_WORDS.is_match(rest))
                && !names_refused_sender(rest)
                && let Some(a) = clean_address(addr)
                && !is_excluded(&a, exclude)
            {
                let quoted_header = c.name("label").is_some_and(|l| {
                    l.as_str().eq_ignore_ascii_case("to") || l.as_str().eq_ignore_ascii_case("an")
                }) && in_header_summary(&lines, i);
                candidates.push(Candidate {
                    line: i,
                    address: a,
                    rest: rest.to_string(),
                    quoted_header,
                });
                continue;
            }
        }
        if let Some(c) = ADDRESS_SENTENCE.captures(line) {
            let Some(m) = SENTENCE_ADDRESS_GROUPS.iter().find_map(|n| c.name(n)) else {
                continue;
            };
            // "Unknown user: addr": the words before the address are the
            // reason, unless they are a header-like label.
            let labelled = c.name("a6").is_some();
            if c.name("a12").is_some()
                && !(i > 0
                    && lines[i - 1]
                        .trim()
                        .eq_ignore_ascii_case("an undisclosed address"))
            {
                continue;
            }
            // Exim's "generated by x" stands under the file or pipe that
            // failed, a line with no address of its own.
            if c.name("a18").is_some() && (i == 0 || lines[i - 1].contains('@')) {
                continue;
            }
            if labelled && HEADER_LABEL.is_match(&line[..m.start()]) {
                continue;
            }
            if let Some(a) = clean_address(m.as_str())
                && !is_excluded(&a, exclude)
                && !names_refused_sender(&line[m.end()..])
            {
                let rest = if labelled {
                    line.trim().to_string()
                } else {
                    line[m.end()..]
                        .trim_start_matches(['>', ':', ' ', '.'])
                        .to_string()
                };
                candidates.push(Candidate {
                    line: i,
                    address: a,
                    rest,
                    quoted_header: false,
                });
            }
        }
    }

    // A quoted header's addressee is the recipient only when the report
    // names nobody else.
    if candidates.iter().any(|c| !c.quoted_header) {
        candidates.retain(|c| !c.quoted_header);
    }

    // The sender's own addresses appear in reports ("MAIL FROM:<me>"), but
    // a message sent to oneself bounces too: drop them only when another
    // address is there to take their place.
    if candidates
        .iter()
        .any(|c| !is_excluded(&c.address, unlikely))
    {
        candidates.retain(|c| !is_excluded(&c.address, unlikely));
    }

    // Diagnostic of each candidate: its line (or what follows a bare
    // address) plus the lines after it, up to a blank line or a line that
    // names another address. Lines naming the same address again belong
    // to the same block ("<a@b>:" then "Remote host said: 550 <a@b>...").
    let mut blocks: Vec<Block> = Vec::new();
    let mut consumed = vec![false; candidates.len()];
    for k in 0..candidates.len() {
        if consumed[k] {
            continue;
        }
        let c = &candidates[k];
        let own_line = lines[c.line].trim();
        let bare = c.rest.trim().is_empty()
            || own_line
                .trim_matches(|ch: char| !ch.is_alphanumeric())
                .eq_ignore_ascii_case(&c.address);
        let mut text = if bare {
            c.rest.clone()
        } else {
            own_line.to_string()
        };
        // Exim names the pipe or file it failed to deliver to on the line
        // above "generated by x": that delivery is what failed.
        if c.line > 0 && own_line.starts_with("generated by") {
            let above = lines[c.line - 1].trim();
            if !above.is_empty() {
                text = format!("{above} {text}");
            }
        }
        let listed = bare
            && c.rest.trim().is_empty()
            && candidates.get(k + 1).is_some_and(|n| {
                n.line == c.line + 1 && !n.address.eq_ignore_ascii_case(&c.address)
            });
        let mut next = k + 1;
        let mut j = c.line + 1;
        let mut after_subject = false;
        let mut aliases: Vec<String> = Vec::new();
        // A block that opens on a line of such a reply is inside it.
        let mut quoting_reply = continues_reply(own_line) && reply_address(own_line).is_some();
        while j < lines.len() && j < c.line + 30 {
            while next < candidates.len() && candidates[next].line < j {
                next += 1;
            }
            let l = lines[j];
            // Exim quotes the reply to the whole message under each
            // address it failed ("SMTP error … after end of data:", then
            // "550-a@x: …", "550 b@x: …"): the reply is each one's reason,
            // but a line that opens with another address gives that
            // address's own cause, read in its own block.
            let quoted = is_reply_line(l)
                && (quoting_reply && continues_reply(lines[j - 1])
                    || text.trim_end().ends_with(':'));
            quoting_reply |= quoted;
            if quoted && reply_address(l).is_some_and(|a| !a.eq_ignore_ascii_case(&c.address)) {
                j += 1;
                continue;
            }
            if next < candidates.len() && candidates[next].line == j {
                // Exim quotes the reply to the whole message under each
                // address it failed ("SMTP error … after end of data:",
                // then "550-a@x: …", "550 b@x: …"): all of it is each
                // one's reason.
                let same = candidates[next].address.eq_ignore_ascii_case(&c.address);
                let opens = opens_with(l, &candidates[next].address);
                if same || quoted || continues_reply(lines[j - 1]) && !opens {
                    // A line of a multi-line reply ("550-Sent: RCPT
                    // TO:<x>" in Exim's callout report) belongs to the
                    // reply, whatever address it quotes; one that opens
                    // with its own address ("550-b@x: user unknown") is
                    // another recipient's.
                    consumed[next] = true;
                } else if is_original_address(l) {
                    // PMDF: "Recipient address: x" then "Original address:
                    // y", the alias the sender used, then the cause of both.
                    consumed[next] = true;
                    aliases.push(candidates[next].address.clone());
                    j += 1;
                    continue;
                } else {
                    break;
                }
            }
            // Sendmail's transcript goes on with the next host's session:
            // what follows is about other recipients.
            if l.starts_with("... while talking to") && !text.trim().is_empty() {
                break;
            }
            if l.trim().is_empty() || is_separator(l) {
                // Skip blank lines before the text starts and after a
                // lead-in such as "because:" or "Reason:".
                // A repeated subject line ends an empty block: what follows
                // the blank after it is the notice's closing, not a reason.
                let lead_in =
                    (text.trim().is_empty() && !after_subject) || text.trim_end().ends_with(':');
                if lead_in && j + 1 < lines.len() {
                    j += 1;
                    continue;
                }
                break;
            }
            if BOILERPLATE.is_match(l) {
                break;
            }
            if SUBJECT_LABEL.is_match(l) {
                after_subject = true;
            } else {
                text.push(' ');
                text.push_str(l.trim());
            }
            j += 1;
        }
        if !listed && (text.trim().is_empty() || text.trim_end().ends_with(':') && text.len() < 40)
        {
            // Nothing after the address: some reports give the reason in
            // the lines just above it (Lotus Notes, "Failure Reasons").
            let before = preceding_paragraph(&lines, c.line);
            if !before.is_empty() {
                text = format!("{before} {text}");
            }
        }
        let diagnostic = collapse_ws(&text);
        blocks.push(Block {
            address: c.address.clone(),
            diagnostic: diagnostic.clone(),
            line: c.line,
            listed,
        });
        for address in aliases {
            blocks.push(Block {
                address,
                diagnostic: diagnostic.clone(),
                line: c.line,
                listed: false,
            });
        }
    }
    // "Delivery to the following recipients failed permanently: a, b, c
    // (one per line), Technical details: …": the reason under the last
    // address of a list is every listed address's.
    for i in (0..blocks.len().saturating_sub(1)).rev() {
        if blocks[i].listed
            && blocks[i].diagnostic.is_empty()
            && blocks[i + 1].line == blocks[i].line + 1
        {
            blocks[i].diagnostic = blocks[i + 1].diagnostic.clone();
        }
    }

    let mut named: Vec<String> = Vec::new();
    for Block { address, .. } in &blocks {
        if !named.iter().any(|s| s.eq_ignore_ascii_case(address)) {
            named.push(address.clone());
        }
    }
    // X-Failed-Recipients is authoritative unless the report itself names
    // other addresses and none of the header's: then the header was
    // rewritten on the way (an alias, a forward) and the prose is right.
    let header_confirmed = failed
        .iter()
        .any(|f| named.iter().any(|n| n.eq_ignore_ascii_case(f)));
    let named_others = named.iter().any(|n| !is_excluded(n, unlikely));
    let wanted: Vec<String> = if !failed.is_empty() && (header_confirmed || !named_others) {
        failed.to_vec()
    } else {
        named.clone()
    };

    let shared = shared_diagnostic(&lines, candidates.last().map_or(0, |c| c.line + 1));
    // Looked for only when a delivery names no command.
    let mut rcpt_rejected: Option<bool> = None;
    // Looked for only when an address's own text has no code: most
    // reports never need it, and it reads every line.
    let mut reply_line: Option<Option<&str>> = None;
    // Gmail's quoted answer, looked for once per report.
    let mut response_block: Option<Option<String>> = None;
    let mut out = Vec::new();
    for addr in wanted {
        let mut best = String::new();
        for Block {
            address,
            diagnostic: text,
            ..
        } in &blocks
        {
            if address.eq_ignore_ascii_case(&addr)
                && !text.is_empty()
                && !best.contains(text.as_str())
            {
                if !best.is_empty() {
                    best.push(' ');
                }
                best.push_str(text);
            }
        }
        if best.is_empty()
            && let Some(t) = context_for(&lines, &addr)
        {
            best = t;
        }
        // The text after the last address is that address's own block when
        // it has one ("  x@y\n    host …: 452-4.2.2 …"): not a reason
        // shared by the addresses above it.
        // It starts inside that block, and may run on into the notice's
        // closing words: its opening is what the block holds.
        let shared_is_anothers = || {
            let opening = &shared[..super::text::floor_char_boundary(&shared, 40)];
            blocks.iter().any(|b| {
                !b.address.eq_ignore_ascii_case(&addr)
                    && diagnostic_score(&b.diagnostic) >= 2
                    && (b.diagnostic.contains(opening) || shared.contains(b.diagnostic.as_str()))
            })
        };
        if diagnostic_score(&best) < 2 && diagnostic_score(&shared) >= 2 && !shared_is_anothers() {
            // The text after the last address often starts with that
            // address's own block: take it once.
            if shared.contains(best.as_str()) {
                best.clear();
            }
            if !best.is_empty() {
                best.push(' ');
            }
            best.push_str(&shared);
        }
        // Some reports quote the server's reply away from the address
        // ("Error message below: 550 ... no such user here" above a list
        // of message details): a permanent reply anywhere in the report
        // beats prose that carries no code.
        if diagnostic_score(&best) < 2
            && let Some(reply) = *reply_line.get_or_insert_with(|| permanent_reply_line(&lines))
            && !belongs_to_another(reply, &addr, &named, &blocks)
        {
            if !best.is_empty() {
                best.push(' ');
            }
            best.push_str(reply);
        }
        // Gmail's sentence in the sender's language gives no code; the
        // remote server's own words follow it in English.
        if diagnostic_score(&best) < 2
            && let Some(response) = response_block.get_or_insert_with(|| quoted_response(&lines))
            && !best.contains(response.as_str())
            && !belongs_to_another(response, &addr, &named, &blocks)
        {
            if !best.is_empty() {
                best.push(' ');
            }
            best.push_str(response);
        }
        // Nothing near the address says why, but the notice does ("The
        // user(s) account is disabled." a paragraph above): the notice as a
        // whole is the diagnostic.
        if best.is_empty() && REASON_ANYWHERE.is_match(report) {
            best = super::text::truncate_chars(&collapse_ws(report), 600);
        } else if diagnostic_score(&best) < 2
            && !REASON_ANYWHERE.is_match(&best)
            && let Some(paragraph) = labelled_reason(report)
                .filter(|reason| !best.contains(reason.as_str()))
                .or_else(|| reason_paragraph(report))
            // Another address's paragraph tells that address's cause.
            && super::text::addresses_in(&paragraph).all(|a| a.eq_ignore_ascii_case(&addr))
        {
            // The address stands alone ("Undeliverable Address: x@y") and
            // the cause is told in a paragraph of its own ("Reason: ...
            // the recipient is over disk quota").
            best.push(' ');
            best.push_str(&paragraph);
        }
        let mut d = Delivery {
            recipient: Some(addr),
            ..Delivery::default()
        };
        fill_from_diagnostic(&mut d, &best);
        if d.command.is_none()
            && d.diagnostic.is_some()
            && *rcpt_rejected.get_or_insert_with(|| {
                super::text::contains_ascii_ci(report, "rejected") && RCPT_REJECTED.is_match(report)
            })
        {
            d.command = Some("RCPT".into());
        }
        out.push(d);
    }
    out
}

/// Whether a reply is another failed address's own: it names one, or it
/// stands in the text under one.
fn belongs_to_another(reply: &str, addr: &str, named: &[String], blocks: &[Block]) -> bool {
    let other = |a: &str| !a.eq_ignore_ascii_case(addr);
    super::text::addresses_in(reply)
        .any(|a| other(&a) && named.iter().any(|n| n.eq_ignore_ascii_case(&a)))
        || blocks
            .iter()
            .any(|b| other(&b.address) && b.diagnostic.contains(reply))
}

/// The lines around the first mention of an address (or of its local
/// part alone, as Exim writes unqualified addresses) when no line was
/// recognised as naming it: "pipe to |/bin/x addr", "  kijitora".
fn context_for(lines: &[&str], addr: &str) -> Option<String> {
    let lower = addr.to_ascii_lowercase();
    let local = lower.split('@').next().unwrap_or("");
    let start = lines.iter().position(|l| {
        if l.len() > 2000 {
            return false;
        }
        let t = l.trim().to_ascii_lowercase();
        t.contains(&lower) || (!local.is_empty() && t == local)
    })?;
    let mut text = String::new();
    for l in lines.iter().skip(start).take(8) {
        if l.trim().is_empty() || is_separator(l) {
            if text.trim_end().ends_with(':') {
                continue;
            }
            break;
        }
        if BOILERPLATE.is_match(l) {
            break;
        }
        if SUBJECT_LABEL.is_match(l) {
            continue;
        }
        text.push(' ');
        text.push_str(l.trim());
    }
    let text = collapse_ws(&text);
    // "Destinatario: addr" alone says no more than the address.
    let unlabelled = match text.split_once(':') {
        Some((label, rest)) if !label.contains('@') && label.len() < 30 => rest,
        _ => text.as_str(),
    };
    let bare = unlabelled
        .trim_matches(|ch: char| !ch.is_alphanumeric())
        .eq_ignore_ascii_case(addr);
    (!text.is_empty() && !bare).then_some(text)
}

/// The diagnostic-looking text around an address in a report's prose,
/// for a recipient a DSN part named without a diagnostic.
pub fn context_of(report: &str, addr: &str) -> Option<String> {
    let lines: Vec<&str> = report.lines().take(400).collect();
    context_for(&lines, addr)
}

/// The non-blank lines right above `line`, up to a blank line or a
/// separator, when they look like a reason rather than an address list.
fn preceding_paragraph(lines: &[&str], line: usize) -> String {
    // Up to two blank lines may stand between the reason and the address,
    // and a lead-in ("The following recipients did not receive this
    // message:") between them: the paragraph above the lead-in says why.
    let mut end = skip_blank_lines_above(lines, line);
    for _ in 0..3 {
        let mut start = end;
        while start > 0 && end - start < 4 {
            let l = lines[start - 1];
            if l.trim().is_empty() || is_separator(l) || l.contains('@') || BOILERPLATE.is_match(l)
            {
                break;
            }
            start -= 1;
        }
        // A header summary ("Subject: …", "Date: …") names the message,
        // not the cause: the paragraph above it may say why.
        if lines[start..end].iter().any(|l| HEADER_SUMMARY.is_match(l)) {
            // A summary is a few lines; a report of thousands of address
            // and header lines is not climbed line by line for each address.
            let floor = start.saturating_sub(12);
            while start > floor && !lines[start - 1].trim().is_empty() {
                start -= 1;
            }
            end = skip_blank_lines_above(lines, start);
            continue;
        }
        let text = lines[start..end].join(" ");
        let t = text.trim();
        if t.len() > 400 {
            return String::new();
        }
        if !t.ends_with(':') || CAUSE_LEAD_IN.is_match(t) {
            return collapse_ws(t);
        }
        if start == end {
            break;
        }
        end = skip_blank_lines_above(lines, start);
    }
    String::new()
}

fn skip_blank_lines_above(lines: &[&str], line: usize) -> usize {
    let mut end = line;
    while end > 0 && line - end < 2 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    end
}

/// Text after the last address: many reports put the reason there
/// ("The error that the other server returned was: ...").
fn shared_diagnostic(lines: &[&str], from: usize) -> String {
    let mut text = String::new();
    for l in lines.iter().skip(from).take(40) {
        if BOILERPLATE.is_match(l) {
            continue;
        }
        let t = l.trim();
        if !t.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(t);
        }
    }
    collapse_ws(&text)
}

/// How much a text looks like an SMTP diagnostic.
fn diagnostic_score(text: &str) -> u8 {
    let mut s = 0;
    if text.chars().any(|c| c.is_alphabetic()) {
        s += 1;
    }
    if find_smtp_code(text).is_some() {
        s += 2;
    }
    if find_status(text).is_some() {
        s += 1;
    }
    s
}

#[cfg(test)]
mod tests;
