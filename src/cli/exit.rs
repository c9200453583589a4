//! The one place that maps an error chain to an exit code: the first error
//! in the chain that knows its class ([`ToExitCode`]) decides.

use crate::exit::{ExitCode, Failure, ToExitCode};
use std::io;

/// Picks the exit code for an error chain: the outermost error that knows
/// its class wins; anything unknown is a software error.
pub fn code_for(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if let Some(c) = known_code(cause) {
            return c;
        }
    }
    ExitCode::Software
}

fn known_code(e: &(dyn std::error::Error + 'static)) -> Option<ExitCode> {
    macro_rules! try_types {
        ($($t:ty),* $(,)?) => {
            $( if let Some(x) = e.downcast_ref::<$t>() { return Some(x.exit_code()); } )*
        };
    }
    try_types!(
        Failure,
        crate::stream::Error,
        crate::classify::rules::RuleError,
        crate::imap::Error,
        crate::apply::Error,
        crate::report::Error,
        crate::tag::Error,
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
