//! `orch ready`: the tasks ready to dispatch, by priority then creation order (their
//! bodies left out unless `--bodies`).

use crate::cli::ListArgs;
use crate::commands::{Ctx, frugal, render};
use crate::error::Result;
use crate::output::Reply;
use serde_json::Value;

/// `orch ready` takes the run and `--bodies`.
pub type ReadyArgs = ListArgs;

pub async fn run(ctx: &Ctx, args: ReadyArgs) -> Result<Reply> {
    let tasks = ctx.store.ready(&args.run).await?;
    let human = if ctx.style.json {
        String::new()
    } else {
        render::tasks(&ctx.style, &tasks)
    };
    let rows = tasks.iter().map(|t| frugal::task(t, args.bodies)).collect();
    // Built by hand: `json!` would copy every row once more.
    let mut data = serde_json::Map::new();
    data.insert("run_id".to_string(), Value::String(args.run));
    data.insert("tasks".to_string(), Value::Array(rows));
    Ok(Reply::new("ready", Value::Object(data), human))
}
