//! The `logship` binary: parses arguments and hands over to the library.

fn main() -> std::process::ExitCode {
    logship::cli::main()
}

/// mimalloc: the keyspace makes and frees millions of small blocks; glibc's
/// allocator spent a quarter of replay time in malloc/free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
