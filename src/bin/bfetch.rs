//! bfetch: fetch a bounce mailbox over IMAP (see `man bfetch`).

fn main() -> std::process::ExitCode {
    bounce_tools::cli::bfetch::main().into()
}
