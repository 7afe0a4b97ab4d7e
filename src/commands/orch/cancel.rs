//! `orch cancel`: cancels a task (its current attempt), or the whole run.

use crate::cli::RequestArgs;
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct CancelArgs {
    #[arg(long)]
    pub run: String,
    /// Only this task (default: the whole run).
    #[arg(long)]
    pub task: Option<String>,
    #[arg(long, default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub request: RequestArgs,
}

pub async fn run(ctx: &Ctx, args: CancelArgs) -> Result<Reply> {
    let store = &ctx.store;
    let (run, reason) = (args.run.as_str(), args.reason.as_str());
    let Some(task) = args.task else {
        return cancel_run(ctx, run, reason).await;
    };
    let (task, attempt) = store.cancel_task(run, &task, &ctx.leader(), reason).await?;
    let human = format!("cancelled {}", task.task_id);
    Ok(Reply::new(
        "cancel",
        json!({"task": task, "attempt": attempt}),
        human,
    ))
}

async fn cancel_run(ctx: &Ctx, run: &str, reason: &str) -> Result<Reply> {
    let store = &ctx.store;
    let cancelled = store.cancel_run(run, &ctx.leader(), reason).await?;
    let run = store.run(run).await?;
    let human = format!(
        "cancelled run {} ({} task{})",
        run.run_id,
        cancelled.len(),
        if cancelled.len() == 1 { "" } else { "s" }
    );
    let tasks: Vec<_> = cancelled
        .iter()
        .map(|(task_id, attempt)| json!({"task_id": task_id, "attempt": attempt}))
        .collect();
    Ok(Reply::new(
        "cancel",
        json!({"run": run, "cancelled_tasks": tasks}),
        human,
    ))
}
