//! `orch supervise` (hidden): the supervisor of one attempt, started detached by
//! `dispatch --launch`, `launch` and `up`, or started ahead of need by `orch up` on
//! PostgreSQL (`--standby`: it reads its attempt and its log from stdin,
//! [`crate::orchestration::standby`]). Its diagnostics go to its stderr.

use crate::commands::Ctx;
use crate::error::{Error, IoContext, Result};
use crate::output::Reply;
use crate::supervisor::{self, StopSignals};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use tokio::io::AsyncBufReadExt;

#[derive(Debug, Clone, Args)]
pub struct SuperviseArgs {
    /// The attempt's thread id.
    #[arg(long, required_unless_present = "standby", conflicts_with = "standby")]
    pub attempt: Option<String>,
    /// Wait for the attempt on stdin: one line, `THREAD<TAB>LOG`, the log this
    /// supervisor's output goes to from then on. Leaves on end of input.
    #[arg(long)]
    pub standby: bool,
}

pub async fn run(ctx: &Ctx, args: SuperviseArgs) -> Result<Reply> {
    let (attempt, signals) = match args.attempt {
        Some(attempt) => (attempt, None),
        None => {
            let mut signals = StopSignals::install()?;
            ctx.store.warm_up_supervision().await;
            eprintln!(
                "standby supervisor {}: waiting for an attempt",
                std::process::id()
            );
            match standby(&mut signals).await? {
                Some(attempt) => (attempt, Some(signals)),
                None => {
                    return Ok(Reply::new(
                        "supervise",
                        json!({"attempt": null}),
                        String::new(),
                    ));
                }
            }
        }
    };
    crate::redact::trace_to_stderr("info");
    tracing::info!(
        attempt = %attempt,
        pid = std::process::id(),
        standby = signals.is_some(),
        "supervisor starting"
    );
    if let Err(e) = supervisor::supervise(&ctx.store, &attempt, signals).await {
        tracing::error!(error = %e, "supervision failed");
        return Err(e);
    }
    Ok(Reply::new(
        "supervise",
        json!({"attempt": attempt}),
        String::new(),
    ))
}

/// Waits for the standby's attempt; None on end of input or a stop signal (no attempt
/// was handed). Output goes to the attempt's supervisor log from then on.
async fn standby(signals: &mut StopSignals) -> Result<Option<String>> {
    let mut line = String::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    tokio::select! {
        read = stdin.read_line(&mut line) => {
            read.doing("cannot read the standby's attempt")?;
        }
        () = signals.recv() => return Ok(None),
    }
    let Some((thread, log)) = line.trim_end_matches('\n').split_once('\t') else {
        if line.is_empty() {
            return Ok(None);
        }
        return Err(Error::invalid_input(format!(
            "a standby supervisor reads THREAD<TAB>LOG on one line; got {line:?}"
        )));
    };
    crate::process::detach::redirect_output(&PathBuf::from(log))?;
    Ok(Some(thread.to_string()))
}
