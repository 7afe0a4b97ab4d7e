//! `inbox show`: a thread with its messages and artifacts; `--mark-read` advances the
//! caller's read cursor.

use crate::commands::{Ctx, render};
use crate::error::Result;
use crate::output::Reply;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    #[arg(long, env = "ORCH_THREAD")]
    pub thread: String,
    /// Advance the caller's read cursor to the last message.
    #[arg(long)]
    pub mark_read: bool,
}

pub async fn run(ctx: &Ctx, args: ShowArgs) -> Result<Reply> {
    let reader = if args.mark_read {
        Some(ctx.require_agent("show --mark-read")?)
    } else {
        None
    };
    let (thread, messages, cursor) = ctx.store.show(&args.thread, reader.as_deref()).await?;
    let human = render::thread_with_messages(&ctx.style, &thread, &messages);
    let mut data = json!({"thread": thread, "messages": messages});
    if let Some(cursor) = cursor {
        data["read_cursor"] = json!(cursor);
    }
    Ok(Reply::new("show", data, human))
}
