//! `orch dispatch`: creates the next attempt of a ready task (its inbox thread and, in
//! code mode, its worktree); with `--launch` also starts its supervisor. Git work
//! happens before the database transaction and is undone if the transaction refuses,
//! so a failed dispatch leaves no half-made worktree behind.

use super::created::Created;
use crate::cli::{BodyArgs, RequestArgs};
use crate::commands::{Ctx, read_body_args};
use crate::error::{Error, Result};
use crate::ids::validate_id;
use crate::model::ExecutionMode;
use crate::orchestration::factory::{self, AttemptRequest, Start, Step};
use crate::orchestration::launch::check_worker;
use crate::orchestration::workspace::{Base, Location};
use crate::output::Reply;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct DispatchArgs {
    #[arg(long)]
    pub run: String,
    #[arg(long)]
    pub task: String,
    #[arg(long, value_enum)]
    pub execution_mode: ExecutionMode,
    /// Worker (default: the task's default worker).
    #[arg(long)]
    pub to: Option<String>,
    #[command(flatten)]
    pub body: BodyArgs,
    /// The repository (default: the current directory).
    #[arg(long, value_name = "PATH")]
    pub repo_path: Option<PathBuf>,
    /// Base the worktree on this ref (default: HEAD, which must be clean).
    #[arg(long)]
    pub base_ref: Option<String>,
    /// Where worktrees go (default: .orch/worktrees under the repository).
    #[arg(long, value_name = "PATH")]
    pub workspace_root: Option<PathBuf>,
    /// Also start the worker under supervision (returns at once with data.launch).
    #[arg(long)]
    pub launch: bool,
    #[command(flatten)]
    pub request: RequestArgs,
}

pub async fn run(ctx: &Ctx, args: DispatchArgs) -> Result<Reply> {
    let DispatchArgs {
        run,
        task,
        execution_mode: mode,
        to,
        body,
        repo_path,
        base_ref,
        workspace_root,
        launch,
        request: _,
    } = args;
    validate_id("run id", &run)?;
    validate_id("task id", &task)?;
    let plan = factory::plan(&ctx.store, &run, &task, &Step::First, "dispatch").await?;
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
        Some(check_worker(&ctx.store, &run, &repo, &to).await?)
    } else {
        None
    };
    let location = Location {
        repo,
        workspace_root,
    };
    let request = AttemptRequest {
        body,
        created_by: ctx.leader(),
        ..AttemptRequest::first(&plan, to, mode, location, base)
    };
    let start = match &workers {
        Some(workers) => Start::Reported(workers),
        None => Start::No,
    };
    let made = factory::make(&ctx.store, &plan, request, start).await?;
    Ok(Created::from(made).reply("dispatch"))
}
