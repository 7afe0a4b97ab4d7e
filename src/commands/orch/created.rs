//! What `dispatch`, `retry` and `reassign` share: the reply about the attempt they
//! created, and the request of a follow-up attempt (retry, reassign), which works in the
//! previous attempt's repository and mode.

use crate::cli::BodyArgs;
use crate::commands::{Ctx, read_body_args};
use crate::error::{Error, Result};
use crate::model::{Attempt, Message, Task, Thread};
use crate::orchestration::factory::{self, AttemptRequest, Made, Start, Step};
use crate::output::Reply;
use crate::store::AttemptPlan;
use crate::supervisor::LaunchReport;
use clap::Args;
use serde::Serialize;

/// A new attempt with everything the verbs print about it.
#[derive(Serialize)]
pub(super) struct Created {
    pub task: Task,
    pub attempt: Attempt,
    pub thread: Thread,
    pub message: Message,
    /// Retry and reassign: the attempt this one follows, as it is now (contract §5:
    /// `data.previous_attempt.attempt_no`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_attempt: Option<Attempt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchReport>,
}

impl From<Made> for Created {
    fn from(made: Made) -> Self {
        let crate::store::Created {
            task,
            attempt,
            thread,
            message,
        } = made.created;
        Created {
            task,
            attempt,
            thread,
            message,
            previous_attempt: None,
            launch: made.launch,
        }
    }
}

impl Created {
    pub(super) fn reply(self, command: &'static str) -> Reply {
        let mut human = format!(
            "dispatched {} attempt {} to {} on thread {}",
            self.task.task_id,
            self.attempt.attempt_no,
            self.attempt.assigned_to,
            self.attempt.thread_id
        );
        if let Some(launch) = &self.launch {
            human.push_str(&format!(
                "\nlaunched {} (supervisor pid {}), log {}",
                launch.adapter, launch.supervisor_pid, launch.log_path
            ));
        }
        if let Some(path) = &self.attempt.workspace.worktree_path {
            human.push_str(&format!(
                "\nworktree {} (branch {})",
                path.display(),
                self.attempt.workspace.branch_name.as_deref().unwrap_or("")
            ));
        }
        Reply::new(command, self, human)
    }
}

pub(super) fn previous_attempt(plan: &AttemptPlan, task: &str) -> Result<Attempt> {
    plan.current
        .clone()
        .ok_or_else(|| Error::invalid_state(format!("task {task:?} has no previous attempt")))
}

/// The last arguments of `retry` and `reassign`: what the new attempt is told and
/// where its worktree starts.
#[derive(Debug, Clone, Args)]
pub struct FollowUpArgs {
    #[command(flatten)]
    pub body: BodyArgs,
    /// Base the new worktree on this ref (default: the previous attempt's base commit).
    #[arg(long)]
    pub base_ref: Option<String>,
}

/// Makes the attempt after `previous` (a retry or a reassign) for the leader; the
/// leader launches it.
pub(super) async fn follow_up(
    ctx: &Ctx,
    plan: &AttemptPlan,
    previous: &Attempt,
    step: Step,
    to: String,
    args: FollowUpArgs,
    reason: Option<&str>,
) -> Result<Created> {
    let body = read_body_args(&args.body)?.unwrap_or_else(|| plan.task.body.clone());
    let request = AttemptRequest {
        body,
        created_by: ctx.leader(),
        ..AttemptRequest::after(plan, previous, step, to, args.base_ref, reason)
    };
    let made = factory::make(&ctx.store, plan, request, Start::No).await?;
    let mut created = Created::from(made);
    // Read again: a reassign has just cancelled it. The new attempt exists either way,
    // so a failed read shows the attempt as it was rather than failing the reply.
    let (run, task, n) = (&previous.run_id, &previous.task_id, previous.attempt_no);
    let now = ctx.store.attempt(run, task, Some(n)).await;
    created.previous_attempt = Some(now.unwrap_or_else(|_| previous.clone()));
    Ok(created)
}
