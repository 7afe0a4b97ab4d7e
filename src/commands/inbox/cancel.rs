//! `inbox cancel`: cancels a thread, with the caller (or the leader) as the author.

use super::thread_reply;
use crate::cli::ArtifactArgs;
use crate::commands::{Ctx, parse_artifacts};
use crate::error::Result;
use crate::output::Reply;
use crate::store::MessageInput;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct CancelArgs {
    #[arg(long)]
    pub thread: String,
    #[arg(long, default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

pub async fn run(ctx: &Ctx, args: CancelArgs) -> Result<Reply> {
    let agent = ctx.agent.clone().unwrap_or_else(|| ctx.leader());
    let content = MessageInput {
        artifacts: parse_artifacts(&args.artifacts)?,
        ..MessageInput::default()
    };
    let (thread, message) = ctx
        .store
        .cancel_thread(&args.thread, &agent, &args.reason, &content)
        .await?;
    let human = format!("cancelled {}", thread.thread_id);
    Ok(thread_reply("cancel", &thread, &message, human))
}
