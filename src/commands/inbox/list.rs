//! `inbox list`: threads matching filters.

use crate::commands::{Ctx, render, to_strings};
use crate::error::Result;
use crate::model::ThreadStatus;
use crate::output::Reply;
use crate::store::ThreadFilter;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub run: Option<String>,
    #[arg(long)]
    pub task: Option<String>,
    /// Comma-separated thread statuses.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub status: Vec<ThreadStatus>,
    #[arg(long)]
    pub assigned_to: Option<String>,
    #[arg(long)]
    pub limit: Option<i64>,
}

pub async fn run(ctx: &Ctx, args: ListArgs) -> Result<Reply> {
    let threads = ctx
        .store
        .list_threads(&ThreadFilter {
            run_id: args.run,
            task_id: args.task,
            statuses: to_strings(&args.status),
            assigned_to: args.assigned_to,
            limit: args.limit,
        })
        .await?;
    let human = render::threads(&ctx.style, &threads);
    Ok(Reply::new("list", json!({"threads": threads}), human))
}
