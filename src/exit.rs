//! Exit codes (sysexits, bounce-tools(7) EXIT STATUS) and the trait by
//! which a library error names its own.
//!
//! Library modules define their own `thiserror` enums and implement
//! [`ToExitCode`] so that each error knows its class. The command-line
//! layer wraps errors with `anyhow` context and walks the chain
//! (`cli::exit::code_for`); this module sits at the bottom of the crate so
//! that every stage can name its codes without importing the others.

use std::io;

/// Process exit codes from sysexits.h, the ones bounce-tools(7), EXIT STATUS,
/// names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Ok = 0,
    /// `bclassify -q`: the message is not a bounce or notice.
    NotBounce = 1,
    Usage = 64,
    DataErr = 65,
    NoInput = 66,
    Unavailable = 69,
    /// An error no code was chosen for: a bug (bounce-tools(7), EXIT
    /// STATUS; not in sysexits' list of the SPEC, but some code must say it).
    Software = 70,
    IoErr = 74,
    TempFail = 75,
    NoPerm = 77,
    Config = 78,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}

/// Errors that know which exit code they deserve.
pub trait ToExitCode {
    fn exit_code(&self) -> ExitCode;
}

impl ToExitCode for io::Error {
    fn exit_code(&self) -> ExitCode {
        match self.kind() {
            io::ErrorKind::NotFound => ExitCode::NoInput,
            io::ErrorKind::PermissionDenied => ExitCode::NoInput,
            io::ErrorKind::InvalidData => ExitCode::DataErr,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {
                ExitCode::TempFail
            }
            _ => ExitCode::IoErr,
        }
    }
}

/// A free-standing classified error for binaries that need to fail with a
/// specific code and a message of their own (usage problems and the like).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: ExitCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl ToExitCode for Failure {
    fn exit_code(&self) -> ExitCode {
        self.code
    }
}
