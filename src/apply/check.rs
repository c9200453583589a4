//! `bapply --check-state`: whether a state database is one this bapply can
//! use, without changing it: SQLite's `PRAGMA integrity_check`, the schema
//! version, and the tables and columns of [`super::schema`]; for a
//! PostgreSQL state, its version, tables and columns.

use super::error::Error;
use super::schema::{ADDED_IN_V3, SCHEMA_VERSION, TABLES};
use super::state::{PostgresLocation, StateError};
use super::state_postgres::{quote_ident, read_version, set_lock_timeout};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// What a healthy state holds, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCheck {
    pub version: i64,
    pub contacts: i64,
    pub events: i64,
    pub emitted: i64,
}

impl std::fmt::Display for StateCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok: schema version {}{}, {} contacts, {} events, {} updates emitted",
            self.version,
            if self.version < SCHEMA_VERSION {
                " (the next run upgrades it)"
            } else {
                ""
            },
            self.contacts,
            self.events,
            self.emitted
        )
    }
}

/// Checks the state at `path`, read-only; waits up to `wait` for a run
/// that holds it.
pub fn check_state(path: &Path, wait: Duration) -> Result<StateCheck, Error> {
    let name = path.display().to_string();
    if !path.is_file() {
        return Err(Error::Open {
            path: name,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no state file here (bapply creates it on its first run)",
            ),
        });
    }
    let fail = |source: StateError| Error::State {
        path: name.clone(),
        source,
    };
    let sql = |e: rusqlite::Error| fail(StateError::from_sql(e, wait));
    super::state_error::check_header(path).map_err(fail)?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    conn.busy_timeout(wait).map_err(sql)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)?;
    if version > SCHEMA_VERSION {
        return Err(fail(StateError::Newer(version)));
    }
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(sql)?;
    if problems.len() != 1 || problems[0] != "ok" {
        return Err(fail(StateError::Damaged(format!(
            "integrity check failed ({} problems; first: {})",
            problems.len(),
            problems.first().map_or("", String::as_str)
        ))));
    }
    for (table, columns) in TABLES {
        let have: Vec<String> = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .and_then(|mut st| st.query_map([], |r| r.get(1))?.collect())
            .map_err(sql)?;
        let added = |column: Option<&str>| version < 3 && ADDED_IN_V3.contains(&(*table, column));
        if have.is_empty() && added(None) {
            continue;
        }
        if have.is_empty() {
            return Err(fail(StateError::Damaged(format!(
                "no table {table}: not a bapply state"
            ))));
        }
        // Version 1 has no `dest` yet; the next run adds it.
        let missing: Vec<&str> = columns
            .iter()
            .filter(|c| !have.iter().any(|h| h == *c))
            .filter(|c| !(version == 1 && **c == "dest"))
            .filter(|c| !added(Some(c)))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(fail(StateError::Damaged(format!(
                "table {table} has no column {}: not a state this bapply wrote",
                missing.join(", ")
            ))));
        }
    }
    let count = |table: &str| -> Result<i64, Error> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .map_err(sql)
    };
    Ok(StateCheck {
        version,
        contacts: count("contact")?,
        events: count("event")?,
        emitted: count("emitted")?,
    })
}

/// Checks the PostgreSQL state at `at`, read-only: its schema version, its
/// tables and their columns (PostgreSQL keeps its own pages whole, so there
/// is no integrity check to run). Waits up to `wait` for a lock.
pub fn check_state_postgres(at: &PostgresLocation, wait: Duration) -> Result<StateCheck, Error> {
    let name = at.display().to_string();
    let fail = |source: StateError| Error::State {
        path: name.clone(),
        source,
    };
    let pg = |e: postgres::Error| fail(StateError::from_postgres(e, wait));
    let mut client = at.connect().map_err(pg)?;
    // One snapshot for every count; a run in progress is not waited for.
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; {}",
            set_lock_timeout(wait)
        ))
        .map_err(pg)?;
    let version = read_version(&mut client, at.schema())
        .map_err(|e| fail(e.into_state(at.schema(), wait)))?;
    let Some(version) = version else {
        return Err(Error::Open {
            path: name,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no state in schema {} (bapply creates it on its first run)",
                    at.schema()
                ),
            ),
        });
    };
    if version > SCHEMA_VERSION {
        return Err(fail(StateError::Newer(version)));
    }
    for (table, columns) in TABLES {
        let have: Vec<String> = client
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = $2",
                &[&at.schema(), table],
            )
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let added = |column: Option<&str>| version < 3 && ADDED_IN_V3.contains(&(*table, column));
        if have.is_empty() && added(None) {
            continue;
        }
        if have.is_empty() {
            return Err(fail(StateError::Damaged(format!(
                "schema {} has no table {table}: not a bapply state",
                at.schema()
            ))));
        }
        let missing: Vec<&str> = columns
            .iter()
            .filter(|c| !have.iter().any(|h| h == *c))
            .filter(|c| !added(Some(c)))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(fail(StateError::Damaged(format!(
                "table {}.{table} has no column {}: not a state this bapply wrote",
                at.schema(),
                missing.join(", ")
            ))));
        }
    }
    let schema = quote_ident(at.schema());
    let mut count = |table: &str| -> Result<i64, Error> {
        client
            .query_one(&format!("SELECT count(*) FROM {schema}.{table}"), &[])
            .map(|r| r.get(0))
            .map_err(pg)
    };
    Ok(StateCheck {
        version,
        contacts: count("contact")?,
        events: count("event")?,
        emitted: count("emitted")?,
    })
}
