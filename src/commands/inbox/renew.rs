//! `inbox renew`: extends the caller's lease on its thread.

use super::{lease_ms, thread_reply};
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct RenewArgs {
    #[arg(long, env = "ORCH_THREAD")]
    pub thread: String,
    #[arg(long, default_value_t = 900, allow_negative_numbers = true)]
    pub lease_seconds: i64,
}

pub async fn run(ctx: &Ctx, args: RenewArgs) -> Result<Reply> {
    let agent = ctx.require_agent("renew")?;
    let (thread, message) = ctx
        .store
        .renew(&args.thread, &agent, lease_ms(args.lease_seconds))
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
