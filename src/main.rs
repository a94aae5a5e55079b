//! The `logship` binary: parses arguments and hands over to the library.

fn main() -> std::process::ExitCode {
    disable_transparent_huge_pages();
    logship::cli::main()
}

/// mimalloc: the keyspace makes and frees millions of small blocks; glibc's
/// allocator spent a quarter of replay time in malloc/free. Built with
/// `no_thp`, so it never asks for transparent huge pages (see below).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Transparent huge pages turn every touched byte of the allocator's regions
/// into a resident 2 MiB page: with them a primary under a steady write load
/// grew from 47 to 130 MB of RSS in 15 minutes, without them it stays flat
/// (tools/soak.sh). Like Redis (`disable-thp`), logship turns them off for its
/// own process only, which also covers kernels set to THP `always`. Failure
/// (an old kernel) only costs memory, so it is ignored.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments and touches no memory
    // of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
