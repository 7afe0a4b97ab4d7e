//! `orch run show`: a run with its task counts.

use crate::cli::RunArgs;
use crate::commands::{Ctx, render};
use crate::error::Result;
use crate::output::Reply;
use serde_json::json;

/// `orch run show` takes the run only.
pub type RunShowArgs = RunArgs;

pub async fn run(ctx: &Ctx, args: RunShowArgs) -> Result<Reply> {
    let run = ctx.store.run(&args.run).await?;
    let human = render::run_line(&ctx.style, &run);
    Ok(Reply::new("show", json!({"run": run}), human))
}
