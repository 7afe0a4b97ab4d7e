//! Starting a process that outlives its parent: its own session (no terminal, no
//! SIGHUP when the caller's terminal closes), stdin from /dev/null, stdout and stderr
//! appended to a log file.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `command` detached in a new session with its output appended to `log`.
pub fn spawn_detached(mut command: Command, log: &Path) -> std::io::Result<Child> {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)?;
    let err = out.try_clone()?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    // SAFETY: the closure runs in the forked child before exec and only calls setsid(2),
    // which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    command.spawn()
}

/// Reaps those of `children` (started by this process) that have exited, and keeps the
/// rest. Only these pids are waited for: never `waitpid(-1)`.
pub fn reap_exited(children: &mut Vec<u32>) {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    children.retain(|pid| {
        !matches!(
            waitpid(
                nix::unistd::Pid::from_raw(*pid as i32),
                Some(WaitPidFlag::WNOHANG)
            ),
            Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) | Err(_)
        )
    });
}

/// Asks a process to stop (SIGTERM), if it is still the one that started at `start`.
pub fn stop_if_same(pid: u32, start: u64) -> bool {
    super::group::kill_if_same(pid, start, nix::sys::signal::Signal::SIGTERM)
}
