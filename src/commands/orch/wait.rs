//! `orch wait`: reconciles, then blocks until a matching run event after the cursor,
//! reconciling again whenever another process commits.

use crate::cli::EventWaitArgs;
use crate::commands::{Ctx, csv, to_json, wait_for_event};
use crate::error::{Error, Result};
use crate::output::{Reply, clip};
use crate::store::EventFilter;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    #[arg(long)]
    pub run: String,
    /// Comma-separated event types (default: any).
    #[arg(long = "for")]
    pub for_types: Option<String>,
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
    let Some(event) = wait_for_event(ctx, &filter, &args.wait).await? else {
        return Err(Error::no_matching_work(format!(
            "no matching event in run {run:?} within {} s",
            args.wait.timeout_seconds
        )));
    };
    let human = format!(
        "event {} {} {}{}",
        event.event_id,
        event.event_type,
        event.subject.task_id.as_deref().unwrap_or(""),
        if event.summary.is_empty() {
            String::new()
        } else {
            format!(": {}", clip(&event.summary, 80))
        }
    );
    let next = event.event_id;
    Ok(Reply::new(
        "wait",
        json!({"woke": true, "event": to_json(&event), "next_event_id": next}),
        human,
    ))
}
