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
    let mut gone = Vec::new();
    for (attempt, sup) in store.unsettled_attempts(run_id).await? {
        let supervisor_alive = match (sup.supervisor_pid, sup.supervisor_start) {
            (Some(pid), Some(start)) => Some(procfs::is_same_process(pid as u32, start as u64)),
            _ => None,
        };
        match supervisor_alive {
            Some(true) => busy.add(&attempt.assigned_to),
            Some(false) => gone.push(attempt.thread_id),
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
    if !gone.is_empty() {
        recover_gone(store, run_id, &gone, policy).await?;
    }
    Ok(busy)
}

/// Recovers the attempts whose supervisors were seen gone (`gone`, by thread). Their
/// rows are read again first: a supervisor marks its attempt settled before it exits,
/// so one that finished between the first read and the liveness check (the end
/// recorded, the retry ladder applied, then gone) is left alone rather than recovered
/// from the stale read (which recorded the ladder's give-up twice, or would have
/// recorded a finished attempt `lost`).
async fn recover_gone(
    store: &Store,
    run_id: &str,
    gone: &[String],
    policy: &mut PolicyTasks,
) -> Result<()> {
    for (attempt, sup) in store.unsettled_attempts(run_id).await? {
        if !gone.contains(&attempt.thread_id) {
            continue;
        }
        if sup.outcome.is_none() {
            mark_lost(store, &attempt, &sup).await?;
        }
        // Died while applying the policy, or before: apply it (it acts once per attempt).
        spawn_policy(store, &attempt.thread_id, policy);
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::*;

    /// The attempt's supervisor as a process that is not running (this process's pid
    /// with another start time).
    async fn supervised_by_a_gone_process(store: &Store, attempt: &Attempt) {
        let (pid, start) = procfs::this_process();
        let holder = store
            .claim_supervision(&attempt.thread_id, pid, start + 1)
            .await
            .unwrap();
        assert_eq!(holder, None);
    }

    #[tokio::test]
    async fn a_supervisor_that_settled_before_it_was_seen_gone_is_not_recovered() {
        let (store, attempt) = one_failed().await;
        supervised_by_a_gone_process(&store, &attempt).await;
        let end = AttemptEnd::new(AttemptOutcome::Failed, "exit status 1".to_string());
        store
            .record_attempt_end(&attempt.thread_id, &end)
            .await
            .unwrap();
        // `orch up` read the attempt unsettled; then its supervisor applied the ladder,
        // marked it settled and exited; then `orch up` saw it gone.
        let stale = vec![attempt.thread_id.clone()];
        after_attempt::settle(&store, &attempt.thread_id, Handover::default())
            .await
            .unwrap();
        store.mark_settled(&attempt.thread_id).await.unwrap();
        let before = event_types(&store).await;
        let mut policy = PolicyTasks::new();
        recover_gone(&store, "r", &stale, &mut policy)
            .await
            .unwrap();
        assert!(policy.is_empty(), "no second pass of the ladder");
        assert_eq!(event_types(&store).await, before);
        let (_, sup) = store.attempt_by_thread(&attempt.thread_id).await.unwrap();
        assert_eq!(sup.outcome, Some(AttemptOutcome::Failed));
    }

    #[tokio::test]
    async fn an_attempt_whose_supervisor_died_unsettled_is_recorded_lost_and_settled() {
        let (store, attempt) = one_claimed().await;
        supervised_by_a_gone_process(&store, &attempt).await;
        let mut policy = PolicyTasks::new();
        let gone = vec![attempt.thread_id.clone()];
        recover_gone(&store, "r", &gone, &mut policy).await.unwrap();
        let (_, pass) = policy.into_iter().next().expect("the ladder's pass");
        pass.await.unwrap();
        let (_, sup) = store.attempt_by_thread(&attempt.thread_id).await.unwrap();
        assert_eq!(sup.outcome, Some(AttemptOutcome::Lost));
        assert!(store.unsettled_attempts("r").await.unwrap().is_empty());
    }
}
