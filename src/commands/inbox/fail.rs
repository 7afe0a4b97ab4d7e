//! `inbox fail`: the caller finishes its thread as failed with a result.

use super::ReportArgs;
use crate::commands::Ctx;
use crate::error::Result;
use crate::model::ThreadStatus;
use crate::output::Reply;

pub async fn run(ctx: &Ctx, args: ReportArgs) -> Result<Reply> {
    super::report(ctx, "fail", ThreadStatus::Failed, args).await
}
