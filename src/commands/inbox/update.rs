//! `inbox update`: the caller reports progress (`in_progress`) or asks a question
//! (`blocked`) on the thread it holds.

use super::thread_reply;
use crate::cli::MessageArgs;
use crate::cli::values::UpdateStatus;
use crate::commands::{Ctx, clean_summary, message_input};
use crate::error::Result;
use crate::output::Reply;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    #[arg(long, env = "ORCH_THREAD")]
    pub thread: String,
    /// in_progress|blocked.
    #[arg(long, value_enum, default_value = "in_progress")]
    pub status: UpdateStatus,
    #[arg(long, default_value = "")]
    pub summary: String,
    #[command(flatten)]
    pub message: MessageArgs,
}

pub async fn run(ctx: &Ctx, args: UpdateArgs) -> Result<Reply> {
    let agent = ctx.require_agent("update")?;
    let content = message_input(&args.message)?;
    let summary = clean_summary(&args.summary);
    let (thread, message) = ctx
        .store
        .update(&args.thread, &agent, args.status.into(), &summary, &content)
        .await?;
    let human = format!(
        "{} is {}: {}",
        thread.thread_id, thread.status, message.summary
    );
    Ok(thread_reply("update", &thread, &message, human))
}
