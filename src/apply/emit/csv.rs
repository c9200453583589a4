//! CSV writer (the default output). Cells a spreadsheet would run as a
//! formula are neutralised: bounce text is attacker-controlled, and a cell
//! like `=HYPERLINK(...)` in a diagnostic must stay text when the file is
//! opened in a spreadsheet.

use super::super::update::{COLUMNS, Field, LIST_COLUMN, Update};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Writes the header and one row per update; `scope_list` adds the
/// column `list_id` (`--scope list`).
pub(super) fn write<'u, W: Write>(
    out: W,
    updates: impl IntoIterator<Item = Update<'u>>,
    scope_list: bool,
) -> io::Result<()> {
    let mut w = csv::WriterBuilder::new().from_writer(out);
    let list = [LIST_COLUMN];
    let extra: &[&str] = if scope_list { &list } else { &[] };
    let columns = || COLUMNS.iter().chain(extra);
    w.write_record(columns()).map_err(into_io)?;
    let mut number = String::new();
    for u in updates {
        for c in columns() {
            match u.field(c) {
                Field::Text(s) => w.write_field(&*neutralised(s)),
                Field::Int(n) => {
                    number.clear();
                    let _ = write!(number, "{n}");
                    w.write_field(&number)
                }
                Field::Null => w.write_field(""),
            }
            .map_err(into_io)?;
        }
        w.write_record(None::<&[u8]>).map_err(into_io)?;
    }
    w.flush()
}

/// Prefixes a cell with `'` when it starts with a character that makes a
/// spreadsheet treat it as a formula (OWASP: `= + - @`, tab, CR, and LF),
/// or with `'` itself, so that removing one leading `'` always gives back
/// the exact value. Copies only the cells it changes.
fn neutralised(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n' | '\'') => format!("'{s}").into(),
        // Full-width forms that some spreadsheets fold to the ASCII ones.
        Some('\u{FF1D}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF20}') => format!("'{s}").into(),
        _ => s.into(),
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
    use super::neutralised;

    fn neutralise(s: &str) -> String {
        neutralised(s).into_owned()
    }

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
