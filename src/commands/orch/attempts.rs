//! `orch attempts`: the attempts of a task (or the run) with how each was supervised
//! and how it ended (the output tail left out unless `--bodies`), and, when the run
//! has attempts on another host than this one, the host of each.

use crate::commands::Ctx;
use crate::commands::rows::{AttemptRow, SupervisionRow};
use crate::error::Result;
use crate::output::Reply;
use clap::Args;
use serde::Serialize;

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

/// The reply's data, serialized straight to text (fields by name, see
/// [`crate::commands::rows`]).
#[derive(Serialize)]
struct Attempts<'a> {
    attempts: Vec<AttemptWithSupervision<'a>>,
}

#[derive(Serialize)]
struct AttemptWithSupervision<'a> {
    attempt: AttemptRow<'a>,
    supervision: SupervisionRow<'a>,
}

pub async fn run(ctx: &Ctx, args: AttemptsArgs) -> Result<Reply> {
    let mut records = Vec::new();
    for attempt in ctx.store.attempts(&args.run, args.task.as_deref()).await? {
        let (_, supervision) = ctx.store.attempt_by_thread(&attempt.thread_id).await?;
        records.push((attempt, supervision));
    }
    let hosts =
        crate::commands::render::shows_hosts(records.iter().map(|(_, s)| s.host.as_deref()));
    let mut human = String::new();
    for (attempt, supervision) in &records {
        human.push_str(&format!(
            "{} attempt {} {}{} {} {}{}\n",
            attempt.task_id,
            attempt.attempt_no,
            attempt.assigned_to,
            match (&supervision.host, &supervision.taken_by) {
                (Some(host), Some(by)) if hosts => format!(" on {host} (taken over by {by})"),
                (Some(host), None) if hosts => format!(" on {host}"),
                _ => String::new(),
            },
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
    }
    let attempts = records
        .iter()
        .map(|(attempt, supervision)| AttemptWithSupervision {
            attempt: AttemptRow::new(attempt),
            supervision: SupervisionRow::new(supervision, args.bodies),
        })
        .collect();
    Ok(Reply::new("attempts", Attempts { attempts }, human))
}
