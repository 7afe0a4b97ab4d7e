//! `orch verify status`: the verification gate of a task, with each check.

use crate::cli::TaskArgs;
use crate::commands::{Ctx, render};
use crate::error::Result;
use crate::output::Reply;
use serde_json::json;

/// `orch verify status` takes the task only.
pub type VerifyStatusArgs = TaskArgs;

pub async fn run(ctx: &Ctx, args: VerifyStatusArgs) -> Result<Reply> {
    let (task, gate) = ctx.store.gate(&args.run, &args.task).await?;
    let human = render::gate(&ctx.style, &task.task_id, &gate);
    Ok(Reply::new(
        "status",
        json!({"task": task, "gate": gate}),
        human,
    ))
}
