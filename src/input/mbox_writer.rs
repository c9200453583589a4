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
    let (y, m, d) = civil_from_days(days);
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

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_from_lines_reversibly() {
        let mut out = Vec::new();
        write_mboxrd(&mut out, "a@b", "Thu Jan  1 00:00:00 1970", b"S: x\n\nFrom me\n>From you\nok").unwrap();
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
