//! `orch retry`: a new attempt of a failed task, by default to the previous assignee
//! from the previous attempt's base commit.

use super::created::{FollowUp, FollowUpArgs, follow_up, previous_attempt};
use crate::commands::Ctx;
use crate::error::Result;
use crate::model::TaskStatus;
use crate::output::Reply;
use clap::Args;
use serde_json::json;

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
}

pub async fn run(ctx: &Ctx, args: RetryArgs) -> Result<Reply> {
    let plan = ctx
        .store
        .attempt_plan(&args.run, &args.task, &[TaskStatus::Failed], "retry")
        .await?;
    let previous = previous_attempt(&plan, &args.task)?;
    let to = args
        .to
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| previous.assigned_to.clone());
    let extra_event = crate::store::ExtraEvent {
        event_type: "task_retried",
        payload: json!({"previous_attempt": previous.attempt_no, "to": to}),
    };
    let follow = FollowUp {
        run: args.run,
        task: args.task,
        to,
        args: args.follow,
        allowed: &[TaskStatus::Failed],
        cancel_current: None,
        extra_event,
    };
    Ok(follow_up(ctx, &plan, &previous, follow)
        .await?
        .reply("retry"))
}
