//! `inbox fetch`: the threads assigned to the caller, newest first.

use crate::commands::{Ctx, render, to_strings};
use crate::error::Result;
use crate::model::ThreadStatus;
use crate::output::Reply;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct FetchArgs {
    /// Comma-separated thread statuses.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub status: Vec<ThreadStatus>,
    #[arg(long)]
    pub limit: Option<i64>,
    /// Only threads with messages past the agent's read cursor.
    #[arg(long)]
    pub unread: bool,
}

pub async fn run(ctx: &Ctx, args: FetchArgs) -> Result<Reply> {
    let agent = ctx.require_agent("fetch")?;
    let statuses = to_strings(&args.status);
    let threads = ctx
        .store
        .fetch(&agent, &statuses, args.limit, args.unread)
        .await?;
    let human = render::threads(&ctx.style, &threads);
    Ok(Reply::new("fetch", json!({"threads": threads}), human))
}
