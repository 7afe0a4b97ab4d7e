//! What `dispatch`, `retry` and `reassign` share: the reply about the attempt they
//! created, and the request of a follow-up attempt (retry, reassign), which works in the
//! previous attempt's repository and mode.

use crate::cli::BodyArgs;
use crate::commands::rows::{AttemptRow, LaunchRow, MessageRow, TaskRow, ThreadRow};
use crate::commands::{Ctx, read_body_args};
use crate::error::{Error, Result};
use crate::model::{Attempt, Message, Task, Thread};
use crate::orchestration::factory::{self, AttemptRequest, Made, Start, Step};
use crate::orchestration::launch::check_worker;
use crate::output::Reply;
use crate::store::AttemptPlan;
use crate::supervisor::LaunchReport;
use clap::Args;
use serde::Serialize;

/// A new attempt with everything the verbs print about it (as [`CreatedRows`]).
pub(super) struct Created {
    pub task: Task,
    pub attempt: Attempt,
    pub thread: Thread,
    pub message: Message,
    /// Retry and reassign: the attempt this one follows, as it is now (contract §5:
    /// `data.previous_attempt.attempt_no`).
    pub previous_attempt: Option<Attempt>,
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
        let verb = match command {
            "retry" => "retried",
            "reassign" => "reassigned",
            _ => "dispatched",
        };
        let mut human = format!(
            "{verb} {} attempt {} to {}",
            self.task.task_id, self.attempt.attempt_no, self.attempt.assigned_to,
        );
        if let Some(previous) = &self.previous_attempt {
            human.push_str(&format!(" (after attempt {})", previous.attempt_no));
        }
        if let Some(path) = &self.attempt.workspace.worktree_path {
            human.push_str(&format!(" in {}", path.display()));
        }
        match &self.launch {
            Some(launch) => {
                human.push_str(&format!(", launched (supervisor pid {})", launch.supervisor_pid))
            }
            // A retry or reassign the leader did not launch: who will.
            None if self.previous_attempt.is_some() => human.push_str(&format!(
                ", not launched: a running orch up launches it, else `orch launch --run {} --task {}`",
                self.task.run_id, self.task.task_id
            )),
            None => {}
        }
        Reply::new(command, self.rows(), human)
    }

    /// The reply's `data`, with the body printed once: when the task's body is the
    /// task message's body (no `--body`), `data.task.body` gives way to `"body_same_as":
    /// "message.body"` (the contract names the message's `body`; it is what the worker got).
    fn rows(&self) -> CreatedRows<'_> {
        let task = if !self.task.body.is_empty() && self.task.body == self.message.body {
            TaskRow::body_same_as(&self.task, "message.body")
        } else {
            TaskRow::new(&self.task, true)
        };
        CreatedRows {
            attempt: AttemptRow::new(&self.attempt),
            launch: self.launch.as_ref().map(LaunchRow::new),
            message: MessageRow::new(&self.message, true),
            previous_attempt: self.previous_attempt.as_ref().map(AttemptRow::new),
            task,
            thread: ThreadRow::new(&self.thread),
        }
    }
}

/// [`Created`] as the reply prints it, serialized straight to text (fields by name, see
/// [`crate::commands::rows`]).
#[derive(Serialize)]
struct CreatedRows<'a> {
    attempt: AttemptRow<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    launch: Option<LaunchRow<'a>>,
    message: MessageRow<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_attempt: Option<AttemptRow<'a>>,
    task: TaskRow<'a>,
    thread: ThreadRow<'a>,
}

/// The attempt a retry or reassign replaces: the task's current one, which must be
/// `expected` when the leader names it (`--attempt`).
pub(super) async fn previous_attempt(
    ctx: &Ctx,
    plan: &AttemptPlan,
    expected: Option<i64>,
) -> Result<Attempt> {
    let task = &plan.task;
    let current = plan.current.clone().ok_or_else(|| {
        Error::invalid_state(format!("task {:?} has no previous attempt", task.task_id))
    })?;
    match expected {
        Some(n) if n != current.attempt_no => {
            let on = ctx
                .store
                .describe_attempt(&task.run_id, &task.task_id, current.attempt_no)
                .await?;
            Err(Error::invalid_state(format!(
                "task {:?} is on {on}, not attempt {n}; nothing was dispatched",
                task.task_id
            )))
        }
        _ => Ok(current),
    }
}

/// The last arguments of `retry` and `reassign`: which attempt they replace, what the
/// new attempt is told, where its worktree starts, and whether it is launched.
#[derive(Debug, Clone, Args)]
pub struct FollowUpArgs {
    /// The attempt this one replaces: refused (nothing made) if the task has moved on
    /// from it, e.g. because the retry ladder retried it first.
    #[arg(long)]
    pub attempt: Option<i64>,
    #[command(flatten)]
    pub body: BodyArgs,
    /// Base the new worktree on this ref (default: the previous attempt's base commit).
    #[arg(long)]
    pub base_ref: Option<String>,
    /// Also start the worker under supervision (returns at once with data.launch).
    /// Without it, a running `orch up` launches the attempt, else `orch launch` does.
    #[arg(long)]
    pub launch: bool,
}

/// Makes the attempt after `previous` (a retry or a reassign) for the leader, and
/// starts its supervisor with `--launch`. The attempt is made only if the task is still
/// on `previous` (else `invalid_state` naming the attempt that exists).
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
    // An unknown worker is refused before anything is made.
    let workers = if args.launch {
        let repo = match &previous.workspace.repo_path {
            Some(repo) => repo.clone(),
            None => std::env::current_dir().unwrap_or_default(),
        };
        Some(check_worker(&ctx.store, &plan.task.run_id, &repo, &to).await?)
    } else {
        None
    };
    let request = AttemptRequest {
        body,
        created_by: ctx.leader(),
        ..AttemptRequest::after(plan, previous, step, to, args.base_ref, reason)
    };
    let start = match &workers {
        Some(workers) => Start::Reported(workers),
        None => Start::No,
    };
    let made = factory::make(&ctx.store, plan, request, start).await?;
    let mut created = Created::from(made);
    // Read again: a reassign has just cancelled it. The new attempt exists either way,
    // so a failed read shows the attempt as it was rather than failing the reply.
    let (run, task, n) = (&previous.run_id, &previous.task_id, previous.attempt_no);
    let now = ctx.store.attempt(run, task, Some(n)).await;
    created.previous_attempt = Some(now.unwrap_or_else(|_| previous.clone()));
    Ok(created)
}
