//! Reading classification records (SPEC §2) fast enough for a million a
//! run: lines are parsed in parallel batches into [`RecordRef`], a borrowed
//! mirror of [`Record`] that checks the same fields with the same types but
//! copies no string it does not have to. A test keeps the two in step.
//!
//! [`Record`]: crate::classify::record::Record

use crate::classify::record::RECORD_VERSION;
use crate::classify::taxonomy::{Bounce, Category, Reason};
use rayon::prelude::*;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::{self, BufRead};

/// A string that borrows from the line unless it holds escapes. (Serde
/// borrows only for a field that is itself a `Cow`, not for one inside an
/// `Option`; the newtype carries the borrow through.)
#[derive(Debug, Deserialize)]
pub struct Str<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

type Text<'a> = Option<Str<'a>>;

#[derive(Debug, Default, Deserialize)]
#[allow(dead_code)] // Fields read only to check their type, as Record does.
pub struct SourceRef<'a> {
    #[serde(default, borrow)]
    pub path: Text<'a>,
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default, borrow)]
    pub mailbox: Text<'a>,
    #[serde(default)]
    pub uidvalidity: Option<u32>,
    #[serde(default)]
    pub uid: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
pub struct OriginalRef<'a> {
    #[serde(default, borrow)]
    pub message_id: Text<'a>,
    #[serde(default, borrow)]
    pub subject: Text<'a>,
    #[serde(default, borrow)]
    pub from: Text<'a>,
    #[serde(default, borrow)]
    pub to: Text<'a>,
    #[serde(default, borrow)]
    pub list_id: Text<'a>,
}

/// Field for field what `Record` accepts.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub struct RecordRef<'a> {
    pub v: u32,
    #[serde(default, borrow)]
    pub source: SourceRef<'a>,
    #[serde(default, borrow)]
    pub message_id: Text<'a>,
    #[serde(default, borrow)]
    pub date: Text<'a>,
    #[serde(default, borrow)]
    pub recipient: Text<'a>,
    pub category: Category,
    pub reason: Reason,
    #[serde(default)]
    pub bounce: Option<Bounce>,
    #[serde(default, borrow)]
    pub action: Text<'a>,
    #[serde(default, borrow)]
    pub status: Text<'a>,
    #[serde(default)]
    pub smtp_code: Option<u16>,
    #[serde(default, borrow)]
    pub diagnostic: Text<'a>,
    #[serde(default, borrow)]
    pub remote_mta: Text<'a>,
    #[serde(default, borrow)]
    pub reporting_mta: Text<'a>,
    #[serde(default, borrow)]
    pub mta: Text<'a>,
    #[serde(borrow)]
    pub rule: Cow<'a, str>,
    #[serde(default, borrow)]
    pub evidence: Text<'a>,
    #[serde(default, borrow)]
    pub feedback_type: Text<'a>,
    #[serde(default, borrow)]
    pub new_address: Text<'a>,
    #[serde(default, borrow)]
    pub subscriber: Text<'a>,
    #[serde(default, borrow)]
    pub original: OriginalRef<'a>,
}

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
    let rec: RecordRef = serde_json::from_str(line).map_err(|e| {
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
    })?;
    if rec.v != RECORD_VERSION {
        return Err(format!(
            "record version {} (this bapply reads version {RECORD_VERSION})",
            rec.v
        ));
    }
    Ok(rec)
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

/// Parsed lines of a batch: (line number, record or error).
pub type Parsed<'a> = Vec<(u64, Result<Prepared<'a>, String>)>;

/// A record with what can be worked out from it alone, computed on the
/// parallel side: the message hash, the date, and for categories that
/// lead to an action the host and masked diagnostic the guard groups by.
pub struct Prepared<'a> {
    pub rec: RecordRef<'a>,
    pub at: i64,
    pub msg: i64,
    pub host: Option<String>,
    pub diagnostic: Option<String>,
}

/// What preparing needs to know of the run.
pub struct Prepare {
    /// Date for records without one.
    pub now: i64,
    /// Categories (by index) whose action is not `none`.
    pub actionable: Vec<bool>,
}

impl Prepare {
    fn prepare<'a>(&self, rec: RecordRef<'a>) -> Result<Prepared<'a>, String> {
        let at = match rec.date.as_deref() {
            None => self.now,
            Some(d) => parse_date(d)
                .ok_or_else(|| format!("date {:?} is not RFC 3339", super::printable(d)))?,
        };
        let msg = rec.message_hash();
        let (mut host, mut diagnostic) = (None, None);
        if self.actionable[rec.category as usize] {
            host = rec
                .remote_mta
                .as_deref()
                .or_else(|| {
                    rec.recipient
                        .as_deref()
                        .and_then(|r| r.rsplit_once('@'))
                        .map(|(_, d)| d)
                })
                .filter(|h| !h.is_empty())
                .map(str::to_ascii_lowercase);
            diagnostic = rec
                .diagnostic
                .as_deref()
                .map(super::guard::normalise_diagnostic);
        }
        Ok(Prepared {
            rec,
            at,
            msg,
            host,
            diagnostic,
        })
    }
}

/// Lines read per parallel batch.
const BATCH_LINES: usize = 4_096;

/// One batch of raw lines: the bytes, where each line ends, and the
/// number of the first line in its input.
pub struct Batch {
    buf: Vec<u8>,
    ends: Vec<usize>,
    pub first_line: u64,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch::new()
    }
}

impl Batch {
    pub fn new() -> Batch {
        Batch {
            buf: Vec::with_capacity(BATCH_LINES * 800),
            ends: Vec::with_capacity(BATCH_LINES),
            first_line: 1,
        }
    }

    /// Fills the batch from `r`, numbering its lines from `first_line`;
    /// returns how many lines it holds (0 at the end of the input).
    pub fn fill(&mut self, r: &mut dyn BufRead, first_line: u64) -> io::Result<u64> {
        self.first_line = first_line;
        self.buf.clear();
        self.ends.clear();
        while self.ends.len() < BATCH_LINES {
            let n = r.read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                break;
            }
            self.ends.push(self.buf.len());
        }
        Ok(self.ends.len() as u64)
    }

    /// [`Batch::parse`], or nothing when the batch is empty.
    pub fn parse_if(&self, lines: u64, how: &Prepare) -> Parsed<'_> {
        if lines == 0 {
            Vec::new()
        } else {
            self.parse(how)
        }
    }

    /// Parses every line in parallel: (line number, record or error);
    /// blank lines are left out.
    pub fn parse(&self, how: &Prepare) -> Parsed<'_> {
        let mut starts = Vec::with_capacity(self.ends.len());
        let mut s = 0;
        for &e in &self.ends {
            starts.push(s);
            s = e;
        }
        (0..self.ends.len())
            .into_par_iter()
            .with_min_len(256)
            .filter_map(|i| {
                let line = &self.buf[starts[i]..self.ends[i]];
                if line.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                Some((
                    self.first_line + i as u64,
                    parse(line).and_then(|r| how.prepare(r)),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::record::Record;

    /// RecordRef accepts and rejects exactly what Record does.
    #[test]
    fn mirrors_record() {
        let good = r#"{"v":1,"source":{"path":"a","index":1,"mailbox":"INBOX","uidvalidity":5,"uid":9},"message_id":"<m\"1>","date":"2024-01-01T00:00:00Z","recipient":"a@b","category":"hard","reason":"userunknown","bounce":"hard","action":"failed","status":"5.1.1","smtp_code":550,"diagnostic":"x\\y","remote_mta":"mx","reporting_mta":null,"mta":"postfix","rule":"r","evidence":"e","feedback_type":null,"new_address":null,"subscriber":null,"original":{"message_id":null,"subject":"s","from":null,"to":null,"list_id":null},"extra":[1,2]}"#;
        let cases = [
            good.to_string(),
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r"}"#.to_string(),
            r#"{"v":1,"category":"soft","reason":"mailboxfull"}"#.to_string(),
            r#"{"v":1,"category":"softer","reason":"mailboxfull","rule":"r"}"#.to_string(),
            r#"{"v":1,"category":"soft","reason":"x","rule":"r"}"#.to_string(),
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r","smtp_code":"550"}"#
                .to_string(),
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r","smtp_code":70000}"#
                .to_string(),
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r","bounce":"medium"}"#
                .to_string(),
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r","source":{"uid":-1}}"#
                .to_string(),
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r","original":{"to":5}}"#
                .to_string(),
            r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r","recipient":7}"#
                .to_string(),
            r#"{"v":"1","category":"soft","reason":"mailboxfull","rule":"r"}"#.to_string(),
            r#"["v",1]"#.to_string(),
            "not json".to_string(),
        ];
        for c in &cases {
            let a = serde_json::from_str::<Record>(c);
            let b = serde_json::from_slice::<RecordRef>(c.as_bytes());
            assert_eq!(a.is_ok(), b.is_ok(), "{c}: {a:?} / {b:?}");
            if let (Ok(a), Ok(b)) = (a, b) {
                assert_eq!(a.message_id.as_deref(), b.message_id.as_deref());
                assert_eq!(a.diagnostic.as_deref(), b.diagnostic.as_deref());
                assert_eq!(a.category, b.category);
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
