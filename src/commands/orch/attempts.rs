//! `orch attempts`: the attempts of a task (or the run) with how each was supervised
//! and how it ended (the output tail left out unless `--bodies`), where a code attempt's
//! branch was pushed when pushing is on (`push`, issue 13), and, when the run has
//! attempts on another host than this one, the host of each.

use crate::commands::Ctx;
use crate::commands::rows::{AttemptRow, SupervisionRow};
use crate::error::Result;
use crate::output::Reply;
use crate::store::{AttemptPush, PushState};
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
    /// Absent when pushing was off for the attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    push: Option<&'a AttemptPush>,
}

pub async fn run(ctx: &Ctx, args: AttemptsArgs) -> Result<Reply> {
    let mut supervised = Vec::new();
    for attempt in ctx.store.attempts(&args.run, args.task.as_deref()).await? {
        let (_, supervision) = ctx.store.attempt_by_thread(&attempt.thread_id).await?;
        supervised.push((attempt, supervision));
    }
    // Read after the attempts' ends: a supervisor records its push before the end, so
    // an attempt shown ended never shows a push still pending (read first, the pushes
    // could predate an end read later).
    let mut pushes = ctx.store.run_pushes(&args.run).await?;
    let records: Vec<_> = supervised
        .into_iter()
        .map(|(attempt, supervision)| {
            let push = pushes.remove(&attempt.thread_id);
            (attempt, supervision, push)
        })
        .collect();
    let hosts =
        crate::commands::render::shows_hosts(records.iter().map(|(_, s, _)| s.host.as_deref()));
    let mut human = String::new();
    for (attempt, supervision, push) in &records {
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
        if let Some(line) = push.as_ref().map(push_line) {
            human.push_str(&format!("  {line}\n"));
        }
    }
    let attempts = records
        .iter()
        .map(|(attempt, supervision, push)| AttemptWithSupervision {
            attempt: AttemptRow::new(attempt),
            supervision: SupervisionRow::new(supervision, args.bodies),
            push: push.as_ref(),
        })
        .collect();
    Ok(Reply::new("attempts", Attempts { attempts }, human))
}

/// An attempt's push as a line: `pushed BRANCH to REMOTE at COMMIT`, …
fn push_line(push: &AttemptPush) -> String {
    let (remote, branch) = (&push.remote, &push.branch);
    match push.state {
        PushState::Pending => format!("push of {branch} to {remote}: pending"),
        PushState::Pushed => format!(
            "pushed {branch} to {remote} at {}",
            push.commit.as_deref().unwrap_or("")
        ),
        PushState::Failed => format!(
            "push of {branch} to {remote} failed: {}",
            one_line(push.error.as_deref().unwrap_or(""))
        ),
        PushState::NoCommits => format!("not pushed to {remote}: no commits on {branch}"),
    }
}

/// git's words on one line: each non-empty line, trimmed, joined by `; `.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ")
}
