//! breport: classification records (JSON lines) in, a summary of what came
//! back out (see `man breport`).

fn main() -> std::process::ExitCode {
    bounce_tools::cli::breport::main().into()
}
