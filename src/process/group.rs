//! Stopping a worker: SIGTERM to its process group, a grace period, SIGKILL to the
//! group, then SIGKILL to whatever escaped the group (a `setsid` descendant) but still
//! holds the worker's terminal, or still carries the attempt in its environment. Never `waitpid(-1)`: only the supervisor's own child is
//! reaped, by its owner.

use super::procfs;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::path::Path;
use std::time::Duration;

/// Sends `signal` to every process of group `pgid`; false when the group is gone.
pub fn signal_group(pgid: u32, signal: Signal) -> bool {
    killpg(Pid::from_raw(pgid as i32), signal).is_ok()
}

/// True while some process of the group exists (zombies included).
pub fn group_exists(pgid: u32) -> bool {
    killpg(Pid::from_raw(pgid as i32), None).is_ok()
}

/// Live (non-zombie) members of a process group.
pub fn live_group_members(pgid: u32) -> Vec<u32> {
    procfs::all_pids()
        .into_iter()
        .filter_map(procfs::stat)
        .filter(|s| s.pgrp == pgid && s.state != 'Z' && s.state != 'X')
        .map(|s| s.pid)
        .collect()
}

/// What stopping a group took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stopped {
    pub sent_term: bool,
    pub sent_kill: bool,
}

/// SIGTERM to the group, up to `grace` for its live members to leave, then SIGKILL to the
/// group and to every member of the worker's session (`session` = the worker's pid).
pub async fn terminate(pgid: u32, session: u32, grace: Duration) -> Stopped {
    let mut stopped = Stopped::default();
    if live_group_members(pgid).is_empty() && procfs::session_members(session).is_empty() {
        return stopped;
    }
    stopped.sent_term = signal_group(pgid, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        if live_group_members(pgid).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if !live_group_members(pgid).is_empty() {
        stopped.sent_kill = signal_group(pgid, Signal::SIGKILL);
    }
    // Processes that moved to another group of the same session.
    for member in procfs::session_members(session) {
        if kill(Pid::from_raw(member.pid as i32), Signal::SIGKILL).is_ok() {
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
