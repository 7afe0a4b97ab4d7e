//! `orch attempts`: the attempts of a task (or the run) with how each was supervised
//! and how it ended (the output tail left out unless `--bodies`).

use crate::commands::Ctx;
use crate::error::Result;
use crate::output::Reply;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct AttemptsArgs {
    #[arg(long)]
    pub run: String,
    #[arg(long)]
    pub task: Option<String>,
    /// Print each attempt's output tail in full. By default it is left out and
    /// `output_tail_bytes` says how long it is (`orch logs` prints the output).
    #[arg(long)]
    pub bodies: bool,
}

pub async fn run(ctx: &Ctx, args: AttemptsArgs) -> Result<Reply> {
    let mut rows = Vec::new();
    let mut human = String::new();
    for attempt in ctx.store.attempts(&args.run, args.task.as_deref()).await? {
        let (_, supervision) = ctx.store.attempt_by_thread(&attempt.thread_id).await?;
        human.push_str(&format!(
            "{} attempt {} {} {} {}{}\n",
            attempt.task_id,
            attempt.attempt_no,
            attempt.assigned_to,
            ctx.style.status(attempt.status),
            supervision
                .outcome
                .map_or("-", crate::model::AttemptOutcome::as_str),
            if supervision.end.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", supervision.end.reason)
            }
        ));
        let mut supervision = json!(supervision);
        if !args.bodies {
            crate::commands::frugal::elide(&mut supervision, "output_tail");
        }
        rows.push(json!({"attempt": attempt, "supervision": supervision}));
    }
    Ok(Reply::new("attempts", json!({"attempts": rows}), human))
}
