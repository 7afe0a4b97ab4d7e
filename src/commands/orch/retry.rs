//! `orch retry`: a new attempt of a failed task, by default to the previous assignee
//! from the previous attempt's base commit.

use super::created::{FollowUpArgs, follow_up, previous_attempt};
use crate::cli::RequestArgs;
use crate::commands::Ctx;
use crate::error::Result;
use crate::orchestration::factory::{self, Step};
use crate::output::Reply;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct RetryArgs {
    #[arg(long)]
    pub run: String,
    #[arg(long)]
    pub task: String,
    /// Worker (default: the previous assignee).
    #[arg(long)]
    pub to: Option<String>,
    #[command(flatten)]
    pub follow: FollowUpArgs,
    #[command(flatten)]
    pub request: RequestArgs,
}

pub async fn run(ctx: &Ctx, args: RetryArgs) -> Result<Reply> {
    let step = Step::Retry;
    let plan = factory::plan(&ctx.store, &args.run, &args.task, &step, "retry").await?;
    let previous = previous_attempt(ctx, &plan, args.follow.attempt).await?;
    let to = args
        .to
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| previous.assigned_to.clone());
    let created = follow_up(ctx, &plan, &previous, step, to, args.follow, None).await?;
    Ok(created.reply("retry"))
}
