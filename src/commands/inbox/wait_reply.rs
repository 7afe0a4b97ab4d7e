//! `inbox wait-reply`: blocks until a reply of the kinds asked for arrives on a thread,
//! after a boundary (by default the caller's own latest progress or question).

use super::DEFAULT_LEASE_SECONDS;
use crate::commands::{Ctx, deadline, render, to_strings};
use crate::error::{Error, Result};
use crate::model::MessageKind;
use crate::output::Reply;
use crate::store::Store;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct WaitReplyArgs {
    #[arg(long, env = "ORCH_THREAD")]
    pub thread: String,
    /// Only messages after this one (must be on the thread).
    #[arg(long)]
    pub after_message: Option<i64>,
    /// Only messages after this event id (default: now).
    #[arg(long)]
    pub after_event: Option<i64>,
    /// Comma-separated message kinds.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "answer,control,result"
    )]
    pub kinds: Vec<MessageKind>,
    /// 0 waits forever.
    #[arg(long, default_value_t = 0)]
    pub timeout_seconds: u64,
}

pub async fn run(ctx: &Ctx, args: WaitReplyArgs) -> Result<Reply> {
    let store = &ctx.store;
    let thread_id = args.thread.as_str();
    let kinds = to_strings(&args.kinds);
    if kinds.is_empty() {
        return Err(Error::invalid_input("--kinds is empty"));
    }
    let deadline = deadline(args.timeout_seconds);
    let mut detector = store.change_detector().await?;
    store.thread(thread_id).await?;
    if let Some(m) = args.after_message
        && !store.message_in_thread(thread_id, m).await?
    {
        return Err(Error::not_found(format!(
            "message {m} is not on thread {thread_id:?}"
        )));
    }
    let agent = ctx.agent.clone().filter(|a| !a.is_empty());
    let (after_event, after_message) = boundary(
        store,
        thread_id,
        agent.as_deref(),
        args.after_event,
        args.after_message,
    )
    .await?;
    loop {
        if let Some((event_id, message)) = store
            .next_reply(
                thread_id,
                &kinds,
                after_event,
                after_message,
                agent.as_deref(),
            )
            .await?
        {
            if let Some(agent) = &agent {
                store
                    .rearm_lease_after_wait(thread_id, agent, DEFAULT_LEASE_SECONDS * 1000)
                    .await?;
            }
            let human = render::message_line(&ctx.style, &message);
            return Ok(Reply::new(
                "wait-reply",
                json!({"woke": true, "message": message, "next_event_id": event_id}),
                human,
            ));
        }
        if !detector.wait(deadline).await? {
            return Err(Error::no_matching_work(format!(
                "no {} on thread {thread_id:?} within {} s",
                kinds.join("/"),
                args.timeout_seconds
            )));
        }
    }
}

/// Where waiting starts: `(after_event, after_message)`. Default (ours): after the
/// caller's own latest progress or question on the thread, so "ask, then wait" never
/// misses an answer that came in between; without one, now.
async fn boundary(
    store: &Store,
    thread_id: &str,
    agent: Option<&str>,
    after_event: Option<i64>,
    after_message: Option<i64>,
) -> Result<(i64, i64)> {
    Ok(match (after_event, after_message) {
        (Some(n), m) => (n, m.unwrap_or(0)),
        (None, Some(m)) => (0, m),
        (None, None) => match agent {
            Some(a) => match store
                .last_message_from(thread_id, a, &["progress", "question"])
                .await?
            {
                Some(m) => (0, m),
                None => (store.max_event_id().await?, 0),
            },
            None => (store.max_event_id().await?, 0),
        },
    })
}
