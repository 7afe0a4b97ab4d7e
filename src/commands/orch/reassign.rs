//! `orch reassign`: cancels the current attempt and dispatches a new one to another
//! worker, from the previous attempt's base commit.

use super::created::{FollowUp, FollowUpArgs, follow_up, previous_attempt};
use crate::commands::Ctx;
use crate::error::{Error, Result};
use crate::model::TaskStatus;
use crate::output::Reply;
use clap::Args;
use serde_json::json;

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
}

/// The task statuses a reassign may start from.
const ALLOWED: &[TaskStatus] = &[
    TaskStatus::Dispatched,
    TaskStatus::Running,
    TaskStatus::Blocked,
    TaskStatus::Failed,
];

pub async fn run(ctx: &Ctx, args: ReassignArgs) -> Result<Reply> {
    if args.to.is_empty() {
        return Err(Error::invalid_input("--to is empty"));
    }
    let plan = ctx
        .store
        .attempt_plan(&args.run, &args.task, ALLOWED, "reassign")
        .await?;
    let previous = previous_attempt(&plan, &args.task)?;
    let to = args.to;
    let reason = if args.reason.is_empty() {
        format!("reassigned to {to}")
    } else {
        args.reason
    };
    let extra_event = crate::store::ExtraEvent {
        event_type: "task_reassigned",
        payload: json!({"previous_attempt": previous.attempt_no, "from": previous.assigned_to, "to": to, "reason": reason}),
    };
    let follow = FollowUp {
        run: args.run,
        task: args.task,
        to,
        args: args.follow,
        allowed: ALLOWED,
        cancel_current: Some(reason),
        extra_event,
    };
    Ok(follow_up(ctx, &plan, &previous, follow)
        .await?
        .reply("reassign"))
}
