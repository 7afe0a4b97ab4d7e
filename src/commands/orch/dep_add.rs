//! `orch dep add`: TASK waits until DEPENDS_ON is done.

use crate::cli::RequestArgs;
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct DepAddArgs {
    #[arg(long)]
    pub run: String,
    #[arg(long)]
    pub task: String,
    #[arg(long)]
    pub depends_on: String,
    #[command(flatten)]
    pub request: RequestArgs,
}

pub async fn run(ctx: &Ctx, args: DepAddArgs) -> Result<Reply> {
    let DepAddArgs {
        run,
        task,
        depends_on,
        request: _,
    } = args;
    let (task, created) = ctx.store.add_dep(&run, &task, &depends_on).await?;
    let human = format!(
        "{} depends on {} ({}; task is {})",
        task.task_id,
        depends_on,
        if created { "added" } else { "already recorded" },
        task.status
    );
    Ok(Reply::new(
        "add",
        json!({"task": task, "depends_on": depends_on, "created": created}),
        human,
    ))
}
