//! The shapes of report lines the prose scanner tells apart: a reply
//! line that another follows, a reply line that opens with an address,
//! a rule of dashes.

/// Whether a line is a reply line that another follows ("550-…": RFC
/// 5321's hyphen after the code).
pub(super) fn continues_reply(line: &str) -> bool {
    let b = line.trim_start().as_bytes();
    b.len() > 3 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b'-'
}

/// Whether a line opens with a reply code ("550 …", "550-…").
pub(super) fn is_reply_line(line: &str) -> bool {
    let b = line.trim_start().as_bytes();
    b.len() > 4 && b[..3].iter().all(u8::is_ascii_digit) && matches!(b[3], b'-' | b' ')
}

/// Whether a reply line starts, after its code, with `address`.
pub(super) fn opens_with(line: &str, address: &str) -> bool {
    let t = line.trim_start();
    let t = match t.as_bytes() {
        [a, b, c, d, ..]
            if [a, b, c].iter().all(|x| x.is_ascii_digit()) && matches!(d, b'-' | b' ') =>
        {
            &t[4..]
        }
        _ => t,
    };
    let t = t.trim_start().trim_start_matches('<');
    t.get(..address.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(address))
}

/// A line made only of rule characters (`-----`, `=====`, `*****`).
pub(super) fn is_separator(l: &str) -> bool {
    let t = l.trim();
    t.len() >= 3
        && t.chars()
            .all(|c| matches!(c, '-' | '=' | '*' | '_' | '#' | '~'))
}
