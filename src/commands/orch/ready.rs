//! `orch ready`: the tasks ready to dispatch, by priority then creation order.

use crate::cli::RunArgs;
use crate::commands::{Ctx, render};
use crate::error::Result;
use crate::model::Task;
use crate::output::Reply;
use serde::Serialize;

/// `orch ready` takes the run only.
pub type ReadyArgs = RunArgs;

#[derive(Serialize)]
struct Ready<'a> {
    run_id: &'a str,
    tasks: &'a [Task],
}

pub async fn run(ctx: &Ctx, args: ReadyArgs) -> Result<Reply> {
    let tasks = ctx.store.ready(&args.run).await?;
    let human = if ctx.style.json {
        String::new()
    } else {
        render::tasks(&ctx.style, &tasks)
    };
    Ok(Reply::new(
        "ready",
        Ready {
            run_id: &args.run,
            tasks: &tasks,
        },
        human,
    ))
}
