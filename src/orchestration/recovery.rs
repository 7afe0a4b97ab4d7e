//! Recovering attempts whose supervisor died, for `orch up`: each tick looks at the
//! run's unsettled attempts. A live supervisor's attempt is work in progress; a dead
//! one's worker is killed (only if it is still that process), the attempt recorded
//! `lost` (or as its worker ended, when the thread says so), and what the supervisor had
//! left to do — the checks and the retry ladder ([`super::after_attempt`]) — is done
//! here, once per attempt. An attempt nobody launched — made by a leader's `retry`,
//! `reassign` or `dispatch` without `--launch`, or by an `orch up` that died before
//! starting it — gets its supervisor once its thread has waited [`LAUNCH_GRACE_MS`]
//! unclaimed; the store's claim makes one supervisor win if its launcher was only slow.

use super::after_attempt::{self, Handover};
use super::launch::start_supervisor;
use crate::error::Result;
use crate::model::{Attempt, AttemptOutcome, ThreadStatus};
use crate::process::{group, procfs};
use crate::store::{AttemptEnd, MessageInput, Report, Store, Supervision};
use serde_json::json;
use std::collections::HashMap;

/// How long an attempt may wait for its launcher (`dispatch --launch`, `retry
/// --launch`, the retry ladder, `orch up` itself) before `orch up` starts it.
pub const LAUNCH_GRACE_MS: i64 = 2_000;

/// The attempts at work after a pass, in all and per worker.
#[derive(Debug, Default)]
pub struct AtWork {
    pub total: usize,
    pub per_worker: HashMap<String, usize>,
}

impl AtWork {
    fn add(&mut self, worker: &str) {
        self.total += 1;
        *self.per_worker.entry(worker.to_string()).or_default() += 1;
    }
}

/// One pass over the unsettled attempts: those whose supervisor died become `lost` (their
/// workers killed, the retry policy applied); those nobody launched get their
/// supervisor, unless `launch` is false (`orch up` is stopping: they are left alone and
/// not counted at work). Returns the attempts still at work,
/// in all and per worker.
pub async fn tend(
    store: &Store,
    run_id: &str,
    children: &mut Vec<u32>,
    policy: &mut PolicyTasks,
    launch: bool,
) -> Result<AtWork> {
    let mut busy = AtWork::default();
    let now = crate::time::now_ms();
    for (attempt, sup) in store.unsettled_attempts(run_id).await? {
        let supervisor_alive = match (sup.supervisor_pid, sup.supervisor_start) {
            (Some(pid), Some(start)) => Some(procfs::is_same_process(pid as u32, start as u64)),
            _ => None,
        };
        match supervisor_alive {
            Some(true) => busy.add(&attempt.assigned_to),
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
                } else if thread.status == ThreadStatus::Pending
                    && now - attempt.created_at > LAUNCH_GRACE_MS
                {
                    // Nobody launched it: a leader's retry, reassign or dispatch without
                    // `--launch`, or an orch up that died before starting its
                    // supervisor. (A launcher that is just slow loses nothing: one
                    // supervisor claims the attempt, the other leaves.)
                    if launch {
                        children.push(start_supervisor(store, &attempt).await?);
                        busy.add(&attempt.assigned_to);
                    }
                } else {
                    // Being launched, or a worker the leader runs by hand (it claimed
                    // the thread): work in progress.
                    busy.add(&attempt.assigned_to);
                }
            }
        }
    }
    Ok(busy)
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
            // What the dead supervisor had left to do: the checks of a worker that
            // finished (the task waits in `verifying` for them), then the retry ladder.
            if let Err(e) = after_attempt::settle(&store, &thread_id, Handover::default()).await {
                tracing::warn!(error = %e, "policy after a lost attempt");
            }
            let _ = store.mark_settled(&thread_id).await;
        }),
    );
}

/// The attempt's supervisor died: its worker goes too (only if it is still that process),
/// the thread fails, and the attempt is recorded `lost` (or as its worker ended, when the
/// supervisor had already ended the thread).
async fn mark_lost(store: &Store, attempt: &Attempt, sup: &Supervision) -> Result<()> {
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
        let report = Report {
            thread_id: &attempt.thread_id,
            agent: &attempt.assigned_to,
            status: ThreadStatus::Failed,
            summary: &summary,
            content: &content,
        };
        let _ = crate::supervisor::finish_as(store, report).await;
    }
    // A thread already ended tells how the worker ended: the supervisor died after
    // finishing the thread but before recording the attempt's end.
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
