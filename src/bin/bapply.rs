//! bapply: classification records (JSON lines) in, contact updates out
//! (see `man bapply`).

fn main() -> std::process::ExitCode {
    bounce_tools::cli::bapply::main().into()
}
