//! `orch reconcile`: folds worker thread states into task states.

use crate::cli::RunArgs;
use crate::commands::{Ctx, render};
use crate::error::Result;
use crate::output::Reply;
use serde_json::json;

/// `orch reconcile` takes the run only.
pub type ReconcileArgs = RunArgs;

pub async fn run(ctx: &Ctx, args: ReconcileArgs) -> Result<Reply> {
    let store = &ctx.store;
    let changes = store.reconcile(&args.run).await?;
    let run = store.run(&args.run).await?;
    let mut human: String = changes
        .iter()
        .map(|c| format!("{} → {}\n", c.task_id, ctx.style.status(c.status)))
        .collect();
    if changes.is_empty() {
        human.push_str("nothing to reconcile\n");
    }
    human.push_str(&render::run_line(&ctx.style, &run));
    Ok(Reply::new(
        "reconcile",
        json!({"updated_tasks": changes, "run": run}),
        human,
    ))
}
