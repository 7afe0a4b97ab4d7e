//! `inbox renew`: extends the caller's lease on its thread.

use super::{LeaseArgs, LeaseStep, thread_reply};
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;

pub async fn run(ctx: &Ctx, args: LeaseArgs) -> Result<Reply> {
    let (_, thread, message) = args.lease(ctx, LeaseStep::Renew).await?;
    let until = &message.payload_json["lease_expires_at"];
    let human = format!(
        "lease on {} renewed until {}",
        thread.thread_id,
        until.as_str().unwrap_or("")
    );
    Ok(thread_reply("renew", &thread, &message, human))
}
