//! Starting a process that outlives its parent: its own session (no terminal, no
//! SIGHUP when the caller's terminal closes), stdin from /dev/null (or, for a supervisor
//! started ahead of need, a pipe its starter writes its attempt to), stdout and stderr
//! appended to a log file, which such a supervisor changes once it has its attempt.

use crate::error::{IoContext, IoError};
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The signals that tell a supervisor to stop its worker and end.
fn stop_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(signal);
    }
    set
}

/// Starts `command` detached in a new session with its output appended to `log`, and
/// with SIGTERM, SIGINT and SIGHUP blocked: a stop signal in the new process's first
/// milliseconds stays pending until it has its handlers in and calls
/// [`unblock_stop_signals`], instead of killing it before it can stop anything. An error
/// names the log file or the program.
pub fn spawn_detached(command: Command, log: &Path) -> Result<Child, IoError> {
    spawn_detached_reading(command, log, Stdio::null())
}

/// [`spawn_detached`] with stdin a pipe the caller writes to (`child.stdin`).
pub fn spawn_detached_piped(command: Command, log: &Path) -> Result<Child, IoError> {
    spawn_detached_reading(command, log, Stdio::piped())
}

/// Appends this process's stdout and stderr to `log` from now on (created private).
pub fn redirect_output(log: &Path) -> Result<(), IoError> {
    let file = open_log(log)?;
    nix::unistd::dup2_stdout(&file)
        .and_then(|()| nix::unistd::dup2_stderr(&file))
        .map_err(std::io::Error::from)
        .at(log)
}

fn open_log(log: &Path) -> Result<std::fs::File, IoError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)
        .at(log)
}

fn spawn_detached_reading(
    mut command: Command,
    log: &Path,
    stdin: Stdio,
) -> Result<Child, IoError> {
    let out = open_log(log)?;
    let err = out.try_clone().at(log)?;
    command
        .stdin(stdin)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let blocked = stop_signals();
    // SAFETY: the closure runs in the forked child before exec and only calls setsid(2)
    // and sigprocmask(2), which are async-signal-safe. (std clears the signal mask
    // before it runs the closure; a blocked mask survives exec.)
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_BLOCK,
                Some(&blocked),
                None,
            )
            .map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let program = command.get_program().to_owned();
    command
        .spawn()
        .doing(&format!("cannot run {}", Path::new(&program).display()))
}

/// Lets the calling thread receive SIGTERM, SIGINT and SIGHUP again (see
/// [`spawn_detached`]); one that came while they were blocked is delivered now. Call it
/// once the handlers are installed. Threads started before it keep them blocked, so the
/// signals reach this one.
pub fn unblock_stop_signals() -> std::io::Result<()> {
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_UNBLOCK,
        Some(&stop_signals()),
        None,
    )
    .map_err(std::io::Error::from)
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
