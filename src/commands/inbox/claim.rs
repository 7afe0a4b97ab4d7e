//! `inbox claim`: the caller takes a pending thread (or one whose lease expired).

use super::{lease_ms, thread_reply};
use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ClaimArgs {
    #[arg(long, env = "ORCH_THREAD")]
    pub thread: String,
    /// Lease length; 0 or less means 900.
    #[arg(long, default_value_t = 900, allow_negative_numbers = true)]
    pub lease_seconds: i64,
}

pub async fn run(ctx: &Ctx, args: ClaimArgs) -> Result<Reply> {
    let agent = ctx.require_agent("claim")?;
    let (thread, message) = ctx
        .store
        .claim(&args.thread, &agent, lease_ms(args.lease_seconds))
        .await?;
    let human = format!("{agent} claimed {} ({})", thread.thread_id, message.summary);
    Ok(thread_reply("claim", &thread, &message, human))
}
