//! Verbs that create or remove attempts' workspaces: `dispatch`, `retry`, `reassign`,
//! `cleanup`. Git work happens before the database transaction, and is undone if the
//! transaction refuses, so a failed verb leaves no half-made worktree behind. `cleanup`
//! never loses work: a worktree with uncommitted changes or unmerged commits is kept,
//! or with `--force` saved (a patch, a bundle) before anything is removed.

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
                created.launch = Some(
                    super::orch_supervise::launch_with(
                        ctx,
                        &created.task,
                        &created.attempt,
                        workers,
                    )
                    .await?,
                );
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
            let extra = crate::store::ExtraEvent {
                event_type: "task_retried",
                payload: json!({"previous_attempt": previous.attempt_no, "to": to}),
            };
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
            let extra = crate::store::ExtraEvent {
                event_type: "task_reassigned",
                payload: json!({"previous_attempt": previous.attempt_no, "from": previous.assigned_to, "to": to, "reason": reason}),
            };
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

impl From<crate::store::Created> for Created {
    fn from(created: crate::store::Created) -> Self {
        let crate::store::Created {
            task,
            attempt,
            thread,
            message,
        } = created;
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
        if let Some(path) = &self.attempt.worktree_path {
            human.push_str(&format!(
                "\nworktree {} (branch {})",
                path.display(),
                self.attempt.branch_name.as_deref().unwrap_or("")
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
        if a.workspace_status != Some(crate::model::WorkspaceStatus::Created)
            || a.worktree_path.is_none()
        {
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
    // 1. What removing each worktree would lose. Without --force, a worktree holding
    //    work is kept (refused); with it, the work is saved first.
    let mut refused = Vec::new();
    let mut removable = Vec::new();
    for a in candidates {
        let path = worktree_of(&a);
        let work = if path.exists() {
            AtRisk {
                changes: worktree::worktree_changes(path)?,
                unmerged: worktree::unmerged_commits(path, branch_of(&a))?,
            }
        } else {
            AtRisk::default()
        };
        if !force && !work.is_empty() {
            let salvage =
                crate::paths::salvage_dir(ctx.store.path(), &a.run_id, &a.task_id, a.attempt_no);
            refused.push(json!({
                "task_id": a.task_id, "attempt_no": a.attempt_no, "worktree_path": a.worktree_path,
                "uncommitted_changes": work.changes.len(), "unmerged_commits": work.unmerged,
                "reason": format!(
                    "{}; pass --force to save them under {} first, then remove the worktree",
                    work.describe(), salvage.display()
                ),
            }));
            continue;
        }
        removable.push((a, work));
    }
    // 2. Save everything at risk before anything is deleted: if one save fails, no
    //    worktree is removed and this call's salvage files are taken back.
    let mut saved = Vec::new();
    for (a, work) in &removable {
        match salvage(ctx, a, work) {
            Ok(s) => saved.push(s),
            Err(e) => {
                for s in &saved {
                    s.discard();
                }
                return Err(Error::new(
                    e.code,
                    format!(
                        "nothing was removed: cannot save the work in {} ({}): {}",
                        worktree_of(a).display(),
                        work.describe(),
                        e.message
                    ),
                ));
            }
        }
    }
    // 3. Remove.
    let mut cleaned = Vec::new();
    for ((a, _), salvaged) in removable.iter().zip(saved) {
        let path = worktree_of(a);
        let repo = a.repo_path.as_deref().unwrap_or(Path::new(""));
        worktree::remove_worktree(repo, path, force)?;
        store
            .mark_workspace_cleaned(run, &a.task_id, a.attempt_no)
            .await?;
        cleaned.push(json!({
            "task_id": a.task_id, "attempt_no": a.attempt_no,
            "worktree_path": a.worktree_path, "branch_name": a.branch_name,
            "workspace_status": crate::model::WorkspaceStatus::Cleaned,
            "salvaged": salvaged.to_json(),
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
                "refused to remove worktrees holding work that removing them would lose: {}",
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
        let salvaged = &c["salvaged"];
        if let Some(patch) = salvaged["patch"].as_str() {
            human.push_str(&format!("  saved its uncommitted changes to {patch}\n"));
        }
        if let Some(bundle) = salvaged["bundle"].as_str() {
            human.push_str(&format!("  saved its unmerged commits to {bundle}\n"));
        }
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

/// The worktree of an attempt `cleanup` considers (it has one: see the candidates).
fn worktree_of(a: &Attempt) -> &Path {
    a.worktree_path.as_deref().unwrap_or(Path::new(""))
}

fn branch_of(a: &Attempt) -> &str {
    a.branch_name.as_deref().unwrap_or("")
}

/// What removing a worktree would lose.
#[derive(Default)]
struct AtRisk {
    /// Uncommitted files (tracked or untracked; ignored files aside).
    changes: Vec<String>,
    /// Commits of HEAD that no ref other than the attempt's own branch reaches.
    unmerged: usize,
}

impl AtRisk {
    fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.unmerged == 0
    }

    /// `uncommitted changes: 2 files (a.txt, b.txt); unmerged commits: 1`.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.changes.is_empty() {
            let n = self.changes.len();
            let mut shown = self.changes.iter().take(3).cloned().collect::<Vec<_>>();
            if n > 3 {
                shown.push("...".into());
            }
            parts.push(format!(
                "uncommitted changes: {n} file{} ({})",
                if n == 1 { "" } else { "s" },
                shown.join(", ")
            ));
        }
        if self.unmerged > 0 {
            parts.push(format!(
                "unmerged commits: {} (on no other branch, remote-tracking branch or tag)",
                self.unmerged
            ));
        }
        parts.join("; ")
    }
}

/// The files `cleanup --force` saved for one worktree.
#[derive(Default)]
struct Salvaged {
    patch: Option<std::path::PathBuf>,
    bundle: Option<std::path::PathBuf>,
}

impl Salvaged {
    /// `null` when nothing needed saving, else `{"patch", "bundle"}` (either may be null).
    fn to_json(&self) -> serde_json::Value {
        if self.patch.is_none() && self.bundle.is_none() {
            return serde_json::Value::Null;
        }
        let show = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
        json!({"patch": show(&self.patch), "bundle": show(&self.bundle)})
    }

    /// Takes the files back (another worktree's save failed, so none is removed).
    fn discard(&self) {
        for file in self.patch.iter().chain(self.bundle.iter()) {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Saves what removing the attempt's worktree would lose into its salvage directory
/// (0700; files 0600): `uncommitted.patch` (applies with `git apply` on the worktree's
/// HEAD) and `unmerged.bundle` (passes `git bundle verify`; its ref is `HEAD`).
fn salvage(ctx: &Ctx, a: &Attempt, work: &AtRisk) -> Result<Salvaged> {
    let mut saved = Salvaged::default();
    if work.is_empty() {
        return Ok(saved);
    }
    validate_id("run id", &a.run_id)?;
    validate_id("task id", &a.task_id)?;
    let dir = crate::paths::salvage_dir(ctx.store.path(), &a.run_id, &a.task_id, a.attempt_no);
    crate::paths::create_private_dir(&dir)
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", dir.display())))?;
    let path = worktree_of(a);
    if !work.changes.is_empty() {
        let patch = dir.join("uncommitted.patch");
        if worktree::save_changes_patch(path, &patch, &dir.join("scratch.index"))? {
            saved.patch = Some(patch);
        }
    }
    if work.unmerged > 0 {
        let bundle = dir.join("unmerged.bundle");
        if let Err(e) = worktree::save_unmerged_bundle(path, branch_of(a), &bundle) {
            saved.discard();
            return Err(e.into());
        }
        saved.bundle = Some(bundle);
    }
    Ok(saved)
}
