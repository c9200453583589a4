//! What can go wrong with the state store, said so that a person knows
//! what to do (bounce-tools(7), EXIT STATUS).

use super::postgres_error;
use super::schema::SCHEMA_VERSION;
use crate::exit::ExitCode;
use rusqlite::ErrorCode;
use std::path::Path;
use std::time::Duration;

type Result<T> = std::result::Result<T, StateError>;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database is locked by another run (waited {0:?})")]
    Locked(Duration),
    /// Written by a newer bapply: refused before anything is written.
    #[error(
        "schema version {0} is newer than this bapply reads ({SCHEMA_VERSION}); \
         upgrade bounce-tools, or give another --state"
    )]
    Newer(i64),
    /// What `bapply --check-state` found wrong.
    #[error(
        "{0}; restore the file from a backup, or move it away to start a new \
         state (its counts start again)"
    )]
    Damaged(String),
    /// Not a `#[source]`: [`describe`] already words SQLite's message, and
    /// the one-line error must not repeat it.
    #[error("{}", describe(.0))]
    Sql(rusqlite::Error),
    /// A PostgreSQL state's error, in one line: the server's message, or
    /// why it cannot be reached.
    #[error("{}; nothing was changed", postgres_error::describe(.0))]
    Postgres(postgres::Error),
}

impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> Self {
        StateError::Sql(e)
    }
}

impl StateError {
    /// The state file cannot be used as it is (damaged, not a state, from
    /// a newer bapply): bad data, which retrying does not mend.
    pub fn is_damaged(&self) -> bool {
        match self {
            StateError::Newer(_) | StateError::Damaged(_) => true,
            StateError::Sql(e) => matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
            ),
            StateError::Locked(_) | StateError::Postgres(_) => false,
        }
    }

    /// bounce-tools(7), EXIT STATUS: 75 for a state another run holds, 65
    /// for one that cannot be used as it is, PostgreSQL's by its SQLSTATE
    /// (as for `--apply`), and 74 for SQLite's other failures.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            StateError::Locked(_) => ExitCode::TempFail,
            StateError::Postgres(e) => postgres_error::exit_code(e),
            e if e.is_damaged() => ExitCode::DataErr,
            _ => ExitCode::IoErr,
        }
    }

    /// A PostgreSQL error; `lock_timeout` running out is [`Self::Locked`].
    pub(super) fn from_postgres(e: postgres::Error, wait: Duration) -> StateError {
        if postgres_error::is_lock_timeout(&e) {
            StateError::Locked(wait)
        } else {
            StateError::Postgres(e)
        }
    }
}

/// A state file that SQLite would take for a new, empty database (shorter
/// than its header, or than a page) or that its header says is longer than
/// it is: refused before SQLite writes a new state over it. An empty file
/// is a new state.
pub(super) fn check_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut head = Vec::with_capacity(100);
    let len = match std::fs::File::open(path) {
        Ok(f) => {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.take(100).read_to_end(&mut head);
            len
        }
        // Missing (a new state) or unreadable: SQLite says which.
        Err(_) => return Ok(()),
    };
    if len == 0 {
        return Ok(());
    }
    let damaged = |what: String| {
        Err(StateError::Damaged(format!(
            "damaged or not a bapply state ({what}); nothing was changed"
        )))
    };
    if head.len() < 100 || !head.starts_with(b"SQLite format 3\0") {
        return damaged(format!("no SQLite header in its {len} bytes"));
    }
    let be32 = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let page = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65536,
        n => u64::from(n),
    };
    let pages = u64::from(be32(28));
    // The page count is valid when written by SQLite 3.7 or later (the
    // version-valid-for number matches the change counter); a WAL that is
    // not empty may hold pages a checkpoint has not written yet.
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_empty = std::fs::metadata(&wal).map_or(true, |m| m.len() == 0);
    if be32(92) == be32(24) && wal_empty && len < pages * page {
        return damaged(format!(
            "truncated: {len} bytes, its header says {}",
            pages * page
        ));
    }
    Ok(())
}

/// SQLite's message once (rusqlite repeats it with the code), and what to
/// do about the usual failures.
fn describe(e: &rusqlite::Error) -> String {
    let message = match e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        rusqlite::Error::SqliteFailure(f, None) => f.to_string(),
        other => other.to_string(),
    };
    let advice = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            "damaged or not a bapply state; nothing was changed. Restore it from \
             a backup, or move it away to start a new state (its counts start \
             again); bapply --check-state checks it"
        }
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            "cannot be written; nothing was changed. Make the file and its folder \
             writable (SQLite keeps -wal and -shm files next to it)"
        }
        Some(ErrorCode::DiskFull) => {
            "the disk is full; nothing was changed. Free space and run again"
        }
        Some(ErrorCode::SystemIoFailure) => {
            "nothing was changed. Check that its file system has free space and \
             works, then run again"
        }
        _ => return message,
    };
    format!("{message}: {advice}")
}

impl StateError {
    pub(super) fn from_sql(e: rusqlite::Error, wait: Duration) -> StateError {
        if is_busy(&e) {
            StateError::Locked(wait)
        } else {
            StateError::Sql(e)
        }
    }
}

/// Another connection holds the lock.
pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}
