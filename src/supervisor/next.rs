//! After an attempt ends, its supervisor applies the retry policy ([`crate::policy`]):
//! it records a rate-limited worker's cooldown (by [`policy::cooldown_key`]: the profile,
//! i.e. the account, or the bare adapter), then retries, hands over to a fallback
//! (with a hand-over note for the next brief), parks until the cooldown ends, or leaves
//! the task failed. Every step is an event. A decision acts only on the attempt it was
//! made for: if the task moved on (the leader retried, reassigned or cancelled), nothing
//! happens.

use super::start_supervisor;
use crate::config::Workers;
use crate::dispatch::{Request, create, follow_previous};
use crate::error::Result;
use crate::model::{Attempt, AttemptOutcome, TaskStatus};
use crate::policy::{self, Decision, PastAttempt, Situation};
use crate::store::{ExtraEvent, Store, Supervision};
use crate::time::{now_ms, rfc3339};
use serde_json::json;

/// What the ended attempt leaves for the next one's brief.
#[derive(Debug, Clone, Default)]
pub struct Handover {
    pub last_message: Option<String>,
    pub tail: String,
}

pub async fn apply_policy(store: &Store, thread_id: &str, handover: &Handover) -> Result<()> {
    decide_and_act(store, thread_id, handover, None).await
}

/// The worker succeeded but a completion check failed: the policy treats it as a failure.
pub async fn apply_policy_after_check(
    store: &Store,
    thread_id: &str,
    handover: &Handover,
) -> Result<()> {
    decide_and_act(store, thread_id, handover, Some(AttemptOutcome::Failed)).await
}

async fn decide_and_act(
    store: &Store,
    thread_id: &str,
    handover: &Handover,
    outcome_override: Option<AttemptOutcome>,
) -> Result<()> {
    let (attempt, mut supervision) = store.attempt_by_thread(thread_id).await?;
    if let Some(outcome) = outcome_override {
        supervision.outcome = Some(outcome);
        supervision.reason = "a completion check failed".to_string();
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
    let run = attempt.run_id.clone();
    let config = store.run_config(&run).await?;
    let repo = attempt.repo_path.as_deref();
    let workers = Workers::load(repo, &config)?;
    let now = now_ms();
    // The account that hit the limit: another profile of the same adapter stays free.
    let key = policy::cooldown_key_of(&workers, &attempt.assigned_to);
    if outcome == AttemptOutcome::RateLimited && !key.is_empty() {
        let earlier = store.rate_limits_of(&run, &key).await?.saturating_sub(1);
        let reset = supervision
            .reset_at
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_millisecond());
        let until =
            policy::cooldown_until(reset, now, earlier, std::process::id() as u64 ^ now as u64);
        store.set_cooldown(&key, until, &supervision.reason).await?;
        tracing::info!(worker = %key, adapter = %supervision.adapter, until = %rfc3339(until), "worker cooling down");
    }
    let history: Vec<PastAttempt> = store
        .task_history(&run, &attempt.task_id)
        .await?
        .into_iter()
        .map(|h| PastAttempt {
            worker: h.worker,
            outcome: h.outcome,
        })
        .collect();
    let cooldowns = store.cooldowns().await?;
    let banned = store.banned_adapters(&run).await?;
    let decision = policy::decide(&Situation {
        outcome,
        worker: &attempt.assigned_to,
        history: &history,
        workers: &workers,
        cooldowns: &cooldowns,
        banned: &banned,
        now_ms: now,
        max_park_ms: max_park_ms(),
    });
    tracing::info!(?decision, "retry policy");
    let note = handover_note(&attempt, &supervision, handover);
    match decision {
        Decision::Nothing => Ok(()),
        Decision::Stop { reason } => {
            store
                .record_task_event(
                    &run,
                    &attempt.task_id,
                    "task_given_up",
                    &reason,
                    json!({"attempt_no": attempt.attempt_no, "outcome": outcome}),
                )
                .await?;
            Ok(())
        }
        Decision::Retry { worker } => {
            next_attempt(store, &attempt, &worker, false, &note, None).await
        }
        Decision::Reassign { worker } => {
            next_attempt(store, &attempt, &worker, true, &note, None).await
        }
        Decision::Park { worker, until_ms } => {
            store
                .record_task_event(
                    &run,
                    &attempt.task_id,
                    "task_parked",
                    &format!("waiting for {key}'s rate limit until {}", rfc3339(until_ms)),
                    json!({"until": rfc3339(until_ms), "worker": worker, "attempt_no": attempt.attempt_no}),
                )
                .await?;
            let wait = (until_ms - now_ms()).max(0) as u64;
            tracing::info!(wait_ms = wait, "parked");
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            let note = format!(
                "{note}\nThe task waited for the rate limit to reset; continue where the last attempt stopped."
            );
            // Same worker, same adapter: resume its session where the adapter can.
            let resume = Some(supervision.session_id.clone()).filter(|s| !s.is_empty());
            next_attempt(store, &attempt, &worker, false, &note, resume).await
        }
    }
}

/// The longest a task may be parked: `$ORCH_MAX_PARK` (e.g. `2h`, `0s`), else 6 h.
fn max_park_ms() -> i64 {
    std::env::var("ORCH_MAX_PARK")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(policy::DEFAULT_MAX_PARK_MS)
}

/// What the next brief says about this attempt: how it ended, its last message, what it
/// left in its worktree, and the end of its output.
fn handover_note(attempt: &Attempt, supervision: &Supervision, handover: &Handover) -> String {
    let mut note = format!(
        "Attempt {} ({}) ended {}{}.",
        attempt.attempt_no,
        attempt.assigned_to,
        supervision.outcome.map_or("", AttemptOutcome::as_str),
        if supervision.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", supervision.reason)
        }
    );
    if let Some(message) = handover
        .last_message
        .as_deref()
        .filter(|m| !m.trim().is_empty())
    {
        note.push_str(&format!("\nIts last message: {}", message.trim()));
    }
    if let Some(worktree) = attempt.worktree_path.as_deref().filter(|p| p.exists()) {
        let base = attempt.base_commit.as_deref().unwrap_or("");
        let stat = crate::worktree::diff_stat(worktree, base);
        if !stat.trim().is_empty() {
            note.push_str(&format!(
                "\nIt left changes in {} (branch {}):\n{}",
                worktree.display(),
                attempt.branch_name.as_deref().unwrap_or(""),
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

/// Creates the next attempt with `worker` and starts its supervisor.
async fn next_attempt(
    store: &Store,
    previous: &Attempt,
    worker: &str,
    reassign: bool,
    note: &str,
    resume_session: Option<String>,
) -> Result<()> {
    let plan = match store
        .attempt_plan(
            &previous.run_id,
            &previous.task_id,
            &[TaskStatus::Failed],
            "the retry policy",
        )
        .await
    {
        Ok(plan) => plan,
        Err(e) => {
            tracing::info!(error = %e, "the task moved on; no new attempt");
            return Ok(());
        }
    };
    if plan.task.current_attempt != previous.attempt_no {
        tracing::info!("a newer attempt exists; no new attempt");
        return Ok(());
    }
    let (location, base) = follow_previous(previous, None);
    let event = if reassign {
        ExtraEvent {
            event_type: "task_reassigned",
            payload: json!({"previous_attempt": previous.attempt_no, "from": previous.assigned_to, "to": worker, "reason": "retry policy"}),
        }
    } else {
        ExtraEvent {
            event_type: "task_retried",
            payload: json!({"previous_attempt": previous.attempt_no, "to": worker, "reason": "retry policy"}),
        }
    };
    let request = Request {
        run: previous.run_id.clone(),
        task: previous.task_id.clone(),
        mode: previous.execution_mode,
        to: worker.to_string(),
        body: plan.task.body.clone(),
        location,
        base,
        allowed: &[TaskStatus::Failed],
        cancel_current: None,
        extra_event: Some(event),
        created_by: "orch".to_string(),
    };
    let attempt = match create(store, &plan, request).await {
        Ok(created) => created.attempt,
        Err(e) => {
            tracing::warn!(error = %e, "cannot create the next attempt");
            return Ok(());
        }
    };
    store.set_brief_note(&attempt.thread_id, note).await?;
    if let Some(session) = &resume_session {
        store
            .set_resume_session(&attempt.thread_id, session)
            .await?;
    }
    let pid = start_supervisor(store, &attempt).await?;
    tracing::info!(attempt = attempt.attempt_no, %worker, supervisor = pid, "next attempt started");
    Ok(())
}
