//! Thread primitives used inside transactions: loading and inserting threads and
//! messages (with artifacts), leases, and the shared reply and cancel steps. The inbox
//! verbs ([`super::inbox`]) and orch's attempt verbs build on these.

use super::NotFound;
use super::events::{self, NewEvent};
use super::rows;
use super::{Db, Row, args, execute, fetch_all, fetch_record, scalar_one, sql};
use crate::error::{Error, Result};
use crate::model::{Artifact, Message, MessageKind, Priority, Thread, ThreadStatus};
use crate::time::rfc3339;
use serde_json::{Value, json};

/// The content of a message: body, payload object and artifacts (contract §3), already
/// validated by the caller.
#[derive(Debug, Clone, Default)]
pub struct MessageInput {
    pub body: String,
    pub payload: Value,
    pub artifacts: Vec<Artifact>,
}

impl MessageInput {
    /// A message that carries only a payload.
    pub fn payload(payload: Value) -> Self {
        MessageInput {
            payload,
            ..MessageInput::default()
        }
    }

    fn payload_object(&self) -> Value {
        match &self.payload {
            Value::Null => json!({}),
            other => other.clone(),
        }
    }
}

/// `inbox send`.
#[derive(Debug, Clone)]
pub struct SendInput {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub summary: String,
    pub content: MessageInput,
    pub run_id: Option<String>,
    pub task_id: Option<String>,
    pub thread_id: Option<String>,
    pub kind: MessageKind,
    pub priority: Priority,
}

/// How a worker finishes a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishKind {
    Done,
    Failed,
}

impl From<FinishKind> for ThreadStatus {
    fn from(how: FinishKind) -> ThreadStatus {
        match how {
            FinishKind::Done => ThreadStatus::Done,
            FinishKind::Failed => ThreadStatus::Failed,
        }
    }
}

/// What a thread's lease owner reports ([`Store::report`](super::Store::report)): the
/// thread's new status, and the message saying so.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub thread_id: &'a str,
    pub agent: &'a str,
    /// `in_progress` or `blocked` (`inbox update`), `done` or `failed` (the result).
    pub status: ThreadStatus,
    pub summary: &'a str,
    pub content: &'a MessageInput,
}

/// Filters of `inbox list`.
#[derive(Debug, Clone, Default)]
pub struct ThreadFilter {
    pub run_id: Option<String>,
    pub task_id: Option<String>,
    pub statuses: Vec<String>,
    pub assigned_to: Option<String>,
    pub limit: Option<i64>,
}

/// A message to write on a thread.
pub(crate) struct NewMessage<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub kind: MessageKind,
    pub summary: String,
    pub content: &'a MessageInput,
}

impl<'a> NewMessage<'a> {
    /// A report from the one working the thread (or its supervisor) to its creator.
    pub fn to_creator(
        thread: &'a Thread,
        from: &'a str,
        kind: MessageKind,
        summary: String,
        content: &'a MessageInput,
    ) -> Self {
        NewMessage {
            from,
            to: &thread.created_by,
            kind,
            summary,
            content,
        }
    }
}

/// The default summary of a message with none: the first line of its body, shortened.
pub(crate) fn summary_or_first_line(summary: &str, body: &str) -> String {
    if !summary.is_empty() {
        return summary.to_string();
    }
    let line = body
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.chars().count() > 120 {
        let cut: String = line.chars().take(119).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

pub(crate) async fn load_thread(conn: &mut Db<'_>, thread_id: &str) -> Result<Thread> {
    find_thread(conn, thread_id)
        .await?
        .ok_or_else(|| NotFound::thread(thread_id).into())
}

/// A thread that `verb` may write to: it exists and is not terminal.
pub(crate) async fn open_thread(conn: &mut Db<'_>, thread_id: &str, verb: &str) -> Result<Thread> {
    let thread = load_thread(conn, thread_id).await?;
    require_open(&thread, verb)?;
    Ok(thread)
}

pub(crate) async fn find_thread(conn: &mut Db<'_>, thread_id: &str) -> Result<Option<Thread>> {
    fetch_record(
        conn,
        sql!("SELECT thread_id, run_id, task_id, subject, created_by, assigned_to, status, priority, created_at, updated_at
              FROM threads WHERE thread_id = $1"),
        args![thread_id],
        rows::thread,
    )
    .await
}

/// Inserts a thread row.
pub(crate) async fn insert_thread(conn: &mut Db<'_>, thread: &Thread) -> Result<()> {
    execute(
        conn,
        sql!("INSERT INTO threads (thread_id, run_id, task_id, subject, created_by, assigned_to, status, priority, created_at, updated_at)
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
        args![
            &thread.thread_id,
            &thread.run_id,
            &thread.task_id,
            &thread.subject,
            &thread.created_by,
            &thread.assigned_to,
            thread.status.as_str(),
            thread.priority.as_str(),
            thread.created_at,
            thread.updated_at,
        ],
    )
    .await?;
    Ok(())
}

/// Sets a thread's status and assignee (and touches it).
pub(crate) async fn set_thread_state(
    conn: &mut Db<'_>,
    thread: &mut Thread,
    status: ThreadStatus,
    assigned_to: &str,
    now: i64,
) -> Result<()> {
    execute(
        conn,
        sql!(
            "UPDATE threads SET status = $1, assigned_to = $2, updated_at = $3 WHERE thread_id = $4"
        ),
        args![status.as_str(), assigned_to, now, &thread.thread_id],
    )
    .await?;
    thread.status = status;
    thread.assigned_to = assigned_to.to_string();
    thread.updated_at = now;
    Ok(())
}

/// Appends `message` to `thread` with the event that announces it: `event_type` on the
/// thread (its status and assignee as they are now), with the message's summary and
/// `payload`. What every inbox verb writes.
pub(crate) async fn post(
    conn: &mut Db<'_>,
    thread: &Thread,
    message: NewMessage<'_>,
    event_type: &'static str,
    payload: Value,
    now: i64,
) -> Result<Message> {
    let message = insert_message(conn, &thread.thread_id, message, now).await?;
    let event = NewEvent::new(event_type)
        .on_thread(thread)
        .message(&message)
        .summary(message.summary.clone())
        .payload(payload);
    events::insert(conn, event, now).await?;
    Ok(message)
}

/// Appends a message (and its artifacts) to a thread and touches the thread.
pub(crate) async fn insert_message(
    conn: &mut Db<'_>,
    thread_id: &str,
    new: NewMessage<'_>,
    now: i64,
) -> Result<Message> {
    let payload = new.content.payload_object();
    let message_id: i64 = scalar_one(
        &mut *conn,
        sql!("INSERT INTO messages (thread_id, from_agent, to_agent, kind, summary, body, payload_json, created_at)
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING message_id"),
        args![
            thread_id,
            new.from,
            new.to,
            new.kind.as_str(),
            &new.summary,
            &new.content.body,
            payload.to_string(),
            now,
        ],
    )
    .await?;
    for artifact in &new.content.artifacts {
        execute(
            &mut *conn,
            sql!("INSERT INTO artifacts (message_id, path, kind, metadata_json) VALUES ($1, $2, $3, $4)"),
            args![
                message_id,
                &artifact.path,
                &artifact.kind,
                artifact.metadata.to_string()
            ],
        )
        .await?;
    }
    execute(
        &mut *conn,
        sql!("UPDATE threads SET last_message_id = $1, updated_at = $2 WHERE thread_id = $3"),
        args![message_id, now, thread_id],
    )
    .await?;
    Ok(Message {
        message_id,
        thread_id: thread_id.to_string(),
        from_agent: new.from.to_string(),
        to_agent: new.to.to_string(),
        kind: new.kind,
        summary: new.summary,
        body: new.content.body.clone(),
        payload_json: payload,
        created_at: now,
        artifacts: new.content.artifacts.clone(),
    })
}

/// Fills the artifacts of messages read from the database.
pub(crate) async fn attach_artifacts(conn: &mut Db<'_>, messages: &mut [Message]) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = messages.iter().map(|m| m.message_id).collect();
    let rows = fetch_all(
        conn,
        sql!(
            "SELECT message_id, path, kind, metadata_json FROM artifacts
             WHERE message_id IN (SELECT CAST(value AS BIGINT) FROM json_each($1)) ORDER BY id"
        ),
        args![serde_json::to_string(&ids).unwrap_or_default()],
    )
    .await?;
    for row in &rows {
        let (message_id, artifact) = rows::artifact(row)?;
        if let Some(m) = messages.iter_mut().find(|m| m.message_id == message_id) {
            m.artifacts.push(artifact);
        }
    }
    Ok(())
}

/// The active lease of a thread: unreleased and unexpired.
pub(crate) struct Lease {
    pub id: i64,
    pub agent: String,
    pub expires_at: i64,
}

impl Lease {
    fn from_row(row: &Row) -> Result<Lease> {
        Ok(Lease {
            id: row.try_get("id")?,
            agent: row.try_get("agent")?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}

pub(crate) async fn active_lease(
    conn: &mut Db<'_>,
    thread_id: &str,
    now: i64,
) -> Result<Option<Lease>> {
    fetch_record(
        conn,
        sql!(
            "SELECT id, agent, expires_at FROM leases
             WHERE thread_id = $1 AND released_at IS NULL AND expires_at > $2
             ORDER BY id DESC LIMIT 1"
        ),
        args![thread_id, now],
        Lease::from_row,
    )
    .await
}

/// The most recent lease of a thread, active or not (who held it last).
pub(crate) async fn last_lease(conn: &mut Db<'_>, thread_id: &str) -> Result<Option<Lease>> {
    fetch_record(
        conn,
        sql!(
            "SELECT id, agent, expires_at FROM leases WHERE thread_id = $1 ORDER BY id DESC LIMIT 1"
        ),
        args![thread_id],
        Lease::from_row,
    )
    .await
}

pub(crate) async fn release_leases(conn: &mut Db<'_>, thread_id: &str, now: i64) -> Result<()> {
    execute(
        conn,
        sql!("UPDATE leases SET released_at = $1 WHERE thread_id = $2 AND released_at IS NULL"),
        args![now, thread_id],
    )
    .await?;
    Ok(())
}

/// Refuses a verb on a terminal thread.
pub(crate) fn require_open(thread: &Thread, verb: &str) -> Result<()> {
    if thread.status.is_terminal() {
        return Err(Error::invalid_state(format!(
            "thread {:?} is {}; {verb} needs an open thread",
            thread.thread_id, thread.status
        )));
    }
    Ok(())
}

/// Requires that `agent` holds the thread's active lease (20 for another owner,
/// invalid_state for none).
pub(crate) async fn require_lease(
    conn: &mut Db<'_>,
    thread: &Thread,
    agent: &str,
    verb: &str,
    now: i64,
) -> Result<Lease> {
    match active_lease(conn, &thread.thread_id, now).await? {
        Some(lease) if lease.agent == agent => Ok(lease),
        Some(lease) => Err(Error::lease_conflict(format!(
            "thread {:?} is leased by {:?} until {}; {verb} needs the caller's lease",
            thread.thread_id,
            lease.agent,
            rfc3339(lease.expires_at)
        ))),
        None => Err(Error::invalid_state(format!(
            "agent {agent:?} holds no active lease on thread {:?}; claim it first",
            thread.thread_id
        ))),
    }
}

/// An answer or control message to write on an open thread.
pub(crate) struct ReplyStep<'a> {
    pub thread_id: &'a str,
    pub from: &'a str,
    /// Default: the other side of the thread.
    pub to: Option<&'a str>,
    pub kind: MessageKind,
    pub summary: &'a str,
    pub content: &'a MessageInput,
    /// `thread_reply` (inbox) or `task_answered` (orch).
    pub event_type: &'static str,
}

/// Writes an answer or control message to a thread; shared by `inbox reply` and
/// `orch answer`.
pub(crate) async fn reply_in(
    conn: &mut Db<'_>,
    step: ReplyStep<'_>,
    now: i64,
) -> Result<(Thread, Message)> {
    let mut thread = open_thread(conn, step.thread_id, "reply").await?;
    let to = match step.to {
        Some(to) => to.to_string(),
        None if step.from == thread.assigned_to => thread.created_by.clone(),
        None => thread.assigned_to.clone(),
    };
    thread.updated_at = now;
    let payload = json!({"kind": step.kind.as_str(), "from": step.from, "to": to});
    let message = NewMessage {
        from: step.from,
        to: &to,
        kind: step.kind,
        summary: summary_or_first_line(step.summary, &step.content.body),
        content: step.content,
    };
    let message = post(conn, &thread, message, step.event_type, payload, now).await?;
    Ok((thread, message))
}

/// Cancels an open thread with a control message; shared by `inbox cancel`, `orch cancel`
/// and `orch reassign`.
pub(crate) async fn cancel_in(
    conn: &mut Db<'_>,
    thread: &mut Thread,
    by: &str,
    reason: &str,
    content: &MessageInput,
    now: i64,
) -> Result<Message> {
    let assignee = thread.assigned_to.clone();
    set_thread_state(conn, thread, ThreadStatus::Cancelled, &assignee, now).await?;
    release_leases(conn, &thread.thread_id, now).await?;
    let summary = if reason.is_empty() {
        "cancelled".to_string()
    } else {
        format!("cancelled: {}", summary_or_first_line("", reason))
    };
    let content = MessageInput {
        body: reason.to_string(),
        payload: json!({"reason": reason}),
        artifacts: content.artifacts.clone(),
    };
    let message = NewMessage {
        from: by,
        to: &assignee,
        kind: MessageKind::Control,
        summary,
        content: &content,
    };
    let payload = json!({"reason": reason, "by": by});
    let message = post(conn, thread, message, "thread_cancel", payload, now).await?;
    Ok(message)
}
