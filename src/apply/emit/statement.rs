//! One update as one SQL statement, before its values are written: the
//! same statement is written out with literals (`--format sql`) or run
//! with bound parameters (`--apply`). Identifiers (table and columns, from
//! the policy's `[sql]` section) are quoted for the dialect here; values
//! never become SQL text here.

use super::super::action::Action;
use super::super::policy::{Dialect, SqlPolicy};
use super::super::update::{Field, Update};

/// What writing statements had to leave out or change.
#[derive(Debug, Default, Clone)]
pub(crate) struct Stats {
    /// Updates that produced no statement (no value configured for the
    /// action, or nothing to match the row on).
    pub skipped: usize,
    /// PostgreSQL: values in which NUL had to be replaced.
    pub nul_replaced: usize,
}

/// A column set to a value.
pub(crate) struct Assignment<'a> {
    pub column: &'a str,
    pub value: Field<'a>,
}

/// What the statement does to the matching rows.
pub(crate) enum Change<'a> {
    Delete,
    Set(Vec<Assignment<'a>>),
}

/// `UPDATE table SET … WHERE column = value`, or `DELETE FROM …`.
pub(crate) struct Statement<'a> {
    pub table: &'a str,
    pub change: Change<'a>,
    /// The row to change: the subscriber id column or the address column.
    pub match_column: &'a str,
    pub match_value: &'a str,
    /// `--scope list` with `[sql] list_column`: the row is also matched on
    /// the update's List-Id (an update without one matches every list).
    pub list_match: Option<(&'a str, &'a str)>,
}

impl<'a> Statement<'a> {
    /// The statement for one update, or None when it writes none (no
    /// value for its action, no address to match, a change of address
    /// without the new one).
    pub(crate) fn for_update(u: &'a Update<'_>, cfg: &'a SqlPolicy) -> Option<Statement<'a>> {
        let (match_column, match_value) = match (&u.subscriber, &u.email) {
            (Some(id), _) if !cfg.id_column.is_empty() => (cfg.id_column.as_str(), &**id),
            (_, Some(email)) => (cfg.key_column.as_str(), &**email),
            _ => return None,
        };
        let list_match = u
            .list_id
            .as_deref()
            .filter(|_| !cfg.list_column.is_empty())
            .map(|l| (cfg.list_column.as_str(), l));
        let first = match u.action {
            Action::None => return None,
            Action::Delete => {
                return Some(Statement {
                    table: &cfg.table,
                    change: Change::Delete,
                    match_column,
                    match_value,
                    list_match,
                });
            }
            Action::ChangeAddress => Assignment {
                column: &cfg.key_column,
                value: Field::Text(u.new_email.as_deref()?),
            },
            Action::Block | Action::Unsubscribe | Action::Manual => Assignment {
                column: &cfg.status_column,
                value: Field::Text(cfg.value_for(u.action)?),
            },
        };
        let mut set = Vec::with_capacity(1 + cfg.set.len());
        set.push(first);
        set.extend(cfg.set.iter().map(|(column, field)| Assignment {
            column,
            value: u.field(field),
        }));
        Some(Statement {
            table: &cfg.table,
            change: Change::Set(set),
            match_column,
            match_value,
            list_match,
        })
    }

    /// The statement's text for `dialect`, each value written by `value`:
    /// as a literal, or as a placeholder whose value is bound.
    pub(crate) fn render(
        &self,
        dialect: Dialect,
        mut value: impl FnMut(&mut String, Field<'a>),
    ) -> String {
        let mut sql = String::new();
        match &self.change {
            Change::Delete => {
                sql.push_str("DELETE FROM ");
                sql.push_str(&quote_table(dialect, self.table));
            }
            Change::Set(set) => {
                sql.push_str("UPDATE ");
                sql.push_str(&quote_table(dialect, self.table));
                sql.push_str(" SET ");
                for (i, a) in set.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&quote_ident(dialect, a.column));
                    sql.push_str(" = ");
                    value(&mut sql, a.value);
                }
            }
        }
        sql.push_str(" WHERE ");
        sql.push_str(&quote_ident(dialect, self.match_column));
        sql.push_str(" = ");
        value(&mut sql, Field::Text(self.match_value));
        if let Some((column, list_id)) = self.list_match {
            sql.push_str(" AND ");
            sql.push_str(&quote_ident(dialect, column));
            sql.push_str(" = ");
            value(&mut sql, Field::Text(list_id));
        }
        sql
    }
}

/// An identifier (column or table name).
pub(crate) fn quote_ident(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Sqlite | Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
        Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
    }
}

/// A table name, which may be qualified (`schema.table`).
pub(crate) fn quote_table(dialect: Dialect, name: &str) -> String {
    name.split('.')
        .map(|p| quote_ident(dialect, p))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_per_dialect() {
        assert_eq!(quote_ident(Dialect::Mysql, "we`ird"), "`we``ird`");
        assert_eq!(quote_ident(Dialect::Sqlite, "we\"ird"), "\"we\"\"ird\"");
        assert_eq!(
            quote_table(Dialect::Postgres, "public.contacts"),
            "\"public\".\"contacts\""
        );
    }

    #[test]
    fn values_stay_out_of_the_text() {
        use crate::record::{Category, Reason};
        let u = Update {
            email: Some("'); DROP TABLE contacts;--".into()),
            action: Action::Block,
            category: Category::Hard,
            reason: Reason::UserUnknown,
            status: None,
            count: 1,
            first_seen: "".into(),
            last_seen: "".into(),
            subscriber: None,
            new_email: None,
            rule: "".into(),
            evidence: Some("x".into()),
            list_id: None,
        };
        let mut cfg = SqlPolicy::default();
        cfg.set.insert("ev".into(), "evidence".into());
        let st = Statement::for_update(&u, &cfg).unwrap();
        let mut n = 0;
        let sql = st.render(Dialect::Postgres, |sql, _| {
            n += 1;
            sql.push_str(&format!("${n}"));
        });
        assert_eq!(
            sql,
            "UPDATE \"contacts\" SET \"status\" = $1, \"ev\" = $2 WHERE \"email\" = $3"
        );
    }
}
