//! `inbox send`: starts a thread, or appends a message to one.

use super::thread_reply;
use crate::cli::MessageArgs;
use crate::commands::{Ctx, clean_summary, message_input};
use crate::error::{Error, Result};
use crate::model::{MessageKind, Priority};
use crate::output::Reply;
use crate::store::SendInput;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Sender (default: --agent).
    #[arg(long)]
    pub from: Option<String>,
    /// Recipient; becomes the thread's assignee.
    #[arg(long)]
    pub to: String,
    #[arg(long, default_value = "")]
    pub subject: String,
    /// Short summary (default: the subject).
    #[arg(long, default_value = "")]
    pub summary: String,
    #[command(flatten)]
    pub message: MessageArgs,
    #[arg(long)]
    pub run: Option<String>,
    #[arg(long)]
    pub task: Option<String>,
    /// Append to this thread (created when unknown).
    #[arg(long)]
    pub thread: Option<String>,
    /// Message kind.
    #[arg(long, value_enum, default_value_t = MessageKind::Task)]
    pub kind: MessageKind,
    /// low|normal|high|urgent.
    #[arg(long, value_enum, default_value_t = Priority::Normal)]
    pub priority: Priority,
}

pub async fn run(ctx: &Ctx, args: SendArgs) -> Result<Reply> {
    let from = match args.from.filter(|f| !f.is_empty()) {
        Some(f) => f,
        None => ctx.require_agent("send")?,
    };
    if args.to.is_empty() {
        return Err(Error::invalid_input("--to is empty"));
    }
    let content = message_input(&args.message)?;
    let (thread, message) = ctx
        .store
        .send(SendInput {
            from,
            to: args.to,
            subject: clean_summary(&args.subject),
            summary: clean_summary(&args.summary),
            content,
            run_id: args.run,
            task_id: args.task,
            thread_id: args.thread.filter(|t| !t.is_empty()),
            kind: args.kind,
            priority: args.priority,
        })
        .await?;
    let human = format!(
        "sent message {} on thread {}",
        message.message_id, thread.thread_id
    );
    Ok(thread_reply("send", &thread, &message, human))
}
