//! The `orch` binary: the leader side. All behaviour is in the library.

fn main() -> std::process::ExitCode {
    orch::process::memory::keep_freed_memory();
    std::process::ExitCode::from(orch::commands::run_orch(std::env::args_os().collect()))
}
