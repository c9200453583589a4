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
