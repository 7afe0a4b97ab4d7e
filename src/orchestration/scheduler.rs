//! `orch up`: a whole run to its end with nobody watching. Each tick it recovers the
//! attempts whose supervisor died ([`super::recovery`]), fills free slots with ready
//! tasks (each made by the [`super::factory`] with its execution mode and its default
//! worker or the first free fallback, under its own supervisor), reports every event, and
//! ends when the run is over. Supervisors settle their attempts themselves (checks, retry
//! ladder), so killing `orch up` loses no worker; a new `orch up` adopts them.
//!
//! Several hosts may run one run, each its own `orch up` (`--host`): each registers
//! and beats ([`super::presence`]), dispatches what its workers and caps allow, and
//! supervises its own attempts; one whose heartbeat lapses has its unsettled attempts
//! taken over by the others ([`super::recovery`]).

use super::factory::{self, AttemptRequest, Start, Step};
use super::hosts::{Timing, this_host};
use super::ladder::cooldown_key;
use super::recovery::{AtWork, Here, PolicyTasks, tend};
use super::workspace::{Base, Location};
use crate::config::Workers;
use crate::error::{Error, Result};
use crate::model::{ExecutionMode, RunStatus, Task};
use crate::store::Store;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

/// How `orch up` runs.
pub struct UpOptions {
    pub run_id: String,
    pub concurrency: usize,
    /// The repository workers run in (the current directory's).
    pub repo: PathBuf,
    /// Stop launching (first Ctrl-C); stop the workers too (second).
    pub stop: tokio::sync::watch::Receiver<u8>,
}

/// How the run ended.
pub struct UpResult {
    pub status: RunStatus,
    pub interrupted: bool,
}

/// An exclusive lock on the run, held while `orch up` lives; the kernel drops it when
/// the process dies, so a crash cannot leave it stale.
pub struct RunLock {
    _file: nix::fcntl::Flock<std::fs::File>,
}

/// Locks the run for this host's `orch up` (`up-RUN@HOST.lock` in the state directory):
/// one `orch up` per run and host; other hosts run the run beside it.
pub fn lock_run(store: &Store, run_id: &str) -> Result<RunLock> {
    // On PostgreSQL the state directory is this host's own and may not exist yet.
    crate::paths::ensure_private_dir(store.state_dir())?;
    let path = store
        .state_dir()
        .join(format!("up-{run_id}@{}.lock", this_host()));
    let file = crate::paths::open_lock_file(&path)?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            let _ = std::fs::write(&path, format!("{}\n", std::process::id()));
            Ok(RunLock { _file: lock })
        }
        Err((_, _)) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            Err(Error::invalid_state(format!(
                "another orch up is running run {run_id:?} on host {} (pid {})",
                this_host(),
                holder.trim()
            )))
        }
    }
}

/// What a pass of dispatching did.
#[derive(Default)]
struct Filled {
    started: usize,
    ready: usize,
    /// Ready tasks that no pass will ever dispatch (no or unknown worker).
    stuck: usize,
}

/// What decides which worker may take a task now.
struct Availability<'a> {
    workers: &'a Workers,
    /// Cooling down, by cooldown key, until (Unix ms).
    cooldowns: HashMap<String, i64>,
    banned: HashSet<String>,
    now: i64,
    per_worker: HashMap<String, usize>,
}

impl Availability<'_> {
    /// The task's default worker, or the first of its fallbacks that may run now: not
    /// cooling down (by its cooldown key: the profile, i.e. the account, so another
    /// profile of the same adapter is free), its adapter not banned, below its cap.
    fn choose(&self, task: &Task) -> Option<String> {
        let mut candidates = vec![task.default_to.clone()];
        if let Ok(w) = self.workers.resolve(&task.default_to) {
            candidates.extend(w.settings.fallback);
        }
        candidates
            .into_iter()
            .find(|name| match self.workers.resolve(name) {
                Ok(w) => {
                    self.cooldowns
                        .get(cooldown_key(&w))
                        .is_none_or(|until| *until <= self.now)
                        && !self.banned.contains(&w.adapter.name)
                        && w.settings.max_concurrent.is_none_or(|cap| {
                            self.per_worker.get(name).copied().unwrap_or(0) < cap as usize
                        })
                }
                Err(_) => false,
            })
    }
}

/// Why a ready task is one no pass will dispatch: no default worker, or one orch does
/// not know.
fn unrunnable(task: &Task, workers: &Workers) -> Option<String> {
    if task.default_to.is_empty() {
        return Some(format!(
            "task {} has no default worker; dispatch it by hand",
            task.task_id
        ));
    }
    let e = workers.resolve(&task.default_to).err()?;
    Some(format!("task {}: {}", task.task_id, e))
}

/// Dispatches ready tasks into free slots.
async fn fill_slots(
    store: &Store,
    opts: &UpOptions,
    workers: &Workers,
    at_work: AtWork,
    children: &mut Vec<u32>,
    notices: &mut Vec<String>,
) -> Result<Filled> {
    let mut free = opts.concurrency.saturating_sub(at_work.total);
    let mut filled = Filled::default();
    let mut available = Availability {
        workers,
        cooldowns: store.cooldowns().await?,
        banned: store.banned_adapters(&opts.run_id).await?,
        now: crate::time::now_ms(),
        per_worker: at_work.per_worker,
    };
    let ready = store.ready(&opts.run_id).await?;
    filled.ready = ready.len();
    for task in ready {
        if let Some(notice) = unrunnable(&task, workers) {
            notices.push(notice);
            filled.stuck += 1;
            continue;
        }
        if free == 0 {
            continue;
        }
        let Some(worker) = available.choose(&task) else {
            continue;
        };
        match dispatch(store, opts, &task, &worker).await {
            Ok(Some(pid)) => {
                children.push(pid);
                *available.per_worker.entry(worker).or_default() += 1;
                free -= 1;
                filled.started += 1;
            }
            // The task moved on meanwhile (the leader dispatched it).
            Ok(None) => {}
            // Another dispatcher made its attempt first (another host's `orch up`, the
            // leader) and the refusal names it: the task moved on, nothing is stuck.
            // Counted stuck, a host whose every ready task went to another host ended
            // its `orch up` with "the remaining tasks need a worker" (a chaos trial).
            Err(_) if moved_on(store, &opts.run_id, &task).await => {}
            Err(e) => {
                // A dirty repository, a path or branch in the way: nothing orch can fix by
                // waiting. Counted as stuck, so an unattended run ends instead of hanging.
                notices.push(format!(
                    "task {} not dispatched: {}",
                    task.task_id, e.message
                ));
                filled.stuck += 1;
            }
        }
    }
    Ok(filled)
}

/// Whether `task`, read as ready, has moved on since: it is no longer ready, or is on
/// another attempt.
async fn moved_on(store: &Store, run_id: &str, task: &Task) -> bool {
    store.task(run_id, &task.task_id).await.is_ok_and(|now| {
        now.status != crate::model::TaskStatus::Ready || now.current_attempt != task.current_attempt
    })
}

/// Makes the task's first attempt with `worker` and starts its supervisor; `None` when
/// the task is no longer ready.
async fn dispatch(
    store: &Store,
    opts: &UpOptions,
    task: &Task,
    worker: &str,
) -> Result<Option<u32>> {
    let Ok(plan) = factory::plan(store, &opts.run_id, &task.task_id, &Step::First, "up").await
    else {
        return Ok(None);
    };
    let location = Location {
        repo: opts.repo.clone(),
        workspace_root: None,
    };
    let mode = task.execution_mode.unwrap_or(ExecutionMode::Analysis);
    let request = AttemptRequest::first(&plan, worker.to_string(), mode, location, Base::CleanHead);
    let made = factory::make(store, &plan, request, Start::Supervisor).await?;
    Ok(made.supervisor_pid)
}

/// The scheduler's state across ticks.
struct Scheduler<'a> {
    store: &'a Store,
    opts: UpOptions,
    cursor: i64,
    children: Vec<u32>,
    policy_tasks: PolicyTasks,
    /// Notices already printed (each once).
    said: HashSet<String>,
    workers: Workers,
    workers_loaded: Option<tokio::time::Instant>,
    timing: Timing,
}

/// What a tick saw: this host's attempts at work (those started in the tick among
/// them), other hosts' unsettled attempts, and what dispatching did.
struct Ticked {
    running: usize,
    elsewhere: usize,
    filled: Filled,
}

impl Scheduler<'_> {
    /// The workers the repository and the run configure, reloaded every 5 s at most.
    async fn refresh_workers(&mut self) -> Result<()> {
        if self
            .workers_loaded
            .is_none_or(|at| at.elapsed() > Duration::from_secs(5))
        {
            let config = self.store.run_config(&self.opts.run_id).await?;
            self.workers = Workers::load(Some(&self.opts.repo), &config)?;
            self.workers_loaded = Some(tokio::time::Instant::now());
        }
        Ok(())
    }

    /// One tick: recover (and take over the attempts of lapsed hosts), fill free slots
    /// (unless stopping), report events.
    async fn tick(
        &mut self,
        stopping: bool,
        on_event: &mut impl FnMut(&crate::model::Event),
        on_notice: &mut impl FnMut(&str),
    ) -> Result<Ticked> {
        let store = self.store;
        let at_work = tend(
            store,
            &self.opts.run_id,
            Here {
                host: this_host(),
                lapse_ms: self.timing.lapse_ms(),
                repo: &self.opts.repo,
            },
            &mut self.children,
            &mut self.policy_tasks,
            !stopping,
        )
        .await?;
        let (running, elsewhere) = (at_work.total, at_work.elsewhere);
        let mut filled = Filled::default();
        if !stopping && running < self.opts.concurrency {
            self.refresh_workers().await?;
            let mut notices = Vec::new();
            filled = fill_slots(
                store,
                &self.opts,
                &self.workers,
                at_work,
                &mut self.children,
                &mut notices,
            )
            .await?;
            for notice in notices {
                if self.said.insert(notice.clone()) {
                    on_notice(&notice);
                }
            }
        }
        for event in store
            .events_after(&self.opts.run_id, self.cursor, 1000)
            .await?
        {
            self.cursor = event.event_id;
            on_event(&event);
        }
        crate::process::detach::reap_exited(&mut self.children);
        super::standby::replenish();
        self.policy_tasks.retain(|_, t| !t.is_finished());
        // What was started this tick is at work too (no second pass over the attempts).
        Ok(Ticked {
            running: running + filled.started,
            elsewhere,
            filled,
        })
    }
}

/// Whether the loop ends after a tick, and how: the run is over and nothing is left to
/// wait for here (nor, for a failed run, on another host), nothing left that orch can
/// run, or stopped.
fn ended(
    status: RunStatus,
    ticked: &Ticked,
    policy_idle: bool,
    stopping: bool,
    on_notice: &mut impl FnMut(&str),
) -> bool {
    let (running, filled) = (ticked.running, &ticked.filled);
    let settled = running == 0 && policy_idle;
    // Nothing runs (here or on another host: what it runs may make tasks ready), nothing
    // was started, and every ready task is one orch cannot dispatch here: waiting would
    // be forever.
    if settled
        && ticked.elsewhere == 0
        && filled.started == 0
        && filled.ready > 0
        && filled.stuck == filled.ready
    {
        on_notice(
            "nothing left that orch can run; the remaining tasks need a worker (see the notes above)",
        );
        return true;
    }
    let over = matches!(
        status,
        RunStatus::Done | RunStatus::Cancelled | RunStatus::Failed
    );
    // A failed run may not stay failed while another host still has unsettled attempts:
    // the policy pass of one it settles (a retry) reopens it.
    let final_here = status != RunStatus::Failed || ticked.elsewhere == 0;
    // Stopping: nothing is left to wait for but policy decisions of this process.
    (over && settled && final_here) || (stopping && (settled || running == 0))
}

/// How long `orch up` goes on ticking while every tick fails on a lost database
/// connection.
const LOST_FOR: Duration = Duration::from_secs(120);

/// Runs the loop until the run is over (or stopped), recorded as the run's `orch up`
/// meanwhile ([`super::presence`]). `on_event` gets every run event.
pub async fn run(
    store: &Store,
    opts: UpOptions,
    on_event: impl FnMut(&crate::model::Event),
    on_notice: impl FnMut(&str),
) -> Result<UpResult> {
    let _lock = lock_run(store, &opts.run_id)?;
    let run_id = opts.run_id.clone();
    let timing = Timing::from_env();
    let registration = super::presence::announce(store, &run_id).await?;
    // What a dispatch killed during `git worktree add` left in this clone.
    if let Err(e) = super::workspace::sweep_half_made(store, &run_id, &opts.repo).await {
        tracing::warn!(error = %e, "cannot sweep half-made worktrees");
    }
    let beating = registration
        .clone()
        .map(|r| super::presence::keep_beating(store.clone(), run_id.clone(), r, timing.heartbeat));
    keep_standby(store, &run_id);
    let result = drive(store, opts, timing, on_event, on_notice).await;
    super::standby::retire();
    if let Some(beating) = beating {
        beating.abort();
    }
    super::presence::withdraw(store, &run_id, registration).await;
    result
}

/// On PostgreSQL, keeps a supervisor connected ahead of need ([`super::standby`]).
fn keep_standby(store: &Store, run_id: &str) {
    if !matches!(store.location(), crate::store::Location::Postgres(_))
        || std::env::var_os("ORCH_STANDBY").is_some_and(|v| v == "off")
    {
        return;
    }
    let dir = crate::supervisor::logs_dir(store).join(run_id);
    let kept = crate::paths::ensure_private_dir(&dir)
        .and_then(|()| super::launch::SupervisorCommand::of(store));
    match kept {
        Ok(command) => {
            super::standby::keep(command, dir.join("standby.supervisor.log"));
            super::standby::replenish();
        }
        Err(e) => tracing::warn!(error = %e, "cannot keep a standby supervisor"),
    }
}

/// The loop of [`run`], under the run's lock.
async fn drive(
    store: &Store,
    opts: UpOptions,
    timing: Timing,
    mut on_event: impl FnMut(&crate::model::Event),
    mut on_notice: impl FnMut(&str),
) -> Result<UpResult> {
    let mut detector = store.change_detector().await?;
    let mut stop = opts.stop.clone();
    let mut scheduler = Scheduler {
        store,
        opts,
        cursor: 0,
        children: Vec::new(),
        policy_tasks: PolicyTasks::new(),
        said: HashSet::new(),
        workers: Workers::default(),
        workers_loaded: None,
        timing,
    };
    let mut interrupted = false;
    // Since when ticks have failed on a lost database connection (a server restart).
    let mut lost_since: Option<tokio::time::Instant> = None;
    loop {
        let stopping = *stop.borrow() > 0;
        interrupted |= stopping;
        let lost = crate::store::connections_lost();
        let step = async {
            let ticked = scheduler
                .tick(stopping, &mut on_event, &mut on_notice)
                .await?;
            let status = store.run(&scheduler.opts.run_id).await?.status;
            Ok::<_, Error>((ticked, status))
        }
        .await;
        // A tick that met a lost connection is run again: the store reconnects first
        // (retrying while the server is away), and a tick does again only what the
        // database says is still to do. Given up on after LOST_FOR.
        let (ticked, status) = match step {
            Ok(done) => {
                lost_since = None;
                done
            }
            Err(e)
                if crate::store::connections_lost() != lost
                    && lost_since
                        .get_or_insert_with(tokio::time::Instant::now)
                        .elapsed()
                        < LOST_FOR =>
            {
                tracing::warn!(error = %e, "lost the database connection; ticking again");
                continue;
            }
            Err(e) => return Err(e),
        };
        let policy_idle = scheduler.policy_tasks.is_empty();
        if ended(status, &ticked, policy_idle, stopping, &mut on_notice) {
            return Ok(UpResult {
                status,
                interrupted,
            });
        }
        tokio::select! {
            _ = detector.wait(Some(tokio::time::Instant::now() + Duration::from_millis(500))) => {}
            _ = stop.changed() => {}
        }
    }
}
