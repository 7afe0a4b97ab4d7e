//! Verbs that create or remove attempts' workspaces: `dispatch`, `retry`, `reassign`,
//! `cleanup`. Git work happens before the database transaction, and is undone if the
//! transaction refuses, so a failed verb leaves no half-made worktree behind.

use super::{Ctx, read_body_args};
use crate::cli::orch::OrchCommand;
use crate::dispatch::{Base, Location, Request, create, follow_previous};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::validate_id;
use crate::model::{Attempt, ExecutionMode, Message, Task, TaskStatus, Thread};
use crate::output::Reply;
use crate::store::AttemptPlan;
use crate::worktree;
use serde::Serialize;
use serde_json::json;
use std::path::Path;

pub async fn run(ctx: &Ctx, command: OrchCommand) -> Result<Reply> {
    // Fold in what workers reported since the last look, so that a worker's `fail`
    // followed at once by `retry` (or `done` by `cleanup`) sees the task as it is.
    if let OrchCommand::Dispatch { run, .. }
    | OrchCommand::Retry { run, .. }
    | OrchCommand::Reassign { run, .. }
    | OrchCommand::Cleanup { run, .. } = &command
    {
        ctx.store.reconcile(run).await?;
    }
    match command {
        OrchCommand::Dispatch {
            run,
            task,
            execution_mode,
            to,
            body,
            repo_path,
            base_ref,
            workspace_root,
            launch,
        } => {
            validate_id("run id", &run)?;
            validate_id("task id", &task)?;
            let mode = ExecutionMode::parse(&execution_mode).ok_or_else(|| {
                Error::invalid_input(format!(
                    "--execution-mode {execution_mode:?} is not one of {}",
                    ExecutionMode::choices()
                ))
            })?;
            let plan = ctx
                .store
                .attempt_plan(&run, &task, &[TaskStatus::Ready], "dispatch")
                .await?;
            let to = match to.filter(|t| !t.is_empty()) {
                Some(t) => t,
                None if !plan.task.default_to.is_empty() => plan.task.default_to.clone(),
                None => {
                    return Err(Error::invalid_input(format!(
                        "no worker for task {task:?}: pass --to or give the task a default worker (--default-to)"
                    )));
                }
            };
            let body = read_body_args(&body)?.unwrap_or_else(|| plan.task.body.clone());
            let base = match base_ref {
                Some(r) => Base::Ref(r),
                None => Base::CleanHead,
            };
            let repo = repo_path.unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
            // An unknown worker is refused before anything is created.
            let workers = if launch {
                Some(super::orch_supervise::check_worker(ctx, &run, &repo, &to).await?)
            } else {
                None
            };
            let location = Location {
                repo,
                workspace_root,
            };
            let request = Request {
                run: run.clone(),
                task: task.clone(),
                mode,
                to: to.clone(),
                body,
                location,
                base,
                allowed: &[TaskStatus::Ready],
                cancel_current: None,
                extra_event: None,
                created_by: ctx.leader(),
            };
            let mut created = Created::from(create(&ctx.store, &plan, request).await?);
            if let Some(workers) = &workers {
                created.launch = Some(super::orch_supervise::launch_with(
                    ctx,
                    &created.task,
                    &created.attempt,
                    workers,
                )?);
            }
            Ok(created.reply("dispatch"))
        }
        OrchCommand::Retry {
            run,
            task,
            to,
            body,
            base_ref,
        } => {
            let plan = ctx
                .store
                .attempt_plan(&run, &task, &[TaskStatus::Failed], "retry")
                .await?;
            let previous = previous_attempt(&plan, &task)?;
            let to = to
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| previous.assigned_to.clone());
            let body = read_body_args(&body)?.unwrap_or_else(|| plan.task.body.clone());
            let (location, base) = follow_previous(&previous, base_ref);
            let extra = (
                "task_retried",
                json!({"previous_attempt": previous.attempt_no, "to": to}),
            );
            let request = Request {
                run: run.clone(),
                task: task.clone(),
                mode: previous.execution_mode,
                to: to.clone(),
                body,
                location,
                base,
                allowed: &[TaskStatus::Failed],
                cancel_current: None,
                extra_event: Some(extra),
                created_by: ctx.leader(),
            };
            let mut created = Created::from(create(&ctx.store, &plan, request).await?);
            created.previous_attempt = Some(previous.attempt_no);
            Ok(created.reply("retry"))
        }
        OrchCommand::Reassign {
            run,
            task,
            to,
            reason,
            body,
            base_ref,
        } => {
            if to.is_empty() {
                return Err(Error::invalid_input("--to is empty"));
            }
            let allowed = &[
                TaskStatus::Dispatched,
                TaskStatus::Running,
                TaskStatus::Blocked,
                TaskStatus::Failed,
            ];
            let plan = ctx
                .store
                .attempt_plan(&run, &task, allowed, "reassign")
                .await?;
            let previous = previous_attempt(&plan, &task)?;
            let body = read_body_args(&body)?.unwrap_or_else(|| plan.task.body.clone());
            let (location, base) = follow_previous(&previous, base_ref);
            let reason = if reason.is_empty() {
                format!("reassigned to {to}")
            } else {
                reason
            };
            let extra = (
                "task_reassigned",
                json!({"previous_attempt": previous.attempt_no, "from": previous.assigned_to, "to": to, "reason": reason}),
            );
            let request = Request {
                run: run.clone(),
                task: task.clone(),
                mode: previous.execution_mode,
                to: to.clone(),
                body,
                location,
                base,
                allowed,
                cancel_current: Some(reason),
                extra_event: Some(extra),
                created_by: ctx.leader(),
            };
            let mut created = Created::from(create(&ctx.store, &plan, request).await?);
            created.previous_attempt = Some(previous.attempt_no);
            Ok(created.reply("reassign"))
        }
        OrchCommand::Cleanup {
            run,
            task,
            attempt,
            all_completed,
            force,
        } => cleanup(ctx, &run, task.as_deref(), attempt, all_completed, force).await,
        other => Err(Error::internal(format!("not a dispatch verb: {other:?}"))),
    }
}

fn previous_attempt(plan: &AttemptPlan, task: &str) -> Result<Attempt> {
    plan.current
        .clone()
        .ok_or_else(|| Error::invalid_state(format!("task {task:?} has no previous attempt")))
}

/// A new attempt with everything the verbs print about it.
#[derive(Serialize)]
struct Created {
    task: Task,
    attempt: Attempt,
    thread: Thread,
    message: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_attempt: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    launch: Option<crate::supervisor::LaunchReport>,
}

impl From<(Task, Attempt, Thread, Message)> for Created {
    fn from((task, attempt, thread, message): (Task, Attempt, Thread, Message)) -> Self {
        Created {
            task,
            attempt,
            thread,
            message,
            previous_attempt: None,
            launch: None,
        }
    }
}

impl Created {
    fn reply(self, command: &'static str) -> Reply {
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
        if !self.attempt.worktree_path.is_empty() {
            human.push_str(&format!(
                "\nworktree {} (branch {})",
                self.attempt.worktree_path, self.attempt.branch_name
            ));
        }
        Reply::new(command, self, human)
    }
}

async fn cleanup(
    ctx: &Ctx,
    run: &str,
    task: Option<&str>,
    attempt: Option<i64>,
    all_completed: bool,
    force: bool,
) -> Result<Reply> {
    match (task, attempt, all_completed) {
        (None, Some(_), _) => {
            return Err(Error::invalid_input("--attempt needs --task"));
        }
        (Some(_), _, true) => {
            return Err(Error::invalid_input(
                "--task and --all-completed are mutually exclusive",
            ));
        }
        (None, None, false) => {
            return Err(Error::invalid_input(
                "cleanup needs --task TASK [--attempt N] or --all-completed",
            ));
        }
        _ => {}
    }
    let store = &ctx.store;
    let tasks = store.tasks(run).await?;
    if let Some(t) = task
        && !tasks.iter().any(|x| x.task_id == t)
    {
        return Err(Error::not_found(format!(
            "task {t:?} not found in run {run:?}"
        )));
    }
    let attempts = store.attempts(run, task).await?;
    if let (Some(t), Some(n)) = (task, attempt)
        && !attempts.iter().any(|a| a.attempt_no == n)
    {
        return Err(Error::not_found(format!("task {t:?} has no attempt {n}")));
    }
    let mut candidates = Vec::new();
    let mut busy = Vec::new();
    for a in attempts
        .into_iter()
        .filter(|a| attempt.is_none_or(|n| a.attempt_no == n))
    {
        if a.workspace_status != "created" {
            continue;
        }
        let Some(t) = tasks.iter().find(|t| t.task_id == a.task_id) else {
            continue;
        };
        let finished = t.status.is_terminal() || a.attempt_no != t.current_attempt;
        if finished {
            candidates.push(a);
        } else if task.is_some() {
            busy.push(format!(
                "{} attempt {} ({})",
                a.task_id, a.attempt_no, t.status
            ));
        }
    }
    if candidates.is_empty() {
        if !busy.is_empty() {
            return Err(Error::invalid_state(format!(
                "not removing the worktree of an unfinished task: {}",
                busy.join(", ")
            )));
        }
        return Err(Error::no_matching_work("no worktree to clean up matched"));
    }
    let mut cleaned = Vec::new();
    let mut refused = Vec::new();
    for a in candidates {
        let path = Path::new(&a.worktree_path);
        let repo = Path::new(&a.repo_path);
        if !force && path.exists() {
            let changes = worktree::worktree_changes(path)?;
            if !changes.is_empty() {
                refused.push(json!({
                    "task_id": a.task_id, "attempt_no": a.attempt_no, "worktree_path": a.worktree_path,
                    "reason": format!("{} uncommitted change(s), e.g. {}; pass --force to remove anyway", changes.len(), changes[0]),
                }));
                continue;
            }
        }
        worktree::remove_worktree(repo, path, force)?;
        store
            .mark_workspace_cleaned(run, &a.task_id, a.attempt_no)
            .await?;
        cleaned.push(json!({
            "task_id": a.task_id, "attempt_no": a.attempt_no,
            "worktree_path": a.worktree_path, "branch_name": a.branch_name,
            "workspace_status": "cleaned",
        }));
    }
    if cleaned.is_empty() {
        let reasons: Vec<String> = refused
            .iter()
            .map(|r| {
                format!(
                    "{}: {}",
                    r["worktree_path"].as_str().unwrap_or(""),
                    r["reason"].as_str().unwrap_or("")
                )
            })
            .collect();
        return Err(Error::new(
            ErrorCode::InvalidState,
            format!(
                "refused to remove worktrees with uncommitted changes: {}",
                reasons.join("; ")
            ),
        ));
    }
    let mut human = String::new();
    for c in &cleaned {
        human.push_str(&format!(
            "removed {} (branch {} kept)\n",
            c["worktree_path"].as_str().unwrap_or(""),
            c["branch_name"].as_str().unwrap_or("")
        ));
    }
    for r in &refused {
        human.push_str(&format!(
            "kept {}: {}\n",
            r["worktree_path"].as_str().unwrap_or(""),
            r["reason"].as_str().unwrap_or("")
        ));
    }
    Ok(Reply::new(
        "cleanup",
        json!({"cleaned": cleaned, "refused": refused}),
        human,
    ))
}
