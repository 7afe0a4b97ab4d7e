//! `inbox fail`: the caller finishes its thread as failed with a result.

use super::FinishArgs;
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;
use crate::store::FinishKind;

pub async fn run(ctx: &Ctx, args: FinishArgs) -> Result<Reply> {
    super::finish(ctx, "fail", FinishKind::Failed, args).await
}
