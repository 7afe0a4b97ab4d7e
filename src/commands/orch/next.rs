//! `orch next`: what needs the leader now (see [`crate::store::Need`]), oldest first, or
//! with `--wait` blocks until something does. Without `--after-event` every pending item
//! is returned; with it, the items that began after that event, so passing back the
//! reply's `next_event_id` returns each item once and skips none. One short line per item
//! (a question with its options), or compact JSON.

use crate::commands::{Ctx, deadline};
use crate::error::{Error, Result};
use crate::orchestration::presence;
use crate::output::Reply;
use crate::store::{ANCHOR_EVENTS, EventFilter, Need, NextView};
use clap::Args;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// How often a waiting `next` checks that the run's `orch up` is still alive (its
/// death writes nothing, and leaves ready tasks to the leader).
const UP_CHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Args)]
pub struct NextArgs {
    #[arg(long)]
    pub run: String,
    /// Block until something needs the leader.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 10); 0 waits forever.
    #[arg(long, default_value_t = 0, requires = "wait")]
    pub timeout_seconds: u64,
    /// Only what began after this event: the `next_event_id` of the previous reply
    /// (default: everything pending).
    #[arg(long)]
    pub after_event: Option<i64>,
}

pub async fn run(ctx: &Ctx, args: NextArgs) -> Result<Reply> {
    let run = args.run.as_str();
    ctx.store.run(run).await?;
    let after = match args.after_event {
        Some(n) if n < 0 => {
            return Err(Error::invalid_input(format!(
                "--after-event must be 0 or more, got {n}"
            )));
        }
        n => n.unwrap_or(0),
    };
    let deadline = deadline(args.timeout_seconds);
    let mut detector = ctx.store.change_detector().await?;
    loop {
        let up_live = presence::up_running(&ctx.store, run).await?;
        let view = ctx.store.needs_leader(run, after).await?;
        if !view.items.is_empty() || !args.wait {
            return Ok(reply(&args.run, view));
        }
        let waiting = Waiting {
            run,
            seen: view.next_event_id,
            up_live,
            deadline,
        };
        if !waiting.until_anchor(ctx, &mut detector).await? {
            return Err(Error::no_matching_work(format!(
                "nothing needed the leader in run {run:?} within {} s",
                args.timeout_seconds
            )));
        }
    }
}

/// A `next --wait` between two looks.
struct Waiting<'a> {
    run: &'a str,
    /// Events up to here were looked at.
    seen: i64,
    /// An `orch up` ran the run at the last look.
    up_live: bool,
    deadline: Option<Instant>,
}

impl Waiting<'_> {
    /// Sleeps until an event that can begin an item commits, or the run's `orch up`
    /// turns out to be gone; false when the deadline passes first.
    async fn until_anchor(
        &self,
        ctx: &Ctx,
        detector: &mut crate::store::ChangeDetector,
    ) -> Result<bool> {
        let anchors = EventFilter {
            run_id: Some(self.run.to_string()),
            types: ANCHOR_EVENTS.iter().map(|t| t.to_string()).collect(),
            ..EventFilter::default()
        };
        loop {
            let check_up = self.up_live.then(|| Instant::now() + UP_CHECK);
            let until = match (self.deadline, check_up) {
                (Some(d), Some(c)) => Some(d.min(c)),
                (d, c) => d.or(c),
            };
            if detector.wait(until).await? {
                if ctx.store.next_event(&anchors, self.seen).await?.is_some() {
                    return Ok(true);
                }
            } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            } else if self.up_live && !presence::up_running(&ctx.store, self.run).await? {
                return Ok(true);
            }
        }
    }
}

fn reply(run: &str, view: NextView) -> Reply {
    let mut human: String = view.items.iter().map(line).collect();
    if view.items.is_empty() {
        human.push_str(&format!("nothing needs you in run {run}\n"));
    }
    human.push_str(&format!("next: --after-event {}\n", view.next_event_id));
    Reply::new("next", view, human)
}

/// One item as text: one line, with an attempt's last lines indented below it.
fn line(item: &Need) -> String {
    match item {
        Need::Question {
            task_id,
            attempt_no,
            message_id,
            text,
            options,
            body_bytes,
            ..
        } => {
            let mut out =
                format!("question {task_id} attempt {attempt_no} message {message_id}: {text}");
            if !options.is_empty() {
                let options: Vec<String> = options.iter().map(option).collect();
                out.push_str(&format!(" [options: {}]", options.join(" | ")));
            }
            if let Some(n) = body_bytes {
                out.push_str(&format!(" (body: {n} bytes, in orch blocked)"));
            }
            out + "\n"
        }
        Need::GaveUp {
            task_id,
            attempts,
            why,
            last_lines,
            ..
        } => {
            format!("gave up {task_id} after {attempts} attempts: {why}\n") + &indented(last_lines)
        }
        Need::CheckFailed {
            task_id,
            attempt_no,
            check,
            last_lines,
            ..
        } => {
            format!("check failed {task_id} attempt {attempt_no}: {check}\n")
                + &indented(last_lines)
        }
        Need::Failed {
            task_id,
            attempt_no,
            why,
            ..
        } => format!("failed {task_id} attempt {attempt_no} (unsupervised): {why}\n"),
        Need::Ready { why, task_ids, .. } => {
            format!("ready ({why}; dispatch them): {}\n", task_ids.join(", "))
        }
        Need::RunFinished {
            summary, failed, ..
        } => {
            let mut out = format!("finished: {summary}");
            if !failed.is_empty() {
                out.push_str(&format!("; failed tasks: {}", failed.join(", ")));
            }
            out + "\n"
        }
    }
}

/// An option as the worker gave it: a string bare, anything else as JSON.
fn option(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn indented(lines: &[String]) -> String {
    lines.iter().map(|l| format!("  | {l}\n")).collect()
}
