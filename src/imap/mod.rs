//! IMAP side of bfetch (bfetch(1)): fetch a bounce mailbox read-only, and
//! change it only in `bfetch ack`, after the downstream steps succeeded.
//!
//! Everything that talks to the server lives here so that only bfetch links
//! TLS and the IMAP client. The pieces:
//!
//! - [`config`]: one account (from flags or a TOML file), secrets, XDG paths.
//! - [`session`]: TCP + rustls (implicit TLS or STARTTLS done by hand),
//!   authentication, timeouts, redacted protocol debugging.
//! - [`fetch`]: search, size-bounded batches, output, `--list`, `--check`, `--idle`.
//! - [`state`]: the `--new` position per account, mailbox and UIDVALIDITY.
//! - [`ack`]: mark seen, flag, move or delete exactly the acknowledged messages.
//! - [`cli`]: the command-line surface, shared by the binary and its tests.

pub(crate) mod ack;
pub(crate) mod config;
pub(crate) mod fetch;
pub(crate) mod output;
pub(crate) mod session;
pub(crate) mod state;
pub(crate) mod uidset;

/// Entry points for the fuzz targets (fuzz/): the parts of bfetch that read
/// bytes it did not write itself, reachable without a server.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::ack::fuzz_groups as ack_groups;
    pub use super::uidset::{chunks, compress};

    /// Reads `bytes` as a `--new` state file; a state that reads is written
    /// and read back unchanged.
    pub fn state_file(bytes: &[u8]) -> bool {
        let path = std::path::Path::new("fuzz-state.json");
        match super::state::parse(path, bytes) {
            Ok(data) => {
                let saved = serde_json::to_vec_pretty(&data).expect("state serializes");
                let again = super::state::parse(path, &saved).expect("saved state reads");
                assert_eq!(data, again, "state round trip");
                true
            }
            Err(e) => {
                assert_eq!(e.kind, super::Kind::Data);
                false
            }
        }
    }
}

use crate::exit::{ExitCode, ToExitCode};

/// What kind of failure an [`Error`] is; decides the exit code and whether
/// a retry can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Usage,
    /// Input records or saved state do not match the server (stale UIDVALIDITY).
    Data,
    /// Could not reach the server at all.
    Unavailable,
    /// Timeouts and dropped connections: worth retrying, and worth a 75 so
    /// that cron/MTA wrappers try again later.
    Temporary,
    Protocol,
    Auth,
    Config,
    Io,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self.kind, Kind::Temporary | Kind::Unavailable)
    }
}

impl ToExitCode for Error {
    fn exit_code(&self) -> ExitCode {
        match self.kind {
            Kind::Usage => ExitCode::Usage,
            Kind::Data => ExitCode::DataErr,
            Kind::Unavailable => ExitCode::Unavailable,
            Kind::Temporary => ExitCode::TempFail,
            // A server that does not speak IMAP as bfetch needs it is
            // unavailable to bfetch (sysexits has no protocol code in the
            // set bounce-tools(7), EXIT STATUS, allows).
            Kind::Protocol => ExitCode::Unavailable,
            Kind::Auth => ExitCode::NoPerm,
            Kind::Config => ExitCode::Config,
            Kind::Io => ExitCode::IoErr,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
