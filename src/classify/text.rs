//! Small text helpers shared by the report parsers: addresses, status
//! codes, whitespace. All of them are total: any input gives an answer.

use regex::Regex;
use std::sync::LazyLock;

static STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^\d.])([245])\.(\d{1,3})\.(\d{1,3})(?:[^\d.]|\.(?:\D|$)|$)").unwrap()
});
static SMTP_CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^\d.#\[\-])([245][0-9][0-9])(?:[ \-]|$)").unwrap());
pub static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-\x{80}-\x{10FFFF}]+@[A-Za-z0-9\-\x{80}-\x{10FFFF}]+(?:\.[A-Za-z0-9\-\x{80}-\x{10FFFF}]+)*"#).unwrap()
});

/// The first enhanced status code (RFC 3463) in the text.
pub fn find_status(text: &str) -> Option<String> {
    STATUS
        .captures(text)
        .map(|c| format!("{}.{}.{}", &c[1], &c[2], &c[3]))
}

/// The first SMTP reply code in the text (`550`, `550-`, `550 5.1.1`).
pub fn find_smtp_code(text: &str) -> Option<u16> {
    SMTP_CODE.captures(text).and_then(|c| c[1].parse().ok())
}

/// One line, single spaces, trimmed.
pub fn collapse_ws(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Cuts to at most `max` characters on a char boundary.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// Decodes RFC 6533 `\x{HEX}` escapes in utf-8 address types.
fn decode_utf8_escapes(s: &str) -> String {
    if !s.contains("\\x{") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\x{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        match after.find('}') {
            Some(j) => match u32::from_str_radix(&after[..j], 16)
                .ok()
                .and_then(char::from_u32)
            {
                Some(c) => {
                    out.push(c);
                    rest = &after[j + 1..];
                }
                None => {
                    out.push_str("\\x{");
                    rest = after;
                }
            },
            None => {
                out.push_str("\\x{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Normalises an address as written in a report: drops `<>`, quotes, a
/// trailing dot or colon, lower-cases the domain. None when it is not an
/// address.
pub fn clean_address(raw: &str) -> Option<String> {
    let decoded = decode_utf8_escapes(raw.trim());
    let mut s = decoded.as_str();
    if let (Some(a), Some(b)) = (s.find('<'), s.rfind('>')) {
        if a < b {
            s = &s[a + 1..b];
        }
    }
    let s = s
        .trim()
        .trim_matches(|c: char| {
            matches!(
                c,
                '"' | '\'' | '<' | '>' | ',' | ';' | ':' | '(' | ')' | '[' | ']'
            )
        })
        .trim_end_matches('.');
    let s = s.strip_prefix("mailto:").unwrap_or(s);
    let (local, domain) = s.rsplit_once('@')?;
    let local = local.trim_matches('"');
    if local.is_empty()
        || domain.is_empty()
        || s.contains(char::is_whitespace)
        || domain.contains(['@', '<', '>', '"', '/', '\\'])
        || domain.starts_with(['.', '-'])
    {
        return None;
    }
    Some(format!("{}@{}", local, domain.to_lowercase()))
}

/// Every address-looking token in the text, cleaned, in order.
pub fn addresses_in(text: &str) -> impl Iterator<Item = String> + '_ {
    ADDRESS
        .find_iter(text)
        .filter_map(|m| clean_address(m.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_codes() {
        assert_eq!(find_status("550 5.1.1 <a@b>: no").as_deref(), Some("5.1.1"));
        assert_eq!(find_status("#5.5.0)").as_deref(), Some("5.5.0"));
        assert_eq!(find_status("192.0.2.1 said"), None);
        assert_eq!(find_status("version 4.72.1.5"), None);
        assert_eq!(find_smtp_code("host said: 550-5.1.1 no"), Some(550));
        assert_eq!(find_smtp_code("192.0.2.250 x"), None);
        assert_eq!(find_smtp_code("#550"), None);
    }

    #[test]
    fn cleans_addresses() {
        assert_eq!(
            clean_address("<Foo@Example.COM>").as_deref(),
            Some("Foo@example.com")
        );
        assert_eq!(clean_address("\"a@b.c\".").as_deref(), Some("a@b.c"));
        assert_eq!(clean_address("not an address"), None);
        assert_eq!(clean_address("@b"), None);
    }
}
