//! Reading records (bounce-tools(7), RECORD FORMAT) into a [`Tally`]: each
//! input in blocks cut at line ends, the lines of a block counted in
//! parallel stretches, each into its own tally, merged in input order.
//! Lines are read by the record layer's fast parser for the shape
//! bclassify writes, or by serde (which also words every error). Memory is
//! a few blocks and the tallies, whatever the length of the input.

use super::Error;
use super::tally::{DayRange, Tally};
use crate::record::{RECORD_VERSION, RecordRef};
use rayon::prelude::*;
use std::fs::File;
use std::io::Read;

/// Bytes read per block.
const BLOCK: usize = 4 << 20;
/// Bytes per parallel stretch of a block, at least.
const STRETCH: usize = 256 << 10;
/// The longest line read: a record is a few kilobytes at most.
const MAX_LINE: usize = 16 << 20;

/// Reads every record of every input (`-` is stdin) into one tally.
pub(crate) fn read_all(
    names: &[String],
    stdin: &mut (dyn Read + Send),
    range: DayRange,
) -> Result<Tally, Error> {
    let mut total = Tally::default();
    for name in names {
        if name == "-" {
            read_one("stdin", &mut *stdin, range, &mut total)?;
        } else {
            let mut f = File::open(name).map_err(|source| Error::Open {
                path: name.clone(),
                source,
            })?;
            read_one(name, &mut f, range, &mut total)?;
        }
    }
    Ok(total)
}

fn read_one(
    name: &str,
    src: &mut (dyn Read + Send),
    range: DayRange,
    total: &mut Tally,
) -> Result<(), Error> {
    let read_err = |source| Error::Read {
        path: name.to_string(),
        source,
    };
    // Two buffers take turns: the next block is read while the whole
    // lines of this one are counted on the other threads.
    let mut reading = Vec::new();
    let mut lines = Vec::new();
    let mut eof = fill(src, &mut reading).map_err(read_err)?;
    let mut first_line = 1u64;
    loop {
        take_lines(&mut reading, &mut lines, eof);
        if lines.is_empty() {
            if eof {
                return Ok(());
            }
            if reading.len() >= MAX_LINE {
                return Err(Error::BadRecord {
                    path: name.to_string(),
                    line: first_line,
                    message: format!("longer than {} MiB", MAX_LINE >> 20),
                });
            }
        }
        let (filled, counted) = rayon::join(
            || {
                if eof {
                    Ok(true)
                } else {
                    fill(src, &mut reading)
                }
            },
            || count_block(name, &lines, first_line, range),
        );
        let (n, tally) = counted?;
        total.merge(tally);
        first_line += n;
        eof = filled.map_err(read_err)?;
    }
}

/// Reads a block onto the end of `buf`; true at the end of the input.
fn fill(src: &mut (dyn Read + Send), buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let want = buf.len() + BLOCK;
    let mut len = buf.len();
    buf.resize(want, 0);
    let mut eof = false;
    while len < want {
        match src.read(&mut buf[len..]) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        }
    }
    buf.truncate(len);
    Ok(eof)
}

/// Moves the whole lines at the start of `reading` to `lines` (all of it
/// at the end of the input), leaving the part of a line a block cut off.
fn take_lines(reading: &mut Vec<u8>, lines: &mut Vec<u8>, eof: bool) {
    lines.clear();
    let end = if eof {
        reading.len()
    } else {
        memchr::memrchr(b'\n', reading).map_or(0, |i| i + 1)
    };
    lines.extend_from_slice(&reading[..end]);
    reading.drain(..end);
}

/// What one stretch of a block gave.
struct Stretch {
    tally: Tally,
    lines: u64,
    /// The first bad line: its index in the stretch and what is wrong.
    error: Option<(u64, String)>,
}

/// Counts the lines of `block` (whole lines) in parallel; returns how many
/// lines it held and their tally.
fn count_block(
    name: &str,
    block: &[u8],
    first_line: u64,
    range: DayRange,
) -> Result<(u64, Tally), Error> {
    let mut stretches = Vec::new();
    let mut start = 0;
    while start < block.len() {
        let end = if block.len() - start <= STRETCH {
            block.len()
        } else {
            memchr::memchr(b'\n', &block[start + STRETCH..])
                .map_or(block.len(), |i| start + STRETCH + i + 1)
        };
        stretches.push(&block[start..end]);
        start = end;
    }
    let results: Vec<Stretch> = stretches
        .par_iter()
        .map(|s| count_stretch(s, range))
        .collect();
    let mut line = first_line;
    let mut total = Tally::default();
    for s in results {
        if let Some((at, message)) = s.error {
            return Err(Error::BadRecord {
                path: name.to_string(),
                line: line + at,
                message,
            });
        }
        line += s.lines;
        total.merge(s.tally);
    }
    Ok((line - first_line, total))
}

fn count_stretch(text: &[u8], range: DayRange) -> Stretch {
    let mut tally = Tally::default();
    let mut lines = 0;
    for line in text.split_inclusive(|b| *b == b'\n') {
        match parse(line) {
            Ok(Some(r)) => tally.add(&r, range),
            Ok(None) => {}
            Err(message) => {
                return Stretch {
                    tally,
                    lines,
                    error: Some((lines, message)),
                };
            }
        }
        lines += 1;
    }
    Stretch {
        tally,
        lines,
        error: None,
    }
}

/// One line to a record; `None` for a blank line.
fn parse(line: &[u8]) -> Result<Option<RecordRef<'_>>, String> {
    let line = std::str::from_utf8(line).map_err(|e| {
        format!(
            "column {}: invalid UTF-8 (a record is JSON, which is UTF-8)",
            e.valid_up_to() + 1
        )
    })?;
    if line.trim().is_empty() {
        return Ok(None);
    }
    let rec = match crate::record::fast::parse(line) {
        Some(r) => r,
        None => serde_json::from_str::<RecordRef<'_>>(line).map_err(|e| {
            let msg = e.to_string();
            let msg = msg
                .rsplit_once(" at line ")
                .map_or(msg.as_str(), |(m, _)| m);
            let msg: String = msg
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .take(300)
                .collect();
            match e.column() {
                0 => msg,
                c => format!("column {c}: {msg}"),
            }
        })?,
    };
    if rec.v != RECORD_VERSION {
        return Err(format!(
            "record version {} (this breport reads version {RECORD_VERSION})",
            rec.v
        ));
    }
    Ok(Some(rec))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str) -> Result<Tally, Error> {
        read_all(
            &["-".to_string()],
            &mut input.as_bytes(),
            DayRange::default(),
        )
    }

    #[test]
    fn counts_lines_and_names_the_bad_one() {
        let ok = r#"{"v":1,"category":"hard","reason":"userunknown","rule":"r","recipient":"a@example.com"}"#;
        let t = read(&format!("{ok}\n\n{ok}\n")).unwrap();
        assert_eq!(t.records, 2);
        assert_eq!(t.domains["example.com"].records, 2);
        let e = read(&format!("{ok}\n{ok}\n{{\"v\":1}}\n{ok}")).unwrap_err();
        assert!(e.to_string().starts_with("stdin: line 3: "), "{e}");
        let e = read(&format!("{ok}\n\u{0}\u{ff}")).unwrap_err();
        assert!(e.to_string().starts_with("stdin: line 2: "), "{e}");
    }

    #[test]
    fn line_numbers_survive_blocks_and_stretches() {
        let ok = r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r"}"#;
        let n = (BLOCK / ok.len()) * 2 + 7;
        let mut s = format!("{ok}\n").repeat(n);
        s.push_str("nonsense\n");
        let e = read(&s).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("stdin: line {}: ", n + 1)),
            "{e}"
        );
        let t = read(&format!("{ok}\n").repeat(n)).unwrap();
        assert_eq!(t.records, n as u64);
    }
}

#[cfg(test)]
mod hostile {
    use super::*;

    /// Any bytes: a tally or a one-line error, never a panic.
    #[test]
    fn altered_lines_never_panic() {
        let base = br#"{"v":1,"source":{"path":"a"},"date":"2026-11-02T10:00:00Z","recipient":"a@b.example","category":"hard","reason":"userunknown","smtp_code":550,"diagnostic":"550 5.1.1 <a@b.example> no","rule":"r"}"#;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut line = base.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() % line.len() as u64) as usize;
                match next() % 3 {
                    0 => line[at] = (next() % 256) as u8,
                    1 => {
                        line.remove(at);
                    }
                    _ => {
                        let bytes = b"\"{}[]:,\\\x00\xff9e-";
                        line.insert(at, bytes[(next() % bytes.len() as u64) as usize]);
                    }
                }
            }
            line.push(b'\n');
            let r = read_all(
                &["-".to_string()],
                &mut line.as_slice(),
                DayRange::default(),
            );
            if let Err(e) = r {
                assert!(!e.to_string().contains('\n'), "{e}");
            }
        }
    }
}
