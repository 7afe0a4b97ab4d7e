//! `orch supervise` (hidden): the supervisor of one attempt, started detached by
//! `dispatch --launch`, `launch` and `up`. Its diagnostics go to its stderr.

use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;
use crate::supervisor;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct SuperviseArgs {
    /// The attempt's thread id.
    #[arg(long)]
    pub attempt: String,
}

pub async fn run(ctx: &Ctx, args: SuperviseArgs) -> Result<Reply> {
    let attempt = args.attempt;
    crate::redact::trace_to_stderr("info");
    tracing::info!(attempt = %attempt, pid = std::process::id(), "supervisor starting");
    if let Err(e) = supervisor::supervise(&ctx.store, &attempt).await {
        tracing::error!(error = %e, "supervision failed");
        return Err(e);
    }
    Ok(Reply::new(
        "supervise",
        json!({"attempt": attempt}),
        String::new(),
    ))
}
