//! SQL text (`--format sql`) for SQLite, PostgreSQL and MySQL/MariaDB, and
//! the literal quoting it rests on. (`--apply` runs the same statements
//! with bound parameters instead, in `target`.)
//!
//! Every value that reaches a statement came from a bounce message, which
//! anyone can send, so quoting is written per dialect to be correct whatever
//! the server's settings are:
//!
//! - SQLite: `'...'` with `''`; a value holding a control character is
//!   written as `CAST(X'..' AS TEXT)`: NUL would end the SQL text, and the
//!   `sqlite3` shell drops a CR before a line end even inside a literal.
//! - PostgreSQL: `'...'`, or `E'...'` with `\\`, `\n`, `\r`, `\xHH` when
//!   the value holds a backslash or a control character, so neither
//!   `standard_conforming_strings` nor a line-oriented tool can change it.
//!   A text value cannot hold NUL in PostgreSQL at all; NUL becomes U+FFFD
//!   and is counted so the summary can say so.
//! - MySQL/MariaDB: `'...'` only for printable ASCII without backslash;
//!   anything else is `_utf8mb4 X'..'`, which neither `NO_BACKSLASH_ESCAPES`
//!   nor the connection character set can change.

use super::super::policy::{Dialect, SqlPolicy};
use super::super::update::{Field, Update};
use super::statement::{Statement, Stats};
use std::fmt::Write as _;
use std::io::{self, Write};

/// Writes a complete script: encoding set-up, one transaction.
pub(crate) fn write<W: Write>(
    mut out: W,
    updates: &mut dyn Iterator<Item = Update<'_>>,
    cfg: &SqlPolicy,
    dialect: Dialect,
    stats: &mut Stats,
) -> io::Result<()> {
    writeln!(out, "-- bapply: contact updates, one transaction")?;
    let (pre, begin) = match dialect {
        Dialect::Sqlite => ("", "BEGIN;"),
        Dialect::Postgres => ("SET client_encoding = 'UTF8';\n", "BEGIN;"),
        Dialect::Mysql => ("SET NAMES utf8mb4;\n", "START TRANSACTION;"),
    };
    out.write_all(pre.as_bytes())?;
    writeln!(out, "{begin}")?;
    let mut q = Quoter::new(dialect);
    for u in updates {
        let before = q.nul_replaced;
        let text = Statement::for_update(&u, cfg).map(|st| with_literals(&st, &mut q));
        stats.nul_replaced += q.nul_replaced - before;
        match text {
            Some(text) => writeln!(out, "{text};")?,
            None => stats.skipped += 1,
        }
    }
    writeln!(out, "COMMIT;")?;
    out.flush()
}

/// The statement with its values written as literals.
fn with_literals<'a>(st: &Statement<'a>, q: &mut Quoter) -> String {
    let dialect = q.dialect;
    st.render(dialect, |sql, value| match value {
        Field::Text(s) => sql.push_str(&q.text(s)),
        Field::Int(n) => {
            let _ = write!(sql, "{n}");
        }
        Field::Null => sql.push_str("NULL"),
    })
}

/// Quotes for one dialect and remembers what it had to change.
pub(crate) struct Quoter {
    pub dialect: Dialect,
    pub nul_replaced: usize,
}

impl Quoter {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Quoter {
            dialect,
            nul_replaced: 0,
        }
    }

    /// A string literal.
    pub(crate) fn text(&mut self, s: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                if s.chars().any(|c| c.is_ascii_control()) {
                    format!("CAST(X'{}' AS TEXT)", hex(s.as_bytes()))
                } else {
                    single_quoted(s)
                }
            }
            Dialect::Postgres => {
                let owned;
                let s = if s.contains('\0') {
                    self.nul_replaced += 1;
                    owned = s.replace('\0', "\u{FFFD}");
                    owned.as_str()
                } else {
                    s
                };
                if s.chars().any(|c| c == '\\' || c.is_ascii_control()) {
                    let mut e = String::with_capacity(s.len() + 8);
                    for c in s.chars() {
                        match c {
                            '\\' => e.push_str("\\\\"),
                            '\n' => e.push_str("\\n"),
                            '\r' => e.push_str("\\r"),
                            '\t' => e.push_str("\\t"),
                            c if c.is_ascii_control() => {
                                let _ = write!(e, "\\x{:02X}", c as u32);
                            }
                            c => e.push(c),
                        }
                    }
                    format!("E{}", single_quoted(&e))
                } else {
                    single_quoted(s)
                }
            }
            Dialect::Mysql => {
                if s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\\') {
                    single_quoted(s)
                } else {
                    format!("_utf8mb4 X'{}'", hex(s.as_bytes()))
                }
            }
        }
    }
}

fn single_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::action::Action;

    fn update(action: Action) -> Update<'static> {
        use crate::record::{Category, Reason};
        Update {
            email: Some("a@x".into()),
            action,
            category: Category::Hard,
            reason: Reason::UserUnknown,
            status: Some("5.1.1".into()),
            count: 2,
            first_seen: "2024-01-01T00:00:00Z".into(),
            last_seen: "2024-01-02T00:00:00Z".into(),
            subscriber: Some("s'1".into()),
            new_email: Some("b@x".into()),
            rule: "r".into(),
            evidence: None,
            list_id: None,
        }
    }

    fn script(updates: Vec<Update<'_>>, cfg: &SqlPolicy, d: Dialect) -> (Vec<String>, Stats) {
        let mut stats = Stats::default();
        let mut out = Vec::new();
        write(&mut out, &mut updates.into_iter(), cfg, d, &mut stats).unwrap();
        let text = String::from_utf8(out).unwrap();
        let v = text
            .lines()
            .filter(|l| l.starts_with("UPDATE") || l.starts_with("DELETE"))
            .map(|l| l.strip_suffix(';').unwrap().to_string())
            .collect();
        (v, stats)
    }

    #[test]
    fn statements_per_action() {
        let mut cfg = SqlPolicy::default();
        cfg.set.insert("n".into(), "count".into());
        cfg.set.insert("ev".into(), "evidence".into());
        let (v, stats) = script(
            vec![
                update(Action::Block),
                update(Action::Unsubscribe),
                update(Action::Manual),
                update(Action::Delete),
                update(Action::ChangeAddress),
            ],
            &cfg,
            Dialect::Sqlite,
        );
        assert_eq!(
            v,
            [
                "UPDATE \"contacts\" SET \"status\" = 'blocked', \"ev\" = NULL, \"n\" = 2 WHERE \"email\" = 'a@x'",
                "UPDATE \"contacts\" SET \"status\" = 'unsubscribed', \"ev\" = NULL, \"n\" = 2 WHERE \"email\" = 'a@x'",
                "DELETE FROM \"contacts\" WHERE \"email\" = 'a@x'",
                "UPDATE \"contacts\" SET \"email\" = 'b@x', \"ev\" = NULL, \"n\" = 2 WHERE \"email\" = 'a@x'",
            ]
        );
        assert_eq!(stats.skipped, 1, "manual writes nothing by default");
        cfg.id_column = "sub_id".into();
        let (v, _) = script(vec![update(Action::Block)], &cfg, Dialect::Mysql);
        assert!(v[0].ends_with("WHERE `sub_id` = 's''1'"), "{}", v[0]);
    }

    #[test]
    fn literals_per_dialect() {
        let mut sq = Quoter::new(Dialect::Sqlite);
        assert_eq!(sq.text("it's"), "'it''s'");
        assert_eq!(sq.text("a\0b"), "CAST(X'610062' AS TEXT)");
        assert_eq!(sq.text("a\\b"), "'a\\b'");
        let mut pg = Quoter::new(Dialect::Postgres);
        assert_eq!(pg.text("it's"), "'it''s'");
        assert_eq!(pg.text("a\\'b"), "E'a\\\\''b'");
        assert_eq!(pg.text("a\0"), "'a\u{FFFD}'");
        assert_eq!(pg.text("a\r\n\x01"), "E'a\\r\\n\\x01'");
        assert_eq!(sq.text("a\rb"), "CAST(X'610D62' AS TEXT)");
        assert_eq!(pg.nul_replaced, 1);
        let mut my = Quoter::new(Dialect::Mysql);
        assert_eq!(my.text("it's"), "'it''s'");
        assert_eq!(my.text("a\\"), "_utf8mb4 X'615C'");
        assert_eq!(my.text("é"), "_utf8mb4 X'C3A9'");
    }
}
