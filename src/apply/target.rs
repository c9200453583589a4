//! Database targets for `--apply`: the statements of the SQL writer,
//! executed in one transaction on SQLite (`sqlite:PATH`) or PostgreSQL
//! (`postgres://…`). Any failing statement rolls the whole run back.
//!
//! The statements carry their values as literals quoted by [`super::sql`]
//! rather than as bound parameters, so that `--apply` runs exactly what
//! `--format sql` prints (and what the tests run through each engine), and
//! so that `[sql.set]` columns of any type take their values the way the
//! engine converts a literal.

use super::policy::Dialect;
use crate::exit::ExitCode;
use std::path::PathBuf;
use std::time::Duration;

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

    /// How the target is named in messages: never with its password.
    pub fn display(&self) -> String {
        match self {
            Target::Sqlite(p) => format!("sqlite:{}", p.display()),
            Target::Postgres(url) => redact(url),
        }
    }

    pub fn apply(
        &self,
        statements: &mut dyn Iterator<Item = String>,
        wait: Duration,
    ) -> Result<Applied, TargetError> {
        match self {
            Target::Sqlite(path) => self.apply_sqlite(path, statements, wait),
            Target::Postgres(url) => self.apply_postgres(url, statements),
        }
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
        statements: &mut dyn Iterator<Item = String>,
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
            self.fail(code, format!("{e}; nothing applied"))
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
            match conn.execute(&st, []) {
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
        statements: &mut dyn Iterator<Item = String>,
    ) -> Result<Applied, TargetError> {
        use postgres::error::SqlState;
        let pg_err = |e: postgres::Error| {
            let code = match e.code() {
                None => ExitCode::Unavailable,
                Some(c) => match &c.code()[..2] {
                    "28" => ExitCode::NoPerm,
                    "42" | "3D" | "3F" => ExitCode::Config,
                    "23" | "22" => ExitCode::DataErr,
                    "40" | "55" | "57" | "53" => ExitCode::TempFail,
                    _ if *c == SqlState::CONNECTION_EXCEPTION => ExitCode::Unavailable,
                    _ => ExitCode::IoErr,
                },
            };
            let msg = match e.as_db_error() {
                Some(db) => format!("{}: {}", db.severity(), db.message()),
                None => e.to_string(),
            };
            self.fail(code, msg)
        };
        let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(pg_err)?;
        let mut tx = client.transaction().map_err(pg_err)?;
        let mut applied = Applied::default();
        for (i, st) in statements.enumerate() {
            match tx.execute(st.as_str(), &[]) {
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

/// Replaces the password of a URL with `***`.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(c) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..c],
                    &rest[at..]
                ),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
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
