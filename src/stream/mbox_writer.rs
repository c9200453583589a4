//! mboxrd writer: every line that matches `>*From ` gets one more `>`, so
//! the quoting is reversible (the reader removes one). Used by bfetch's
//! `--format mbox` and by bclassify's `--unmatched`.

use std::io::{self, Write};

/// Writes one message in mboxrd form: a `From ` envelope line, the message
/// with `From ` lines quoted, and a blank line. Line endings inside the
/// message are kept as they are.
pub fn write_mboxrd<W: Write>(
    out: &mut W,
    envelope_sender: &str,
    asctime_date: &str,
    message: &[u8],
) -> io::Result<()> {
    let sender = if envelope_sender.is_empty() || envelope_sender.contains(char::is_whitespace) {
        "MAILER-DAEMON"
    } else {
        envelope_sender
    };
    writeln!(out, "From {sender} {asctime_date}")?;
    let mut rest = message;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        let unquoted = line.iter().position(|&b| b != b'>').unwrap_or(line.len());
        if line[unquoted..].starts_with(b"From ") {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
        rest = &rest[end..];
    }
    if !message.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

/// `Thu Jan  1 00:00:00 1970`-style date for envelope lines, from a Unix time.
pub fn asctime(unix_seconds: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (y, m, d) = crate::record::date::civil_from_days(days);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        y
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_from_lines_reversibly() {
        let mut out = Vec::new();
        write_mboxrd(
            &mut out,
            "a@b",
            "Thu Jan  1 00:00:00 1970",
            b"S: x\n\nFrom me\n>From you\nok",
        )
        .unwrap();
        assert_eq!(
            out,
            b"From a@b Thu Jan  1 00:00:00 1970\nS: x\n\n>From me\n>>From you\nok\n\n"
        );
    }

    #[test]
    fn asctime_is_right() {
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(1_700_000_000), "Tue Nov 14 22:13:20 2023");
    }
}
