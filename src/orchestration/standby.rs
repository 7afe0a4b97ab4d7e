//! A supervisor started ahead of need (`orch supervise --standby`), kept by `orch up` on
//! PostgreSQL: it connects to the database and warms its connection (the reads it will
//! start with) while nothing waits for it, then waits on its stdin for an attempt. When
//! a task becomes ready, [`super::launch::start_supervisor`] writes it the attempt,
//! which it claims, instead of starting a process that would first have to connect: on
//! PostgreSQL a new backend (its fork and its cold caches) cost a supervisor several
//! milliseconds before it could start its worker (docs/BENCHMARKS.md). On SQLite,
//! opening the file is cheap, and no standby is kept. `ORCH_STANDBY=off` keeps none.
//!
//! One standby at a time, per `orch up` process. It is detached like any supervisor (its
//! own session), so that once it has an attempt it outlives `orch up`; until then it
//! leaves when its stdin closes (`orch up` ended, or was killed) or on a stop signal.

use super::launch::SupervisorCommand;
use std::io::Write;
use std::process::Child;
use std::sync::Mutex;

/// The standby, while it waits (None: none, or not kept here).
static STANDBY: Mutex<Option<Child>> = Mutex::new(None);
/// When the last standby was handed its attempt: the next one is started only
/// [`REST`] after, so that its start (a process, a connection, its warm-up reads) does
/// not take the CPU from the supervisor just handed its attempt.
static HANDED_AT: Mutex<Option<std::time::Instant>> = Mutex::new(None);
const REST: std::time::Duration = std::time::Duration::from_millis(40);
/// When a standby last left before it was handed an attempt (it could not connect, or
/// was stopped): the next one is started only [`AFTER_LEFT`] later, not on every tick.
static LEFT_AT: Mutex<Option<std::time::Instant>> = Mutex::new(None);
const AFTER_LEFT: std::time::Duration = std::time::Duration::from_secs(5);
/// Whether this process keeps one ([`keep`]).
static KEPT: Mutex<Option<Keeper>> = Mutex::new(None);

/// How to start a standby: a supervisor's command line, and where its output goes
/// until it has an attempt.
struct Keeper {
    command: SupervisorCommand,
    log: std::path::PathBuf,
}

/// Keeps a standby from now on (`orch up` on PostgreSQL), started as `command
/// --standby` with its output appended to `log` until it has an attempt.
pub(super) fn keep(command: SupervisorCommand, log: std::path::PathBuf) {
    *lock(&KEPT) = Some(Keeper { command, log });
}

/// Starts a standby if one is kept and none waits. A standby that cannot start is only
/// a missed saving: the next launch starts its supervisor as usual.
pub(super) fn replenish() {
    let kept = lock(&KEPT);
    let Some(keeper) = kept.as_ref() else { return };
    let mut standby = lock(&STANDBY);
    if let Some(child) = standby.as_mut() {
        if matches!(child.try_wait(), Ok(None)) {
            return;
        }
        *lock(&LEFT_AT) = Some(std::time::Instant::now());
    }
    *standby = None;
    if lock(&HANDED_AT).is_some_and(|at| at.elapsed() < REST)
        || lock(&LEFT_AT).is_some_and(|at| at.elapsed() < AFTER_LEFT)
    {
        return;
    }
    let command = keeper.command.with_args(["--standby"]);
    match crate::process::detach::spawn_detached_piped(command, &keeper.log) {
        Ok(child) => *standby = Some(child),
        Err(e) => tracing::warn!(error = %e, "cannot start a standby supervisor"),
    }
}

/// The waiting standby, if one is alive; the caller hands it an attempt ([`hand`]).
pub(super) fn take() -> Option<Child> {
    let mut child = lock(&STANDBY).take()?;
    match child.try_wait() {
        Ok(None) => Some(child),
        // Gone (it could not connect, or was stopped): reaped here.
        _ => {
            *lock(&LEFT_AT) = Some(std::time::Instant::now());
            None
        }
    }
}

/// Writes the standby its attempt: the thread id and the log its output goes to from
/// then on, on one line; then closes its stdin (it reads one line). False when it could
/// not be written (the standby had just died).
pub(super) fn hand(child: &mut Child, thread_id: &str, log: &std::path::Path) -> bool {
    let Some(mut stdin) = child.stdin.take() else {
        return false;
    };
    let line = format!("{thread_id}\t{}\n", log.display());
    *lock(&HANDED_AT) = Some(std::time::Instant::now());
    stdin.write_all(line.as_bytes()).is_ok()
}

/// Stops keeping a standby and lets the waiting one go (`orch up` ending): its stdin
/// closes, and it leaves.
pub fn retire() {
    lock(&KEPT).take();
    if let Some(child) = lock(&STANDBY).take() {
        retire_child(child);
    }
}

/// Closes a standby's stdin and reaps it once it has left (it may still be
/// connecting): waited for on a thread of its own, so the caller does not wait.
fn retire_child(mut child: Child) {
    drop(child.stdin.take());
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
