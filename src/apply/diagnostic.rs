//! Diagnostics reduced to what one outage has in common: the guard groups
//! damaging updates by remote host and this masked diagnostic, and the
//! reader computes it for each record on the parsing threads.

/// Masks what differs between recipients of one outage: addresses, queue
/// ids, timestamps and other long tokens with digits, so that
/// `550 5.7.1 <a@x> blocked [id 8f3a...]` groups with the same text for
/// `<b@x>`. Status codes (`5.7.1`) and reply codes (`550`) are kept: they
/// are what tells one failure from another.
///
/// Appended to `out`, which may already hold other text (the parser keeps
/// a chunk's diagnostics in one buffer).
pub(crate) fn push_normalised_diagnostic(d: &str, out: &mut String) {
    let start = out.len();
    for tok in d.split_ascii_whitespace() {
        if out.len() > start {
            out.push(' ');
        }
        let b = tok.as_bytes();
        if memchr::memchr(b'@', b).is_some() {
            out.push_str("<addr>");
        } else if b.len() >= 6 && b.iter().any(u8::is_ascii_digit) && !is_status(tok) {
            out.push('#');
        } else if tok.is_ascii() {
            let at = out.len();
            out.push_str(tok);
            out[at..].make_ascii_lowercase();
        } else {
            out.extend(tok.chars().flat_map(char::to_lowercase));
        }
        if out.len() - start > 200 {
            break;
        }
    }
}

/// `5.7.1`, possibly in brackets: three groups of at most three digits.
fn is_status(t: &str) -> bool {
    let t = t.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut parts = 0;
    for p in t.split('.') {
        parts += 1;
        if parts > 3 || p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    parts == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalise_diagnostic(d: &str) -> String {
        let mut out = String::new();
        push_normalised_diagnostic(d, &mut out);
        out
    }

    #[test]
    fn masks_addresses_and_ids() {
        let a = normalise_diagnostic("550 5.1.1 <alice@example.com>: user unknown id=8f3a2c91d");
        let b = normalise_diagnostic("550 5.1.1 <bob@example.com>: User unknown id=77aa12bb0");
        assert_eq!(a, b);
        assert!(a.contains("5.1.1"), "{a}");
        assert_ne!(
            a,
            normalise_diagnostic("550 5.7.1 <bob@example.com>: user unknown")
        );
    }
}
