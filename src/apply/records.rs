//! Reading classification records (SPEC §2) fast enough for a million a
//! run: the input is read in large blocks cut at line ends, and the lines
//! of a block are parsed in parallel into [`RecordRef`], the record schema
//! with its strings borrowed from the line, which copies no string it does
//! not have to.
//! Each record is then reduced to a [`Prepared`] with everything that can
//! be worked out from the record alone, hashes included, so that the one
//! thread filing records under contacts has little left to do.

use crate::record::{Category, RECORD_VERSION, Reason, RecordRef, Str};
use rayon::prelude::*;
use std::borrow::Cow;
use std::hash::BuildHasher as _;
use std::io;

/// An optional string of a record read in place.
pub type Text<'a> = Option<Str<'a>>;

/// Parses one line; the error is one line of text without position.
pub fn parse(line: &[u8]) -> Result<RecordRef<'_>, String> {
    // One UTF-8 check for the whole line is much cheaper than serde_json's
    // check of each string, and accepts exactly the same lines (outside
    // strings JSON is ASCII).
    let line = std::str::from_utf8(line).map_err(|e| {
        format!(
            "column {}: invalid UTF-8 (a record is JSON, which is UTF-8)",
            e.valid_up_to() + 1
        )
    })?;
    let rec = match super::quick::parse(line) {
        Some(rec) => rec,
        None => slow(line)?,
    };
    if rec.v != RECORD_VERSION {
        return Err(format!(
            "record version {} (this bapply reads version {RECORD_VERSION})",
            rec.v
        ));
    }
    Ok(rec)
}

/// Parses one line with serde, which also words the errors.
fn slow(line: &str) -> Result<RecordRef<'_>, String> {
    serde_json::from_str(line).map_err(|e| {
        // serde_json ends its message with "at line 1 column N"; the line is
        // the caller's to name, the column is worth keeping.
        let msg = e.to_string();
        let msg = msg
            .rsplit_once(" at line ")
            .map_or(msg.as_str(), |(m, _)| m)
            .to_string();
        match e.column() {
            0 => super::printable(&msg),
            c => format!("column {c}: {}", super::printable(&msg)),
        }
    })
}

impl RecordRef<'_> {
    /// The identity of the bounce message, hashed: its Message-ID when it
    /// has one; else its IMAP coordinates; else its content without
    /// `source`, so the same message read from another file is the same.
    pub fn message_hash(&self) -> i64 {
        let mut h = Fnv::new();
        if let Some(id) = &self.message_id {
            h.field(b"mid");
            h.field(id.as_bytes());
        } else if let (Some(m), Some(v), Some(u)) = (
            &self.source.mailbox,
            self.source.uidvalidity,
            self.source.uid,
        ) {
            h.field(b"imap");
            h.field(m.as_bytes());
            h.field(&v.to_le_bytes());
            h.field(&u.to_le_bytes());
        } else {
            h.field(b"content");
            let o = &self.original;
            for f in [
                &self.date,
                &self.recipient,
                &self.action,
                &self.status,
                &self.diagnostic,
                &self.remote_mta,
                &self.reporting_mta,
                &self.evidence,
                &self.new_address,
                &self.subscriber,
                &o.message_id,
                &o.subject,
                &o.from,
                &o.to,
                &o.list_id,
            ] {
                match f {
                    Some(s) => h.field(s.as_bytes()),
                    None => h.field(b"\xff"),
                }
            }
            h.field(self.category.as_str().as_bytes());
            h.field(self.reason.as_str().as_bytes());
            h.field(self.rule.as_bytes());
        }
        h.finish() as i64
    }
}

/// FNV-1a, 64 bit: stable across Rust versions and platforms, which the
/// stored hashes need (std's `DefaultHasher` promises neither).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    /// A field with its length, so that ("ab","c") and ("a","bc") differ.
    fn field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Unix seconds of an RFC 3339 date. The form bclassify writes
/// (`2024-01-31T12:00:00Z`) is read directly; others go through chrono.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut n = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    };
    if b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) = (
            num(0..4),
            num(5..7),
            num(8..10),
            num(11..13),
            num(14..16),
            num(17..19),
        )
        && (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && h < 24
        && mi < 60
        && se < 61
    {
        let days = chrono::NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)?
            .signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?)
            .num_days();
        return Some(days * 86_400 + h * 3600 + mi * 60 + se.min(59));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp())
}

/// A line's outcome: the record or a one-line error.
pub type Line<'a> = (u64, Result<Prepared<'a>, String>);

/// Parsed lines of a batch, chunk by chunk in input order.
pub type Parsed<'a> = Vec<Chunk<'a>>;

/// The parsed lines of one stretch of a batch, and the text worked out
/// for them (hosts, masked diagnostics) that [`Span`]s point into.
pub struct Chunk<'a> {
    pub lines: Vec<Line<'a>>,
    pub text: &'a str,
}

/// A piece of a chunk's text.
#[derive(Clone, Copy)]
pub struct Span {
    start: usize,
    len: usize,
}

impl Span {
    pub fn get<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..][..self.len]
    }

    fn push(text: &mut String, f: impl FnOnce(&mut String)) -> Span {
        let start = text.len();
        f(text);
        Span {
            start,
            len: text.len() - start,
        }
    }
}

/// A text with its hash, computed on the parsing threads so that the one
/// thread that files records under contacts only looks them up.
pub struct Hashed<T> {
    pub hash: u64,
    pub value: T,
}

/// A record reduced to what filing it needs, computed on the parallel
/// side: the date, the message hash, the contact key's hash, and for
/// categories that lead to an action what the update would report,
/// including the host and masked diagnostic the guard groups by.
pub struct Prepared<'a> {
    pub at: i64,
    pub msg: i64,
    pub category: Category,
    pub reason: Reason,
    pub recipient: Option<Cow<'a, str>>,
    pub subscriber: Option<Cow<'a, str>>,
    /// Hash of the contact key (subscriber id, else address); 0 when the
    /// record names neither.
    pub contact: u64,
    pub detail: Option<Reported<'a>>,
}

/// What an actionable record would report.
pub struct Reported<'a> {
    pub status: Option<Hashed<Cow<'a, str>>>,
    pub rule: Hashed<Cow<'a, str>>,
    pub host: Option<Hashed<Span>>,
    pub diagnostic: Option<Hashed<Span>>,
    pub evidence: Option<Cow<'a, str>>,
    pub new_address: Option<Cow<'a, str>>,
}

/// The hash of a contact key: a subscriber id, else an address. Both
/// sides of the index use it.
pub fn contact_hash(hasher: &Hasher, subscriber: bool, name: &str) -> u64 {
    hasher.hash_one((subscriber, name))
}

/// The hasher shared by the parsing threads and the filing: seeded per
/// process, since contact keys and texts come from strangers.
pub type Hasher = foldhash::fast::RandomState;

/// What preparing needs to know of the run.
pub struct Prepare {
    /// Date for records without one.
    pub now: i64,
    /// Categories (by index) whose action is not `none`.
    pub actionable: Vec<bool>,
    pub hasher: Hasher,
}

impl Prepare {
    fn prepare<'a>(&self, rec: RecordRef<'a>, text: &mut String) -> Result<Prepared<'a>, String> {
        let at = match rec.date.as_deref() {
            None => self.now,
            Some(d) => parse_date(d)
                .ok_or_else(|| format!("date {:?} is not RFC 3339", super::printable(d)))?,
        };
        let msg = rec.message_hash();
        let contact = match (&rec.subscriber, &rec.recipient) {
            (Some(s), _) => contact_hash(&self.hasher, true, s),
            (None, Some(r)) => contact_hash(&self.hasher, false, r),
            (None, None) => 0,
        };
        let mut detail = None;
        if self.actionable[rec.category as usize] {
            let hasher = &self.hasher;
            let host = rec
                .remote_mta
                .as_deref()
                .or_else(|| {
                    rec.recipient
                        .as_deref()
                        .and_then(|r| r.rsplit_once('@'))
                        .map(|(_, d)| d)
                })
                .filter(|h| !h.is_empty())
                .map(|host| {
                    let value = Span::push(text, |t| {
                        let at = t.len();
                        t.push_str(host);
                        t[at..].make_ascii_lowercase();
                    });
                    Hashed {
                        hash: hasher.hash_one(value.get(text)),
                        value,
                    }
                });
            let diagnostic = rec.diagnostic.as_deref().map(|d| {
                let value = Span::push(text, |t| super::guard::push_normalised_diagnostic(d, t));
                Hashed {
                    hash: hasher.hash_one(value.get(text)),
                    value,
                }
            });
            detail = Some(Reported {
                status: rec.status.map(|s| Hashed {
                    hash: hasher.hash_one(&*s),
                    value: s.0,
                }),
                rule: Hashed {
                    hash: hasher.hash_one(&*rec.rule),
                    value: rec.rule.0,
                },
                host,
                diagnostic,
                evidence: rec.evidence.map(|e| e.0),
                new_address: rec.new_address.map(|a| a.0),
            });
        }
        Ok(Prepared {
            at,
            msg,
            category: rec.category,
            reason: rec.reason,
            recipient: rec.recipient.map(|r| r.0),
            subscriber: rec.subscriber.map(|s| s.0),
            contact,
            detail,
        })
    }
}

/// Bytes read per batch: two batches (one parsed while the other is
/// filed) of this size are most of the reading's memory.
const BATCH_BYTES: usize = 3 << 20;

/// Lines per batch at most: a parsed line takes a few hundred bytes
/// whatever its length, so short lines must not make a batch large.
const BATCH_LINES: usize = 16 << 10;

/// Bytes asked for per read; a batch stops at the first line end after
/// [`BATCH_BYTES`], so it is read in pieces.
const READ_BYTES: usize = 1 << 20;

/// Input per parallel task, at least; a task's lines share one text
/// buffer, so the number of buffers stays small whatever the lines.
const CHUNK_BYTES: usize = 32 << 10;

/// A chunk's text buffer is kept for the next batch up to this size.
const TEXT_KEEP: usize = 64 << 10;

/// An input read in large blocks; the part of a line that a block cuts
/// off waits here for the next batch.
pub struct Source<R> {
    reader: R,
    carry: Vec<u8>,
    eof: bool,
}

impl<R: io::Read> Source<R> {
    pub fn new(reader: R) -> Self {
        Source {
            reader,
            carry: Vec::new(),
            eof: false,
        }
    }
}

/// One batch of raw lines: the bytes, where each line ends, and the
/// number of the first line in its input.
pub struct Batch {
    /// Read into directly; only `buf[..len]` is this batch's. Its length
    /// is its capacity, so that reading never zeroes it again.
    buf: Vec<u8>,
    len: usize,
    /// Bytes read at least per batch, and lines at most.
    block: usize,
    max_lines: usize,
    ends: Vec<usize>,
    /// The first line of each parallel task.
    chunks: Vec<usize>,
    texts: Vec<String>,
    pub first_line: u64,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch::new()
    }
}

impl Batch {
    pub fn new() -> Batch {
        Batch::with_limits(BATCH_BYTES, BATCH_LINES)
    }

    fn with_limits(block: usize, max_lines: usize) -> Batch {
        Batch {
            buf: Vec::new(),
            len: 0,
            block,
            max_lines,
            ends: Vec::new(),
            chunks: Vec::new(),
            texts: Vec::new(),
            first_line: 1,
        }
    }

    /// Fills the batch from `src` with whole lines, numbering them from
    /// `first_line`; returns how many lines it holds (0 at the end of the
    /// input). A last line without a newline is a line.
    pub fn fill<R: io::Read>(&mut self, src: &mut Source<R>, first_line: u64) -> io::Result<u64> {
        self.first_line = first_line;
        self.ends.clear();
        let carried = src.carry.len();
        let piece = self.block.min(READ_BYTES);
        let want = self.block.max(carried) + piece;
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        self.buf[..carried].copy_from_slice(&src.carry);
        src.carry.clear();
        let (mut filled, mut scanned) = (carried, 0);
        loop {
            for i in memchr::memchr_iter(b'\n', &self.buf[scanned..filled]) {
                self.ends.push(scanned + i + 1);
                if self.ends.len() == self.max_lines {
                    break;
                }
            }
            scanned = filled;
            let last = self.ends.last().copied().unwrap_or(0);
            if self.ends.len() == self.max_lines || (filled >= self.block && last > 0) {
                src.carry.extend_from_slice(&self.buf[last..filled]);
                self.len = last;
                break;
            }
            if src.eof {
                if last < filled {
                    self.ends.push(filled);
                }
                self.len = filled;
                break;
            }
            if filled == self.buf.len() {
                // One line longer than the buffer.
                let more = self.buf.len() * 2;
                self.buf.resize(more, 0);
            }
            let end = self.buf.len().min(filled + piece);
            match src.reader.read(&mut self.buf[filled..end]) {
                Ok(0) => src.eof = true,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.ends.len() as u64)
    }

    /// Parses every line in parallel: (line number, record or error);
    /// blank lines are left out.
    pub fn parse(&mut self, how: &Prepare) -> Parsed<'_> {
        self.chunks.clear();
        if !self.ends.is_empty() {
            self.chunks.push(0);
        }
        let mut from = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            if end - from >= CHUNK_BYTES && i + 1 < self.ends.len() {
                self.chunks.push(i + 1);
                from = end;
            }
        }
        let tasks = self.chunks.len();
        if self.texts.len() < tasks {
            self.texts.resize_with(tasks, String::new);
        }
        let (buf, ends, chunks, first) = (
            &self.buf[..self.len],
            &self.ends,
            &self.chunks,
            self.first_line,
        );
        self.texts[..tasks]
            .par_iter_mut()
            .enumerate()
            .map(|(c, text)| {
                if text.capacity() > TEXT_KEEP {
                    *text = String::new();
                }
                text.clear();
                let lo = chunks[c];
                let hi = chunks.get(c + 1).copied().unwrap_or(ends.len());
                let mut lines = Vec::with_capacity(hi - lo);
                for i in lo..hi {
                    let start = if i == 0 { 0 } else { ends[i - 1] };
                    let line = &buf[start..ends[i]];
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let rec = parse(line).and_then(|r| how.prepare(r, text));
                    lines.push((first + i as u64, rec));
                }
                let text: &String = text;
                Chunk { lines, text }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes a call, and is
    /// interrupted now and then.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        calls: usize,
    }

    impl io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(5) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Whatever the block and read sizes, batches hold whole lines, in
    /// order and numbered, the last one with or without its newline.
    #[test]
    fn batches_cut_at_line_ends() {
        let text = "a\n\nlonger line of text\r\n{}\n\n\nx\ny".repeat(3);
        let want: Vec<&str> = text.split_inclusive('\n').collect();
        for (block, max_lines) in [
            (1, 5),
            (2, 1),
            (3, 2),
            (7, 100),
            (16, 3),
            (64, 7),
            (1 << 10, 1 << 10),
        ] {
            for step in [1, 3, 8, 1 << 10] {
                let mut src = Source::new(Trickle {
                    data: text.as_bytes(),
                    step,
                    calls: 0,
                });
                let mut batches = [
                    Batch::with_limits(block, max_lines),
                    Batch::with_limits(block, max_lines),
                ];
                let (mut got, mut line) = (Vec::new(), 1);
                for turn in 0.. {
                    let b = &mut batches[turn % 2];
                    let n = b.fill(&mut src, line).unwrap();
                    if n == 0 {
                        break;
                    }
                    assert_eq!(b.first_line, line);
                    assert!(n as usize <= max_lines);
                    let mut start = 0;
                    for &end in &b.ends {
                        got.push(String::from_utf8(b.buf[start..end].to_vec()).unwrap());
                        start = end;
                    }
                    line += n;
                }
                assert_eq!(got, want, "block {block}, lines {max_lines}, step {step}");
                assert_eq!(line, want.len() as u64 + 1);
            }
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("2024-01-01T00:00:00Z"), Some(1_704_067_200));
        assert_eq!(parse_date("2024-01-01T01:00:00+01:00"), Some(1_704_067_200));
        assert_eq!(parse_date("2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn message_identity() {
        let a = parse(
            br#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r","source":{"path":"a"}}"#,
        )
        .unwrap();
        let b = parse(
            br#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r","source":{"path":"b"}}"#,
        )
        .unwrap();
        let c = parse(br#"{"v":1,"category":"hard","reason":"mailboxfull","rule":"r"}"#).unwrap();
        assert_eq!(a.message_hash(), b.message_hash());
        assert_ne!(a.message_hash(), c.message_hash());
    }
}
