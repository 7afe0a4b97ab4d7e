//! `orch wait`: reconciles, then blocks until a matching run event after the cursor,
//! reconciling again whenever another process commits. `--all` returns every matching
//! event after the cursor at once instead of the first.

use crate::cli::EventWaitArgs;
use crate::commands::{Ctx, csv, to_json, wait_for_events};
use crate::error::{Error, Result};
use crate::model::Event;
use crate::output::{Reply, clip};
use crate::store::EventFilter;
use clap::Args;
use serde_json::json;

/// The most events one `wait --all` returns; `next_event_id` resumes after the last.
const ALL_MAX: i64 = 1000;

#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    #[arg(long)]
    pub run: String,
    /// Comma-separated event types (default: any).
    #[arg(long = "for")]
    pub for_types: Option<String>,
    /// Return every matching event after the cursor (`data.events`, up to 1000), not
    /// only the first.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub wait: EventWaitArgs,
}

pub async fn run(ctx: &Ctx, args: WaitArgs) -> Result<Reply> {
    let run = args.run.as_str();
    ctx.store.run(run).await?;
    let filter = EventFilter {
        run_id: Some(run.to_string()),
        types: csv(args.for_types.as_deref()),
        ..EventFilter::default()
    };
    let limit = if args.all { ALL_MAX } else { 1 };
    let events = wait_for_events(ctx, &filter, &args.wait, limit).await?;
    let Some(last) = events.last() else {
        return Err(Error::no_matching_work(format!(
            "no matching event in run {run:?} within {} s",
            args.wait.timeout_seconds
        )));
    };
    let next = last.event_id;
    let human: String = events.iter().map(line).collect();
    let data = if args.all {
        let events: Vec<_> = events.iter().map(to_json).collect();
        json!({"woke": true, "events": events, "next_event_id": next})
    } else {
        json!({"woke": true, "event": to_json(last), "next_event_id": next})
    };
    Ok(Reply::new("wait", data, human))
}

/// One event as a line: id, type, task (if any), summary (if any).
fn line(event: &Event) -> String {
    let mut out = format!("event {} {}", event.event_id, event.event_type);
    if let Some(task) = event.subject.task_id.as_deref() {
        out.push_str(&format!(" {task}"));
    }
    if !event.summary.is_empty() {
        out.push_str(&format!(": {}", clip(&event.summary, 80)));
    }
    out + "\n"
}
