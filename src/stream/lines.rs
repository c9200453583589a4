//! Line inputs (bclassify(1), SMTP REPLIES AND LOGS): `--input reply`
//! (`ADDRESS<TAB>REPLY`, the continuation lines of a multi-line reply
//! joined to their first) and `--input maillog` (the lines of a mail log
//! that report a delivery attempt; a PowerMTA accounting file's rows with
//! its header). One item per reply or log line; one line in memory.

use crate::record::Source;
use crate::stream::mbox::{read_error, read_line_capped};
use crate::stream::{Error, ItemKind, RawMessage};
use std::io::BufRead;

/// Longest line kept: a reply or log line is short; the rest is cut
/// (and a multi-line reply is joined up to this length).
const MAX_LINE: usize = 64 << 10;

struct Lines<R> {
    reader: R,
    template: Source,
    line: Vec<u8>,
    line_no: u64,
    pos: u64,
    index: u64,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R, template: Source) -> Self {
        Lines {
            reader,
            template,
            line: Vec::new(),
            line_no: 0,
            pos: 0,
            index: 0,
            done: false,
        }
    }

    /// The next line without its ending; None at the end.
    fn next_line(&mut self) -> Option<Result<(Vec<u8>, u64), Error>> {
        if self.done {
            return None;
        }
        match read_line_capped(&mut self.reader, &mut self.line, MAX_LINE) {
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(n) => {
                let offset = self.pos;
                self.pos += n as u64;
                self.line_no += 1;
                let mut l = std::mem::take(&mut self.line);
                while l.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                    l.pop();
                }
                Some(Ok((l, offset)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(read_error(&self.template, e)))
            }
        }
    }

    fn item(&mut self, bytes: Vec<u8>, offset: u64, kind: ItemKind) -> RawMessage {
        let mut source = self.template.clone();
        source.index = Some(self.index);
        source.offset = Some(offset);
        self.index += 1;
        RawMessage {
            bytes,
            source,
            truncated: false,
            kind,
        }
    }
}

/// `ADDRESS<TAB>REPLY` lines.
pub struct ReplyLines<R> {
    lines: Lines<R>,
    /// A reply whose last line said more follows (`550-…`).
    pending: Option<(Vec<u8>, u64)>,
    /// A line read ahead that starts the next reply.
    ahead: Option<(Vec<u8>, u64)>,
}

impl<R: BufRead> ReplyLines<R> {
    pub fn new(reader: R, template: Source) -> Self {
        ReplyLines {
            lines: Lines::new(reader, template),
            pending: None,
            ahead: None,
        }
    }
}

/// Where the reply text of a line starts: after the first TAB, or after
/// leading whitespace on a line that is only a reply (a continuation).
fn reply_text(line: &[u8]) -> &[u8] {
    match memchr::memchr(b'\t', line) {
        Some(i) => &line[i + 1..],
        None => line.trim_ascii_start(),
    }
}

/// The reply line `text` says another line follows: `250-…`.
fn continues(text: &[u8]) -> bool {
    // The last reply line of what was joined so far.
    text.len() >= 4 && text[..3].iter().all(u8::is_ascii_digit) && text[3] == b'-'
}

/// A line that continues the reply to `address` with `code`: no address
/// of its own (or the same), and the same reply code.
fn is_continuation(line: &[u8], address: &[u8], code: &[u8]) -> bool {
    let own = match memchr::memchr(b'\t', line) {
        Some(i) => line[..i].trim_ascii(),
        None => b"",
    };
    let text = reply_text(line);
    (own.is_empty() || own == address)
        && text.len() >= 4
        && &text[..3] == code
        && matches!(text[3], b'-' | b' ')
}

impl<R: BufRead> Iterator for ReplyLines<R> {
    type Item = Result<RawMessage, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let next = match self.ahead.take() {
                Some(x) => Some(Ok(x)),
                None => self.lines.next_line(),
            };
            let (line, offset) = match next {
                None => {
                    let (bytes, offset) = self.pending.take()?;
                    return Some(Ok(self.lines.item(bytes, offset, ItemKind::Reply)));
                }
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(x)) => x,
            };
            if let Some((joined, start)) = self.pending.take() {
                // The last line joined so far tells whether more follows.
                let last = joined
                    .rsplit(|&b| b == b'\n')
                    .next()
                    .map(reply_text)
                    .unwrap_or_default();
                let address = joined
                    .split(|&b| b == b'\t')
                    .next()
                    .unwrap_or_default()
                    .trim_ascii();
                if continues(last)
                    && joined.len() < MAX_LINE
                    && is_continuation(&line, address, &last[..3])
                {
                    let mut joined = joined;
                    joined.push(b'\n');
                    joined.extend_from_slice(reply_text(&line));
                    self.pending = Some((joined, start));
                    continue;
                }
                self.ahead = Some((line, offset));
                return Some(Ok(self.lines.item(joined, start, ItemKind::Reply)));
            }
            let trimmed = line.trim_ascii();
            if trimmed.is_empty() || trimmed.starts_with(b"#") {
                continue;
            }
            if memchr::memchr(b'\t', &line).is_none() {
                let line_no = self.lines.line_no;
                return Some(Err(Error::BadLine {
                    path: self
                        .lines
                        .template
                        .path
                        .clone()
                        .unwrap_or_else(|| "<stdin>".into()),
                    line: line_no,
                    message: "expected ADDRESS<TAB>REPLY".into(),
                }));
            }
            self.pending = Some((line, offset));
        }
    }
}

/// Bytes of deferred recipients and texts remembered until their message
/// is delivered, bounces or expires; past this the memory starts afresh
/// (an expiry then names none of the recipients forgotten).
const MAX_WAITING_BYTES: usize = 32 << 20;
/// Longest deferral text remembered.
const MAX_REMEMBERED_TEXT: usize = 1000;

/// What remembering one deferred recipient costs, roughly.
fn remembered_size(queue_id: &str, recipient: &str, text: &str) -> usize {
    queue_id.len() + recipient.len() + text.len() + 64
}

/// Mail-log lines that report a delivery attempt.
pub struct LogLines<R> {
    lines: Lines<R>,
    /// The header of a PowerMTA accounting file, once seen.
    csv_header: Option<Vec<u8>>,
    /// Postfix: per queue id, the recipients still deferred and the text
    /// of their last deferral. Postfix names no recipient when it gives
    /// up on a message (`status=expired`), so the reader does.
    waiting: std::collections::HashMap<String, Vec<(String, String)>>,
    waiting_bytes: usize,
}

impl<R: BufRead> LogLines<R> {
    pub fn new(reader: R, template: Source) -> Self {
        LogLines {
            lines: Lines::new(reader, template),
            csv_header: None,
            waiting: std::collections::HashMap::new(),
            waiting_bytes: 0,
        }
    }

    /// Keeps track of Postfix's deferred recipients; for an expiry, the
    /// item to hand on instead of the line.
    fn postfix(&mut self, line: &[u8]) -> Option<Vec<u8>> {
        use crate::stream::maillog::postfix;
        memchr::memmem::find(line, b"postfix")?;
        let text = String::from_utf8_lossy(line);
        if let Some(qid) = postfix::expired_queue_id(&text) {
            let recipients = self.waiting.remove(&qid)?;
            for (to, last) in &recipients {
                self.waiting_bytes = self
                    .waiting_bytes
                    .saturating_sub(remembered_size(&qid, to, last));
            }
            let mut item = line.to_vec();
            for (to, last) in recipients {
                item.push(b'\n');
                item.extend_from_slice(to.as_bytes());
                item.push(b'\t');
                item.extend_from_slice(last.replace(['\n', '\t'], " ").as_bytes());
            }
            return Some(item);
        }
        let mut a = postfix::attempt(&text)?;
        if a.deferred {
            let mut cut = a.text.len().min(MAX_REMEMBERED_TEXT);
            while !a.text.is_char_boundary(cut) {
                cut -= 1;
            }
            a.text.truncate(cut);
            let size = remembered_size(&a.queue_id, &a.recipient, &a.text);
            if self.waiting_bytes + size > MAX_WAITING_BYTES {
                self.waiting.clear();
                self.waiting_bytes = 0;
            }
            self.waiting_bytes += size;
            let list = self.waiting.entry(a.queue_id).or_default();
            match list.iter_mut().find(|(to, _)| *to == a.recipient) {
                Some(entry) => entry.1 = a.text,
                None => list.push((a.recipient, a.text)),
            }
        } else if let Some(list) = self.waiting.get_mut(&a.queue_id) {
            let mut freed = 0;
            list.retain(|(to, last)| {
                let keep = *to != a.recipient;
                if !keep {
                    freed += remembered_size(&a.queue_id, to, last);
                }
                keep
            });
            self.waiting_bytes = self.waiting_bytes.saturating_sub(freed);
            if list.is_empty() {
                self.waiting.remove(&a.queue_id);
            }
        }
        None
    }
}

impl<R: BufRead> Iterator for LogLines<R> {
    type Item = Result<RawMessage, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (line, offset) = match self.lines.next_line()? {
                Ok(x) => x,
                Err(e) => return Some(Err(e)),
            };
            if crate::stream::maillog::is_csv_header(&line) {
                self.csv_header = Some(line);
                continue;
            }
            if let Some(header) = &self.csv_header
                && crate::stream::maillog::is_csv_row(&line)
            {
                let mut bytes = header.clone();
                bytes.push(b'\n');
                bytes.extend_from_slice(&line);
                return Some(Ok(self.lines.item(bytes, offset, ItemKind::LogLine)));
            }
            if crate::stream::maillog::may_report_delivery(&line) {
                if let Some(expiry) = self.postfix(&line) {
                    return Some(Ok(self.lines.item(expiry, offset, ItemKind::LogLine)));
                }
                if memchr::memmem::find(&line, b"status=expired").is_some() {
                    // An expiry of a message whose deferrals were not read.
                    continue;
                }
                return Some(Ok(self.lines.item(line, offset, ItemKind::LogLine)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replies(input: &str) -> Vec<Result<String, String>> {
        ReplyLines::new(input.as_bytes(), Source::default())
            .map(|r| {
                r.map(|m| String::from_utf8(m.bytes).unwrap())
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    #[test]
    fn multi_line_replies_are_joined() {
        let got = replies(
            "a@example.com\t550-5.1.1 first\n\t550-5.1.1 second\n550 5.1.1 third\nb@example.org\t452 4.2.2 full\n# note\n\nc@example.net\t550-x\n",
        );
        assert_eq!(
            got,
            vec![
                Ok("a@example.com\t550-5.1.1 first\n550-5.1.1 second\n550 5.1.1 third".into()),
                Ok("b@example.org\t452 4.2.2 full".into()),
                Ok("c@example.net\t550-x".into()),
            ]
        );
        let got = replies("no tab here\nd@example.com\t550 no\n");
        assert!(
            got[0]
                .as_ref()
                .unwrap_err()
                .contains("line 1: expected ADDRESS<TAB>REPLY")
        );
        assert_eq!(got[1], Ok("d@example.com\t550 no".into()));
    }
}
