//! SQL writer for SQLite, PostgreSQL and MySQL/MariaDB, and the literal and
//! identifier quoting it rests on.
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

use super::policy::{Action, Dialect, SqlPolicy};
use super::update::{Field, Update};
use std::fmt::Write as _;
use std::io::{self, Write};

/// What writing statements had to leave out or change.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Updates that produced no statement (no value configured for the
    /// action, or nothing to match the row on).
    pub skipped: usize,
    /// PostgreSQL: values in which NUL had to be replaced.
    pub nul_replaced: usize,
}

/// The statements for `updates`, one per update that has one, without the
/// transaction around them; `stats` counts as they are taken.
pub fn statements<'a, 'u: 'a>(
    updates: &'a mut dyn Iterator<Item = Update<'u>>,
    cfg: &'a SqlPolicy,
    dialect: Dialect,
    stats: &'a mut Stats,
) -> impl Iterator<Item = String> + 'a {
    let mut q = Quoter::new(dialect);
    updates.filter_map(move |u| {
        let before = q.nul_replaced;
        let st = statement(&u, cfg, &mut q);
        stats.nul_replaced += q.nul_replaced - before;
        if st.is_none() {
            stats.skipped += 1;
        }
        st
    })
}

/// Writes a complete script: encoding set-up, one transaction.
pub fn write<W: Write>(
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
    for s in statements(updates, cfg, dialect, stats) {
        writeln!(out, "{s};")?;
    }
    writeln!(out, "COMMIT;")?;
    out.flush()
}

fn statement(u: &Update<'_>, cfg: &SqlPolicy, q: &mut Quoter) -> Option<String> {
    let table = q.table(&cfg.table);
    let (match_col, match_val) = match (&u.subscriber, &u.email) {
        (Some(id), _) if !cfg.id_column.is_empty() => (cfg.id_column.as_str(), &**id),
        (_, Some(email)) => (cfg.key_column.as_str(), &**email),
        _ => return None,
    };
    let where_ = format!(" WHERE {} = {}", q.ident(match_col), q.text(match_val));
    let first = match u.action {
        Action::None => return None,
        Action::Delete => return Some(format!("DELETE FROM {table}{where_}")),
        Action::ChangeAddress => {
            let new = u.new_email.as_deref()?;
            format!("{} = {}", q.ident(&cfg.key_column), q.text(new))
        }
        Action::Block | Action::Unsubscribe | Action::Manual => {
            let value = cfg.value_for(u.action)?;
            format!("{} = {}", q.ident(&cfg.status_column), q.text(value))
        }
    };
    let mut set = first;
    for (col, field) in &cfg.set {
        let v = match u.field(field) {
            Field::Text(s) => q.text(s),
            Field::Int(n) => n.to_string(),
            Field::Null => "NULL".to_string(),
        };
        let _ = write!(set, ", {} = {}", q.ident(col), v);
    }
    Some(format!("UPDATE {table} SET {set}{where_}"))
}

/// Quotes for one dialect and remembers what it had to change.
pub struct Quoter {
    pub dialect: Dialect,
    pub nul_replaced: usize,
}

impl Quoter {
    pub fn new(dialect: Dialect) -> Self {
        Quoter {
            dialect,
            nul_replaced: 0,
        }
    }

    /// A string literal.
    pub fn text(&mut self, s: &str) -> String {
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

    /// An identifier (column or table name).
    pub fn ident(&self, name: &str) -> String {
        match self.dialect {
            Dialect::Sqlite | Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        }
    }

    /// A table name, which may be qualified (`schema.table`).
    pub fn table(&self, name: &str) -> String {
        name.split('.')
            .map(|p| self.ident(p))
            .collect::<Vec<_>>()
            .join(".")
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
        }
    }

    fn script(updates: Vec<Update<'_>>, cfg: &SqlPolicy, d: Dialect) -> (Vec<String>, Stats) {
        let mut stats = Stats::default();
        let mut it = updates.into_iter();
        let v = statements(&mut it, cfg, d, &mut stats).collect();
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
        assert_eq!(my.ident("we`ird"), "`we``ird`");
        assert_eq!(sq.ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(sq.table("public.contacts"), "\"public\".\"contacts\"");
    }
}
