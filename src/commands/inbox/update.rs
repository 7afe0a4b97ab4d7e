//! `inbox update`: the caller reports progress (`in_progress`) or asks a question
//! (`blocked`) on the thread it holds.

use super::ReportArgs;
use crate::cli::values::UpdateStatus;
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// in_progress|blocked.
    #[arg(long, value_enum, default_value = "in_progress")]
    pub status: UpdateStatus,
    #[command(flatten)]
    pub report: ReportArgs,
}

pub async fn run(ctx: &Ctx, args: UpdateArgs) -> Result<Reply> {
    super::report(ctx, "update", args.status.into(), args.report).await
}
