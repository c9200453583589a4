//! Database targets for `--apply`: the statements `--format sql` would
//! print, executed in one transaction on SQLite (`sqlite:PATH`) or
//! PostgreSQL (`postgres://…`). Any failing statement rolls the whole run
//! back.
//!
//! Values go to the server as bound parameters, never as SQL text: bounce
//! messages are attacker-controlled. Only identifiers from the policy's
//! `[sql]` section are in the text, quoted for the dialect. PostgreSQL
//! gets each parameter in text format with its type left to the server,
//! so that a `[sql.set]` column of any type takes its value the way it
//! would take a quoted literal (as `--format sql` writes it).

use super::super::policy::{Dialect, SqlPolicy};
use super::super::postgres_error::{self, redact};
use super::super::update::{Field, Update};
use super::statement::{Statement, Stats};
use crate::exit::ExitCode;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// What to do when a target's table does not fit the policy's `[sql]`.
const FIT_HINT: &str = "; make the policy's [sql] section (table, key_column, status_column, \
                        [sql.set]) name the table and columns the database has \
                        (bapply --print-policy shows them)";

#[derive(Debug, Clone)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{target}: {message}")]
pub struct TargetError {
    pub target: String,
    pub message: String,
    pub code: ExitCode,
}

/// What a run did to the target.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    /// The target as messages name it (no password).
    pub target: String,
    pub statements: usize,
    pub rows: u64,
    /// Statements that matched no row (the contact is not in the table).
    pub unmatched: usize,
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, String> {
        if let Some(p) = s.strip_prefix("sqlite:") {
            let p = p.strip_prefix("//").unwrap_or(p);
            if p.is_empty() {
                return Err(format!("--apply {s:?}: no path after sqlite:"));
            }
            Ok(Target::Sqlite(PathBuf::from(p)))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(Target::Postgres(s.to_string()))
        } else {
            Err(format!(
                "--apply {:?}: expected sqlite:PATH or postgres://…",
                redact(s)
            ))
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Target::Sqlite(_) => Dialect::Sqlite,
            Target::Postgres(_) => Dialect::Postgres,
        }
    }

    /// What tells targets apart in the state: an SQLite file by its full
    /// path, a PostgreSQL URL without its password.
    pub fn identity(&self) -> String {
        match self {
            Target::Sqlite(p) => format!(
                "sqlite:{}",
                std::fs::canonicalize(p)
                    .unwrap_or_else(|_| p.clone())
                    .display()
            ),
            Target::Postgres(url) => redact(url),
        }
    }

    /// How the target is named in messages: never with its password.
    pub fn display(&self) -> String {
        match self {
            Target::Sqlite(p) => format!("sqlite:{}", p.display()),
            Target::Postgres(url) => redact(url),
        }
    }

    /// The contacts in the target's table (`SELECT count(*)`), read only:
    /// the list size the guard judges a run's share against.
    pub fn count_rows(&self, cfg: &SqlPolicy, wait: Duration) -> Result<u64, TargetError> {
        let sql = format!(
            "SELECT count(*) FROM {}",
            super::statement::quote_table(self.dialect(), &cfg.table)
        );
        let fail = |e: String| self.fail(ExitCode::IoErr, format!("counting the list: {e}"));
        match self {
            Target::Sqlite(path) => {
                use rusqlite::{Connection, OpenFlags};
                let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .map_err(|e| fail(e.to_string()))?;
                conn.busy_timeout(wait).map_err(|e| fail(e.to_string()))?;
                conn.query_row(&sql, [], |r| r.get::<_, i64>(0))
                    .map(|n| n.max(0) as u64)
                    .map_err(|e| fail(e.to_string()))
            }
            Target::Postgres(url) => {
                let mut client = postgres::Client::connect(url, postgres::NoTls)
                    .map_err(|e| fail(postgres_error::describe(&e)))?;
                client
                    .query_one(sql.as_str(), &[])
                    .map(|r| r.get::<_, i64>(0).max(0) as u64)
                    .map_err(|e| fail(postgres_error::describe(&e)))
            }
        }
    }

    /// Applies `updates` in one transaction; `stats` counts the updates
    /// that made no statement and the values whose NUL was replaced.
    pub(crate) fn apply(
        &self,
        updates: &mut dyn Iterator<Item = Update<'_>>,
        cfg: &SqlPolicy,
        stats: &mut Stats,
        wait: Duration,
    ) -> Result<Applied, TargetError> {
        let dialect = self.dialect();
        let mut statements = updates.filter_map(|u| {
            let st = Statement::for_update(&u, cfg).map(|st| Bound::new(&st, dialect, stats));
            if st.is_none() {
                stats.skipped += 1;
            }
            st
        });
        let applied = match self {
            Target::Sqlite(path) => self.apply_sqlite(path, &mut statements, wait),
            Target::Postgres(url) => self.apply_postgres(url, &mut statements),
        };
        applied.map(|a| Applied {
            target: self.display(),
            ..a
        })
    }

    fn fail(&self, code: ExitCode, message: impl Into<String>) -> TargetError {
        TargetError {
            target: self.display(),
            message: message.into(),
            code,
        }
    }

    fn apply_sqlite(
        &self,
        path: &PathBuf,
        statements: &mut dyn Iterator<Item = Bound>,
        wait: Duration,
    ) -> Result<Applied, TargetError> {
        use rusqlite::{Connection, ErrorCode as E, OpenFlags};
        let sql_err = |e: rusqlite::Error| {
            let code = match e.sqlite_error_code() {
                Some(E::DatabaseBusy | E::DatabaseLocked) => ExitCode::TempFail,
                Some(E::ConstraintViolation) => ExitCode::DataErr,
                Some(E::CannotOpen | E::NotADatabase) => ExitCode::NoInput,
                Some(E::ReadOnly | E::PermissionDenied) => ExitCode::NoPerm,
                // "no such table/column": the [sql] section does not fit.
                Some(E::Unknown) => ExitCode::Config,
                _ => ExitCode::IoErr,
            };
            let hint = if code == ExitCode::Config {
                FIT_HINT
            } else {
                ""
            };
            self.fail(code, format!("{e}; nothing applied{hint}"))
        };
        // Never create the contact database: a typo in the path must not
        // turn into an empty new file that every update misses.
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql_err)?;
        conn.busy_timeout(wait).map_err(sql_err)?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(sql_err)?;
        let mut applied = Applied::default();
        for (i, st) in statements.enumerate() {
            let executed = conn
                .prepare_cached(&st.sql)
                .and_then(|mut prepared| prepared.execute(rusqlite::params_from_iter(&st.params)));
            match executed {
                Ok(n) => {
                    applied.statements += 1;
                    applied.rows += n as u64;
                    if n == 0 {
                        applied.unmatched += 1;
                    }
                }
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    let mut err = sql_err(e);
                    err.message = format!("update {}: {}", i + 1, err.message);
                    return Err(err);
                }
            }
        }
        conn.execute_batch("COMMIT").map_err(sql_err)?;
        Ok(applied)
    }

    fn apply_postgres(
        &self,
        url: &str,
        statements: &mut dyn Iterator<Item = Bound>,
    ) -> Result<Applied, TargetError> {
        let pg_err = |e: postgres::Error| {
            let code = postgres_error::exit_code(&e);
            let msg = postgres_error::describe(&e);
            let hint = if code == ExitCode::Config {
                FIT_HINT
            } else {
                ""
            };
            self.fail(code, format!("{msg}{hint}"))
        };
        let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(pg_err)?;
        let mut tx = client.transaction().map_err(pg_err)?;
        let mut applied = Applied::default();
        // One prepared statement per text: a run's statements come in a
        // few shapes (per action, and address or subscriber id).
        let mut prepared: HashMap<String, postgres::Statement> = HashMap::new();
        for (i, st) in statements.enumerate() {
            let params: Vec<&(dyn postgres::types::ToSql + Sync)> = st
                .params
                .iter()
                .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                .collect();
            let statement = match prepared.get(&st.sql) {
                Some(s) => Ok(s.clone()),
                None => tx.prepare(&st.sql).inspect(|s| {
                    prepared.insert(st.sql.clone(), s.clone());
                }),
            };
            match statement.and_then(|s| tx.execute(&s, &params)) {
                Ok(n) => {
                    applied.statements += 1;
                    applied.rows += n;
                    if n == 0 {
                        applied.unmatched += 1;
                    }
                }
                Err(e) => {
                    // Dropping the transaction rolls it back; say so.
                    let mut err = pg_err(e);
                    err.message = format!("update {}: {}; nothing applied", i + 1, err.message);
                    return Err(err);
                }
            }
        }
        tx.commit().map_err(pg_err)?;
        Ok(applied)
    }
}

/// A statement with placeholders (`?1` for SQLite, `$1` for PostgreSQL)
/// and the values bound to them.
struct Bound {
    sql: String,
    params: Vec<Param>,
}

impl Bound {
    fn new(st: &Statement<'_>, dialect: Dialect, stats: &mut Stats) -> Bound {
        let mut params = Vec::new();
        let mut nul_replaced = 0;
        let sql = st.render(dialect, |sql, value| {
            params.push(match value {
                Field::Text(s) if dialect == Dialect::Postgres && s.contains('\0') => {
                    // PostgreSQL text cannot hold NUL at all.
                    nul_replaced += 1;
                    Param::Text(s.replace('\0', "\u{FFFD}"))
                }
                Field::Text(s) => Param::Text(s.to_string()),
                Field::Int(n) => Param::Int(n),
                Field::Null => Param::Null,
            });
            let mark = if dialect == Dialect::Postgres {
                '$'
            } else {
                '?'
            };
            sql.push(mark);
            sql.push_str(&params.len().to_string());
        });
        stats.nul_replaced += nul_replaced;
        Bound { sql, params }
    }
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
enum Param {
    Text(String),
    Int(u32),
    Null,
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Int(n) => ToSqlOutput::Owned(Value::Integer(i64::from(*n))),
            Param::Null => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// In text format, typed by the server from the column it is compared
/// with or assigned to, as a quoted literal would be.
impl postgres::types::ToSql for Param {
    fn to_sql(
        &self,
        _ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let text: Cow<'_, str> = match self {
            Param::Text(s) => Cow::Borrowed(s),
            Param::Int(n) => Cow::Owned(n.to_string()),
            Param::Null => return Ok(postgres::types::IsNull::Yes),
        };
        out.extend_from_slice(text.as_bytes());
        Ok(postgres::types::IsNull::No)
    }

    fn accepts(_ty: &postgres::types::Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &postgres::types::Type) -> postgres::types::Format {
        postgres::types::Format::Text
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        assert!(matches!(
            Target::parse("sqlite:/tmp/x.db"),
            Ok(Target::Sqlite(_))
        ));
        assert!(matches!(
            Target::parse("postgres://u@h/db"),
            Ok(Target::Postgres(_))
        ));
        assert!(Target::parse("mysql://h/db").is_err());
        assert_eq!(
            redact("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
