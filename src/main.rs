//! The `logship` binary: parses arguments and hands over to the library.

fn main() -> std::process::ExitCode {
    disable_transparent_huge_pages();
    logship::cli::main()
}

/// jemalloc, as in Redis: the keyspace makes and frees millions of small
/// blocks, and glibc's allocator spent a quarter of replay time in
/// malloc/free. mimalloc was as fast, but under a steady write load its RSS
/// kept creeping up (23 to 30 MB in ten minutes of tools/soak.sh, for a live
/// heap of about 10 MB), where jemalloc levels off within minutes.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: a background thread returns freed
/// pages to the system after a second (as Redis's `jemalloc-bg-thread`), so
/// the buffers of a burst (a standby catching up after a restart) do not stay
/// resident for the default ten seconds or until the next allocation.
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Transparent huge pages turn every touched byte of the allocator's regions
/// into a resident 2 MiB page: with them a primary under a steady write load
/// grew from 47 to 130 MB of RSS in 15 minutes (tools/soak.sh). Like Redis
/// (`disable-thp`), logship turns them off for its own process. Failure (an
/// old kernel) only costs memory, so it is ignored.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments and touches no memory
    // of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
