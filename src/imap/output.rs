//! Writes fetched messages as the message stream of bounce-tools(7),
//! MESSAGE STREAM. The NDJSON line has exactly the fields of
//! [`StreamMessage`], but borrows the message bytes instead of copying
//! them: a 20 MB message must not cost 60 MB.

use crate::stream::mbox_writer::{asctime, write_mboxrd};
#[cfg(doc)]
use crate::stream::ndjson::StreamMessage;
use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per message (bounce-tools(7), MESSAGE STREAM),
    /// byte-exact `raw`/`raw_base64`.
    Ndjson,
    /// mboxrd: `From ` lines quoted reversibly.
    Mbox,
}

/// One fetched message, borrowed from the server's response buffer.
pub struct Fetched<'a> {
    pub mailbox: &'a str,
    pub uidvalidity: u32,
    pub uid: u32,
    pub flags: Vec<String>,
    /// Seconds since the epoch and the RFC 3339 form of INTERNALDATE.
    pub internaldate: Option<(i64, String)>,
    pub body: &'a [u8],
}

struct Base64Str<'a>(&'a [u8]);

impl Serialize for Base64Str<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Base64Display::new(self.0, &BASE64))
    }
}

#[derive(Serialize)]
struct Line<'a> {
    mailbox: &'a str,
    uidvalidity: u32,
    uid: u32,
    flags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    internaldate: Option<&'a str>,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_base64: Option<Base64Str<'a>>,
}

pub fn write<W: Write>(out: &mut W, format: Format, m: &Fetched<'_>) -> io::Result<()> {
    match format {
        Format::Ndjson => {
            let text = std::str::from_utf8(m.body).ok();
            let line = Line {
                mailbox: m.mailbox,
                uidvalidity: m.uidvalidity,
                uid: m.uid,
                flags: &m.flags,
                internaldate: m.internaldate.as_ref().map(|(_, s)| s.as_str()),
                size: m.body.len() as u64,
                raw: text,
                raw_base64: if text.is_none() {
                    Some(Base64Str(m.body))
                } else {
                    None
                },
            };
            serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
            out.write_all(b"\n")
        }
        Format::Mbox => {
            let date = asctime(m.internaldate.as_ref().map_or(0, |(t, _)| *t));
            write_mboxrd(out, &envelope_sender(m.body), &date, m.body)
        }
    }
}

/// The address of the first `Return-Path:` in the header, which is what
/// the delivering MTA saw as the envelope sender; bounces usually have `<>`.
fn envelope_sender(msg: &[u8]) -> String {
    let head_end = memchr::memmem::find(msg, b"\r\n\r\n")
        .or_else(|| memchr::memmem::find(msg, b"\n\n"))
        .unwrap_or(msg.len());
    let head = &msg[..head_end.min(64 * 1024)];
    for line in head.split(|&b| b == b'\n') {
        if line.len() > 12 && line[..12].eq_ignore_ascii_case(b"return-path:") {
            let v = String::from_utf8_lossy(&line[12..]);
            let v = v
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim();
            return v.to_string();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::ndjson::StreamMessage;

    fn line(body: &[u8]) -> Vec<u8> {
        let m = Fetched {
            mailbox: "INBOX",
            uidvalidity: 5,
            uid: 9,
            flags: vec!["\\Seen".into()],
            internaldate: Some((0, "1970-01-01T00:00:00+00:00".into())),
            body,
        };
        let mut out = Vec::new();
        write(&mut out, Format::Ndjson, &m).unwrap();
        out
    }

    #[test]
    fn ndjson_matches_stream_message() {
        for body in [
            &b"Subject: \xc3\xa9\r\n\r\nhi\r\n"[..],
            &[0xff, 0, b'\r', b'\n', 0x80][..],
        ] {
            let out = line(body);
            assert!(out.ends_with(b"\n"));
            let back: StreamMessage = serde_json::from_slice(&out).unwrap();
            let mut expect = StreamMessage::from_bytes(body.to_vec());
            expect.mailbox = Some("INBOX".into());
            expect.uidvalidity = Some(5);
            expect.uid = Some(9);
            expect.flags = vec!["\\Seen".into()];
            expect.internaldate = Some("1970-01-01T00:00:00+00:00".into());
            assert_eq!(back, expect);
        }
    }

    #[test]
    fn finds_return_path() {
        assert_eq!(
            envelope_sender(b"Return-Path: <a@b>\r\nX: y\r\n\r\nbody"),
            "a@b"
        );
        assert_eq!(envelope_sender(b"Return-Path: <>\n\n"), "");
        assert_eq!(envelope_sender(b"X: y\n\nReturn-Path: <c@d>\n"), "");
    }
}
