//! `orch run show`: a run with its task counts.

use crate::commands::{Ctx, render};
use crate::error::Result;
use crate::output::Reply;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct RunShowArgs {
    #[arg(long)]
    pub run: String,
}

pub async fn run(ctx: &Ctx, args: RunShowArgs) -> Result<Reply> {
    let run = ctx.store.run(&args.run).await?;
    let human = render::run_line(&ctx.style, &run);
    Ok(Reply::new("show", json!({"run": run}), human))
}
