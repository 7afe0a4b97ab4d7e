//! Running a short command to its end with a time limit: stdin from /dev/null (or the
//! bytes given), stdout and stderr captured, in its own process group, which is killed
//! whole at the timeout (a check's, a version probe's or a notifier's children go with it).

use std::time::Duration;

/// What a command that ran to its end printed, and how it exited.
#[derive(Debug, Clone)]
pub struct Output {
    pub success: bool,
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// How a bounded command ended.
#[derive(Debug)]
pub enum Bounded {
    /// It ran to its end.
    Exited(Output),
    /// It could not be started.
    CannotStart(std::io::Error),
    /// Waiting for it failed.
    Failed(std::io::Error),
    /// It ran past the limit; its group was killed.
    TimedOut,
}

/// Runs `command` (its program, arguments, environment and cwd already set) as
/// described in the module doc.
pub async fn run_bounded(command: tokio::process::Command, limit: Duration) -> Bounded {
    run(command, None, limit).await
}

/// [`run_bounded`] with `input` on the command's stdin (closed after it; a command that
/// does not read it all is not an error).
pub async fn run_bounded_with_input(
    command: tokio::process::Command,
    input: Vec<u8>,
    limit: Duration,
) -> Bounded {
    run(command, Some(input), limit).await
}

async fn run(
    mut command: tokio::process::Command,
    input: Option<Vec<u8>>,
    limit: Duration,
) -> Bounded {
    let stdin = match input {
        Some(_) => std::process::Stdio::piped(),
        None => std::process::Stdio::null(),
    };
    command
        .stdin(stdin)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Bounded::CannotStart(e),
    };
    let pid = child.id();
    if let (Some(input), Some(mut pipe)) = (input, child.stdin.take()) {
        // Written beside the wait, so a command that fills its stdout first cannot block
        // on a full stdin pipe; dropping the pipe closes it.
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = pipe.write_all(&input).await;
        });
    }
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(out)) => Bounded::Exited(Output {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
        Ok(Err(e)) => Bounded::Failed(e),
        Err(_) => {
            if let Some(pid) = pid {
                super::group::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
            }
            Bounded::TimedOut
        }
    }
}
