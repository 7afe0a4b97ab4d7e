//! `orch reassign`: cancels the current attempt and dispatches a new one to another
//! worker, from the previous attempt's base commit.

use super::created::{FollowUpArgs, follow_up, previous_attempt};
use crate::cli::RequestArgs;
use crate::commands::Ctx;
use crate::error::{Error, Result};
use crate::orchestration::factory::{self, Step};
use crate::output::Reply;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ReassignArgs {
    #[arg(long)]
    pub run: String,
    #[arg(long)]
    pub task: String,
    #[arg(long)]
    pub to: String,
    #[arg(long, default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub follow: FollowUpArgs,
    #[command(flatten)]
    pub request: RequestArgs,
}

pub async fn run(ctx: &Ctx, args: ReassignArgs) -> Result<Reply> {
    if args.to.is_empty() {
        return Err(Error::invalid_input("--to is empty"));
    }
    let reason = if args.reason.is_empty() {
        format!("reassigned to {}", args.to)
    } else {
        args.reason
    };
    let step = Step::Reassign {
        cancel_current: Some(reason.clone()),
    };
    let plan = factory::plan(&ctx.store, &args.run, &args.task, &step, "reassign").await?;
    let previous = previous_attempt(ctx, &plan, args.follow.attempt).await?;
    let created = follow_up(
        ctx,
        &plan,
        &previous,
        step,
        args.to,
        args.follow,
        Some(&reason),
    )
    .await?;
    Ok(created.reply("reassign"))
}
