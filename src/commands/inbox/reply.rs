//! `inbox reply`: an answer or a control message on an open thread.

use super::thread_reply;
use crate::cli::MessageArgs;
use crate::cli::values::ReplyKind;
use crate::commands::{Ctx, clean_summary, message_input};
use crate::error::Result;
use crate::output::Reply;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ReplyArgs {
    /// Sender (default: --agent).
    #[arg(long)]
    pub from: Option<String>,
    /// Recipient (default: the other side of the thread).
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, env = "ORCH_THREAD")]
    pub thread: String,
    /// answer|control.
    #[arg(long, value_enum, default_value = "answer")]
    pub kind: ReplyKind,
    #[arg(long, default_value = "")]
    pub summary: String,
    #[command(flatten)]
    pub message: MessageArgs,
}

pub async fn run(ctx: &Ctx, args: ReplyArgs) -> Result<Reply> {
    let from = match args.from.filter(|f| !f.is_empty()) {
        Some(f) => f,
        None => ctx.require_agent("reply")?,
    };
    let content = message_input(&args.message)?;
    let summary = clean_summary(&args.summary);
    let (thread, message) = ctx
        .store
        .reply(
            &args.thread,
            &from,
            args.to.as_deref().filter(|t| !t.is_empty()),
            args.kind.into(),
            &summary,
            &content,
        )
        .await?;
    let human = format!("replied on {} ({})", thread.thread_id, message.kind);
    Ok(thread_reply("reply", &thread, &message, human))
}
