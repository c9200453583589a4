//! Readers for the three stream shapes: mbox (mboxo and mboxrd), NDJSON from
//! bfetch, and a single message. Each yields [`RawMessage`]s one at a time
//! and never holds more than one (capped) message.
//!
//! mbox splitting follows the conservative rule: a `From ` line starts a new
//! message only at the start of the file or after a blank line, and only
//! when it looks like an envelope line (it carries a time of day), so an
//! unquoted "From here on..." paragraph in a body does not split a message.

use super::ndjson::StreamMessage;
use super::{Error, RawMessage};
use crate::record::Source;
use std::io::{self, BufRead};

/// Reads one line (through `\n`) into `line`, keeping at most `cap` bytes
/// of it; the rest of an overlong line is consumed and dropped. Returns the
/// number of bytes consumed (0 at end of input).
pub(crate) fn read_line_capped<R: BufRead + ?Sized>(
    r: &mut R,
    line: &mut Vec<u8>,
    cap: usize,
) -> io::Result<usize> {
    line.clear();
    let mut consumed = 0;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&buf[..take.min(room)]);
        r.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
    }
}

fn is_blank(line: &[u8]) -> bool {
    matches!(line, b"\n" | b"\r\n" | b"")
}

/// An envelope line: `From ` + sender + a date with a time of day.
pub fn is_envelope_line(line: &[u8]) -> bool {
    if !line.starts_with(b"From ") || line.len() > 1000 {
        return false;
    }
    line.windows(4).any(|w| {
        w[0].is_ascii_digit() && w[1] == b':' && w[2].is_ascii_digit() && w[3].is_ascii_digit()
    })
}

/// mboxrd: `>From `, `>>From `... lose one `>`. Also right for mboxo,
/// where the writer's quoting was not reversible anyway.
fn unquote_from(line: &[u8]) -> &[u8] {
    if line.first() == Some(&b'>') {
        let rest = &line[line.iter().position(|&b| b != b'>').unwrap_or(line.len())..];
        if rest.starts_with(b"From ") {
            return &line[1..];
        }
    }
    line
}

/// A read error of the stream, naming its file (or stdin).
pub(crate) fn read_error(template: &Source, source: std::io::Error) -> Error {
    Error::Read {
        path: template.path.clone().unwrap_or_else(|| "<stdin>".into()),
        source,
    }
}

pub struct MboxReader<R> {
    reader: R,
    template: Source,
    max: usize,
    line: Vec<u8>,
    /// Byte offset of the next unread line.
    pos: u64,
    index: u64,
    /// Offset of the envelope line of the message being collected.
    start: Option<u64>,
    done: bool,
}

impl<R: BufRead> MboxReader<R> {
    pub fn new(reader: R, template: Source, max: usize) -> Self {
        MboxReader {
            reader,
            template,
            max,
            line: Vec::new(),
            pos: 0,
            index: 0,
            start: None,
            done: false,
        }
    }

    fn finish(&mut self, mut bytes: Vec<u8>, truncated: bool, offset: u64) -> RawMessage {
        // The blank line before the next envelope belongs to the format.
        if bytes.ends_with(b"\r\n\r\n") {
            bytes.truncate(bytes.len() - 2);
        } else if bytes.ends_with(b"\n\n") {
            bytes.truncate(bytes.len() - 1);
        }
        let mut source = self.template.clone();
        source.index = Some(self.index);
        source.offset = Some(offset);
        self.index += 1;
        RawMessage {
            bytes,
            source,
            truncated,
            kind: crate::stream::ItemKind::Mail,
        }
    }
}

impl<R: BufRead> Iterator for MboxReader<R> {
    type Item = Result<RawMessage, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut bytes = Vec::new();
        let mut truncated = false;
        let mut prev_blank = true;
        let mut offset = self.start.unwrap_or(self.pos);
        let mut have_envelope = self.start.is_some();
        loop {
            // Fast path: the whole ordinary lines at the head of the read
            // buffer go straight into the message in one copy, without the
            // line copy. Lines that may matter to the format (blank,
            // `From `, `>From `) and a line cut by the buffer end take the
            // careful path below.
            if let Ok(buf) = self.reader.fill_buf() {
                let room = self.max.saturating_sub(bytes.len());
                // Bytes of the ordinary lines that fit, and the length of
                // a first ordinary line that does not.
                let mut end = 0;
                let mut dropped = 0;
                for nl in memchr::memchr_iter(b'\n', buf) {
                    let line = &buf[end..=nl];
                    if is_blank(line) || matches!(line[0], b'F' | b'>') {
                        break;
                    }
                    if nl + 1 > room {
                        if end == 0 {
                            dropped = nl + 1;
                        }
                        break;
                    }
                    end = nl + 1;
                }
                let take = if end > 0 {
                    bytes.extend_from_slice(&buf[..end]);
                    end
                } else {
                    truncated |= dropped > 0;
                    dropped
                };
                if take > 0 {
                    prev_blank = false;
                    self.pos += take as u64;
                    self.reader.consume(take);
                    continue;
                }
            }
            let line_start = self.pos;
            let n = match read_line_capped(&mut self.reader, &mut self.line, self.max) {
                Ok(n) => n,
                Err(source) => {
                    self.done = true;
                    return Some(Err(read_error(&self.template, source)));
                }
            };
            if n == 0 {
                self.done = true;
                // Nothing, or a lone envelope line: no message at all.
                let empty = bytes.iter().all(u8::is_ascii_whitespace) && !truncated;
                if empty && (!have_envelope || self.index == 0) {
                    return None;
                }
                return Some(Ok(self.finish(bytes, truncated, offset)));
            }
            self.pos += n as u64;
            if prev_blank && is_envelope_line(&self.line) {
                if have_envelope || !bytes.is_empty() {
                    self.start = Some(line_start);
                    return Some(Ok(self.finish(bytes, truncated, offset)));
                }
                have_envelope = true;
                offset = line_start;
                continue;
            }
            prev_blank = is_blank(&self.line);
            let line = unquote_from(&self.line);
            if n > self.line.len() || bytes.len() + line.len() > self.max {
                truncated = true;
            } else {
                bytes.extend_from_slice(line);
            }
        }
    }
}

/// The whole input is one message; a leading `From ` envelope line (as
/// procmail and formail hand it over) is dropped.
pub struct SingleReader<R> {
    reader: Option<R>,
    template: Source,
    max: usize,
}

impl<R: BufRead> SingleReader<R> {
    pub fn new(reader: R, template: Source, max: usize) -> Self {
        SingleReader {
            reader: Some(reader),
            template,
            max,
        }
    }
}

impl<R: BufRead> Iterator for SingleReader<R> {
    type Item = Result<RawMessage, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut reader = self.reader.take()?;
        let mut bytes = Vec::new();
        let mut line = Vec::new();
        let mut truncated = false;
        let mut first = true;
        loop {
            match read_line_capped(&mut reader, &mut line, self.max) {
                Ok(0) => break,
                Ok(n) if n > line.len() => truncated = true,
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(read_error(&self.template, source)));
                }
            }
            if first && line.starts_with(b"From ") {
                first = false;
                continue;
            }
            first = false;
            if bytes.len() + line.len() > self.max {
                truncated = true;
            } else {
                bytes.extend_from_slice(&line);
            }
        }
        // 0 bytes, blank lines or a lone envelope line: no message at all
        // (issue 15: an empty pipe makes no record).
        if !truncated && bytes.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let mut source = self.template.clone();
        source.index = Some(0);
        Some(Ok(RawMessage {
            bytes,
            source,
            truncated,
            kind: crate::stream::ItemKind::Mail,
        }))
    }
}

/// bfetch's NDJSON: one message object a line; blank lines are skipped.
pub struct NdjsonReader<R> {
    reader: R,
    template: Source,
    max: usize,
    line: Vec<u8>,
    line_no: u64,
    index: u64,
    done: bool,
}

impl<R: BufRead> NdjsonReader<R> {
    pub fn new(reader: R, template: Source, max: usize) -> Self {
        NdjsonReader {
            reader,
            template,
            max,
            line: Vec::new(),
            line_no: 0,
            index: 0,
            done: false,
        }
    }

    fn path(&self) -> String {
        self.template
            .path
            .clone()
            .unwrap_or_else(|| "<stdin>".into())
    }
}

impl<R: BufRead> Iterator for NdjsonReader<R> {
    type Item = Result<RawMessage, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // base64 and JSON escaping can double the size of a message.
        let cap = self.max.saturating_mul(2).saturating_add(1 << 20);
        loop {
            let n = match read_line_capped(&mut self.reader, &mut self.line, cap) {
                Ok(n) => n,
                Err(source) => {
                    self.done = true;
                    return Some(Err(Error::Read {
                        path: self.path(),
                        source,
                    }));
                }
            };
            if n == 0 {
                self.done = true;
                return None;
            }
            self.line_no += 1;
            if self.line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let index = self.index;
            self.index += 1;
            let (path, line) = (self.path(), self.line_no);
            let bad = |message: String| Error::BadLine {
                path: path.clone(),
                line,
                message,
            };
            if n > self.line.len() {
                return Some(Err(bad(format!("line longer than {cap} bytes"))));
            }
            // A first line that is no message object means the input is
            // not bfetch's NDJSON at all: one error, not one per line.
            let first = index == 0;
            let parsed = match serde_json::from_slice::<StreamMessage>(&self.line) {
                Ok(m) if !first || m.raw.is_some() || m.raw_base64.is_some() => m,
                Ok(_) => {
                    self.done = true;
                    return Some(Err(bad(
                        "not a bfetch NDJSON message stream (no \"raw\" or \"raw_base64\"); \
                         nothing read from this input"
                            .into(),
                    )));
                }
                Err(e) if first => {
                    self.done = true;
                    return Some(Err(bad(format!(
                        "not a bfetch NDJSON message stream ({e}); nothing read from this input"
                    ))));
                }
                Err(e) => return Some(Err(bad(format!("not a message object: {e}")))),
            };
            let mut source = self.template.clone();
            source.index = Some(index);
            source.mailbox = parsed.mailbox.clone();
            source.uidvalidity = parsed.uidvalidity;
            source.uid = parsed.uid;
            let mut bytes = match parsed.into_bytes() {
                Ok(b) => b,
                Err(e) => return Some(Err(bad(e))),
            };
            let truncated = bytes.len() > self.max;
            bytes.truncate(self.max);
            return Some(Ok(RawMessage {
                bytes,
                source,
                truncated,
                kind: crate::stream::ItemKind::Mail,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The splitting rules applied line by line to the whole input: what
    /// the reader must give whatever its buffer size.
    fn reference(input: &[u8], max: usize) -> Vec<(Vec<u8>, bool, u64)> {
        // The blank line before the next envelope (or the end) belongs
        // to the format.
        let trim = |mut b: Vec<u8>| {
            if b.ends_with(b"\r\n\r\n") {
                b.truncate(b.len() - 2);
            } else if b.ends_with(b"\n\n") {
                b.truncate(b.len() - 1);
            }
            b
        };
        let mut out = Vec::new();
        let mut lines: Vec<(&[u8], u64)> = Vec::new();
        let mut pos = 0;
        for line in input.split_inclusive(|&b| b == b'\n') {
            lines.push((line, pos as u64));
            pos += line.len();
        }
        let mut i = 0;
        let mut start: Option<u64> = None;
        loop {
            let mut bytes = Vec::new();
            let mut truncated = false;
            let mut prev_blank = true;
            let mut have_envelope = start.is_some();
            let mut offset = start.unwrap_or(lines.get(i).map_or(pos as u64, |l| l.1));
            loop {
                let Some(&(line, at)) = lines.get(i) else {
                    let empty = bytes.iter().all(u8::is_ascii_whitespace) && !truncated;
                    if !(empty && (!have_envelope || out.is_empty())) {
                        out.push((trim(bytes), truncated, offset));
                    }
                    return out;
                };
                i += 1;
                let kept = &line[..line.len().min(max)];
                if prev_blank && is_envelope_line(kept) {
                    if have_envelope || !bytes.is_empty() {
                        start = Some(at);
                        break;
                    }
                    have_envelope = true;
                    offset = at;
                    continue;
                }
                prev_blank = is_blank(kept);
                let kept = unquote_from(kept);
                if line.len() > max || bytes.len() + kept.len() > max {
                    truncated = true;
                } else {
                    bytes.extend_from_slice(kept);
                }
            }
            out.push((trim(bytes), truncated, offset));
        }
    }

    #[test]
    fn any_buffer_size_splits_like_the_rules() {
        let pieces: [&[u8]; 12] = [
            b"From a@b Mon Jan  1 00:00:00 2024\n",
            b"From a@b Mon Jan  1 00:00:00 2024\r\n",
            b"\n",
            b"\r\n",
            b">From quoted\n",
            b">>From twice\n",
            b"From no time here\n",
            b"Subject: a line\n",
            b"Final-Recipient: rfc822; x@y\n",
            b"a long line a long line a long line a long line a long line\n",
            b"no newline at the end",
            b"x\r\n",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..400 {
            let mut input = Vec::new();
            for _ in 0..(next() % 40) {
                input.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
            }
            let max = [40, 100, 300, 1 << 20][(next() % 4) as usize];
            let expected = reference(&input, max);
            for capacity in [1, 7, 64, 4096] {
                let reader = std::io::BufReader::with_capacity(capacity, &input[..]);
                let got: Vec<_> = MboxReader::new(reader, Source::default(), max)
                    .map(|m| {
                        let m = m.unwrap();
                        (m.bytes, m.truncated, m.source.offset.unwrap())
                    })
                    .collect();
                assert_eq!(
                    got,
                    expected,
                    "buffer {capacity}, cap {max}, input {:?}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }

    fn split(input: &[u8]) -> Vec<(Vec<u8>, u64)> {
        MboxReader::new(input, Source::default(), 1 << 20)
            .map(|m| {
                let m = m.unwrap();
                (m.bytes, m.source.offset.unwrap())
            })
            .collect()
    }

    #[test]
    fn splits_only_after_blank_line_on_envelope_lines() {
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nS: 1\n\nbody\nFrom me to you 10:00\n\nFrom nobody without time\n\nFrom c@d Tue Jan  2 00:00:00 2024\nS: 2\n\n>From quoted\n";
        let msgs = split(mbox);
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0].0,
            b"S: 1\n\nbody\nFrom me to you 10:00\n\nFrom nobody without time\n"
        );
        assert_eq!(msgs[0].1, 0);
        assert_eq!(msgs[1].0, b"S: 2\n\nFrom quoted\n");
        assert_eq!(msgs[1].1, 93);
    }

    #[test]
    fn crlf_mbox_and_truncated_end() {
        let msgs = split(b"From a Mon Jan  1 00:00:00 2024\r\nS: 1\r\n\r\nx\r\n\r\nFrom b Mon Jan  1 00:00:01 2024\r\nS: 2\r\n");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].0, b"S: 1\r\n\r\nx\r\n");
        assert_eq!(msgs[1].0, b"S: 2\r\n");
    }

    #[test]
    fn caps_message_size() {
        let mut input = b"From a Mon Jan  1 00:00:00 2024\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        let m: Vec<_> = MboxReader::new(&input[..], Source::default(), 100).collect();
        let m = m[0].as_ref().unwrap();
        assert!(m.truncated);
        assert!(m.bytes.len() <= 100);
    }

    #[test]
    fn single_drops_envelope() {
        let m: Vec<_> = SingleReader::new(
            &b"From x Mon Jan  1 00:00:00 2024\nS: 1\n\nFrom y\n"[..],
            Source::default(),
            100,
        )
        .collect();
        assert_eq!(m[0].as_ref().unwrap().bytes, b"S: 1\n\nFrom y\n");
    }

    #[test]
    fn ndjson_errors_name_the_line() {
        let input = b"{\"raw\":\"S: 1\\n\",\"uid\":7,\"mailbox\":\"INBOX\",\"uidvalidity\":3}\n\nnot json\n{\"raw_base64\":\"/w==\"}\n";
        let out: Vec<_> = NdjsonReader::new(&input[..], Source::default(), 100).collect();
        assert_eq!(out.len(), 3);
        let first = out[0].as_ref().unwrap();
        assert_eq!(first.source.uid, Some(7));
        assert!(out[1].as_ref().unwrap_err().to_string().contains("line 3"));
        assert_eq!(out[2].as_ref().unwrap().bytes, vec![0xff]);
    }
}
