//! The text of a signed return path (btag(1), FORMAT): the subscriber
//! address escaped into a local part that survives MTAs which lower-case
//! it, and the tag as lower-case base32.

/// RFC 4648 base32 alphabet, lower-cased: case-folding leaves it intact.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The escape character: `+` then two hex digits (either case) stand for
/// one octet, as in Courier's VERP encoding.
const ESCAPE: u8 = b'+';

/// Octets that stand for themselves in the local part. `=` may stand for
/// itself in the subscriber's local part (the last `=` separates the
/// domain, which never holds one), but not in the domain.
fn is_plain(b: u8, in_domain: bool) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') || (b == b'=' && !in_domain)
}

/// Appends `text` escaped: octets outside the plain set become `+XX`, and
/// so does a dot after a dot (two dots in a row make no dot-atom).
pub fn escape_into(out: &mut String, text: &str, in_domain: bool) {
    for &b in text.as_bytes() {
        if is_plain(b, in_domain) && !(b == b'.' && out.ends_with('.')) {
            out.push(b as char);
        } else {
            out.push(ESCAPE as char);
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
    }
}

/// The text `escape_into` wrote; None when an escape is broken, an octet
/// is outside the set the encoder writes, or the result is not UTF-8.
pub fn unescape(text: &str, in_domain: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == ESCAPE {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else if is_plain(b, in_domain) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// The first `chars` characters of the lower-case base32 of `bytes`
/// (`chars * 5` bits at most `bytes.len() * 8`).
pub fn base32(bytes: &[u8], chars: usize) -> String {
    let mut out = String::with_capacity(chars);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 && out.len() < chars {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    out
}

/// Whether `text` is only base32 characters, in either case.
pub fn is_base32(text: &str) -> bool {
    text.bytes()
        .all(|b| BASE32.contains(&b.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648() {
        // RFC 4648 section 10, lower-cased and without padding.
        assert_eq!(base32(b"foobar", 9), "mzxw6ytbo");
        assert_eq!(base32(b"fooba", 8), "mzxw6ytb");
        assert_eq!(base32(b"f", 1), "m");
    }

    #[test]
    fn escapes_round_trip() {
        for (text, domain) in [
            ("alice", false),
            ("alice+news", false),
            ("a=b=c", false),
            ("o'hara", false),
            ("\"john doe\"", false),
            ("a..b", false),
            (".lead.trail.", false),
            ("jörg", false),
            ("100%", false),
            ("example.org", true),
            ("bücher.example", true),
            ("odd=domain", true),
        ] {
            let mut out = String::new();
            escape_into(&mut out, text, domain);
            assert!(
                out.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.=+".contains(&b)),
                "{out}"
            );
            assert!(!out.contains(".."), "{out}");
            assert!(!domain || !out.contains('='), "{out}");
            assert_eq!(unescape(&out, domain).as_deref(), Some(text), "{out}");
            assert_eq!(
                unescape(&out.to_ascii_uppercase(), domain).map(|s| s.to_lowercase()),
                Some(text.to_lowercase()),
                "{out} upper-cased"
            );
        }
        assert_eq!(unescape("a+2", false), None);
        assert_eq!(unescape("a+zz", false), None);
        assert_eq!(unescape("a b", false), None);
        assert_eq!(unescape("a=b", true), None);
        assert_eq!(unescape("+ff", false), None, "not UTF-8");
    }
}
