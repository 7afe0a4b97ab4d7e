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
    init_tracing();
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

/// Diagnostics of the supervisor go to its stderr (the `.supervisor.log` file), at the
/// level `RUST_LOG` says (default `info`), secrets redacted ([`crate::redact::process`]).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::redact::RedactingWriter(std::io::stderr()))
        .with_ansi(false)
        .try_init();
}
