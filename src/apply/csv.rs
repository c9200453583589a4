//! CSV writer (the default output). Cells a spreadsheet would run as a
//! formula are neutralised: bounce text is attacker-controlled, and a cell
//! like `=HYPERLINK(...)` in a diagnostic must stay text when the file is
//! opened in a spreadsheet.

use super::update::{COLUMNS, Field, Update};
use std::io::{self, Write};

/// Writes the header and one row per update.
pub fn write<W: Write>(out: W, updates: impl IntoIterator<Item = Update>) -> io::Result<()> {
    let mut w = csv::WriterBuilder::new().from_writer(out);
    w.write_record(COLUMNS).map_err(into_io)?;
    for u in updates {
        let row = COLUMNS.iter().map(|c| match u.field(c) {
            Field::Text(s) => neutralise(s),
            Field::Int(n) => n.to_string(),
            Field::Null => String::new(),
        });
        w.write_record(row).map_err(into_io)?;
    }
    w.flush()
}

/// Prefixes a cell with `'` when it starts with a character that makes a
/// spreadsheet treat it as a formula (OWASP: `= + - @`, tab, CR, and LF),
/// or with `'` itself, so that removing one leading `'` always gives back
/// the exact value.
pub fn neutralise(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n' | '\'') => format!("'{s}"),
        // Full-width forms that some spreadsheets fold to the ASCII ones.
        Some('\u{FF1D}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF20}') => format!("'{s}"),
        _ => s.to_string(),
    }
}

fn into_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formula_prefixes_become_text() {
        for s in [
            "=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'quoted", "＝1",
        ] {
            let n = neutralise(s);
            assert!(n.starts_with('\''), "{s:?}");
            assert_eq!(&n['\''.len_utf8()..], s);
        }
        assert_eq!(neutralise("user@example.com"), "user@example.com");
        assert_eq!(neutralise(""), "");
    }
}
