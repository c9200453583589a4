//! The one mail-parser configuration for reports and returned headers,
//! and where in the bytes the message to parse starts.

use super::text::floor_char_boundary;
use mail_parser::{Encoding, Message, MessageParser, MessagePart, MimeHeaders};
use std::sync::LazyLock;

/// Only the headers read as typed values are parsed. Every other header
/// is still listed with its raw text (`headers_raw`, `header_raw` read it
/// from the message by offset), but its value is not decoded: Received
/// chains and the like cost most of the parse and are only ever read raw.
pub(crate) static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_minimal_headers()
        .with_message_ids()
        .default_header_ignore()
});

/// A text part that declares us-ascii but whose bytes are UTF-8 with
/// characters beyond ASCII, as it stands in the message (no transfer
/// encoding): an MTA's notice about an SMTPUTF8 address ("山田太郎@例え.jp")
/// under a stock "charset=us-ascii" header. mail-parser reads us-ascii as
/// Windows-1252, which would turn every such address into mojibake.
/// Only for the message as parsed, not one attached to it: mail-parser
/// gives an attached message's parts offsets that do not index the bytes
/// its `raw_message` returns.
pub(crate) fn undeclared_utf8<'x>(msg: &'x Message<'_>, part: &MessagePart<'_>) -> Option<&'x str> {
    if part.encoding != Encoding::None {
        return None;
    }
    let charset = part.content_type()?.attribute("charset")?;
    if !["us-ascii", "ascii", "ansi_x3.4-1968"]
        .iter()
        .any(|ascii| charset.eq_ignore_ascii_case(ascii))
    {
        return None;
    }
    let raw = msg
        .raw_message()
        .get(part.offset_body as usize..part.offset_end as usize)?;
    if raw.is_ascii() {
        return None;
    }
    std::str::from_utf8(raw).ok()
}

/// A text part that declares a Western single-byte charset (ISO-8859-1,
/// Windows-1252, US-ASCII: mail-parser reads all three with one
/// Windows-1252 table) whose bytes are really UTF-8: a mail client or
/// gateway that stamps its default charset on whatever it sends. Decoded
/// as declared, "désinscrire" reads "dÃ©sinscrire" and no wording
/// matches. The decoded text is mapped back to the bytes it came from;
/// when those are valid UTF-8 with characters beyond ASCII, that is what
/// the part says. Text really written in Latin-1 almost never is valid
/// UTF-8 (an accented letter would have to be followed by one to three
/// symbols from the 0x80-0xBF range), so a correct part stays as it was.
/// The five bytes Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90,
/// 0x9D) were decoded to U+FFFD and cannot be mapped back: a part that
/// holds them (UTF-8 "с", "č", "Á" …) is left as declared.
pub(crate) fn misdeclared_utf8(part: &MessagePart<'_>, text: &str) -> Option<String> {
    if text.is_ascii() {
        return None;
    }
    let charset = part.content_type()?.attribute("charset")?;
    if ![
        "iso-8859-1",
        "iso8859-1",
        "latin1",
        "windows-1252",
        "cp1252",
        "us-ascii",
        "ascii",
    ]
    .iter()
    .any(|western| charset.eq_ignore_ascii_case(western))
    {
        return None;
    }
    let bytes: Option<Vec<u8>> = text.chars().map(windows_1252_byte).collect();
    let utf8 = String::from_utf8(bytes?).ok()?;
    (!utf8.is_ascii()).then_some(utf8)
}

/// The byte a Windows-1252 (or ISO-8859-1) decoder read as this character.
fn windows_1252_byte(c: char) -> Option<u8> {
    let byte = match c {
        '\u{20AC}' => 0x80,
        '\u{201A}' => 0x82,
        '\u{0192}' => 0x83,
        '\u{201E}' => 0x84,
        '\u{2026}' => 0x85,
        '\u{2020}' => 0x86,
        '\u{2021}' => 0x87,
        '\u{02C6}' => 0x88,
        '\u{2030}' => 0x89,
        '\u{0160}' => 0x8A,
        '\u{2039}' => 0x8B,
        '\u{0152}' => 0x8C,
        '\u{017D}' => 0x8E,
        '\u{2018}' => 0x91,
        '\u{2019}' => 0x92,
        '\u{201C}' => 0x93,
        '\u{201D}' => 0x94,
        '\u{2022}' => 0x95,
        '\u{2013}' => 0x96,
        '\u{2014}' => 0x97,
        '\u{02DC}' => 0x98,
        '\u{2122}' => 0x99,
        '\u{0161}' => 0x9A,
        '\u{203A}' => 0x9B,
        '\u{0153}' => 0x9C,
        '\u{017E}' => 0x9E,
        '\u{0178}' => 0x9F,
        c => return u8::try_from(u32::from(c)).ok(),
    };
    Some(byte)
}

/// Japanese reports are often ISO-2022-JP without saying so (a 7-bit
/// charset that passes for ASCII): decode them when the escape sequences
/// are there, so the rules see the words.
pub(crate) fn undeclared_iso2022jp(text: &str) -> std::borrow::Cow<'_, str> {
    if !(text.contains("\x1b$B") || text.contains("\x1b$@") || text.contains("\x1b(J")) {
        return std::borrow::Cow::Borrowed(text);
    }
    match mail_parser::decoders::charsets::map::charset_decoder(b"iso-2022-jp") {
        Some(decode) => std::borrow::Cow::Owned(decode(text.as_bytes())),
        None => std::borrow::Cow::Borrowed(text),
    }
}

/// A text part in ISO-2022-KR (RFC 1557), which mail-parser, following
/// the WHATWG encoding standard, decodes to a lone U+FFFD: older Korean
/// servers and mail clients still send it, and every word of such a
/// notice was lost. Read from the part's own bytes, as
/// [`undeclared_utf8`] reads them (so only for the message as parsed).
pub(crate) fn iso2022kr_part(msg: &Message<'_>, part: &MessagePart<'_>) -> Option<String> {
    if !is_iso2022kr(part.content_type()?.attribute("charset")?) {
        return None;
    }
    let raw = msg
        .raw_message()
        .get(part.offset_body as usize..part.offset_end as usize)?;
    let bytes = match part.encoding {
        Encoding::None => raw.to_vec(),
        Encoding::Base64 => mail_parser::decoders::base64::base64_decode(raw)?,
        Encoding::QuotedPrintable => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(raw)?
        }
    };
    Some(iso2022kr(&bytes))
}

/// The names ISO-2022-KR goes by in a charset parameter or an encoded word.
fn is_iso2022kr(charset: &str) -> bool {
    ["iso-2022-kr", "csiso2022kr"]
        .iter()
        .any(|kr| charset.eq_ignore_ascii_case(kr))
}

/// ISO-2022-KR text decoded: its Korean runs, between SO and SI, are
/// EUC-KR with the high bit cleared, so set again they decode with
/// mail-parser's EUC-KR table. The designator (ESC $ ) C) says nothing
/// more, and each line starts in ASCII (RFC 1557).
pub(crate) fn iso2022kr(bytes: &[u8]) -> String {
    let mut euc_kr = Vec::with_capacity(bytes.len());
    let mut shifted = false;
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        if let Some(after) = rest.strip_prefix(b"\x1b$)C") {
            rest = after;
            continue;
        }
        match b {
            0x0E => shifted = true,
            0x0F => shifted = false,
            b'\n' => {
                shifted = false;
                euc_kr.push(b);
            }
            0x21..=0x7E if shifted => euc_kr.push(b | 0x80),
            _ => euc_kr.push(b),
        }
        rest = tail;
    }
    match mail_parser::decoders::charsets::map::charset_decoder(b"euc-kr") {
        Some(decode) => decode(&euc_kr),
        None => String::from_utf8_lossy(&euc_kr).into_owned(),
    }
}

/// A header whose encoded words are ISO-2022-KR ("=?ISO-2022-KR?B?...?="),
/// decoded (mail-parser gives U+FFFD for them, as for the body), with
/// every other encoded word in it decoded with mail-parser's charset
/// tables. None when it has no such word.
pub(crate) fn iso2022kr_header(raw: &str) -> Option<String> {
    let lower = raw.to_ascii_lowercase();
    if !(lower.contains("=?iso-2022-kr?") || lower.contains("=?csiso2022kr?")) {
        return None;
    }
    let mut out = String::new();
    let mut rest = raw;
    let mut after_word = false;
    while !rest.is_empty() {
        let Some(start) = rest.find("=?") else {
            out.push_str(rest);
            break;
        };
        let (before, word) = rest.split_at(start);
        let decoded = encoded_word(word);
        // White space between two encoded words is not part of the text
        // (RFC 2047 section 6.2).
        if !(after_word && decoded.is_some() && before.trim().is_empty()) {
            out.push_str(before);
        }
        match decoded {
            Some((text, used)) => {
                out.push_str(&text);
                rest = &word[used..];
                after_word = true;
            }
            None => {
                out.push_str("=?");
                rest = &word[2..];
                after_word = false;
            }
        }
    }
    Some(out)
}

/// One RFC 2047 encoded word at the start of `text`, decoded, with the
/// bytes it took.
fn encoded_word(text: &str) -> Option<(String, usize)> {
    let inner = text.strip_prefix("=?")?;
    let (charset_field, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    // A word holds no white space and is at most 75 characters long (RFC
    // 2047): a search bounded so is linear over a hostile header of
    // thousands of "=?" openings.
    let bound = inner
        .find(char::is_whitespace)
        .unwrap_or(inner.len())
        .min(floor_char_boundary(inner, 75));
    let end = inner[..bound].find("?=")?;
    let payload = &inner[..end];
    let bytes = match encoding {
        "B" | "b" => mail_parser::decoders::base64::base64_decode(payload.as_bytes())?,
        "Q" | "q" => {
            let spaced = payload.replace('_', " ");
            mail_parser::decoders::quoted_printable::quoted_printable_decode(spaced.as_bytes())?
        }
        _ => return None,
    };
    // A language suffix ("utf-8*ko") names no other table.
    let charset = charset_field.split('*').next().unwrap_or(charset_field);
    let text_out = if is_iso2022kr(charset) {
        iso2022kr(&bytes)
    } else {
        match mail_parser::decoders::charsets::map::charset_decoder(charset.as_bytes()) {
            Some(decode) => decode(&bytes),
            None => String::from_utf8_lossy(&bytes).into_owned(),
        }
    };
    let used = 2 + charset_field.len() + 1 + encoding.len() + 1 + end + 2;
    Some((text_out, used))
}

/// The report inside qmail's double bounce ("I tried to deliver a bounce
/// message to this address, but the bounce bounced!"): the failure is the
/// sender's own return path; the bounce below the marker line is about the
/// subscriber. qmail copies it whole, header and all.
pub(crate) fn bounced_bounce(bytes: &[u8]) -> Option<&[u8]> {
    const MARKER: &[u8] = b"\n--- Below this line is the original bounce.";
    let head = &bytes[..bytes.len().min(4096)];
    memchr::memmem::find(head, b"but the bounce bounced!")?;
    let at = memchr::memmem::find(bytes, MARKER)? + MARKER.len();
    let line_end = memchr::memchr(b'\n', &bytes[at..])? + at + 1;
    let inner = without_blank_lead(&bytes[line_end..]);
    // Only a message with a header of its own is a bounce to read.
    (inner.len() < bytes.len() && inner.iter().take(200).any(|&b| b == b':')).then_some(inner)
}

/// The message without blank lines before its header. A blank first line
/// ends an empty header, so a message saved with one (or with a line of
/// spaces) would be all body; when a header field follows, it is junk.
/// So is a UTF-8 byte-order mark some tools save mail with: it would make
/// the first field's name "\u{feff}From", and the message senderless.
pub(crate) fn without_blank_lead(bytes: &[u8]) -> &[u8] {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let mut rest = bytes.strip_prefix(BOM).unwrap_or(bytes);
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        if !rest[..end]
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r'))
        {
            break;
        }
        rest = &rest[end + 1..];
    }
    rest = rest.strip_prefix(BOM).unwrap_or(rest);
    let name_len = rest
        .iter()
        .take_while(|&&b| b.is_ascii_graphic() && b != b':')
        .count();
    if rest.len() < bytes.len() && name_len > 0 && rest.get(name_len) == Some(&b':') {
        rest
    } else {
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::{PARSER, iso2022kr, iso2022kr_header, misdeclared_utf8, without_blank_lead};

    #[test]
    fn iso2022kr_is_read_as_korean() {
        let bytes =
            b"\x1b$)C\x0e1856\x0f \x0eGXAv\x0f \x0e:NE95e834O4Y\x0f\nhello \x0e<v=E0E:N\x0f";
        assert_eq!(iso2022kr(bytes), "구독 해지 부탁드립니다\nhello 수신거부");
        // A line break ends a Korean run that no SI closed.
        assert_eq!(iso2022kr(b"\x0e1856\nabc"), "구독\nabc");
        assert_eq!(
            iso2022kr_header(
                "=?ISO-2022-KR?B?GyQpQw48dj1FMEU6Tg8gDj9kQzsP?= =?utf-8?Q?_=E2=9C=93?= [x]"
            )
            .as_deref(),
            Some("수신거부 요청 ✓ [x]")
        );
        assert_eq!(iso2022kr_header("=?utf-8?B?7JWI64WV?="), None);
        assert_eq!(
            iso2022kr_header("=?csISO2022KR?B?GyQpQw48dj1FMEU6Tg8=?=").as_deref(),
            Some("수신거부")
        );
        // Thousands of openings that never close are passed over.
        let hostile = format!(
            "=?iso-2022-kr?B?GyQpQw48dj1FMEU6Tg8=?= {}",
            "=?x".repeat(20_000)
        );
        assert!(iso2022kr_header(&hostile).is_some_and(|h| h.starts_with("수신거부 =?x")));
        // A broken word is kept as it stands.
        assert_eq!(
            iso2022kr_header("=?iso-2022-kr?B?not base64!?= tail").as_deref(),
            Some("=?iso-2022-kr?B?not base64!?= tail")
        );
    }

    fn repaired(raw: &[u8]) -> Option<String> {
        let msg = PARSER.parse(raw).expect("parses");
        let part = &msg.parts[0];
        misdeclared_utf8(part, part.text_contents().expect("text"))
    }

    #[test]
    fn utf8_under_a_western_label_is_read_as_utf8() {
        let latin1 = "Content-Type: text/plain; charset=iso-8859-1\n\nme désinscrire\n";
        assert_eq!(
            repaired(latin1.as_bytes()).as_deref(),
            Some("me désinscrire\n")
        );
        // Windows-1252 reads UTF-8's continuation bytes 0x80-0x9F as
        // typographic signs ("l’adresse" as "lâ€™adresse").
        let cp1252 = "Content-Type: text/plain; charset=windows-1252\n\nl’adresse\n";
        assert_eq!(repaired(cp1252.as_bytes()).as_deref(), Some("l’adresse\n"));
        // Real Latin-1, plain ASCII, and another charset are left alone.
        assert_eq!(
            repaired(b"Content-Type: text/plain; charset=iso-8859-1\n\nme d\xe9sinscrire\n"),
            None
        );
        assert_eq!(
            repaired(b"Content-Type: text/plain; charset=iso-8859-1\n\nplain\n"),
            None
        );
        let koi8 = "Content-Type: text/plain; charset=koi8-r\n\nme désinscrire\n";
        assert_eq!(repaired(koi8.as_bytes()), None);
    }

    #[test]
    fn junk_before_the_header_goes() {
        assert_eq!(
            without_blank_lead(b"\n \r\nFrom: a\n\nbody"),
            b"From: a\n\nbody"
        );
        assert_eq!(
            without_blank_lead(b"\xEF\xBB\xBFFrom: a\n\nbody"),
            b"From: a\n\nbody"
        );
        assert_eq!(without_blank_lead(b"\n\xEF\xBB\xBFFrom: a\n"), b"From: a\n");
        // A blank line before a body that is no header is kept: it is the
        // message's empty header.
        assert_eq!(without_blank_lead(b"\nplain text"), b"\nplain text");
        assert_eq!(
            without_blank_lead(b"\xEF\xBB\xBFplain"),
            b"\xEF\xBB\xBFplain"
        );
    }
}
