//! `inbox done`: the caller finishes its thread successfully with a result.

use super::FinishArgs;
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;
use crate::store::FinishKind;

pub async fn run(ctx: &Ctx, args: FinishArgs) -> Result<Reply> {
    super::finish(ctx, "done", FinishKind::Done, args).await
}
