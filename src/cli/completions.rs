//! Shell completions for bash, zsh and fish, generated from each binary's
//! clap definition (so they never drift from the flags).
//!
//! `PROG --completions SHELL` prints the script and exits. The flag is
//! looked for before the normal parse, so it stays out of `--help` and the
//! programs' own argument rules (`bclassify` reads stdin when given no
//! input, for instance).

use clap_complete::Shell;
use std::io::Write;

/// The shells we generate for.
pub const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

/// When the arguments are exactly `--completions SHELL`, writes the
/// completion script for `cmd`, the program `name`, to stdout and returns
/// the exit code; otherwise `None` and the program goes on as usual.
pub fn handle(name: &'static str, cmd: clap::Command) -> Option<crate::exit::ExitCode> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let shell = match args.as_slice() {
        [flag, shell] if flag == "--completions" => shell.to_string_lossy().into_owned(),
        [flag] if flag == "--completions" => String::new(),
        _ => return None,
    };
    let mut cmd = cmd.name(name).bin_name(name);
    let shell = match shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => {
            eprintln!(
                "{name}: --completions: unknown shell {other:?}; one of {}",
                SHELLS.join(", ")
            );
            return Some(crate::exit::ExitCode::Usage);
        }
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut buf);
    let mut out = std::io::stdout().lock();
    Some(match out.write_all(&buf).and_then(|()| out.flush()) {
        Ok(()) => crate::exit::ExitCode::Ok,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => crate::exit::ExitCode::Ok,
        Err(e) => {
            eprintln!("{name}: --completions: {e}");
            crate::exit::ExitCode::IoErr
        }
    })
}
