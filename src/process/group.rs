//! Stopping a worker: SIGTERM to its process group, a grace period, SIGKILL to the
//! group and to every member of its session ([`Stopper`], the one place that does it),
//! then SIGKILL to whatever escaped the session (a `setsid` descendant) but still holds
//! the worker's terminal, or still carries the attempt in its environment. Never
//! `waitpid(-1)`: only the supervisor's own child is reaped, by its owner.

use super::procfs;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// While it waits out the grace, how often the stopper asks whether the group is gone:
/// at first soon (most workers leave at once), then less and less often.
const FIRST_LOOK: Duration = Duration::from_millis(5);
const LONGEST_LOOK: Duration = Duration::from_millis(100);

/// Sends `signal` to every process of group `pgid`; false when the group is gone.
pub fn signal_group(pgid: u32, signal: Signal) -> bool {
    killpg(Pid::from_raw(pgid as i32), signal).is_ok()
}

/// True while some process of the group exists (zombies included).
pub fn group_exists(pgid: u32) -> bool {
    killpg(Pid::from_raw(pgid as i32), None).is_ok()
}

/// The live (non-zombie) processes of a worker, read in one pass over `/proc`: the
/// members of its process group and of its session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    pub group: Vec<u32>,
    pub session: Vec<u32>,
}

impl Members {
    pub fn of(pgid: u32, session: u32) -> Members {
        let mut members = Members::default();
        for stat in procfs::all_pids().into_iter().filter_map(procfs::stat) {
            if stat.state == 'Z' || stat.state == 'X' {
                continue;
            }
            if stat.pgrp == pgid {
                members.group.push(stat.pid);
            }
            if stat.session == session {
                members.session.push(stat.pid);
            }
        }
        members
    }

    pub fn is_empty(&self) -> bool {
        self.group.is_empty() && self.session.is_empty()
    }
}

/// What stopping a group took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stopped {
    pub sent_term: bool,
    pub sent_kill: bool,
}

/// A worker being stopped: SIGTERM to its group at once, then, when the grace is over
/// or the group is gone, SIGKILL to the group's and the session's live members. The
/// stop runs on its own task; the handle moves its SIGKILL earlier ([`Stopper::escalate`],
/// [`Stopper::hurry`]) or waits for it to end.
pub struct Stopper {
    kill_at: watch::Sender<Instant>,
    task: tokio::task::JoinHandle<Stopped>,
}

impl Stopper {
    /// Starts stopping group `pgid` and session `session` (the worker's pid for both)
    /// with `grace` between SIGTERM and SIGKILL.
    pub fn start(pgid: u32, session: u32, grace: Duration) -> Stopper {
        let (kill_at, deadline) = watch::channel(after(grace));
        let task = tokio::spawn(terminate(pgid, session, deadline));
        Stopper { kill_at, task }
    }

    /// SIGKILL now, to the group and the session.
    pub fn escalate(&self) {
        self.hurry(Duration::ZERO);
    }

    /// SIGKILL at the latest `within` from now.
    pub fn hurry(&self, within: Duration) {
        let at = after(within);
        self.kill_at.send_if_modified(|kill_at| {
            let sooner = at < *kill_at;
            if sooner {
                *kill_at = at;
            }
            sooner
        });
    }

    /// True once the stop is over.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits until the stop is over.
    pub async fn wait(self) -> Stopped {
        self.task.await.unwrap_or_default()
    }
}

/// `now + duration`, or far away when that is past the clock's range (a grace of years).
fn after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// The stop itself: SIGTERM to the group; until `kill_at` (which may move earlier) for
/// the group to leave, looking with a cheap `killpg(pgid, 0)`; then one scan of `/proc`
/// and SIGKILL to the group's live members and every live member of the session.
async fn terminate(pgid: u32, session: u32, mut kill_at: watch::Receiver<Instant>) -> Stopped {
    let mut stopped = Stopped {
        sent_term: signal_group(pgid, Signal::SIGTERM),
        sent_kill: false,
    };
    let mut look = FIRST_LOOK;
    let mut movable = true;
    while stopped.sent_term && group_exists(pgid) {
        let deadline = *kill_at.borrow_and_update();
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let pause = look.min(deadline - now);
        tokio::select! {
            _ = tokio::time::sleep(pause) => look = (look * 2).min(LONGEST_LOOK),
            // The handle was dropped: the deadline stays where it is.
            moved = kill_at.changed(), if movable => movable = moved.is_ok(),
        }
    }
    let members = Members::of(pgid, session);
    if !members.group.is_empty() {
        stopped.sent_kill = signal_group(pgid, Signal::SIGKILL);
    }
    // Processes that moved to another group of the same session.
    for pid in members.session {
        if kill(Pid::from_raw(pid as i32), Signal::SIGKILL).is_ok() {
            stopped.sent_kill = true;
        }
    }
    stopped
}

/// Kills (SIGKILL) every process other than `except` that holds `tty` open: descendants
/// that left the worker's session with `setsid` but kept its terminal. Returns their pids.
pub fn kill_terminal_holders(tty: &Path, except: u32) -> Vec<u32> {
    let holders = procfs::holders_of(tty, except);
    for pid in &holders {
        let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
    }
    holders
}

/// Kills (SIGKILL) every process other than `except` whose environment still marks it
/// as part of the attempt (`ORCH_THREAD` and `ORCH_DB` as given to the worker): the
/// descendants that left the session and closed the terminal. Returns their pids.
pub fn kill_attempt_leftovers(thread_id: &str, db: &str, except: u32) -> Vec<u32> {
    let found = procfs::with_environment(&[("ORCH_THREAD", thread_id), ("ORCH_DB", db)], except);
    for pid in &found {
        let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
    }
    found
}

/// Kills a process by pid only if it is still the process that started at `start_time`.
pub fn kill_if_same(pid: u32, start_time: u64, signal: Signal) -> bool {
    procfs::is_same_process(pid, start_time) && kill(Pid::from_raw(pid as i32), signal).is_ok()
}

/// Kills a whole group (SIGKILL) if its leader is still the process that started at
/// `start_time`: the crash-recovery path, where no grace is owed.
pub fn kill_group_if_same(pgid: u32, start_time: u64) -> bool {
    procfs::is_same_process(pgid, start_time) && signal_group(pgid, Signal::SIGKILL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::Command;

    /// Starts `script` in a session (and group) of its own; its exit status is sent
    /// once it is reaped (by a thread of the test, as the supervisor's waiter does).
    fn start(script: &str) -> (u32, std::sync::mpsc::Receiver<std::process::ExitStatus>) {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        // SAFETY: setsid(2) is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait().unwrap());
        });
        (pid, rx)
    }

    #[tokio::test]
    async fn a_group_that_leaves_on_sigterm_is_not_killed() {
        let (pid, exited) = start("exec sleep 100");
        let stopped = Stopper::start(pid, pid, Duration::from_secs(300))
            .wait()
            .await;
        assert!(stopped.sent_term && !stopped.sent_kill, "{stopped:?}");
        assert_eq!(
            exited.recv().unwrap().signal(),
            Some(Signal::SIGTERM as i32)
        );
    }

    #[tokio::test]
    async fn escalating_kills_a_group_that_ignores_sigterm_at_once() {
        let (pid, exited) = start("trap '' TERM; sleep 100 & wait");
        // The trap is in place once the group has its second member.
        while Members::of(pid, pid).group.len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let stopper = Stopper::start(pid, pid, Duration::from_secs(300));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!stopper.is_finished(), "it waits out the grace");
        stopper.escalate();
        let stopped = stopper.wait().await;
        assert!(stopped.sent_term && stopped.sent_kill, "{stopped:?}");
        assert_eq!(
            exited.recv().unwrap().signal(),
            Some(Signal::SIGKILL as i32)
        );
        // Its background child got the SIGKILL too.
        for _ in 0..500 {
            if Members::of(pid, pid).is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("left running: {:?}", Members::of(pid, pid));
    }
}
