//! breport's stage: classification records in, a summary of what came
//! back out (breport(1)) — counts by category and reason, the share of
//! failures that are the sender's problem, the receiving domains with most
//! failures, per day, the most frequent diagnostics with addresses masked,
//! and alerts on thresholds. Written as aligned text ([`text`]), JSON
//! (`Summary` is `Serialize`) or one self-contained HTML page ([`html`]).
//!
//! Reading ([`read`]) streams every input; memory is flat in the number of
//! records except for the per-domain, per-day and per-diagnostic counters
//! ([`tally`]), which are bounded too.

mod alert;
pub mod html;
mod mask;
mod read;
mod summary;
mod tally;
pub mod text;

pub use alert::{Alert, AlertResult, Crossing};
pub use summary::{DayRow, DiagnosticRow, DomainRow, Limits, Row, SenderSide, Summary};
pub use tally::DayRange;

use crate::exit::{ExitCode, ToExitCode};
use std::io::{self, Read};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}: line {line}: {message}")]
    BadRecord {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("HTML template: {0}")]
    Template(String),
}

impl ToExitCode for Error {
    fn exit_code(&self) -> ExitCode {
        match self {
            Error::Open { source, .. } => match source.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => ExitCode::NoInput,
                _ => ExitCode::IoErr,
            },
            Error::Read { .. } | Error::Write { .. } => ExitCode::IoErr,
            Error::BadRecord { .. } => ExitCode::DataErr,
            Error::Template(_) => ExitCode::Software,
        }
    }
}

/// What a report reads and shows.
#[derive(Debug, Clone)]
pub struct Options {
    /// Files to read; empty or `-` means stdin.
    pub inputs: Vec<String>,
    pub range: DayRange,
    pub limits: Limits,
    pub alerts: Vec<Alert>,
}

/// Reads every input and works out the figures, alerts included.
pub fn summarise(opts: &Options, stdin: &mut (dyn Read + Send)) -> Result<Summary, Error> {
    let stdin_only = ["-".to_string()];
    let names: &[String] = if opts.inputs.is_empty() {
        &stdin_only
    } else {
        &opts.inputs
    };
    let tally = read::read_all(names, stdin, opts.range)?;
    let alerts = opts
        .alerts
        .iter()
        .map(|a| a.check(&tally, opts.limits.min_count))
        .collect();
    Ok(Summary::new(&tally, opts.limits, alerts))
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date, for --since and --until.
pub fn parse_day(s: &str) -> Option<i64> {
    tally::parse_day(s.trim())
}
