//! `inbox claim`: the caller takes a pending thread (or one whose lease expired).

use super::{LeaseArgs, LeaseStep, thread_reply};
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;

pub async fn run(ctx: &Ctx, args: LeaseArgs) -> Result<Reply> {
    let (agent, thread, message) = args.lease(ctx, LeaseStep::Claim).await?;
    let human = format!("{agent} claimed {} ({})", thread.thread_id, message.summary);
    Ok(thread_reply("claim", &thread, &message, human))
}
