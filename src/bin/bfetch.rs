//! bfetch: fetch a bounce mailbox over IMAP (see `man bfetch`).

use bounce_tools::exit::{self, ExitCode};
use bounce_tools::imap::cli::{self, Cli};
use clap::{CommandFactory, Parser};

fn main() -> std::process::ExitCode {
    if let Some(code) = bounce_tools::completions::handle("bfetch", Cli::command()) {
        return code.into();
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Ok
            };
            let _ = e.print();
            return code.into();
        }
    };
    match cli::run(cli) {
        Ok(()) => ExitCode::Ok.into(),
        Err(e) if exit::is_broken_pipe(&e) => ExitCode::Ok.into(),
        Err(e) => {
            eprintln!("bfetch: {e:#}");
            exit::code_for(&e).into()
        }
    }
}
