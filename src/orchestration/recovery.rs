//! Recovering attempts whose supervisor died, for `orch up`: each tick looks at the
//! run's unsettled attempts of this host. A live supervisor's attempt is work in
//! progress; a dead one's worker is killed (only if it is still that process), the
//! attempt recorded `lost` (or as its worker ended, when the thread says so), and what
//! the supervisor had left to do — the checks and the retry ladder
//! ([`super::after_attempt`]) — is done here, once per attempt. An attempt nobody
//! launched — made by a leader's `retry`, `reassign` or `dispatch` without `--launch`,
//! or by an `orch up` of this host that died before starting it — gets its supervisor
//! once its thread has waited [`LAUNCH_GRACE_MS`] unclaimed; the store's claim makes one
//! supervisor win if its launcher was only slow. (An attempt made by a launcher is its
//! host's from the start: another host's `orch up` never adopts one whose workspace is
//! on that host's disk, it takes it over once that host's heartbeat lapsed.)
//!
//! Attempts of other hosts are theirs, unless a host's heartbeat lapsed: then each tick
//! takes its unsettled attempts over (`Store::take_over_lapsed`: one host wins each, and
//! their supervisors, wherever they are, are fenced) and applies the same policy as to a
//! dead supervisor's, without touching any process (they are on the other host).

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

/// The attempts at work after a pass, in all and per worker (this host's), and the
/// unsettled attempts of other hosts.
#[derive(Debug, Default)]
pub struct AtWork {
    pub total: usize,
    pub per_worker: HashMap<String, usize>,
    pub elsewhere: usize,
}

impl AtWork {
    fn add(&mut self, worker: &str) {
        self.total += 1;
        *self.per_worker.entry(worker.to_string()).or_default() += 1;
    }
}

/// The host a pass runs on: its name, the heartbeat lapse after which another host is
/// dead (ms), and its clone of the repository (where the retries of the attempts it
/// takes over run).
#[derive(Debug, Clone, Copy)]
pub struct Here<'a> {
    pub host: &'a str,
    pub lapse_ms: i64,
    pub repo: &'a std::path::Path,
}

/// Whose an unsettled attempt is: this host's (it started the supervisor or made the
/// attempt to launch it, or no host did), taken over by this host, or another host's.
#[derive(Debug, PartialEq, Eq)]
enum Whose {
    Ours,
    TakenByUs,
    Theirs,
}

fn whose(sup: &Supervision, host: &str) -> Whose {
    match (sup.taken_by.as_deref(), sup.host.as_deref()) {
        (Some(by), _) if by == host => Whose::TakenByUs,
        (Some(_), _) => Whose::Theirs,
        (None, Some(on)) if on != host => Whose::Theirs,
        _ => Whose::Ours,
    }
}

/// One pass over the unsettled attempts: those of hosts whose heartbeat lapsed (by
/// `lapse_ms`) are taken over; those whose supervisor died here, or that were taken
/// over, become `lost` (their workers here killed, the retry policy applied); those
/// nobody launched get their supervisor, unless `launch` is false (`orch up` is
/// stopping: they are left alone and not counted at work). Returns the attempts still
/// at work here, in all and per worker, and how many other hosts have.
pub async fn tend(
    store: &Store,
    run_id: &str,
    here: Here<'_>,
    children: &mut Vec<u32>,
    policy: &mut PolicyTasks,
    launch: bool,
) -> Result<AtWork> {
    let host = here.host;
    for taken in store.take_over_lapsed(run_id, host, here.lapse_ms).await? {
        tracing::warn!(attempt = %taken.thread_id, from = %taken.from, "took over an attempt of a lapsed host");
    }
    let mut busy = AtWork::default();
    let now = crate::time::now_ms();
    let (mut gone, mut taken) = (Vec::new(), Vec::new());
    for (attempt, sup) in store.unsettled_attempts(run_id).await? {
        match whose(&sup, host) {
            Whose::Theirs => {
                busy.elsewhere += 1;
                continue;
            }
            Whose::TakenByUs => {
                taken.push(attempt.thread_id);
                continue;
            }
            Whose::Ours => {}
        }
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
        recover(store, run_id, &gone, Loss::SupervisorDied, policy).await?;
    }
    if !taken.is_empty() {
        let loss = Loss::HostLapsed { repo: here.repo };
        recover(store, run_id, &taken, loss, policy).await?;
    }
    Ok(busy)
}

/// Why an attempt is recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss<'a> {
    /// Its supervisor, on this host, died.
    SupervisorDied,
    /// Its host's heartbeat lapsed, and this host (its clone at `repo`) took it over.
    HostLapsed { repo: &'a std::path::Path },
}

/// Recovers the attempts whose supervisors were seen gone, or that were taken over
/// (`threads`). Their rows are read again first: a supervisor marks its attempt settled
/// before it exits, so one that finished between the first read and the liveness check
/// (the end recorded, the retry ladder applied, then gone) is left alone rather than
/// recovered from the stale read (which recorded the ladder's give-up twice, or would
/// have recorded a finished attempt `lost`).
async fn recover(
    store: &Store,
    run_id: &str,
    threads: &[String],
    loss: Loss<'_>,
    policy: &mut PolicyTasks,
) -> Result<()> {
    for (attempt, sup) in store.unsettled_attempts(run_id).await? {
        if !threads.contains(&attempt.thread_id) {
            continue;
        }
        if sup.outcome.is_none() {
            mark_lost(store, &attempt, &sup, loss).await?;
        }
        // Died while applying the policy, or before: apply it (it acts once per attempt).
        let handover = Handover {
            repo: match loss {
                Loss::HostLapsed { repo } => Some(repo.to_path_buf()),
                Loss::SupervisorDied => None,
            },
            ..Handover::default()
        };
        spawn_policy(store, &attempt.thread_id, handover, policy);
    }
    Ok(())
}

/// The policy passes under way, by attempt thread: one at a time per attempt (an
/// attempt stays unsettled until its pass ends, and the next tick must not start a
/// second one).
pub type PolicyTasks = HashMap<String, tokio::task::JoinHandle<()>>;

fn spawn_policy(store: &Store, thread_id: &str, handover: Handover, policy: &mut PolicyTasks) {
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
            if let Err(e) = after_attempt::settle(&store, &thread_id, handover).await {
                tracing::warn!(error = %e, "policy after a lost attempt");
            }
            let _ = store.mark_settled(&thread_id).await;
        }),
    );
}

/// The attempt's supervisor died: its worker goes too (only if it is still that process),
/// the thread fails, and the attempt is recorded `lost` (or as its worker ended, when the
/// supervisor had already ended the thread). An attempt taken from a lapsed host is
/// recorded the same way, but no process is touched: they are on that host, and its
/// supervisor, fenced, stops its worker itself if it ever runs again.
async fn mark_lost(
    store: &Store,
    attempt: &Attempt,
    sup: &Supervision,
    loss: Loss<'_>,
) -> Result<()> {
    let reason = match loss {
        Loss::SupervisorDied => {
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
            format!(
                "its supervisor (pid {}) died",
                sup.supervisor_pid.unwrap_or(0)
            )
        }
        Loss::HostLapsed { .. } => format!(
            "its host {} stopped sending heartbeats; host {} took it over",
            sup.host.as_deref().unwrap_or("?"),
            sup.taken_by.as_deref().unwrap_or("?")
        ),
    };
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
        let claim = store
            .claim_supervision(&attempt.thread_id, pid, start + 1, "here")
            .await
            .unwrap();
        assert_eq!(claim, crate::store::Claim::Ours { epoch: 1 });
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
        recover(&store, "r", &stale, Loss::SupervisorDied, &mut policy)
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
        recover(&store, "r", &gone, Loss::SupervisorDied, &mut policy)
            .await
            .unwrap();
        let (_, pass) = policy.into_iter().next().expect("the ladder's pass");
        pass.await.unwrap();
        let (_, sup) = store.attempt_by_thread(&attempt.thread_id).await.unwrap();
        assert_eq!(sup.outcome, Some(AttemptOutcome::Lost));
        assert!(store.unsettled_attempts("r").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_attempt_of_a_lapsed_host_is_taken_over_recorded_lost_and_settled() {
        let (store, attempt) = one_claimed().await;
        let far = crate::store::UpProcess { pid: 1, start: 1 };
        store.host_started("r", "far", far, "m", 0).await.unwrap();
        let claim = store
            .claim_supervision(&attempt.thread_id, 1, 1, "far")
            .await
            .unwrap();
        assert_eq!(claim, crate::store::Claim::Ours { epoch: 1 });
        let mut policy = PolicyTasks::new();
        // Its host beats: the attempt is its.
        let repo = std::path::Path::new("/nowhere");
        let fresh = Here {
            host: "near",
            lapse_ms: 60_000,
            repo,
        };
        let busy = tend(&store, "r", fresh, &mut Vec::new(), &mut policy, true)
            .await
            .unwrap();
        assert_eq!((busy.total, busy.elsewhere), (0, 1));
        assert!(policy.is_empty());
        // Its host lapsed: taken over, recorded lost, the policy applied, settled.
        let lapsed = Here {
            lapse_ms: -1,
            ..fresh
        };
        let busy = tend(&store, "r", lapsed, &mut Vec::new(), &mut policy, true)
            .await
            .unwrap();
        assert_eq!((busy.total, busy.elsewhere), (0, 0));
        for (_, pass) in policy.drain() {
            pass.await.unwrap();
        }
        let (_, sup) = store.attempt_by_thread(&attempt.thread_id).await.unwrap();
        assert_eq!(sup.outcome, Some(AttemptOutcome::Lost));
        assert_eq!(
            sup.end.reason,
            "its host far stopped sending heartbeats; host near took it over"
        );
        assert_eq!(sup.host.as_deref(), Some("far"));
        assert_eq!(sup.taken_by.as_deref(), Some("near"));
        assert_eq!(
            store.thread(&attempt.thread_id).await.unwrap().status,
            ThreadStatus::Failed
        );
        assert!(store.unsettled_attempts("r").await.unwrap().is_empty());
        let types = event_types(&store).await;
        assert_eq!(
            types.iter().filter(|t| *t == "attempt_taken_over").count(),
            1
        );
    }

    #[tokio::test]
    async fn an_attempt_its_host_made_to_launch_is_not_adopted_by_another_host_but_taken_over() {
        let store = store_with(&["t"]).await;
        let far = crate::store::UpProcess { pid: 1, start: 1 };
        store.host_started("r", "far", far, "m", 0).await.unwrap();
        // Host far's `orch up` made the attempt (its workspace on far's disk) and died
        // before its supervisor claimed it.
        let mut new = new_attempt("t", 1, &[crate::model::TaskStatus::Ready]);
        new.host = Some("far".to_string());
        let attempt = store.create_attempt(&new).await.unwrap().attempt;
        let mut policy = PolicyTasks::new();
        let mut children = Vec::new();
        let fresh = Here {
            host: "near",
            lapse_ms: 60_000,
            repo: std::path::Path::new("/nowhere"),
        };
        // Far's, not near's to launch, however long it waits.
        let busy = tend(&store, "r", fresh, &mut children, &mut policy, true)
            .await
            .unwrap();
        assert_eq!((busy.total, busy.elsewhere), (0, 1));
        assert!(children.is_empty() && policy.is_empty());
        // Far lapsed: near takes it over, and it is recorded lost.
        let lapsed = Here {
            lapse_ms: -1,
            ..fresh
        };
        tend(&store, "r", lapsed, &mut children, &mut policy, true)
            .await
            .unwrap();
        assert!(children.is_empty());
        for (_, pass) in policy.drain() {
            pass.await.unwrap();
        }
        let (_, sup) = store.attempt_by_thread(&attempt.thread_id).await.unwrap();
        assert_eq!(sup.outcome, Some(AttemptOutcome::Lost));
        assert_eq!(sup.host.as_deref(), Some("far"));
        assert_eq!(sup.taken_by.as_deref(), Some("near"));
        assert_eq!(sup.supervisor_pid, None);
    }
}
