//! `orch ready`: the tasks ready to dispatch, by priority then creation order (their
//! bodies left out unless `--bodies`).

use crate::cli::ListArgs;
use crate::commands::{Ctx, frugal, render};
use crate::error::Result;
use crate::output::Reply;
use serde_json::json;

/// `orch ready` takes the run and `--bodies`.
pub type ReadyArgs = ListArgs;

pub async fn run(ctx: &Ctx, args: ReadyArgs) -> Result<Reply> {
    let tasks = ctx.store.ready(&args.run).await?;
    let human = if ctx.style.json {
        String::new()
    } else {
        render::tasks(&ctx.style, &tasks)
    };
    let rows: Vec<_> = tasks.iter().map(|t| frugal::task(t, args.bodies)).collect();
    Ok(Reply::new(
        "ready",
        json!({"run_id": args.run, "tasks": rows}),
        human,
    ))
}
