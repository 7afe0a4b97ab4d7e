//! `inbox done`: the caller finishes its thread successfully with a result.

use super::ReportArgs;
use crate::commands::Ctx;
use crate::error::Result;
use crate::model::ThreadStatus;
use crate::output::Reply;

pub async fn run(ctx: &Ctx, args: ReportArgs) -> Result<Reply> {
    super::report(ctx, "done", ThreadStatus::Done, args).await
}
