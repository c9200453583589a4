//! bclassify: a message stream in, one JSON record per affected address out
//! (see `man bclassify`).

// Classification allocates many small, short-lived strings on both worker
// threads; mimalloc's thread-local heaps keep that off the system allocator's locks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bounce_tools::cli::bclassify::main().into()
}
