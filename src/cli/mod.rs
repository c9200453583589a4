//! The command-line layer: each binary's clap definition and `run`
//! function, and the one mapping from errors to exit codes. The binaries in
//! `src/bin/` only call [`bfetch::main`], [`bclassify::main`] or
//! [`bapply::main`]; no library module imports this layer.

pub mod bapply;
pub mod bclassify;
pub mod bfetch;
pub mod breport;
pub mod btag;
pub mod completions;
pub mod exit;

use crate::exit::ExitCode;
use clap::Parser;

/// What every binary does around its `run`: completions, argument errors
/// (64, or `parse_error_code`), a broken pipe ending quietly, and one line
/// on stderr naming the program for any other error.
fn drive<P: Parser>(
    name: &'static str,
    parse_error_code: ExitCode,
    run: impl FnOnce(P) -> anyhow::Result<ExitCode>,
    report: impl FnOnce(&anyhow::Error),
) -> ExitCode {
    if let Some(code) = completions::handle(name, P::command()) {
        return code;
    }
    let args = match P::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                parse_error_code
            } else {
                ExitCode::Ok
            };
        }
    };
    match run(args) {
        Ok(code) => code,
        Err(e) if exit::is_broken_pipe(&e) => ExitCode::Ok,
        Err(e) => {
            report(&e);
            exit::code_for(&e)
        }
    }
}
