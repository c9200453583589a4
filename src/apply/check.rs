//! `bapply --check-state`: whether a state database is one this bapply can
//! use, without changing it: SQLite's `PRAGMA integrity_check`, the schema
//! version, and the tables and columns of [`super::schema`].

use super::error::Error;
use super::schema::{ADDED_IN_V3, SCHEMA_VERSION, TABLES};
use super::state::StateError;
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
