//! `orch up`: a whole run to its end with nobody watching. Each tick it folds worker
//! states into tasks, recovers attempts whose supervisor died (their workers killed, the
//! attempt `lost`, the retry policy applied), fills free slots with ready tasks (each
//! dispatched with its execution mode and default worker, under its own supervisor), and
//! reports every event. Supervisors apply the retry policy themselves, so killing
//! `orch up` loses no worker; a new `orch up` adopts them.

use crate::config::Workers;
use crate::dispatch::{Base, Location, Request, create};
use crate::error::{Error, Result};
use crate::model::{AttemptOutcome, ExecutionMode, RunStatus, TaskStatus};
use crate::process::{group, procfs};
use crate::store::{AttemptEnd, FinishKind, MessageInput, Store};
use crate::supervisor::{next, start_supervisor};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
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

pub fn lock_run(store: &Store, run_id: &str) -> Result<RunLock> {
    let dir = store
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = dir.join(format!("up-{run_id}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(&path)
        .map_err(|e| Error::internal(format!("cannot open {}: {e}", path.display())))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            let _ = std::fs::write(&path, format!("{}\n", std::process::id()));
            Ok(RunLock { _file: lock })
        }
        Err((_, _)) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            Err(Error::invalid_state(format!(
                "another orch up is running run {run_id:?} (pid {})",
                holder.trim()
            )))
        }
    }
}

/// One pass over the unsettled attempts: those whose supervisor died become `lost` (their
/// workers killed, the retry policy applied); those dispatched by orch but never launched
/// (orch up died in between) get their supervisor. Returns the attempts still at work,
/// in all and per worker.
async fn tend(
    store: &Store,
    run_id: &str,
    children: &mut Vec<u32>,
    policy: &mut PolicyTasks,
) -> Result<(usize, HashMap<String, usize>)> {
    let mut busy = 0;
    let mut per_worker: HashMap<String, usize> = HashMap::new();
    let now = crate::time::now_ms();
    for (attempt, sup) in store.unsettled_attempts(run_id).await? {
        let supervisor_alive = match (sup.supervisor_pid, sup.supervisor_start) {
            (Some(pid), Some(start)) => Some(procfs::is_same_process(pid as u32, start as u64)),
            _ => None,
        };
        match supervisor_alive {
            Some(true) => {
                busy += 1;
                *per_worker.entry(attempt.assigned_to.clone()).or_default() += 1;
            }
            Some(false) if sup.outcome.is_none() => {
                mark_lost(store, &attempt, &sup).await?;
                spawn_policy(store, &attempt.thread_id, policy);
            }
            // Died while applying the policy: apply it again (it acts once per attempt).
            Some(false) => spawn_policy(store, &attempt.thread_id, policy),
            None => {
                let thread = store.thread(&attempt.thread_id).await?;
                if thread.status.is_terminal() {
                    store.mark_settled(&attempt.thread_id).await?;
                } else if thread.created_by == "orch" && now - attempt.created_at > 5_000 {
                    // Dispatched by an orch up that died before starting its supervisor.
                    children.push(start_supervisor(store, &attempt).await?);
                    busy += 1;
                } else {
                    // Starting, or a worker the leader runs by hand: it is work in progress.
                    busy += 1;
                    *per_worker.entry(attempt.assigned_to.clone()).or_default() += 1;
                }
            }
        }
    }
    Ok((busy, per_worker))
}

/// The policy passes under way, by attempt thread: one at a time per attempt (an
/// attempt stays unsettled until its pass ends, and the next tick must not start a
/// second one).
pub type PolicyTasks = HashMap<String, tokio::task::JoinHandle<()>>;

fn spawn_policy(store: &Store, thread_id: &str, policy: &mut PolicyTasks) {
    if policy.get(thread_id).is_some_and(|t| !t.is_finished()) {
        return;
    }
    let store = store.clone();
    let thread_id = thread_id.to_string();
    policy.insert(
        thread_id.clone(),
        tokio::spawn(async move {
            if let Err(e) = settle_orphan(&store, &thread_id).await {
                tracing::warn!(error = %e, "policy after a lost attempt");
            }
            let _ = store.mark_settled(&thread_id).await;
        }),
    );
}

/// What the dead supervisor had left to do: the completion checks of a worker that
/// finished (the task waits in `verifying` for them), then the retry policy.
async fn settle_orphan(store: &Store, thread_id: &str) -> Result<()> {
    let (attempt, sup) = store.attempt_by_thread(thread_id).await?;
    if sup.outcome == Some(AttemptOutcome::Succeeded)
        && let Some(failure) = crate::supervisor::checks::run_checks(store, &attempt).await?
    {
        let handover = next::Handover {
            last_message: None,
            tail: failure,
        };
        return next::apply_policy_after_check(store, thread_id, &handover).await;
    }
    next::apply_policy(store, thread_id, &next::Handover::default()).await
}

/// The attempt's supervisor died: its worker goes too (only if it is still that process),
/// the thread fails, and the attempt is recorded `lost` (or as its worker ended, when the
/// supervisor had already ended the thread).
async fn mark_lost(
    store: &Store,
    attempt: &crate::model::Attempt,
    sup: &crate::store::Supervision,
) -> Result<()> {
    if let (Some(wpid), Some(wstart)) = (sup.worker_pid, sup.worker_start) {
        group::kill_group_if_same(wpid as u32, wstart as u64);
    }
    // Descendants that left the worker's group still carry the attempt in their
    // environment.
    group::kill_attempt_leftovers(
        &attempt.thread_id,
        &crate::supervisor::db_for_workers(store),
        std::process::id(),
    );
    let reason = format!(
        "its supervisor (pid {}) died",
        sup.supervisor_pid.unwrap_or(0)
    );
    let content = MessageInput {
        body: reason.clone(),
        payload: json!({"outcome": AttemptOutcome::Lost}),
        artifacts: Vec::new(),
    };
    let thread = store.thread(&attempt.thread_id).await?;
    if !thread.status.is_terminal() {
        let summary = format!("lost: {reason}");
        let _ = crate::supervisor::finish_as(
            store,
            &attempt.thread_id,
            &attempt.assigned_to,
            FinishKind::Failed,
            &summary,
            &content,
        )
        .await;
    }
    // A thread already ended tells how the worker ended: the supervisor died after
    // finishing the thread but before recording the attempt's end.
    use crate::model::ThreadStatus;
    let (outcome, reason) = match thread.status {
        ThreadStatus::Done => (
            AttemptOutcome::Succeeded,
            format!("the worker finished, then {reason} before recording it"),
        ),
        ThreadStatus::Failed => (
            AttemptOutcome::Failed,
            format!("the worker failed, then {reason} before recording it"),
        ),
        ThreadStatus::Cancelled => (AttemptOutcome::Cancelled, reason),
        _ => (AttemptOutcome::Lost, reason),
    };
    let end = AttemptEnd::new(outcome, reason);
    store.record_attempt_end(&attempt.thread_id, &end).await
}

/// What a pass of dispatching did.
#[derive(Default)]
struct Filled {
    started: usize,
    ready: usize,
    /// Ready tasks that no pass will ever dispatch (no or unknown worker).
    stuck: usize,
}

/// Dispatches ready tasks into free slots.
async fn fill_slots(
    store: &Store,
    opts: &UpOptions,
    workers: &Workers,
    running: usize,
    per_worker: &HashMap<String, usize>,
    children: &mut Vec<u32>,
    notices: &mut Vec<String>,
) -> Result<Filled> {
    let mut free = opts.concurrency.saturating_sub(running);
    let mut filled = Filled::default();
    let cooldowns = store.cooldowns().await?;
    let banned = store.banned_adapters(&opts.run_id).await?;
    let now = crate::time::now_ms();
    let mut per_worker = per_worker.clone();
    let ready = store.ready(&opts.run_id).await?;
    filled.ready = ready.len();
    for task in ready {
        if task.default_to.is_empty() {
            notices.push(format!(
                "task {} has no default worker; dispatch it by hand",
                task.task_id
            ));
            filled.stuck += 1;
            continue;
        }
        if let Err(e) = workers.resolve(&task.default_to) {
            notices.push(format!("task {}: {}", task.task_id, e));
            filled.stuck += 1;
            continue;
        }
        if free == 0 {
            continue;
        }
        // The default worker, or the first of its fallbacks that may run now: not cooling
        // down (by its cooldown key: the profile, i.e. the account, so another profile of
        // the same adapter is free), its adapter not banned, below its concurrency cap.
        let mut candidates = vec![task.default_to.clone()];
        if let Ok(w) = workers.resolve(&task.default_to) {
            candidates.extend(w.fallback);
        }
        let chosen = candidates
            .into_iter()
            .find(|name| match workers.resolve(name) {
                Ok(w) => {
                    cooldowns
                        .get(crate::policy::cooldown_key(&w))
                        .is_none_or(|until| *until <= now)
                        && !banned.contains(&w.adapter.name)
                        && w.max_concurrent.is_none_or(|cap| {
                            per_worker.get(name).copied().unwrap_or(0) < cap as usize
                        })
                }
                Err(_) => false,
            });
        let Some(worker_name) = chosen else {
            continue;
        };
        let mode = task.execution_mode.unwrap_or(ExecutionMode::Analysis);
        let plan = match store
            .attempt_plan(&opts.run_id, &task.task_id, &[TaskStatus::Ready], "up")
            .await
        {
            Ok(plan) => plan,
            Err(_) => continue,
        };
        let request = Request {
            run: opts.run_id.clone(),
            task: task.task_id.clone(),
            mode,
            to: worker_name.clone(),
            body: task.body.clone(),
            location: Location {
                repo: opts.repo.clone(),
                workspace_root: None,
            },
            base: Base::CleanHead,
            allowed: &[TaskStatus::Ready],
            cancel_current: None,
            extra_event: None,
            created_by: "orch".to_string(),
        };
        match create(store, &plan, request).await {
            Ok(created) => {
                children.push(start_supervisor(store, &created.attempt).await?);
                *per_worker.entry(worker_name.clone()).or_default() += 1;
                free -= 1;
                filled.started += 1;
            }
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

/// Runs the loop until the run is over (or stopped). `on_event` gets every run event.
pub async fn run(
    store: &Store,
    opts: UpOptions,
    mut on_event: impl FnMut(&crate::model::Event),
    mut on_notice: impl FnMut(&str),
) -> Result<UpResult> {
    let _lock = lock_run(store, &opts.run_id)?;
    let mut cursor = 0i64;
    let mut detector = store.change_detector().await?;
    let mut children: Vec<u32> = Vec::new();
    let mut policy_tasks = PolicyTasks::new();
    let mut said: std::collections::HashSet<String> = Default::default();
    let mut stop = opts.stop.clone();
    let mut interrupted = false;
    let mut workers = Workers::default();
    let mut workers_loaded: Option<tokio::time::Instant> = None;
    let mut filled: Filled;
    loop {
        let stop_level = *stop.borrow();
        let (running, per_worker) =
            tend(store, &opts.run_id, &mut children, &mut policy_tasks).await?;
        filled = Filled::default();
        if stop_level == 0 && running < opts.concurrency {
            if workers_loaded
                .is_none_or(|at: tokio::time::Instant| at.elapsed() > Duration::from_secs(5))
            {
                let config = store.run_config(&opts.run_id).await?;
                workers = Workers::load(Some(&opts.repo), &config)?;
                workers_loaded = Some(tokio::time::Instant::now());
            }
            let mut notices = Vec::new();
            filled = fill_slots(
                store,
                &opts,
                &workers,
                running,
                &per_worker,
                &mut children,
                &mut notices,
            )
            .await?;
            for notice in notices {
                if said.insert(notice.clone()) {
                    on_notice(&notice);
                }
            }
        }
        if stop_level > 0 {
            interrupted = true;
        }
        for event in store.events_after(&opts.run_id, cursor, 1000).await? {
            cursor = event.event_id;
            on_event(&event);
        }
        reap(&mut children);
        let run = store.run(&opts.run_id).await?;
        // What was started this tick is at work too (no second pass over the attempts).
        let running = running + filled.started;
        policy_tasks.retain(|_, t| !t.is_finished());
        let settled = running == 0 && policy_tasks.is_empty();
        // Nothing runs, nothing was started, and every ready task is one orch cannot
        // dispatch: waiting would be forever.
        if settled && filled.started == 0 && filled.ready > 0 && filled.stuck == filled.ready {
            on_notice(
                "nothing left that orch can run; the remaining tasks need a worker (see the notes above)",
            );
            return Ok(UpResult {
                status: run.status,
                interrupted,
            });
        }
        match run.status {
            RunStatus::Done | RunStatus::Cancelled if settled => {
                return Ok(UpResult {
                    status: run.status,
                    interrupted,
                });
            }
            RunStatus::Failed if settled => {
                return Ok(UpResult {
                    status: run.status,
                    interrupted,
                });
            }
            _ => {}
        }
        if stop_level > 0 && settled {
            return Ok(UpResult {
                status: run.status,
                interrupted: true,
            });
        }
        if stop_level > 0 && running == 0 {
            // Nothing is left to wait for but policy decisions of this process.
            return Ok(UpResult {
                status: run.status,
                interrupted: true,
            });
        }
        tokio::select! {
            _ = detector.wait(Some(tokio::time::Instant::now() + Duration::from_millis(500))) => {}
            _ = stop.changed() => {}
        }
    }
}

fn reap(children: &mut Vec<u32>) {
    crate::process::detach::reap_exited(children);
}
