//! Exit codes (sysexits, SPEC §8) and the one place that maps an error to a code.
//!
//! Library modules define their own `thiserror` enums and implement [`Classify`]
//! so that each error knows its class. The binaries wrap errors with `anyhow`
//! context and call [`code_for`], which walks the chain and takes the first
//! class it finds.

use std::io;

/// Process exit codes from sysexits.h, the ones SPEC §8 names.
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
    Software = 70,
    IoErr = 74,
    TempFail = 75,
    Protocol = 76,
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
pub trait Classify {
    fn exit_code(&self) -> ExitCode;
}

impl Classify for io::Error {
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

impl Classify for Failure {
    fn exit_code(&self) -> ExitCode {
        self.code
    }
}

/// Picks the exit code for an error chain: the outermost error that knows
/// its class wins; anything unknown is a software error.
pub fn code_for(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if let Some(c) = classify_one(cause) {
            return c;
        }
    }
    ExitCode::Software
}

fn classify_one(e: &(dyn std::error::Error + 'static)) -> Option<ExitCode> {
    macro_rules! try_types {
        ($($t:ty),* $(,)?) => {
            $( if let Some(x) = e.downcast_ref::<$t>() { return Some(x.exit_code()); } )*
        };
    }
    try_types!(
        Failure,
        crate::input::Error,
        crate::classify::rules::RuleError,
        crate::imap::Error,
        crate::apply::Error,
        io::Error,
    );
    None
}

/// True when the error chain holds a broken pipe: the reader went away
/// (`bclassify big.mbox | head -1`), which is not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
