//! `orch brief`: the worker brief of a task's attempt, as the supervisor gives it.

use crate::brief::{BriefContext, render as render_brief};
use crate::cli::{AttemptArgs, TaskArgs};
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;
use serde_json::json;

/// `orch brief` takes the attempt only.
pub type BriefArgs = AttemptArgs;

pub async fn run(ctx: &Ctx, args: BriefArgs) -> Result<Reply> {
    let store = &ctx.store;
    let TaskArgs { run, task } = args.task;
    let attempt = args.attempt;
    let task_record = store.task(&run, &task).await?;
    let attempt = store.attempt(&run, &task, attempt).await?;
    // The same brief the supervisor gives the worker: with its adapter's rule
    // when the worker is a profile or an adapter orch knows.
    let repo = attempt.workspace.repo_path.as_deref();
    let config = store.run_config(&run).await?;
    let worker_note = crate::config::Workers::load(repo, &config)
        .and_then(|w| w.resolve(&attempt.assigned_to))
        .ok()
        .and_then(|w| w.brief_note(attempt.execution_mode));
    let context = BriefContext {
        worker_note,
        ..crate::supervisor::brief_context(store, &attempt.thread_id).await?
    };
    let text = render_brief(&task_record, &attempt, &context);
    Ok(Reply::new(
        "brief",
        json!({"run_id": run, "task_id": task, "attempt_no": attempt.attempt_no, "brief": text}),
        text.clone(),
    ))
}
