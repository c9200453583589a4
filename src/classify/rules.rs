//! Ordered, named classification rules (SPEC §5).

use crate::exit::{Classify, ExitCode};

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

impl Classify for RuleError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::Config
    }
}
