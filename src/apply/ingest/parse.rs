//! One line of input to one record (bounce-tools(7), RECORD FORMAT): the fast
//! path for the lines bclassify writes, serde for everything else (and for
//! the wording of every error); the version check; the identity of the
//! bounce message; the date.

use super::super::printable::printable;
use crate::record::{RECORD_VERSION, RecordRef};

/// Parses one line; the error is one line of text without position.
pub(super) fn parse(line: &[u8]) -> Result<RecordRef<'_>, String> {
    // One UTF-8 check for the whole line is much cheaper than serde_json's
    // check of each string, and accepts exactly the same lines (outside
    // strings JSON is ASCII).
    let line = std::str::from_utf8(line).map_err(|e| {
        format!(
            "column {}: invalid UTF-8 (a record is JSON, which is UTF-8)",
            e.valid_up_to() + 1
        )
    })?;
    let rec = match crate::record::fast::parse(line) {
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
            0 => printable(&msg),
            c => format!("column {c}: {}", printable(&msg)),
        }
    })
}

/// The identity of the bounce message, hashed: its Message-ID when it
/// has one; else its IMAP coordinates; else, for an ESP event or a log
/// line, the provider and its event id; else its content without `source`,
/// so the same message read from another file is the same. The hash is
/// stored in the state, so it must not change between versions.
pub(super) fn message_hash(rec: &RecordRef<'_>) -> i64 {
    let mut h = Fnv::new();
    if let Some(id) = &rec.message_id {
        h.field(b"mid");
        h.field(id.as_bytes());
    } else if let (Some(m), Some(v), Some(u)) =
        (&rec.source.mailbox, rec.source.uidvalidity, rec.source.uid)
    {
        h.field(b"imap");
        h.field(m.as_bytes());
        h.field(&v.to_le_bytes());
        h.field(&u.to_le_bytes());
    } else if let (Some(esp), Some(id)) = (&rec.source.esp, &rec.source.event_id) {
        h.field(b"event");
        h.field(esp.as_bytes());
        h.field(id.as_bytes());
    } else {
        h.field(b"content");
        let o = &rec.original;
        for f in [
            &rec.date,
            &rec.recipient,
            &rec.action,
            &rec.status,
            &rec.diagnostic,
            &rec.remote_mta,
            &rec.reporting_mta,
            &rec.evidence,
            &rec.new_address,
            &rec.subscriber,
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
        h.field(rec.category.as_str().as_bytes());
        h.field(rec.reason.as_str().as_bytes());
        h.field(rec.rule.as_bytes());
    }
    h.finish() as i64
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
pub(super) fn parse_date(s: &str) -> Option<i64> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(message_hash(&a), message_hash(&b));
        assert_ne!(message_hash(&a), message_hash(&c));
    }
}
