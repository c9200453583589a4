//! Diagnostics with what differs between recipients masked, so that the
//! same refusal sent to a thousand addresses counts as one line in the
//! report (breport(1), DIAGNOSTICS): addresses, numbers and ids become
//! `<address>` and `#`; reply codes (`550`) and enhanced status codes
//! (`5.7.1`) stay, since they are what tells one failure from another.

/// The longest masked diagnostic kept, in bytes (cut at a character).
pub(crate) const MAX_LEN: usize = 160;

/// `d` masked, on one line, at most [`MAX_LEN`] bytes.
pub(crate) fn mask(d: &str) -> String {
    let mut out = String::with_capacity(d.len().min(MAX_LEN + 4));
    for tok in d
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|t| !t.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        if tok.contains('@') {
            // Keep the brackets and punctuation around an address.
            let start = tok.find(|c: char| !"<([\"'".contains(c)).unwrap_or(0);
            let end = tok
                .rfind(|c: char| !">)]\"':;,.".contains(c))
                .map_or(tok.len(), |e| after(tok, e))
                .max(start);
            let (before, rest) = (&tok[..start], &tok[end..]);
            out.push_str(before);
            out.push_str(if before.ends_with('<') && rest.starts_with('>') {
                "address"
            } else {
                "<address>"
            });
            out.push_str(rest);
        } else if !tok.bytes().any(|b| b.is_ascii_digit()) || is_code(tok) {
            out.push_str(tok);
        } else if tok.len() >= 6 {
            // Ids, IP addresses, timestamps, hashes: the whole token but
            // the brackets and punctuation around it.
            let start = tok.find(|c: char| c.is_alphanumeric()).unwrap_or(0);
            let end = tok
                .rfind(|c: char| c.is_alphanumeric())
                .map_or(tok.len(), |e| after(tok, e));
            out.push_str(&tok[..start]);
            out.push('#');
            out.push_str(&tok[end.max(start)..]);
        } else {
            // Short numbers ("in 10 minutes", "(3)"): each run of digits.
            let mut in_digits = false;
            for c in tok.chars() {
                if c.is_ascii_digit() {
                    if !in_digits {
                        out.push('#');
                    }
                    in_digits = true;
                } else {
                    out.push(c);
                    in_digits = false;
                }
            }
        }
        if out.len() > MAX_LEN {
            let mut cut = MAX_LEN;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
            break;
        }
    }
    out
}

/// The byte after the character at `i`.
fn after(s: &str, i: usize) -> usize {
    i + s[i..].chars().next().map_or(0, char::len_utf8)
}

/// A reply code (`550`, `550-`) or an enhanced status code
/// (`5.7.1`, `#5.1.1`, `(4.2.2)`), possibly after a reply code
/// (`550-5.7.1`).
fn is_code(tok: &str) -> bool {
    let t = tok.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if t.len() == 3
        && t.bytes().all(|b| b.is_ascii_digit())
        && matches!(t.as_bytes()[0], b'2' | b'4' | b'5')
    {
        return true;
    }
    let t = match t.split_once('-') {
        Some((code, rest)) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => t,
    };
    let mut parts = 0;
    for p in t.split('.') {
        parts += 1;
        if parts > 3 || p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    parts == 3 && matches!(t.as_bytes()[0], b'2' | b'4' | b'5')
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_addresses_numbers_and_ids() {
        let a = mask("550 5.1.1 <alice@example.com>: user unknown (id=8f3a2c91d)");
        let b = mask("550 5.1.1 <bob@example.org>: user unknown (id=77aa12bb0)");
        assert_eq!(a, b);
        assert_eq!(a, "550 5.1.1 <address>: user unknown (#)");
        assert_eq!(
            mask("421-4.7.0 [192.0.2.17 15] try again in 10 minutes"),
            "421-4.7.0 [# #] try again in # minutes"
        );
        assert_eq!(mask("a\nb\x1b[31m c"), "a b [#m c");
        assert_ne!(mask("550 5.7.1 blocked"), mask("550 5.1.1 blocked"));
    }

    #[test]
    fn any_text_is_safe() {
        for d in [
            "é@é",
            "<é@x.é>",
            "1é2é3é4",
            "ééé123456ééé",
            "@",
            "<>@<>",
            "\u{0}1@",
        ] {
            let _ = mask(d);
        }
    }

    #[test]
    fn long_text_is_cut_at_a_character() {
        let m = mask(&"é".repeat(500));
        assert!(m.len() <= super::MAX_LEN + '…'.len_utf8(), "{}", m.len());
        assert!(m.ends_with('…'));
    }
}
