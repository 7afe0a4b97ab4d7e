//! `orch verify record`: records one check's result; the gate decides the task.

use crate::cli::values::CheckResult;
use crate::commands::{Ctx, render};
use crate::error::Result;
use crate::output::Reply;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct VerifyRecordArgs {
    #[arg(long)]
    pub run: String,
    #[arg(long)]
    pub task: String,
    #[arg(long)]
    pub check: String,
    #[arg(long, value_enum)]
    pub status: CheckResult,
    #[arg(long, default_value = "")]
    pub details: String,
}

pub async fn run(ctx: &Ctx, args: VerifyRecordArgs) -> Result<Reply> {
    let (task, gate) = ctx
        .store
        .record_check(
            &args.run,
            &args.task,
            &args.check,
            args.status == CheckResult::Passed,
            &args.details,
            &ctx.leader(),
        )
        .await?;
    let human = format!(
        "{}\ntask {} is {}",
        render::gate(&ctx.style, &task.task_id, &gate),
        task.task_id,
        task.status
    );
    Ok(Reply::new(
        "record",
        json!({"task": task, "gate": gate}),
        human,
    ))
}
