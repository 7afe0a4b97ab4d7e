//! What runs once an attempt has ended, in the process that saw it end (its supervisor,
//! or `orch up` for an attempt whose supervisor died): the completion [`checks`] of a
//! succeeded attempt, then the retry [`ladder`]. A rate-limited worker's cooldown is
//! recorded (by [`ladder::cooldown_key`]: the profile, i.e. the account, or the bare
//! adapter); the decision then retries, hands over to a fallback (with a hand-over note
//! for the next brief), parks until the cooldown ends, or leaves the task failed. Every
//! step is an event. A decision acts only on the attempt it was made for: if the task
//! moved on (the leader retried, reassigned or cancelled), no step is taken, no event is
//! recorded (the give-up and park events are written only while the task is still failed
//! on that attempt, [`Store::record_ladder_event`]), and the log says it leaves the task
//! to the leader, naming the attempt the task is on.

use super::checks;
use super::factory::{self, AttemptRequest, Start, Step};
use super::ladder::{self, Decision, PastAttempt, Situation};
use crate::config::Workers;
use crate::error::{ErrorCode, Result};
use crate::model::{Attempt, AttemptOutcome, TaskStatus};
use crate::store::{Store, Supervision};
use crate::time::{now_ms, rfc3339};
use serde_json::json;

/// What the ended attempt leaves for the next one's brief.
#[derive(Debug, Clone, Default)]
pub struct Handover {
    pub last_message: Option<String>,
    pub tail: String,
    /// The repository the next attempt runs in, when not the ended one's: a host that
    /// took the attempt over from another host runs the retry in its own clone.
    pub repo: Option<std::path::PathBuf>,
}

/// Settles the ended attempt whose thread is `thread_id`: a succeeded attempt's checks
/// run first (a failed check counts as a failed attempt, its output in the next brief),
/// then the retry ladder decides and its step is taken.
pub async fn settle(store: &Store, thread_id: &str, mut handover: Handover) -> Result<()> {
    let (attempt, mut supervision) = store.attempt_by_thread(thread_id).await?;
    if supervision.outcome == Some(AttemptOutcome::Succeeded)
        && let Some(failure) = checks::run_checks(store, &attempt).await?
    {
        handover.tail = crate::redact::process().redact_str(&failure).into_owned();
        supervision.outcome = Some(AttemptOutcome::Failed);
        supervision.end.reason = "a completion check failed".to_string();
    }
    // Not ended (nothing to decide yet), or ended with nothing to decide.
    let Some(outcome) = supervision.outcome else {
        return Ok(());
    };
    if matches!(
        outcome,
        AttemptOutcome::Succeeded | AttemptOutcome::Cancelled
    ) {
        return Ok(());
    }
    let config = store.run_config(&attempt.run_id).await?;
    let repo = handover.repo.as_deref();
    let workers = Workers::load(repo.or(attempt.workspace.repo_path.as_deref()), &config)?;
    // The account that hit the limit: another profile of the same adapter stays free.
    let key = ladder::cooldown_key_of(&workers, &attempt.assigned_to);
    if outcome == AttemptOutcome::RateLimited && !key.is_empty() {
        cool_down(store, &attempt, &supervision, &key).await?;
    }
    let decision = decide(store, &attempt, outcome, &workers).await?;
    tracing::info!(?decision, "retry policy");
    let note = handover_note(&attempt, &supervision, &handover);
    let next = Next {
        key: &key,
        note,
        repo: handover.repo.as_deref(),
    };
    act(store, &attempt, &supervision, decision, next).await
}

/// What the next attempt gets besides its step: the cooldown key of the ended one's
/// worker, the hand-over note, and the repository it runs in when not the previous
/// attempt's.
struct Next<'a> {
    key: &'a str,
    note: String,
    repo: Option<&'a std::path::Path>,
}

/// Records that the account `key` is rate limited, until its announced reset or a
/// backoff that grows with the limits it hit before.
async fn cool_down(
    store: &Store,
    attempt: &Attempt,
    supervision: &Supervision,
    key: &str,
) -> Result<()> {
    let now = now_ms();
    let earlier = store
        .rate_limits_of(&attempt.run_id, key)
        .await?
        .saturating_sub(1);
    let until = ladder::cooldown_until(
        supervision.end.reset_at,
        now,
        earlier,
        std::process::id() as u64 ^ now as u64,
    );
    store
        .set_cooldown(key, until, &supervision.end.reason)
        .await?;
    tracing::info!(worker = %key, adapter = %supervision.adapter, until = %rfc3339(until), "worker cooling down");
    Ok(())
}

/// The ladder's decision for the attempt, from the task's history, the cooldowns and the
/// adapters banned in the run.
async fn decide(
    store: &Store,
    attempt: &Attempt,
    outcome: AttemptOutcome,
    workers: &Workers,
) -> Result<Decision> {
    let run = &attempt.run_id;
    let history: Vec<PastAttempt> = store
        .task_history(run, &attempt.task_id)
        .await?
        .into_iter()
        .map(|h| PastAttempt {
            worker: h.worker,
            outcome: h.outcome,
        })
        .collect();
    let cooldowns = store.cooldowns().await?;
    let banned = store.banned_adapters(run).await?;
    Ok(ladder::decide(&Situation {
        outcome,
        worker: &attempt.assigned_to,
        history: &history,
        workers,
        cooldowns: &cooldowns,
        banned: &banned,
        now_ms: now_ms(),
        max_park_ms: max_park_ms(),
    }))
}

/// Takes the step the ladder decided.
async fn act(
    store: &Store,
    attempt: &Attempt,
    supervision: &Supervision,
    decision: Decision,
    next: Next<'_>,
) -> Result<()> {
    let (run, task) = (&attempt.run_id, &attempt.task_id);
    let Next { key, note, repo } = next;
    match decision {
        Decision::Nothing => Ok(()),
        Decision::Stop { reason } => {
            let payload = json!({"attempt_no": attempt.attempt_no, "outcome": supervision.outcome});
            let event = ("task_given_up", reason.as_str(), payload);
            if let Err(why) = store
                .record_ladder_event(run, task, attempt.attempt_no, event)
                .await?
            {
                leave(attempt, &why);
            }
            Ok(())
        }
        Decision::Retry { worker } => {
            next_attempt(store, attempt, (&worker, Step::Retry), &note, None, repo).await
        }
        Decision::Reassign { worker } => {
            let step = Step::Reassign {
                cancel_current: None,
            };
            next_attempt(store, attempt, (&worker, step), &note, None, repo).await
        }
        Decision::Park { worker, until_ms } => {
            let until = rfc3339(until_ms);
            let summary = format!("waiting for {key}'s rate limit until {until}");
            let payload =
                json!({"until": until, "worker": worker, "attempt_no": attempt.attempt_no});
            let event = ("task_parked", summary.as_str(), payload);
            if let Err(why) = store
                .record_ladder_event(run, task, attempt.attempt_no, event)
                .await?
            {
                leave(attempt, &why);
                return Ok(());
            }
            let wait = (until_ms - now_ms()).max(0) as u64;
            tracing::info!(wait_ms = wait, "parked");
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            let note = format!(
                "{note}\nThe task waited for the rate limit to reset; continue where the last attempt stopped."
            );
            // Same worker, same adapter: resume its session where the adapter can.
            let resume = Some(supervision.session_id.clone()).filter(|s| !s.is_empty());
            next_attempt(store, attempt, (&worker, Step::Retry), &note, resume, repo).await
        }
    }
}

/// The task moved on from `attempt` (the leader retried, reassigned or cancelled it;
/// `why` says how): the ladder takes no step and says so in its log.
fn leave(attempt: &Attempt, why: &str) {
    tracing::info!(
        attempt = attempt.attempt_no,
        "{why}; the retry ladder leaves the task to the leader"
    );
}

/// The longest a task may be parked: `$ORCH_MAX_PARK` (e.g. `2h`, `0s`), else 6 h.
fn max_park_ms() -> i64 {
    std::env::var("ORCH_MAX_PARK")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(ladder::DEFAULT_MAX_PARK_MS)
}

/// What the next brief says about this attempt: how it ended, its last message, what it
/// left in its worktree, and the end of its output.
fn handover_note(attempt: &Attempt, supervision: &Supervision, handover: &Handover) -> String {
    let mut note = format!(
        "Attempt {} ({}) ended {}{}.",
        attempt.attempt_no,
        attempt.assigned_to,
        supervision.outcome.map_or("", AttemptOutcome::as_str),
        if supervision.end.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", supervision.end.reason)
        }
    );
    if let Some(message) = handover
        .last_message
        .as_deref()
        .filter(|m| !m.trim().is_empty())
    {
        note.push_str(&format!("\nIts last message: {}", message.trim()));
    }
    if let Some(worktree) = attempt
        .workspace
        .worktree_path
        .as_deref()
        .filter(|p| p.exists())
    {
        let base = attempt.workspace.base_commit.as_deref().unwrap_or("");
        let stat = crate::worktree::diff_stat(worktree, base);
        if !stat.trim().is_empty() {
            note.push_str(&format!(
                "\nIt left changes in {} (branch {}):\n{}",
                worktree.display(),
                attempt.workspace.branch_name.as_deref().unwrap_or(""),
                stat.trim_end()
            ));
        }
    }
    let tail = handover.tail.trim();
    if !tail.is_empty() {
        let last: Vec<&str> = tail
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        note.push_str(&format!("\nThe end of its output:\n{}", last.join("\n")));
    }
    note
}

/// Makes the next attempt with `worker` through the [`factory`] and starts its
/// supervisor; nothing when the task moved on meanwhile (the leader retried, reassigned
/// or cancelled it).
async fn next_attempt(
    store: &Store,
    previous: &Attempt,
    (worker, step): (&str, Step),
    note: &str,
    resume_session: Option<String>,
    repo: Option<&std::path::Path>,
) -> Result<()> {
    let plan = match factory::plan(
        store,
        &previous.run_id,
        &previous.task_id,
        &step,
        "the retry policy",
    )
    .await
    {
        Ok(plan) => plan,
        // Not failed any more: the refusal names the attempt it is on.
        Err(e) if e.code == ErrorCode::InvalidState => {
            leave(previous, &format!("the leader took over: {}", e.message));
            return Ok(());
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot plan the next attempt");
            return Ok(());
        }
    };
    if let Some(current) = plan
        .current
        .as_ref()
        .filter(|c| c.attempt_no != previous.attempt_no)
    {
        let why = format!(
            "the leader took over: task {:?} is on attempt {}",
            current.task_id, current.attempt_no
        );
        leave(previous, &why);
        return Ok(());
    }
    let mut request = AttemptRequest {
        note: Some(note.to_string()),
        resume_session,
        ..AttemptRequest::after(
            &plan,
            previous,
            step,
            worker.to_string(),
            None,
            Some("retry policy"),
        )
    };
    if let Some(repo) = repo {
        request.location = super::workspace::Location {
            repo: repo.to_path_buf(),
            workspace_root: None,
        };
    }
    match factory::make(store, &plan, request, Start::Supervisor).await {
        Ok(made) => {
            tracing::info!(attempt = made.created.attempt.attempt_no, %worker, supervisor = ?made.supervisor_pid, "next attempt started");
            Ok(())
        }
        Err(e) => {
            let task = store.task(&previous.run_id, &previous.task_id).await?;
            if task.current_attempt != previous.attempt_no || task.status != TaskStatus::Failed {
                // The leader came first: the refusal names the attempt that exists.
                leave(previous, &format!("the leader took over: {}", e.message));
            } else {
                tracing::warn!(error = %e, "cannot create the next attempt");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::*;
    use crate::store::{AttemptEnd, FinishKind};

    /// Attempt 1 of `t` with `worker` failed (ended `outcome`), and the leader retried it
    /// before the ladder acted: the ladder must take no step, record nothing, make no
    /// attempt.
    async fn ladder_after_a_leader_retry(worker: &str, outcome: AttemptOutcome) {
        let store = store_with(&["t"]).await;
        let mut new = new_attempt("t", 1, &[TaskStatus::Ready]);
        new.assigned_to = worker.to_string();
        let first = store.create_attempt(&new).await.unwrap().attempt;
        work(&store, &first, FinishKind::Failed).await;
        let end = AttemptEnd::new(outcome, "exit status 1".to_string());
        store
            .record_attempt_end(&first.thread_id, &end)
            .await
            .unwrap();
        assert_eq!(status(&store, "t").await, TaskStatus::Failed);
        store
            .create_attempt(&new_attempt("t", 2, &[TaskStatus::Failed]))
            .await
            .unwrap();
        let before = event_types(&store).await;
        settle(&store, &first.thread_id, Handover::default())
            .await
            .unwrap();
        assert_eq!(event_types(&store).await, before);
        assert_eq!(store.attempts("r", Some("t")).await.unwrap().len(), 2);
        assert_eq!(status(&store, "t").await, TaskStatus::Dispatched);
    }

    #[tokio::test]
    async fn the_ladder_does_not_give_up_a_task_the_leader_retried() {
        // A worker orch does not know: the ladder would stop.
        ladder_after_a_leader_retry("worker", AttemptOutcome::Failed).await;
    }

    #[tokio::test]
    async fn the_ladder_does_not_retry_a_task_the_leader_retried() {
        // A lost attempt of a known worker: the ladder would retry it.
        ladder_after_a_leader_retry("shell", AttemptOutcome::Lost).await;
    }
}
