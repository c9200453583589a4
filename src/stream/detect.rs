//! Format and line-ending detection from the first bytes of an input.

use std::io::{self, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Auto,
    Mbox,
    Ndjson,
    Eml,
    Maildir,
    /// ESP webhook events (bclassify(1), ESP EVENTS).
    Events,
    /// `ADDRESS<TAB>SMTP reply` lines.
    Reply,
    /// Postfix, Exim, Sendmail log lines; PowerMTA accounting CSV.
    Maillog,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => Format::Auto,
            "mbox" => Format::Mbox,
            "ndjson" | "jsonl" => Format::Ndjson,
            "eml" | "message" | "one" => Format::Eml,
            "maildir" => Format::Maildir,
            "events" | "esp" => Format::Events,
            "reply" | "replies" => Format::Reply,
            "maillog" | "log" => Format::Maillog,
            _ => {
                return Err(format!(
                    "unknown input format {s:?} (auto, mbox, ndjson, eml, maildir, events, reply, maillog)"
                ));
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEndings {
    Lf,
    Crlf,
    Cr,
}

pub fn format(head: &[u8]) -> Format {
    let start = head
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(head.len());
    let head_trimmed = &head[start..];
    if head_trimmed.starts_with(b"[") {
        Format::Events
    } else if head_trimmed.starts_with(b"{") {
        if first_object_is_event(head_trimmed) {
            Format::Events
        } else {
            Format::Ndjson
        }
    } else if head.starts_with(b"From ") {
        Format::Mbox
    } else {
        Format::Eml
    }
}

/// Why the first bytes of an input that would be read as one message
/// cannot be mail, or None when they can: binary data (NUL bytes or mostly
/// control characters) or JSON that is not bfetch's NDJSON (an array, a
/// string), unless the first line is a header field. bounce-tools(7),
/// MESSAGE STREAM.
pub fn not_mail(head: &[u8]) -> Option<&'static str> {
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let head = &head[start..];
    let first_line = &head[..memchr::memchr(b'\n', head).unwrap_or(head.len())];
    let name_len = first_line
        .iter()
        .position(|&b| !(b'!'..=b'~').contains(&b) || b == b':')
        .unwrap_or(first_line.len());
    if head.starts_with(b"[") || head.starts_with(b"\"") {
        return Some("JSON that is not a message stream (bfetch's NDJSON has one object a line)");
    }
    if name_len > 0 && first_line.get(name_len) == Some(&b':') {
        return None;
    }
    let sample = &head[..head.len().min(4096)];
    let control = sample
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
        .count();
    (sample.contains(&0) || control * 10 > sample.len()).then_some("binary data, not mail")
}

/// Whether the first JSON object of the input is an ESP event rather than
/// a bfetch NDJSON line: a message line carries `raw` or `raw_base64`; an
/// event names its provider's shape in its first top-level keys. Only the
/// first line is looked at (an event document may span lines; then its
/// first line is `{` alone and the keys follow).
fn first_object_is_event(head: &[u8]) -> bool {
    let end = head.len().min(4096);
    let window = &head[..end];
    let has = |needle: &[u8]| memchr::memmem::find(window, needle).is_some();
    if has(b"\"raw\"") || has(b"\"raw_base64\"") || has(b"\"uidvalidity\"") {
        return false;
    }
    [
        &b"\"notificationType\""[..],
        b"\"eventType\"",
        b"\"TopicArn\"",
        b"\"sg_event_id\"",
        b"\"RecordType\"",
        b"\"event-data\"",
        b"\"msys\"",
        b"\"event\"",
    ]
    .iter()
    .any(|k| has(k))
}

/// CR-only files (classic Mac) are the only case that needs translating:
/// LF and CRLF are both read natively.
pub fn line_endings(head: &[u8]) -> LineEndings {
    match memchr::memchr2(b'\r', b'\n', head) {
        Some(i) if head[i] == b'\r' => match head.get(i + 1) {
            Some(b'\n') => LineEndings::Crlf,
            Some(_) => LineEndings::Cr,
            None => LineEndings::Crlf,
        },
        _ => LineEndings::Lf,
    }
}

/// Reads a CR-only stream as LF: every CR becomes LF, except the CR of a
/// CRLF pair, which is dropped.
pub struct CrToLf<R> {
    inner: R,
    last_was_cr: bool,
}

impl<R> CrToLf<R> {
    pub fn new(inner: R) -> Self {
        CrToLf {
            inner,
            last_was_cr: false,
        }
    }
}

impl<R: Read> Read for CrToLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut w = 0;
            for r in 0..n {
                let b = buf[r];
                if b == b'\n' && self.last_was_cr {
                    self.last_was_cr = false;
                    continue;
                }
                self.last_was_cr = b == b'\r';
                buf[w] = if b == b'\r' { b'\n' } else { b };
                w += 1;
            }
            if w > 0 {
                return Ok(w);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(format(b"From a@b Mon Jan  1 00:00:00 2024\n"), Format::Mbox);
        assert_eq!(format(b"{\"raw\":\"x\"}\n"), Format::Ndjson);
        assert_eq!(format(b"Received: x\n"), Format::Eml);
        assert_eq!(format(b""), Format::Eml);
        assert_eq!(format(b"[{\"event\":\"bounce\"}]"), Format::Events);
        assert_eq!(
            format(b"{\"event\":\"bounce\",\"sg_event_id\":\"x\"}\n"),
            Format::Events
        );
        assert_eq!(
            format(b"{\"mailbox\":\"INBOX\",\"raw\":\"\\\"event\\\"\"}\n"),
            Format::Ndjson
        );
    }

    #[test]
    fn tells_what_is_not_mail() {
        assert_eq!(not_mail(b""), None);
        assert_eq!(not_mail(b"Received: x\n\nbody\0"), None);
        assert_eq!(not_mail(b"hello\n"), None);
        assert!(not_mail(b"\x7fELF\x02\x01\x01\0\0\0").is_some());
        assert!(not_mail(b"\x01\x02\x03\x04\x05abc").is_some());
        assert!(not_mail(b"[{\"event\":\"bounce\"}]").is_some());
        assert!(not_mail(b"  \"a string\"\n").is_some());
    }

    #[test]
    fn detects_line_endings() {
        assert_eq!(line_endings(b"a\nb"), LineEndings::Lf);
        assert_eq!(line_endings(b"a\r\nb"), LineEndings::Crlf);
        assert_eq!(line_endings(b"a\rb\r"), LineEndings::Cr);
    }

    #[test]
    fn translates_cr() {
        let mut out = String::new();
        CrToLf::new(&b"a\rb\r\r\nc"[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "a\nb\n\nc");
    }
}
