//! The `inbox` verbs (contract §4).

use super::render;
use super::{Ctx, clean_summary, csv_checked, deadline, message_input, parse_artifacts};
use crate::cli::inbox::InboxCommand;
use crate::error::{Error, Result};
use crate::model::{MessageKind, Priority, ThreadStatus};
use crate::output::Reply;
use crate::store::{EventFilter, FinishKind, MessageInput, SendInput, ThreadFilter};
use serde_json::json;

const DEFAULT_LEASE_SECONDS: i64 = 900;

fn lease_ms(seconds: i64) -> i64 {
    if seconds <= 0 {
        DEFAULT_LEASE_SECONDS
    } else {
        seconds
    }
    .saturating_mul(1000)
}

pub async fn run(ctx: &Ctx, command: InboxCommand) -> Result<Reply> {
    let store = &ctx.store;
    match command {
        InboxCommand::Init => Ok(Reply::new(
            "init",
            json!({"db_path": store.path().display().to_string(), "status": "initialized"}),
            format!("initialized {}", store.path().display()),
        )),
        InboxCommand::Send {
            from,
            to,
            subject,
            summary,
            message,
            run,
            task,
            thread,
            kind,
            priority,
        } => {
            let from = match from.filter(|f| !f.is_empty()) {
                Some(f) => f,
                None => ctx.require_agent("send")?,
            };
            let kind = MessageKind::parse(&kind).ok_or_else(|| {
                Error::invalid_input(format!(
                    "--kind {kind:?} is not one of {}",
                    MessageKind::choices()
                ))
            })?;
            let priority = Priority::parse(&priority).ok_or_else(|| {
                Error::invalid_input(format!(
                    "--priority {priority:?} is not one of {}",
                    Priority::choices()
                ))
            })?;
            if to.is_empty() {
                return Err(Error::invalid_input("--to is empty"));
            }
            let content = message_input(&message)?;
            let (thread, message) = store
                .send(SendInput {
                    from,
                    to,
                    subject: clean_summary(&subject),
                    summary: clean_summary(&summary),
                    content,
                    run_id: run,
                    task_id: task,
                    thread_id: thread.filter(|t| !t.is_empty()),
                    kind,
                    priority,
                })
                .await?;
            let human = format!(
                "sent message {} on thread {}",
                message.message_id, thread.thread_id
            );
            Ok(Reply::new(
                "send",
                json!({"thread": thread, "message": message}),
                human,
            ))
        }
        InboxCommand::Fetch {
            status,
            limit,
            unread,
        } => {
            let agent = ctx.require_agent("fetch")?;
            let statuses = thread_statuses(status.as_deref())?;
            let threads = store.fetch(&agent, &statuses, limit, unread).await?;
            let human = render::threads(&ctx.style, &threads);
            Ok(Reply::new("fetch", json!({"threads": threads}), human))
        }
        InboxCommand::Claim {
            thread,
            lease_seconds,
        } => {
            let agent = ctx.require_agent("claim")?;
            let (thread, message) = store
                .claim(&thread, &agent, lease_ms(lease_seconds))
                .await?;
            let human = format!("{agent} claimed {} ({})", thread.thread_id, message.summary);
            Ok(Reply::new(
                "claim",
                json!({"thread": thread, "message": message}),
                human,
            ))
        }
        InboxCommand::Renew {
            thread,
            lease_seconds,
        } => {
            let agent = ctx.require_agent("renew")?;
            let (thread, message) = store
                .renew(&thread, &agent, lease_ms(lease_seconds))
                .await?;
            let human = format!(
                "lease on {} renewed until {}",
                thread.thread_id,
                message.payload_json["lease_expires_at"]
                    .as_str()
                    .unwrap_or("")
            );
            Ok(Reply::new(
                "renew",
                json!({"thread": thread, "message": message}),
                human,
            ))
        }
        InboxCommand::Update {
            thread,
            status,
            summary,
            message,
        } => {
            let agent = ctx.require_agent("update")?;
            let status = match ThreadStatus::parse(&status) {
                Some(s @ (ThreadStatus::InProgress | ThreadStatus::Blocked)) => s,
                _ => {
                    return Err(Error::invalid_input(format!(
                        "--status {status:?} is not one of in_progress|blocked"
                    )));
                }
            };
            let content = message_input(&message)?;
            let summary = clean_summary(&summary);
            let (thread, message) = store
                .update(&thread, &agent, status, &summary, &content)
                .await?;
            let human = format!(
                "{} is {}: {}",
                thread.thread_id, thread.status, message.summary
            );
            Ok(Reply::new(
                "update",
                json!({"thread": thread, "message": message}),
                human,
            ))
        }
        InboxCommand::Reply {
            from,
            to,
            thread,
            kind,
            summary,
            message,
        } => {
            let from = match from.filter(|f| !f.is_empty()) {
                Some(f) => f,
                None => ctx.require_agent("reply")?,
            };
            let kind = match MessageKind::parse(&kind) {
                Some(k @ (MessageKind::Answer | MessageKind::Control)) => k,
                _ => {
                    return Err(Error::invalid_input(format!(
                        "--kind {kind:?} is not one of answer|control"
                    )));
                }
            };
            let content = message_input(&message)?;
            let summary = clean_summary(&summary);
            let (thread, message) = store
                .reply(
                    &thread,
                    &from,
                    to.as_deref().filter(|t| !t.is_empty()),
                    kind,
                    &summary,
                    &content,
                )
                .await?;
            let human = format!("replied on {} ({})", thread.thread_id, message.kind);
            Ok(Reply::new(
                "reply",
                json!({"thread": thread, "message": message}),
                human,
            ))
        }
        InboxCommand::Done {
            thread,
            summary,
            message,
        } => {
            finish(
                ctx,
                "done",
                FinishKind::Done,
                &thread,
                &clean_summary(&summary),
                message_input(&message)?,
            )
            .await
        }
        InboxCommand::Fail {
            thread,
            summary,
            message,
        } => {
            finish(
                ctx,
                "fail",
                FinishKind::Failed,
                &thread,
                &clean_summary(&summary),
                message_input(&message)?,
            )
            .await
        }
        InboxCommand::Cancel {
            thread,
            reason,
            artifact,
            artifact_kind,
            artifact_metadata_json,
        } => {
            let agent = ctx.agent.clone().unwrap_or_else(|| ctx.leader());
            let content = MessageInput {
                artifacts: parse_artifacts(&artifact, &artifact_kind, &artifact_metadata_json)?,
                ..MessageInput::default()
            };
            let (thread, message) = store
                .cancel_thread(&thread, &agent, &reason, &content)
                .await?;
            let human = format!("cancelled {}", thread.thread_id);
            Ok(Reply::new(
                "cancel",
                json!({"thread": thread, "message": message}),
                human,
            ))
        }
        InboxCommand::List {
            run,
            task,
            status,
            assigned_to,
            limit,
        } => {
            let threads = store
                .list_threads(&ThreadFilter {
                    run_id: run,
                    task_id: task,
                    statuses: thread_statuses(status.as_deref())?,
                    assigned_to,
                    limit,
                })
                .await?;
            let human = render::threads(&ctx.style, &threads);
            Ok(Reply::new("list", json!({"threads": threads}), human))
        }
        InboxCommand::Show { thread, mark_read } => {
            let reader = if mark_read {
                Some(ctx.require_agent("show --mark-read")?)
            } else {
                None
            };
            let (thread, messages, cursor) = store.show(&thread, reader.as_deref()).await?;
            let human = render::thread_with_messages(&ctx.style, &thread, &messages);
            let mut data = json!({"thread": thread, "messages": messages});
            if let Some(cursor) = cursor {
                data["read_cursor"] = json!(cursor);
            }
            Ok(Reply::new("show", data, human))
        }
        InboxCommand::Watch {
            status,
            after_event,
            timeout_seconds,
        } => watch(ctx, status.as_deref(), after_event, timeout_seconds).await,
        InboxCommand::WaitReply {
            thread,
            after_message,
            after_event,
            kinds,
            timeout_seconds,
        } => {
            wait_reply(
                ctx,
                &thread,
                after_message,
                after_event,
                &kinds,
                timeout_seconds,
            )
            .await
        }
    }
}

fn thread_statuses(value: Option<&str>) -> Result<Vec<String>> {
    csv_checked(
        value,
        "--status",
        |s| ThreadStatus::parse(s).is_some(),
        &ThreadStatus::choices(),
    )
}

async fn finish(
    ctx: &Ctx,
    command: &'static str,
    how: FinishKind,
    thread: &str,
    summary: &str,
    content: MessageInput,
) -> Result<Reply> {
    let agent = ctx.require_agent(command)?;
    let (thread, message) = ctx
        .store
        .finish(thread, &agent, how, summary, &content)
        .await?;
    let human = format!(
        "{} is {}: {}",
        thread.thread_id, thread.status, message.summary
    );
    Ok(Reply::new(
        command,
        json!({"thread": thread, "message": message}),
        human,
    ))
}

async fn watch(
    ctx: &Ctx,
    status: Option<&str>,
    after_event: Option<i64>,
    timeout_seconds: u64,
) -> Result<Reply> {
    let store = &ctx.store;
    let filter = EventFilter {
        assigned_to: ctx.agent.clone().filter(|a| !a.is_empty()),
        thread_statuses: thread_statuses(status)?,
        ..EventFilter::default()
    };
    let deadline = deadline(timeout_seconds);
    let mut detector = store.change_detector().await?;
    let cursor = match after_event {
        Some(n) => n,
        None => store.max_event_id().await?,
    };
    loop {
        if let Some(event) = store.next_event(&filter, cursor).await? {
            let thread = match &event.thread_id {
                Some(id) => Some(store.thread(id).await?),
                None => None,
            };
            let message = match event.message_id {
                Some(id) => Some(store.message(id).await?),
                None => None,
            };
            let human = format!(
                "event {} {} on {}",
                event.event_id,
                event.event_type,
                event.thread_id.as_deref().unwrap_or("-")
            );
            let next = event.event_id;
            return Ok(Reply::new(
                "watch",
                json!({"woke": true, "thread": thread, "message": message, "event": event, "next_event_id": next}),
                human,
            ));
        }
        if !detector.wait(deadline).await? {
            return Err(Error::no_matching_work(format!(
                "no matching event within {timeout_seconds} s"
            )));
        }
    }
}

async fn wait_reply(
    ctx: &Ctx,
    thread_id: &str,
    after_message: Option<i64>,
    after_event: Option<i64>,
    kinds: &str,
    timeout_seconds: u64,
) -> Result<Reply> {
    let store = &ctx.store;
    let kinds = csv_checked(
        Some(kinds),
        "--kinds",
        |k| MessageKind::parse(k).is_some(),
        &MessageKind::choices(),
    )?;
    if kinds.is_empty() {
        return Err(Error::invalid_input("--kinds is empty"));
    }
    let deadline = deadline(timeout_seconds);
    let mut detector = store.change_detector().await?;
    store.thread(thread_id).await?;
    if let Some(m) = after_message
        && !store.message_in_thread(thread_id, m).await?
    {
        return Err(Error::not_found(format!(
            "message {m} is not on thread {thread_id:?}"
        )));
    }
    let agent = ctx.agent.clone().filter(|a| !a.is_empty());
    // Default boundary (ours): after the caller's own latest progress or question on the
    // thread, so "ask, then wait" never misses an answer that came in between; without
    // one, now.
    let (after_event, after_message) = match (after_event, after_message) {
        (Some(n), m) => (n, m.unwrap_or(0)),
        (None, Some(m)) => (0, m),
        (None, None) => match &agent {
            Some(a) => match store
                .last_message_from(thread_id, a, &["progress", "question"])
                .await?
            {
                Some(m) => (0, m),
                None => (store.max_event_id().await?, 0),
            },
            None => (store.max_event_id().await?, 0),
        },
    };
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
                "no {} on thread {thread_id:?} within {timeout_seconds} s",
                kinds.join("/")
            )));
        }
    }
}
