//! bapply's one error type, and the exit code of each (bounce-tools(7),
//! EXIT STATUS).

use super::emit::{EmitError, TargetError};
use super::ingest::IngestError;
use super::state::StateError;
use super::summary::Summary;
use crate::exit::{ExitCode, ToExitCode};
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Open { path: String, source: io::Error },
    #[error(transparent)]
    Input(#[from] IngestError),
    #[error("{path}: {message}")]
    Policy { path: String, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("state {path}: {source}")]
    State { path: String, source: StateError },
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The guard held the run back; carries what the run saw.
    #[error("{}", .0.guard.refusal())]
    Guard(Box<Summary>),
    #[error("output: {0}")]
    Output(#[source] io::Error),
}

impl ToExitCode for Error {
    fn exit_code(&self) -> ExitCode {
        match self {
            Error::Open { source, .. } => match source.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => ExitCode::NoInput,
                _ => ExitCode::IoErr,
            },
            Error::Input(e) => e.exit_code(),
            Error::Output(_) => ExitCode::IoErr,
            Error::Policy { .. } => ExitCode::Config,
            Error::Usage(_) => ExitCode::Usage,
            Error::State { source, .. } => source.exit_code(),
            Error::Target(t) => t.code,
            // Held back, not broken: the same input with --force, or after
            // the outage, goes through. Cron and MTAs read 75 as "later".
            Error::Guard(_) => ExitCode::TempFail,
        }
    }
}

impl From<EmitError> for Error {
    fn from(e: EmitError) -> Self {
        match e {
            EmitError::Output(e) => Error::Output(e),
            EmitError::Target(e) => Error::Target(e),
        }
    }
}
