//! Small text helpers shared by the report parsers: status codes, reply
//! codes, whitespace. All of them are total: any input gives an answer.

pub use super::address::{addresses_in, clean_address};

use super::pattern::Pattern;
use std::sync::LazyLock;

/// `\b` and `\B` as ASCII word boundaries. A Unicode word boundary stops
/// the regex crate's fast (lazy DFA) engine at the first non-ASCII byte and
/// reruns the search in its slow NFA engines; bounce mail is full of
/// non-ASCII text, and every boundary our patterns need sits between ASCII
/// words, codes or punctuation. Other escapes are kept as written.
pub fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push_str("(?-u:\\b)"),
            Some('B') => out.push_str("(?-u:\\B)"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A built-in pattern with ASCII word boundaries, compiled on first use
/// (flags, such as case-insensitivity, are the pattern's own).
pub fn regex(pattern: &str) -> Pattern {
    Pattern::new(&ascii_word_boundaries(pattern), false, false)
}

/// The first telling enhanced status code (RFC 3463) in the text: a
/// generic `X.0.0` or `4.4.7` only when nothing more specific is there,
/// and a success (`2.x.x`, as in a transcript's "250 2.1.5 Ok") only when
/// no failure is.
pub fn find_status(text: &str) -> Option<String> {
    let mut generic = None;
    let mut success = None;
    let mut from = 0;
    while let Some((class, subject, detail, end)) = next_status(text, from) {
        if subject <= 7 {
            let code = format!("{class}.{subject}.{detail}");
            if class == 2 {
                success.get_or_insert(code);
            } else if code.ends_with(".0.0") || code == "4.4.7" {
                generic.get_or_insert(code);
            } else {
                return Some(code);
            }
        }
        from = end;
    }
    generic.or(success)
}

/// The next enhanced status code at or after `from`: a class digit (2, 4,
/// 5), a dot, and two runs of one to three digits separated by a dot, not
/// inside a longer run of digits and dots (an IP address, a version
/// number). Returns the three numbers and where the last one ends.
/// A hand-written scan: the regex this replaces, run with captures a
/// dozen times per message, was a tenth of the classifier's time.
fn next_status(text: &str, from: usize) -> Option<(u8, u32, u32, usize)> {
    let b = text.as_bytes();
    let mut i = from;
    while let Some(offset) = memchr::memchr3(b'2', b'4', b'5', &b[i..]) {
        let at = i + offset;
        i = at + 1;
        // At the start of what is left to search, or after a character
        // that is neither a digit nor a dot.
        if at > from && digit_or_dot_before(text, at) {
            continue;
        }
        // A version ("Mailman v2.0.13"), not a status.
        if at > from && b[at - 1].is_ascii_alphabetic() {
            continue;
        }
        if b.get(at + 1) != Some(&b'.') {
            continue;
        }
        let subject_end = digit_run_end(b, at + 2);
        if !(1..=3).contains(&(subject_end - (at + 2))) || b.get(subject_end) != Some(&b'.') {
            continue;
        }
        let detail_end = digit_run_end(b, subject_end + 1);
        if !(1..=3).contains(&(detail_end - (subject_end + 1))) {
            continue;
        }
        // Not followed by a digit, nor by a dot and a digit ("5.1.1.4").
        let ends = match text[detail_end..].chars().next() {
            None => true,
            Some('.') => !text[detail_end + 1..].chars().next().is_some_and(is_digit),
            Some(c) => !is_digit(c),
        };
        if !ends {
            continue;
        }
        let number = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap_or(u32::MAX);
        return Some((
            b[at] - b'0',
            number(at + 2..subject_end),
            number(subject_end + 1..detail_end),
            detail_end,
        ));
    }
    None
}

/// A digit as the regex crate's Unicode `\d` sees one, near enough: ASCII
/// digits and other decimal digits.
fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

fn digit_or_dot_before(text: &str, at: usize) -> bool {
    text[..at]
        .chars()
        .next_back()
        .is_some_and(|c| c == '.' || is_digit(c))
}

fn digit_run_end(b: &[u8], from: usize) -> usize {
    let mut end = from;
    while b.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    end
}

/// Chooses between the status a report states and the one its diagnostic
/// text carries: the more specific wins, and a reply code of another class
/// than the stated status speaks for the text.
pub fn prefer_status(
    stated: Option<String>,
    found: Option<String>,
    reply: Option<u16>,
) -> Option<String> {
    let (field, found) = match (stated, found) {
        (None, f) => return f,
        (s, None) => return s,
        (Some(s), Some(f)) => (s, f),
    };
    if field == found {
        return Some(field);
    }
    // A success the report states is not undone by a refusal quoted near
    // the address (a transcript's "503 5.5.1 No recipients" under an
    // alias that was expanded).
    if field.starts_with('2') && !found.starts_with('2') {
        return Some(field);
    }
    if let Some(r) = reply {
        let rc = (r / 100).to_string();
        if !field.starts_with(&rc) && found.starts_with(&rc) {
            return Some(found);
        }
        if field.starts_with(&rc) && !found.starts_with(&rc) {
            return Some(field);
        }
    }
    let generic = |s: &str| s.ends_with(".0.0");
    if generic(&field) {
        return Some(if generic(&found) { field } else { found });
    }
    if generic(&found) {
        return Some(field);
    }
    let parts: Vec<&str> = field.split('.').collect();
    let vague = parts.get(1) == Some(&"0") || parts.get(2) == Some(&"0");
    if (vague && !found.contains(".0")) || field == "4.4.7" || field.starts_with("5.3.") {
        return Some(found);
    }
    if field == "5.1.1" {
        return Some(if found.contains(".0") { field } else { found });
    }
    if field == "5.1.3" && found.starts_with("5.7.") {
        return Some(found);
    }
    Some(field)
}

/// Exchange's diagnostic line, "#550 5.1.1 RESOLVER.ADR.RecipNotFound ##":
/// the `#` keeps a ticket number ("#550") from passing for a reply code,
/// but a code followed by an enhanced status is one.
static EXCHANGE_SMTP_CODE: LazyLock<Pattern> =
    LazyLock::new(|| regex(r"(?:^|\s)#([245][0-9][0-9]) [245]\.\d{1,3}\.\d{1,3}\b"));

/// A code named as such after the text it belongs to: "mailbox
/// unavailable. [SMTP Error Code 550]", "(error code: 552)".
static LABELLED_SMTP_CODE: LazyLock<Pattern> = LazyLock::new(|| {
    regex(r"(?i)\b(?:smtp\s+)?(?:error|reply|response|status)\s+code\s*[:=]?\s*([245][0-9][0-9])\b")
});

/// Whether the text holds an ASCII word in any ASCII case: a cheap test
/// that rules a case-insensitive pattern out before its automaton is
/// touched. `needle` is lowercase ASCII and must hold no `k` or `s` (a
/// case-insensitive pattern also matches KELVIN SIGN and LONG S there).
pub fn contains_ascii_ci(text: &str, needle: &str) -> bool {
    debug_assert!(
        needle
            .bytes()
            .all(|b| !b.is_ascii_uppercase() && b != b'k' && b != b's')
    );
    let (hay, needle) = (text.as_bytes(), needle.as_bytes());
    let Some(&first) = needle.first() else {
        return true;
    };
    let mut from = 0;
    while let Some(at) = memchr::memchr2(first, first.to_ascii_uppercase(), &hay[from..]) {
        let at = from + at;
        if hay
            .get(at..at + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
        {
            return true;
        }
        from = at + 1;
    }
    false
}

/// The first SMTP reply code in the text (`550`, `550-`, `550 5.1.1`,
/// Exchange's `#550 5.1.1`, a labelled `[SMTP Error Code 550]`).
pub fn find_smtp_code(text: &str) -> Option<u16> {
    first_reply_code(text)
        .or_else(|| {
            memchr::memchr(b'#', text.as_bytes())
                .and_then(|_| EXCHANGE_SMTP_CODE.captures(text))
                .and_then(|c| c[1].parse().ok())
        })
        .or_else(|| {
            contains_ascii_ci(text, "code")
                .then(|| LABELLED_SMTP_CODE.captures(text))
                .flatten()
                .and_then(|c| c[1].parse().ok())
        })
}

/// The first three-digit code of class 2, 4 or 5 that stands alone: not
/// after a digit, a dot, `#`, `[`, `-` or `/` (a count: "250/250"), nor
/// after a digit's thousands comma ("1,200"), and followed by a space, `-`,
/// `;`, a comma that no digit follows ("500,000" is a number), the end of
/// the text, or `: ` and a status.
/// A success reply ("250 2.1.5 Ok" in a transcript) counts only when no
/// failure follows it.
fn first_reply_code(text: &str) -> Option<u16> {
    let b = text.as_bytes();
    let mut success = None;
    let mut i = 0;
    while let Some(offset) = memchr::memchr3(b'2', b'4', b'5', &b[i..]) {
        let at = i + offset;
        i = at + 1;
        let digits = b
            .get(at + 1..at + 3)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit));
        // Yahoo's notices write "550: 5.7.1 …": a colon, then a status.
        let followed = b.get(at + 3).is_none_or(|c| matches!(c, b' ' | b'-' | b';'))
            // A comma, but not a thousands comma: "500,000".
            || (b[at + 3] == b',' && !b.get(at + 4).is_some_and(u8::is_ascii_digit))
            || b.get(at + 3..at + 7).is_some_and(|t| {
                t[0] == b':' && t[1] == b' ' && matches!(t[2], b'2' | b'4' | b'5') && t[3] == b'.'
            })
            // ... or "554: delivery error: dd …", with no status.
            || b.get(at + 3..at + 19).is_some_and(|t| {
                t[..2] == *b": " && t[2..].eq_ignore_ascii_case(b"delivery error")
            });
        let mut before = text[..at].chars().rev();
        let preceded = match before.next() {
            // A thousands separator: "1,200 hampers".
            Some(',') => before.next().is_some_and(is_digit),
            last => last.is_some_and(|c| matches!(c, '.' | '#' | '[' | '-' | '/') || is_digit(c)),
        };
        if digits && followed && !preceded {
            if b[at] != b'2' {
                return text[at..at + 3].parse().ok();
            }
            if success.is_none() {
                success = text[at..at + 3].parse().ok();
            }
        }
    }
    success
}

/// One line, single spaces, trimmed.
pub fn collapse_ws(text: &str) -> String {
    if is_collapsed(text) {
        return text.to_string();
    }
    // Byte-wise: the same result as joining `split_whitespace`, without
    // decoding every ASCII character.
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut word_start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (space, len) = if b < 0x80 {
            (matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' '), 1)
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            (c.is_whitespace(), c.len_utf8())
        };
        if space {
            if let Some(start) = word_start.take() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&text[start..i]);
            }
        } else if word_start.is_none() {
            word_start = Some(i);
        }
        i += len;
    }
    if let Some(start) = word_start {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&text[start..]);
    }
    out
}

/// Whether `collapse_ws` would give the text back unchanged: ASCII with
/// no whitespace but single spaces between words. Found with a few
/// vectorised passes, as most header values and report lines are so.
fn is_collapsed(text: &str) -> bool {
    let b = text.as_bytes();
    text.is_ascii()
        && b.first().is_none_or(|&c| c != b' ')
        && b.last().is_none_or(|&c| c != b' ')
        && memchr::memchr3(b'\t', b'\n', b'\r', b).is_none()
        && memchr::memchr2(0x0b, 0x0c, b).is_none()
        && memchr::memmem::find(b, b"  ").is_none()
}

/// The text in Unicode's composed form (NFC) when it is not: Windows-1258
/// (Vietnamese) writes a tone mark as a character of its own after the
/// letter, as do some input methods and macOS mail (kana voicing marks,
/// Hangul jamo), and the rules' words are written composed. Half-width
/// katakana (Japanese mobile mail: "ﾒｰﾙ ｽﾄｯﾌﾟ") are widened to the
/// katakana the rules are written in; nothing else is changed to its
/// compatibility form (full-width "＠" stays what the writer typed).
pub fn composed(text: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
    // Most texts are ASCII and done with in one vectorised pass; the
    // quick check is a table lookup per character.
    if text.is_ascii() {
        return std::borrow::Cow::Borrowed(text);
    }
    // One pass for both questions: the quick check reads every character
    // when it answers Yes; on a No or Maybe it may stop early, and the
    // rest is read again (rare: most text is already composed).
    let mut half_width = false;
    let quick = is_nfc_quick(
        text.chars()
            .inspect(|&c| half_width |= is_half_width_kana(c)),
    );
    if quick == IsNormalized::Yes && !half_width {
        return std::borrow::Cow::Borrowed(text);
    }
    if quick != IsNormalized::Yes {
        half_width = text.chars().any(is_half_width_kana);
    }
    if !half_width {
        return std::borrow::Cow::Owned(text.nfc().collect());
    }
    let mut widened = String::with_capacity(text.len() + text.len() / 2);
    let mut run = String::new();
    for c in text.chars() {
        if is_half_width_kana(c) {
            run.push(c);
            continue;
        }
        // A run is widened whole: its voicing marks join the kana before them.
        widened.extend(run.nfkc());
        run.clear();
        widened.push(c);
    }
    widened.extend(run.nfkc());
    std::borrow::Cow::Owned(widened.nfc().collect())
}

/// Half-width katakana and their punctuation (U+FF61-U+FF9F).
fn is_half_width_kana(c: char) -> bool {
    ('\u{FF61}'..='\u{FF9F}').contains(&c)
}

/// The largest char boundary of `s` at or before byte `i` (its length
/// when `i` is past the end).
pub fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Cuts to at most `max` characters on a char boundary.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => text[..i].to_string(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stated_success_keeps_its_status() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(prefer_status(s("2.0.0"), s("5.5.1"), None), s("2.0.0"));
        assert_eq!(prefer_status(s("2.0.0"), s("2.1.5"), None), s("2.1.5"));
        assert_eq!(prefer_status(s("5.0.0"), s("5.1.1"), Some(550)), s("5.1.1"));
    }

    /// The regular expressions the hand-written scans replaced.
    fn status_by_regex(text: &str) -> Option<String> {
        let re = regex(r"(?:^|[^\d.A-Za-z])([245])\.(\d{1,3})\.(\d{1,3})(?:[^\d.]|\.(?:\D|$)|$)");
        let (mut generic, mut success) = (None, None);
        let mut rest = text;
        while let Some(c) = re.captures(rest) {
            let code = format!("{}.{}.{}", &c[1], &c[2], &c[3]);
            let subject: u32 = c[2].parse().unwrap_or(99);
            if subject <= 7 {
                if &c[1] == "2" {
                    success.get_or_insert(code);
                } else if code.ends_with(".0.0") || code == "4.4.7" {
                    generic.get_or_insert(code);
                } else {
                    return Some(code);
                }
            }
            let end = c.get(3).map_or(rest.len(), |m| m.end());
            rest = &rest[end..];
        }
        generic.or(success)
    }

    fn reply_code_by_regex(text: &str) -> Option<u16> {
        let re = regex(
            r"(?:^|^,|[^\d.#\[\-/,]|[^\d],)([245][0-9][0-9])(?:[ \-;]|,[^0-9]|,$|$|: [245]\.|(?i:: delivery error))",
        );
        let mut codes: Vec<u16> = Vec::new();
        let mut rest = text;
        while let Some(m) = re.captures(rest).and_then(|c| c.get(1)) {
            codes.extend(m.as_str().parse::<u16>().ok());
            // The rest starts at the separator after the code, so the
            // pattern's look-behind still sees what precedes the next one.
            rest = &rest[m.end()..];
        }
        codes
            .iter()
            .copied()
            .find(|c| c / 100 != 2)
            .or(codes.first().copied())
    }

    #[test]
    fn labelled_reply_codes_are_found() {
        let code = |t| find_smtp_code(t);
        assert_eq!(
            code("mailbox unavailable. [SMTP Error Code 550]"),
            Some(550)
        );
        assert_eq!(code("quota exceeded (ERROR CODE: 552)"), Some(552));
        assert_eq!(code("reply code=451 try later"), Some(451));
        assert_eq!(code("error code 5501"), None);
        assert_eq!(code("zip code 55012"), None);
    }

    #[test]
    fn status_and_reply_code_scans_agree_with_the_regexes() {
        let mut texts: Vec<String> = [
            "5.1.1",
            "550 5.1.1 user unknown",
            "x5.1.1",
            "55.1.1",
            "5.1.1.2",
            "5.1.1.x",
            "5.1.1.",
            "192.0.2.5.1.1",
            "4.4.7 then 5.2.2",
            "250 2.1.5 Ok 354 End data 451 4.3.0 Error: queue file write error",
            "250 2.0.0 Ok",
            "2.1.5 then 5.0.0",
            "5.0.0 5.7.1",
            "2.0.0",
            "5.1.1234 5.1.23",
            "5.12.1",
            "5.1234.1",
            "a-5.1.1",
            "(5.1.1)",
            "é5.1.1é",
            "550",
            "550-",
            "550 ",
            "#550 5.1.1",
            "[550]",
            "-550 x",
            "1550 x",
            "550,",
            "550;",
            "5501",
            "x550 y",
            "日本550 y",
            "550日本",
            "4.7.0",
            "421-4.7.0 [TSS04]",
            "550: 5.7.1 Message rejected due to local policy",
            "554: delivery error: dd Sorry your message cannot be delivered",
            "554: Delivery Error",
            "554: delivery",
            "Size: 550: 12",
            "550:5.1.1",
            "",
            "5",
            "5.",
            "5.1",
            "5.1.",
            ".5.1.1",
            "5.1.1.1.1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for fixture in crate::classify::fixtures::fixture_texts() {
            texts.extend(fixture.text.lines().map(str::to_string));
        }
        for text in &texts {
            assert_eq!(find_status(text), status_by_regex(text), "{text:?}");
            assert_eq!(
                first_reply_code(text),
                reply_code_by_regex(text),
                "{text:?}"
            );
        }
        // Where they part: the regex's Unicode `\d` took other scripts'
        // digits into the code ("5.1.1٣"); a digit of any script still
        // keeps a code from starting or ending beside it.
        assert_eq!(find_status("5.1.1٣"), None);
        assert_eq!(find_status("٣5.1.1"), None);
        assert_eq!(first_reply_code("٣550 x"), None);
    }

    #[test]
    fn collapse_ws_equals_joined_split_whitespace() {
        for text in [
            "",
            " ",
            "a",
            "  a  b\t\tc\r\n d ",
            "x\u{a0}y\u{3000}z\u{2028}",
            "é  ü\u{85}ß",
            "\u{b}\u{c}a\u{1680}",
            "日本語 テキスト\n\n次",
            "one two three\nfour five  six",
            "a \u{3000}b c\u{a0} d",
            "trailing word ",
            " leading word",
            "x \ty",
        ] {
            let expected = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(collapse_ws(text), expected, "{text:?}");
        }
        for fixture in crate::classify::fixtures::fixture_texts() {
            let expected = fixture
                .text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert_eq!(
                collapse_ws(&fixture.text),
                expected,
                "{}",
                fixture.path.display()
            );
        }
    }

    #[test]
    fn ascii_boundaries_rewrite_only_b() {
        assert_eq!(
            ascii_word_boundaries(r"\bx\B\\b\d"),
            r"(?-u:\b)x(?-u:\B)\\b\d"
        );
        assert!(regex(r"\bfoo\b").is_match("été foo bar"));
    }

    #[test]
    fn combining_tone_marks_are_composed() {
        // "ngừng" as Windows-1258 decodes it: u-horn, then the grave accent.
        let decomposed = "ng\u{1B0}\u{300}ng g\u{1B0}\u{309}i";
        assert_eq!(composed(decomposed), "ngừng gửi");
        assert!(matches!(
            composed("ngừng gửi"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert!(matches!(composed("plain"), std::borrow::Cow::Borrowed(_)));
        // A kana voicing mark written apart (macOS): "ガ" as "カ" + U+3099.
        assert_eq!(composed("\u{30AB}\u{3099}"), "ガ");
    }

    #[test]
    fn half_width_katakana_are_widened() {
        assert_eq!(
            composed("ﾒｰﾙいらないです ｽﾄｯﾌﾟしてください"),
            "メールいらないです ストップしてください"
        );
        assert_eq!(composed("ﾒﾙﾏｶﾞ解除"), "メルマガ解除");
        // Only the katakana: full-width Latin letters and signs stay.
        assert_eq!(composed("ＴＥＬ ｶﾅ ＠"), "ＴＥＬ カナ ＠");
    }

    #[test]
    fn finds_codes() {
        assert_eq!(find_status("550 5.1.1 <a@b>: no").as_deref(), Some("5.1.1"));
        assert_eq!(find_status("#5.5.0)").as_deref(), Some("5.5.0"));
        assert_eq!(find_status("192.0.2.1 said"), None);
        assert_eq!(find_status("version 4.72.1.5"), None);
        assert_eq!(find_status("Mailman v2.0.13 (101270)"), None);
        assert_eq!(find_smtp_code("host said: 550-5.1.1 no"), Some(550));
        assert_eq!(find_smtp_code("192.0.2.250 x"), None);
        // A count is no reply: cPanel's "max emails per hour (250/250 (100%))".
        assert_eq!(
            find_smtp_code("exceeded the max emails per hour (250/250 (100%))"),
            None
        );
        // Nor a number with a thousands comma, but a code after a comma is.
        assert_eq!(find_smtp_code("appeal: 1,200 hampers to fill"), None);
        assert_eq!(find_smtp_code("raised 500,000 pounds"), None);
        assert_eq!(find_smtp_code("rejected,550 no such user"), Some(550));
        // A transcript's successes before the failure are not the outcome.
        let transcript = "Out: 250 2.1.5 Ok In: DATA Out: 354 End data Out: 451 4.3.0 Error";
        assert_eq!(find_smtp_code(transcript), Some(451));
        assert_eq!(find_status(transcript).as_deref(), Some("4.3.0"));
        assert_eq!(
            find_smtp_code("250 2.0.0 Ok: queued").map(|c| c / 100),
            Some(2)
        );
        assert_eq!(
            find_status("250 2.0.0 Ok: queued").as_deref(),
            Some("2.0.0")
        );
        assert_eq!(find_smtp_code("#550"), None);
        assert_eq!(
            find_smtp_code("#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##"),
            Some(550)
        );
        assert_eq!(find_smtp_code("see ticket #550 for details"), None);
    }
}
