//! `inbox claim`: the caller takes a pending thread (or one whose lease expired).

use super::{LeaseArgs, thread_reply};
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;

pub async fn run(ctx: &Ctx, args: LeaseArgs) -> Result<Reply> {
    let agent = ctx.require_agent("claim")?;
    let (thread, message) = ctx
        .store
        .claim(&args.thread, &agent, args.lease_ms())
        .await?;
    let human = format!("{agent} claimed {} ({})", thread.thread_id, message.summary);
    Ok(thread_reply("claim", &thread, &message, human))
}
