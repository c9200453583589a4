//! The shapes of report lines the prose scanner tells apart: a reply
//! line that another follows, a reply line that opens with an address,
//! a rule of dashes, labels that name an identifier, an original address
//! or our refused sender.

/// Whether a line is a reply line that another follows ("550-…": RFC
/// 5321's hyphen after the code).
pub(super) fn continues_reply(line: &str) -> bool {
    let b = line.trim_start().as_bytes();
    b.len() > 3 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b'-'
}

/// Whether a line opens with a reply code ("550 …", "550-…").
pub(super) fn is_reply_line(line: &str) -> bool {
    let b = line.trim_start().as_bytes();
    b.len() > 4 && b[..3].iter().all(u8::is_ascii_digit) && matches!(b[3], b'-' | b' ')
}

/// The address a reply line opens with, after its code ("550-a@x: …",
/// "550 <a@x>: …").
pub(super) fn reply_address(line: &str) -> Option<&str> {
    let t = line
        .trim_start()
        .get(4..)?
        .trim_start()
        .trim_start_matches('<');
    let end = t.find([':', '>', ' ', ',', ';']).unwrap_or(t.len());
    let token = &t[..end];
    token.contains('@').then_some(token)
}

/// Whether a reply line starts, after its code, with `address`.
pub(super) fn opens_with(line: &str, address: &str) -> bool {
    let t = line.trim_start();
    let t = match t.as_bytes() {
        [a, b, c, d, ..]
            if [a, b, c].iter().all(|x| x.is_ascii_digit()) && matches!(d, b'-' | b' ') =>
        {
            &t[4..]
        }
        _ => t,
    };
    let t = t.trim_start().trim_start_matches('<');
    t.get(..address.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(address))
}

/// A line made only of rule characters (`-----`, `=====`, `*****`).
pub(super) fn is_separator(l: &str) -> bool {
    let t = l.trim();
    t.len() >= 3
        && t.chars()
            .all(|c| matches!(c, '-' | '=' | '*' | '_' | '#' | '~'))
}

/// An address that opens a line of an SMTP reply, the code run into it
/// ("550-anna@x: mailbox unavailable" under "SMTP error … after end of
/// data:"), without the code. Only there: "500-club@x" alone on a line,
/// or in a report's fields, is a mailbox of that name.
pub(super) fn without_reply_code<'a>(addr: &'a str, rest: &str, above: &[&str]) -> &'a str {
    let coded = matches!(
        addr.as_bytes(),
        [b'4' | b'5', b'0'..=b'5', b'0'..=b'9', b'-', first, ..] if !first.is_ascii_digit()
    );
    let in_reply = || {
        above
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim_end().ends_with(':') || continues_reply(l))
    };
    if coded && !rest.trim().is_empty() && in_reply() {
        &addr[4..]
    } else {
        addr
    }
}

/// A labelled line that gives an identifier shaped like an address
/// ("Original Message ID: <x@host>", Postal's "Message Token: a@b" and
/// "Orginal Message ID:") or the envelope sender ("Mail from: x"): never
/// the recipient.
pub(super) fn is_id_label(lower_line: &str) -> bool {
    let Some((label, _)) = lower_line.split_once(':') else {
        return false;
    };
    label.len() < 40
        && (label.ends_with("message id")
            || label.ends_with("message-id")
            // X.400 gateways: "Original message identifier: <id>".
            || label.ends_with("message identifier")
            || label.ends_with("token")
            // Italian certified mail's own message id.
            || label == "identificativo messaggio"
            || label == "mail from")
}

/// A line giving the address the sender used for the recipient named
/// just above it ("Original address: x", "Original-Recipient: rfc822;x").
pub(super) fn is_original_address(line: &str) -> bool {
    line.split_once(':').is_some_and(|(label, _)| {
        let label = label.trim().to_ascii_lowercase();
        matches!(
            label.as_str(),
            "original address" | "original recipient" | "original-recipient"
        )
    })
}

/// Postfix's sender restrictions name the envelope sender before their
/// verdict ("<news@x>: Sender address rejected: Access denied"), and
/// servers quote that reply under the recipient it stopped: the address is
/// ours, not a failed recipient's.
pub(super) fn names_refused_sender(after_address: &str) -> bool {
    let rest = after_address
        .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '>' | ':' | '"'));
    rest.get(..23)
        .is_some_and(|w| w.eq_ignore_ascii_case("sender address rejected"))
}
