//! Emit, the fourth stage of bapply: the run's updates written as CSV
//! ([`csv`]), JSON Lines ([`jsonl`]) or an SQL script ([`sql`]), or applied
//! to a database in one transaction ([`target`]). SQL text and `--apply`
//! share one statement per update ([`statement`]).

mod csv;
mod jsonl;
mod sql;
mod statement;
mod target;

pub use target::{Applied, Target, TargetError};

use super::policy::{Dialect, SqlPolicy};
use super::update::Update;
use std::io::{self, Write};
use std::time::Duration;

/// Output formats (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
    Sql,
}

/// Where and how the updates go.
pub(crate) struct EmitOptions<'o> {
    pub format: Format,
    /// `--dialect`, over the policy's.
    pub dialect: Option<Dialect>,
    /// `--apply`: a database instead of the output.
    pub apply: Option<&'o Target>,
    pub sql: &'o SqlPolicy,
    /// How long to wait for a locked target.
    pub lock_timeout: Duration,
    /// `--scope list`: CSV gains the column `list_id`.
    pub scope_list: bool,
}

/// What emitting did, for the summary.
#[derive(Debug, Default)]
pub(crate) struct Emitted {
    /// Updates that wrote no SQL statement.
    pub sql_skipped: usize,
    /// Values whose NUL PostgreSQL could not store.
    pub nul_replaced: usize,
    /// What `--apply` did.
    pub applied: Option<Applied>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum EmitError {
    #[error("output: {0}")]
    Output(#[source] io::Error),
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// Writes or applies `updates`. The counts are kept even when it fails.
pub(crate) fn emit<W: Write>(
    opts: &EmitOptions<'_>,
    updates: &mut dyn Iterator<Item = Update<'_>>,
    out: &mut W,
    emitted: &mut Emitted,
) -> Result<(), EmitError> {
    let mut stats = statement::Stats::default();
    let result = if let Some(target) = opts.apply {
        target
            .apply(updates, opts.sql, &mut stats, opts.lock_timeout)
            .map(|applied| emitted.applied = Some(applied))
            .map_err(EmitError::from)
    } else {
        match opts.format {
            Format::Csv => csv::write(&mut *out, updates, opts.scope_list),
            Format::Jsonl => jsonl::write(&mut *out, updates),
            Format::Sql => {
                let dialect = opts.dialect.unwrap_or(opts.sql.dialect);
                sql::write(&mut *out, updates, opts.sql, dialect, &mut stats)
            }
        }
        .map_err(EmitError::Output)
    };
    emitted.sql_skipped = stats.skipped;
    emitted.nul_replaced = stats.nul_replaced;
    result
}
