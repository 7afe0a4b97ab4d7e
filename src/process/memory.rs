//! How the process's allocator keeps freed memory (glibc `mallopt`).
//!
//! Most `orch` and `inbox` processes live a few milliseconds and move a few hundred KB
//! of text (a `status` reply is ~500 KB) between the database thread and the main
//! thread. glibc's defaults hand each freed block back to the kernel as soon as the heap
//! top grows past 128 KB and give each thread its own arena, so the same memory is
//! faulted in again and again: on a 1,000-task `orch status --json` ~270 of its ~800
//! page faults, ~0.7 ms of ~6 ms (docs/BENCHMARKS.md). Long-running processes (the
//! supervisor, `orch up`) bound their buffers by design, so keeping what they freed
//! costs them nothing they did not already peak at.

/// Keep freed memory in the process (no trimming below 64 MiB), serve blocks up to
/// 4 MiB from the heap instead of fresh mappings, and share one arena between threads.
/// Call first thing in `main`, before any thread starts.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only adjusts allocator parameters; it is called before any
        // other thread exists, and a rejected value leaves the default in place.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        }
    }
}
