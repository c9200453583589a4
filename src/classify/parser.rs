//! The one mail-parser configuration for reports and returned headers,
//! and where in the bytes the message to parse starts.

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
    use super::{PARSER, misdeclared_utf8, without_blank_lead};

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
