//! btag: sign a subscriber address into a return path, or check one (see
//! `man btag`).

fn main() -> std::process::ExitCode {
    bounce_tools::cli::btag::main().into()
}
