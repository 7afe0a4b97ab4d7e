//! `inbox renew`: extends the caller's lease on its thread.

use super::{LeaseArgs, thread_reply};
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;

pub async fn run(ctx: &Ctx, args: LeaseArgs) -> Result<Reply> {
    let agent = ctx.require_agent("renew")?;
    let (thread, message) = ctx
        .store
        .renew(&args.thread, &agent, args.lease_ms())
        .await?;
    let human = format!(
        "lease on {} renewed until {}",
        thread.thread_id,
        message.payload_json["lease_expires_at"]
            .as_str()
            .unwrap_or("")
    );
    Ok(thread_reply("renew", &thread, &message, human))
}
