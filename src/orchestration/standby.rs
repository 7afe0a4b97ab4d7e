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
use std::time::{Duration, Instant};

/// After a hand-over, the next standby is started only this much later, so that its
/// start (a process, a connection, its warm-up) does not take the CPU from the
/// supervisor just handed its attempt.
const REST: Duration = Duration::from_millis(40);
/// After a standby left before it was handed an attempt (it could not connect, or was
/// stopped), the next one is started only this much later, not on every tick.
const AFTER_LEFT: Duration = Duration::from_secs(5);

/// This process's standby, under one lock.
static STATE: Mutex<State> = Mutex::new(State {
    keeper: None,
    waiting: None,
    handed_at: None,
    left_at: None,
});

struct State {
    /// How to start one, while this process keeps one ([`keep`]).
    keeper: Option<Keeper>,
    /// The standby, while it waits.
    waiting: Option<Child>,
    handed_at: Option<Instant>,
    left_at: Option<Instant>,
}

/// How to start a standby: a supervisor's command line, and where its output goes
/// until it has an attempt.
struct Keeper {
    command: SupervisorCommand,
    log: std::path::PathBuf,
}

/// Keeps a standby from now on (`orch up` on PostgreSQL), started as `command
/// --standby` with its output appended to `log` until it has an attempt.
pub(super) fn keep(command: SupervisorCommand, log: std::path::PathBuf) {
    lock().keeper = Some(Keeper { command, log });
}

/// Starts a standby if one is kept and none waits. A standby that cannot start is only
/// a missed saving: the next launch starts its supervisor as usual.
pub(super) fn replenish() {
    let mut state = lock();
    let State {
        keeper: Some(keeper),
        waiting,
        handed_at,
        left_at,
    } = &mut *state
    else {
        return;
    };
    if let Some(child) = waiting {
        if matches!(child.try_wait(), Ok(None)) {
            return;
        }
        *waiting = None;
        *left_at = Some(Instant::now());
    }
    if handed_at.is_some_and(|at| at.elapsed() < REST)
        || left_at.is_some_and(|at| at.elapsed() < AFTER_LEFT)
    {
        return;
    }
    let command = keeper.command.with_args(["--standby"]);
    match crate::process::detach::spawn_detached_piped(command, &keeper.log) {
        Ok(child) => *waiting = Some(child),
        Err(e) => tracing::warn!(error = %e, "cannot start a standby supervisor"),
    }
}

/// Hands the waiting standby, if one is alive, its attempt: the thread id and the log
/// its output goes to from then on, on one line; then closes its stdin (it reads one
/// line). Its pid, or None when there is none or it could not be written (it had just
/// left).
pub(super) fn hand(thread_id: &str, log: &std::path::Path) -> Option<u32> {
    let mut state = lock();
    let mut child = state.waiting.take()?;
    let now = Instant::now();
    let stdin = child.stdin.take();
    let line = format!("{thread_id}\t{}\n", log.display());
    let handed = matches!(child.try_wait(), Ok(None))
        && stdin.is_some_and(|mut stdin| stdin.write_all(line.as_bytes()).is_ok());
    if !handed {
        // Gone (it could not connect, or was stopped): reaped by `try_wait`, or by
        // dropping it here once it exits (never waited for: it is detached).
        state.left_at = Some(now);
        return None;
    }
    state.handed_at = Some(now);
    Some(child.id())
}

/// Stops keeping a standby and lets the waiting one go (`orch up` ending): its stdin
/// closes, and it leaves. It is reaped on a thread of its own (it may still be
/// connecting), so the caller does not wait.
pub fn retire() {
    let mut state = lock();
    state.keeper = None;
    if let Some(mut child) = state.waiting.take() {
        drop(child.stdin.take());
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
}

fn lock() -> std::sync::MutexGuard<'static, State> {
    STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
