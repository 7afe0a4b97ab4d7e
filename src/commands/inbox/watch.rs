//! `inbox watch`: blocks until an event on the caller's threads.

use crate::cli::EventWaitArgs;
use crate::commands::{Ctx, to_strings, wait_for_event};
use crate::error::{Error, Result};
use crate::model::ThreadStatus;
use crate::output::Reply;
use crate::store::EventFilter;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Comma-separated thread statuses (after the event).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub status: Vec<ThreadStatus>,
    #[command(flatten)]
    pub wait: EventWaitArgs,
}

pub async fn run(ctx: &Ctx, args: WatchArgs) -> Result<Reply> {
    let store = &ctx.store;
    let filter = EventFilter {
        assigned_to: ctx.agent.clone().filter(|a| !a.is_empty()),
        thread_statuses: to_strings(&args.status),
        ..EventFilter::default()
    };
    let Some(event) = wait_for_event(ctx, &filter, &args.wait).await? else {
        return Err(Error::no_matching_work(format!(
            "no matching event within {} s",
            args.wait.timeout_seconds
        )));
    };
    let thread = match &event.subject.thread_id {
        Some(id) => Some(store.thread(id).await?),
        None => None,
    };
    let message = match event.subject.message_id {
        Some(id) => Some(store.message(id).await?),
        None => None,
    };
    let human = format!(
        "event {} {} on {}",
        event.event_id,
        event.event_type,
        event.subject.thread_id.as_deref().unwrap_or("-")
    );
    let next = event.event_id;
    Ok(Reply::new(
        "watch",
        json!({"woke": true, "thread": thread, "message": message, "event": event, "next_event_id": next}),
        human,
    ))
}
