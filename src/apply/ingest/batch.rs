//! Reading classification records (bounce-tools(7), RECORD FORMAT) fast enough
//! for a million a run: the input is read in large blocks cut at line
//! ends, and the lines of a block are parsed in parallel into
//! [`RecordRef`](crate::record::RecordRef)s, which borrow their strings
//! from the line, and prepared ([`PreparedRecord`]) on the same threads.

use super::parse::parse;
use super::prepare::{PreparedRecord, Preparer};
use rayon::prelude::*;
use std::io;

/// A line's outcome: the record or a one-line error.
pub(super) struct ParsedLine<'a> {
    /// Line number in its input, from 1.
    pub number: u64,
    pub record: Result<PreparedRecord<'a>, String>,
}

/// Parsed lines of a batch, chunk by chunk in input order.
pub(super) type Parsed<'a> = Vec<ParsedChunk<'a>>;

/// The parsed lines of one stretch of a batch, and the text worked out
/// for them (hosts, masked diagnostics) that their spans point into.
pub(super) struct ParsedChunk<'a> {
    pub lines: Vec<ParsedLine<'a>>,
    pub text: &'a str,
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
pub(super) struct LineReader<R> {
    reader: R,
    carry: Vec<u8>,
    eof: bool,
}

impl<R: io::Read> LineReader<R> {
    pub(super) fn new(reader: R) -> Self {
        LineReader {
            reader,
            carry: Vec::new(),
            eof: false,
        }
    }
}

/// One batch of raw lines: the bytes, where each line ends, and the
/// number of the first line in its input.
pub(super) struct Batch {
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
    first_line: u64,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch::new()
    }
}

impl Batch {
    pub(super) fn new() -> Batch {
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
    pub(super) fn fill<R: io::Read>(
        &mut self,
        src: &mut LineReader<R>,
        first_line: u64,
    ) -> io::Result<u64> {
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

    /// Parses and prepares every line in parallel; blank lines are left
    /// out.
    pub(super) fn parse(&mut self, preparer: &Preparer) -> Parsed<'_> {
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
                    let record = parse(line).and_then(|r| preparer.prepare(r, text));
                    lines.push(ParsedLine {
                        number: first + i as u64,
                        record,
                    });
                }
                let text: &String = text;
                ParsedChunk { lines, text }
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
                let mut src = LineReader::new(Trickle {
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
}
