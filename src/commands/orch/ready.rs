//! `orch ready`: the tasks ready to dispatch, by priority then creation order (their
//! bodies left out unless `--bodies`).

use crate::cli::ListArgs;
use crate::commands::rows::TaskRow;
use crate::commands::{Ctx, frugal, render};
use crate::error::Result;
use crate::output::Reply;
use serde::Serialize;

/// `orch ready` takes the run and `--bodies`.
pub type ReadyArgs = ListArgs;

/// The reply's data, serialized straight to text (fields by name, see
/// [`crate::commands::rows`]).
#[derive(Serialize)]
struct Ready<'a> {
    run_id: &'a str,
    tasks: Vec<TaskRow<'a>>,
}

pub async fn run(ctx: &Ctx, args: ReadyArgs) -> Result<Reply> {
    let tasks = ctx.store.ready(&args.run).await?;
    let human = if ctx.style.json {
        String::new()
    } else {
        render::tasks(&ctx.style, &tasks)
    };
    let data = Ready {
        run_id: &args.run,
        tasks: tasks.iter().map(|t| frugal::task(t, args.bodies)).collect(),
    };
    Ok(Reply::new("ready", data, human))
}
