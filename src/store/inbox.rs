//! Inbox threads (contract §4): sending, claiming with leases, progress, questions,
//! replies, results, cancellation, listing and read cursors. Every operation is one
//! short write transaction that also appends its event.

use super::events::{self, NewEvent};
use super::{Store, rows};
use crate::error::{Error, Result};
use crate::model::{Artifact, Message, MessageKind, Priority, Thread, ThreadStatus};
use crate::time::{now_ms, rfc3339};
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection};

/// The content of a message: body, payload object and artifacts (contract §3), already
/// validated by the caller.
#[derive(Debug, Clone, Default)]
pub struct MessageInput {
    pub body: String,
    pub payload: Value,
    pub artifacts: Vec<Artifact>,
}

impl MessageInput {
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

/// Filters of `inbox list`.
#[derive(Debug, Clone, Default)]
pub struct ThreadFilter {
    pub run_id: Option<String>,
    pub task_id: Option<String>,
    pub statuses: Vec<String>,
    pub assigned_to: Option<String>,
    pub limit: Option<i64>,
}

/// A message to write.
pub(crate) struct NewMessage<'a> {
    pub thread_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub kind: MessageKind,
    pub summary: String,
    pub content: &'a MessageInput,
}

/// The default summary of a message with none: the first line of its body, shortened.
pub(crate) fn summary_or_first_line(summary: &str, body: &str) -> String {
    if !summary.is_empty() {
        return summary.to_string();
    }
    let line = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if line.chars().count() > 120 {
        let cut: String = line.chars().take(119).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

pub(crate) async fn load_thread(conn: &mut SqliteConnection, thread_id: &str) -> Result<Thread> {
    find_thread(conn, thread_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("thread {thread_id:?} not found")))
}

pub(crate) async fn find_thread(
    conn: &mut SqliteConnection,
    thread_id: &str,
) -> Result<Option<Thread>> {
    let row = sqlx::query(
        "SELECT thread_id, run_id, task_id, subject, created_by, assigned_to, status, priority, created_at, updated_at
         FROM threads WHERE thread_id = ?",
    )
    .bind(thread_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(rows::thread).transpose()
}

/// Inserts a thread row.
pub(crate) async fn insert_thread(conn: &mut SqliteConnection, thread: &Thread) -> Result<()> {
    sqlx::query(
        "INSERT INTO threads (thread_id, run_id, task_id, subject, created_by, assigned_to, status, priority, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&thread.thread_id)
    .bind(&thread.run_id)
    .bind(&thread.task_id)
    .bind(&thread.subject)
    .bind(&thread.created_by)
    .bind(&thread.assigned_to)
    .bind(thread.status.as_str())
    .bind(thread.priority.as_str())
    .bind(thread.created_at)
    .bind(thread.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a thread's status and assignee (and touches it).
pub(crate) async fn set_thread_state(
    conn: &mut SqliteConnection,
    thread: &mut Thread,
    status: ThreadStatus,
    assigned_to: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE threads SET status = ?, assigned_to = ?, updated_at = ? WHERE thread_id = ?")
        .bind(status.as_str())
        .bind(assigned_to)
        .bind(now)
        .bind(&thread.thread_id)
        .execute(conn)
        .await?;
    thread.status = status;
    thread.assigned_to = assigned_to.to_string();
    thread.updated_at = now;
    Ok(())
}

/// Appends a message (and its artifacts) and touches the thread.
pub(crate) async fn insert_message(
    conn: &mut SqliteConnection,
    new: NewMessage<'_>,
    now: i64,
) -> Result<Message> {
    let payload = new.content.payload_object();
    let message_id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (thread_id, from_agent, to_agent, kind, summary, body, payload_json, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING message_id",
    )
    .bind(new.thread_id)
    .bind(new.from)
    .bind(new.to)
    .bind(new.kind.as_str())
    .bind(&new.summary)
    .bind(&new.content.body)
    .bind(payload.to_string())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    for artifact in &new.content.artifacts {
        sqlx::query("INSERT INTO artifacts (message_id, path, kind, metadata_json) VALUES (?, ?, ?, ?)")
            .bind(message_id)
            .bind(&artifact.path)
            .bind(&artifact.kind)
            .bind(artifact.metadata.to_string())
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("UPDATE threads SET last_message_id = ?, updated_at = ? WHERE thread_id = ?")
        .bind(message_id)
        .bind(now)
        .bind(new.thread_id)
        .execute(&mut *conn)
        .await?;
    Ok(Message {
        message_id,
        thread_id: new.thread_id.to_string(),
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
pub(crate) async fn attach_artifacts(
    conn: &mut SqliteConnection,
    messages: &mut [Message],
) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = messages.iter().map(|m| m.message_id).collect();
    let rows = sqlx::query(
        "SELECT message_id, path, kind, metadata_json FROM artifacts
         WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY id",
    )
    .bind(serde_json::to_string(&ids).unwrap_or_default())
    .fetch_all(conn)
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

pub(crate) async fn active_lease(
    conn: &mut SqliteConnection,
    thread_id: &str,
    now: i64,
) -> Result<Option<Lease>> {
    let row = sqlx::query(
        "SELECT id, agent, expires_at FROM leases
         WHERE thread_id = ? AND released_at IS NULL AND expires_at > ?
         ORDER BY id DESC LIMIT 1",
    )
    .bind(thread_id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Lease {
            id: r.try_get("id")?,
            agent: r.try_get("agent")?,
            expires_at: r.try_get("expires_at")?,
        })
    })
    .transpose()
}

/// The most recent lease of a thread, active or not (who held it last).
async fn last_lease(conn: &mut SqliteConnection, thread_id: &str) -> Result<Option<Lease>> {
    let row = sqlx::query(
        "SELECT id, agent, expires_at FROM leases WHERE thread_id = ? ORDER BY id DESC LIMIT 1",
    )
    .bind(thread_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Lease {
            id: r.try_get("id")?,
            agent: r.try_get("agent")?,
            expires_at: r.try_get("expires_at")?,
        })
    })
    .transpose()
}

pub(crate) async fn release_leases(conn: &mut SqliteConnection, thread_id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE leases SET released_at = ? WHERE thread_id = ? AND released_at IS NULL")
        .bind(now)
        .bind(thread_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Refuses a verb on a terminal thread.
fn require_open(thread: &Thread, verb: &str) -> Result<()> {
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
async fn require_lease(
    conn: &mut SqliteConnection,
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

/// Writes an answer or control message to a thread; shared by `inbox reply` and `orch answer`.
pub(crate) async fn reply_in(
    conn: &mut SqliteConnection,
    thread_id: &str,
    from: &str,
    to: Option<&str>,
    kind: MessageKind,
    summary: &str,
    content: &MessageInput,
    event_type: &'static str,
    now: i64,
) -> Result<(Thread, Message, i64)> {
    let thread = load_thread(conn, thread_id).await?;
    require_open(&thread, "reply")?;
    let to = match to {
        Some(to) => to.to_string(),
        None if from == thread.assigned_to => thread.created_by.clone(),
        None => thread.assigned_to.clone(),
    };
    let message = insert_message(
        conn,
        NewMessage {
            thread_id,
            from,
            to: &to,
            kind,
            summary: summary_or_first_line(summary, &content.body),
            content,
        },
        now,
    )
    .await?;
    let mut thread = thread;
    thread.updated_at = now;
    let event_id = events::insert(
        conn,
        NewEvent::new(event_type)
            .on_thread(&thread)
            .message(&message)
            .summary(message.summary.clone())
            .payload(json!({"kind": kind.as_str(), "from": from, "to": to})),
        now,
    )
    .await?;
    Ok((thread, message, event_id))
}

/// Cancels an open thread with a control message; shared by `inbox cancel`, `orch cancel`
/// and `orch reassign`.
pub(crate) async fn cancel_in(
    conn: &mut SqliteConnection,
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
    let message = insert_message(
        conn,
        NewMessage {
            thread_id: &thread.thread_id,
            from: by,
            to: &assignee,
            kind: MessageKind::Control,
            summary,
            content: &content,
        },
        now,
    )
    .await?;
    events::insert(
        conn,
        NewEvent::new("thread_cancel")
            .on_thread(thread)
            .message(&message)
            .summary(message.summary.clone())
            .payload(json!({"reason": reason, "by": by})),
        now,
    )
    .await?;
    Ok(message)
}

impl Store {
    /// `inbox send`: a new thread with its first message, or a message appended to one.
    pub async fn send(&self, input: SendInput) -> Result<(Thread, Message)> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let existing = match &input.thread_id {
            Some(id) => find_thread(&mut tx, id).await?,
            None => None,
        };
        let thread = match existing {
            Some(mut thread) => {
                require_open(&thread, "send")?;
                let status = thread.status;
                set_thread_state(&mut tx, &mut thread, status, &input.to, now).await?;
                thread
            }
            None => {
                let thread = Thread {
                    thread_id: input
                        .thread_id
                        .clone()
                        .unwrap_or_else(crate::ids::new_thread_id),
                    run_id: input.run_id.clone(),
                    task_id: input.task_id.clone(),
                    subject: input.subject.clone(),
                    created_by: input.from.clone(),
                    assigned_to: input.to.clone(),
                    status: ThreadStatus::Pending,
                    priority: input.priority,
                    created_at: now,
                    updated_at: now,
                };
                insert_thread(&mut tx, &thread).await?;
                thread
            }
        };
        let summary = if input.summary.is_empty() {
            summary_or_first_line(&input.subject, &input.content.body)
        } else {
            input.summary.clone()
        };
        let message = insert_message(
            &mut tx,
            NewMessage {
                thread_id: &thread.thread_id,
                from: &input.from,
                to: &input.to,
                kind: input.kind,
                summary,
                content: &input.content,
            },
            now,
        )
        .await?;
        events::insert(
            &mut tx,
            NewEvent::new("thread_send")
                .on_thread(&thread)
                .message(&message)
                .summary(message.summary.clone())
                .payload(json!({"kind": input.kind.as_str(), "from": input.from, "to": input.to})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((thread, message))
    }

    /// `inbox claim`: a pending thread, a takeover of an expired lease, or (ours) a
    /// refresh of the caller's own lease.
    pub async fn claim(
        &self,
        thread_id: &str,
        agent: &str,
        lease_ms: i64,
    ) -> Result<(Thread, Message)> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let mut thread = load_thread(&mut tx, thread_id).await?;
        require_open(&thread, "claim")?;
        let active = active_lease(&mut tx, thread_id, now).await?;
        let expires_at = now + lease_ms;
        let (status, summary, mut payload) = match active {
            Some(lease) if lease.agent != agent => {
                return Err(Error::lease_conflict(format!(
                    "thread {thread_id:?} is leased by {:?} until {}",
                    lease.agent,
                    rfc3339(lease.expires_at)
                )));
            }
            Some(lease) => {
                // The caller already holds it (e.g. its supervisor claimed on its behalf):
                // refresh the lease, keep the status.
                sqlx::query("UPDATE leases SET expires_at = ? WHERE id = ?")
                    .bind(expires_at)
                    .bind(lease.id)
                    .execute(&mut *tx)
                    .await?;
                (
                    thread.status,
                    "thread claimed (lease refreshed)".to_string(),
                    json!({"refreshed": true}),
                )
            }
            None => {
                let previous = last_lease(&mut tx, thread_id).await?;
                let (status, summary, payload) = match thread.status {
                    ThreadStatus::Pending => (
                        ThreadStatus::Claimed,
                        "thread claimed".to_string(),
                        json!({}),
                    ),
                    ThreadStatus::Claimed | ThreadStatus::InProgress => {
                        let from = previous.as_ref().map(|l| l.agent.clone()).unwrap_or_default();
                        let summary = if from == agent {
                            "thread reclaimed after its lease expired".to_string()
                        } else {
                            format!("thread taken over from {from:?} after its lease expired")
                        };
                        (
                            ThreadStatus::Claimed,
                            summary,
                            json!({
                                "takeover_from": from,
                                "previous_expires_at": previous.as_ref().map(|l| rfc3339(l.expires_at)),
                            }),
                        )
                    }
                    ThreadStatus::Blocked
                        if previous.as_ref().is_some_and(|l| l.agent == agent) =>
                    {
                        (
                            ThreadStatus::Blocked,
                            "thread reclaimed while blocked".to_string(),
                            json!({}),
                        )
                    }
                    other => {
                        return Err(Error::invalid_state(format!(
                            "thread {thread_id:?} is {other}; only a pending thread, or one whose lease expired, can be claimed"
                        )));
                    }
                };
                release_leases(&mut tx, thread_id, now).await?;
                sqlx::query(
                    "INSERT INTO leases (thread_id, agent, acquired_at, expires_at) VALUES (?, ?, ?, ?)",
                )
                .bind(thread_id)
                .bind(agent)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                (status, summary, payload)
            }
        };
        set_thread_state(&mut tx, &mut thread, status, agent, now).await?;
        payload["lease_seconds"] = json!(lease_ms / 1000);
        payload["lease_expires_at"] = json!(rfc3339(expires_at));
        let content = MessageInput {
            body: String::new(),
            payload,
            artifacts: Vec::new(),
        };
        let creator = thread.created_by.clone();
        let message = insert_message(
            &mut tx,
            NewMessage {
                thread_id,
                from: agent,
                to: &creator,
                kind: MessageKind::Event,
                summary,
                content: &content,
            },
            now,
        )
        .await?;
        events::insert(
            &mut tx,
            NewEvent::new("thread_claim")
                .on_thread(&thread)
                .message(&message)
                .summary(message.summary.clone())
                .payload(json!({"agent": agent, "lease_expires_at": rfc3339(expires_at)})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((thread, message))
    }

    /// `inbox renew`: extends the caller's active lease.
    pub async fn renew(
        &self,
        thread_id: &str,
        agent: &str,
        lease_ms: i64,
    ) -> Result<(Thread, Message)> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let mut thread = load_thread(&mut tx, thread_id).await?;
        require_open(&thread, "renew")?;
        let lease = require_lease(&mut tx, &thread, agent, "renew", now).await?;
        let expires_at = now + lease_ms;
        sqlx::query("UPDATE leases SET expires_at = ? WHERE id = ?")
            .bind(expires_at)
            .bind(lease.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE threads SET updated_at = ? WHERE thread_id = ?")
            .bind(now)
            .bind(thread_id)
            .execute(&mut *tx)
            .await?;
        thread.updated_at = now;
        let content = MessageInput {
            body: String::new(),
            payload: json!({"lease_seconds": lease_ms / 1000, "lease_expires_at": rfc3339(expires_at)}),
            artifacts: Vec::new(),
        };
        let creator = thread.created_by.clone();
        let message = insert_message(
            &mut tx,
            NewMessage {
                thread_id,
                from: agent,
                to: &creator,
                kind: MessageKind::Event,
                summary: "lease renewed".to_string(),
                content: &content,
            },
            now,
        )
        .await?;
        events::insert(
            &mut tx,
            NewEvent::new("thread_renew")
                .on_thread(&thread)
                .message(&message)
                .summary("lease renewed")
                .payload(json!({"agent": agent, "lease_expires_at": rfc3339(expires_at)})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((thread, message))
    }

    /// `inbox update`: progress (`in_progress`) or a question (`blocked`).
    pub async fn update(
        &self,
        thread_id: &str,
        agent: &str,
        status: ThreadStatus,
        summary: &str,
        content: &MessageInput,
    ) -> Result<(Thread, Message)> {
        let kind = match status {
            ThreadStatus::InProgress => MessageKind::Progress,
            ThreadStatus::Blocked => MessageKind::Question,
            other => {
                return Err(Error::invalid_input(format!(
                    "--status {other} is not allowed; use in_progress or blocked"
                )));
            }
        };
        let now = now_ms();
        let mut tx = self.write().await?;
        let mut thread = load_thread(&mut tx, thread_id).await?;
        require_open(&thread, "update")?;
        require_lease(&mut tx, &thread, agent, "update", now).await?;
        set_thread_state(&mut tx, &mut thread, status, agent, now).await?;
        let creator = thread.created_by.clone();
        let message = insert_message(
            &mut tx,
            NewMessage {
                thread_id,
                from: agent,
                to: &creator,
                kind,
                summary: summary_or_first_line(summary, &content.body),
                content,
            },
            now,
        )
        .await?;
        events::insert(
            &mut tx,
            NewEvent::new("thread_update")
                .on_thread(&thread)
                .message(&message)
                .summary(message.summary.clone())
                .payload(json!({"status": status.as_str(), "kind": kind.as_str()})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((thread, message))
    }

    /// `inbox reply`: an answer or control message on an open thread.
    pub async fn reply(
        &self,
        thread_id: &str,
        from: &str,
        to: Option<&str>,
        kind: MessageKind,
        summary: &str,
        content: &MessageInput,
    ) -> Result<(Thread, Message)> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let (thread, message, _) = reply_in(
            &mut tx,
            thread_id,
            from,
            to,
            kind,
            summary,
            content,
            "thread_reply",
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((thread, message))
    }

    /// `inbox done` / `inbox fail`: the lease owner finishes the thread with a result.
    pub async fn finish(
        &self,
        thread_id: &str,
        agent: &str,
        how: FinishKind,
        summary: &str,
        content: &MessageInput,
    ) -> Result<(Thread, Message)> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let mut thread = load_thread(&mut tx, thread_id).await?;
        let verb = match how {
            FinishKind::Done => "done",
            FinishKind::Failed => "fail",
        };
        require_open(&thread, verb)?;
        require_lease(&mut tx, &thread, agent, verb, now).await?;
        let status = match how {
            FinishKind::Done => ThreadStatus::Done,
            FinishKind::Failed => ThreadStatus::Failed,
        };
        set_thread_state(&mut tx, &mut thread, status, agent, now).await?;
        release_leases(&mut tx, thread_id, now).await?;
        let creator = thread.created_by.clone();
        let message = insert_message(
            &mut tx,
            NewMessage {
                thread_id,
                from: agent,
                to: &creator,
                kind: MessageKind::Result,
                summary: summary_or_first_line(summary, &content.body),
                content,
            },
            now,
        )
        .await?;
        events::insert(
            &mut tx,
            NewEvent::new("thread_result")
                .on_thread(&thread)
                .message(&message)
                .summary(message.summary.clone())
                .payload(json!({"status": status.as_str()})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((thread, message))
    }

    /// `inbox cancel`.
    pub async fn cancel_thread(
        &self,
        thread_id: &str,
        agent: &str,
        reason: &str,
        content: &MessageInput,
    ) -> Result<(Thread, Message)> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let mut thread = load_thread(&mut tx, thread_id).await?;
        require_open(&thread, "cancel")?;
        let message = cancel_in(&mut tx, &mut thread, agent, reason, content, now).await?;
        tx.commit().await?;
        Ok((thread, message))
    }

    /// `inbox fetch`: threads assigned to an agent, newest first; `unread` keeps those
    /// with a message from someone else past the agent's read cursor.
    pub async fn fetch(
        &self,
        agent: &str,
        statuses: &[String],
        limit: Option<i64>,
        unread: bool,
    ) -> Result<Vec<Thread>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(
            "SELECT t.thread_id, t.run_id, t.task_id, t.subject, t.created_by, t.assigned_to, t.status, t.priority, t.created_at, t.updated_at
             FROM threads t
             WHERE t.assigned_to = ?1
               AND (?2 = '[]' OR t.status IN (SELECT value FROM json_each(?2)))
               AND (?3 = 0 OR EXISTS (
                     SELECT 1 FROM messages m
                     WHERE m.thread_id = t.thread_id AND m.from_agent != ?1
                       AND m.message_id > COALESCE((SELECT c.last_message_id FROM read_cursors c
                                                    WHERE c.agent = ?1 AND c.thread_id = t.thread_id), 0)))
             ORDER BY t.updated_at DESC, t.thread_id
             LIMIT ?4",
        )
        .bind(agent)
        .bind(serde_json::to_string(statuses).unwrap_or_default())
        .bind(unread as i64)
        .bind(limit.unwrap_or(-1))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(rows::thread).collect()
    }

    /// `inbox list`.
    pub async fn list_threads(&self, filter: &ThreadFilter) -> Result<Vec<Thread>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(
            "SELECT thread_id, run_id, task_id, subject, created_by, assigned_to, status, priority, created_at, updated_at
             FROM threads
             WHERE (?1 IS NULL OR run_id = ?1) AND (?2 IS NULL OR task_id = ?2)
               AND (?3 = '[]' OR status IN (SELECT value FROM json_each(?3)))
               AND (?4 IS NULL OR assigned_to = ?4)
             ORDER BY updated_at DESC, thread_id
             LIMIT ?5",
        )
        .bind(filter.run_id.as_deref())
        .bind(filter.task_id.as_deref())
        .bind(serde_json::to_string(&filter.statuses).unwrap_or_default())
        .bind(filter.assigned_to.as_deref())
        .bind(filter.limit.unwrap_or(-1))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(rows::thread).collect()
    }

    /// `inbox show`: a thread with every message; `mark_read` advances that agent's
    /// read cursor to the last message. Returns the cursor after the call.
    pub async fn show(
        &self,
        thread_id: &str,
        mark_read: Option<&str>,
    ) -> Result<(Thread, Vec<Message>, Option<i64>)> {
        let mut tx = match mark_read {
            Some(_) => Some(self.write().await?),
            None => None,
        };
        let mut read_conn = match tx {
            Some(_) => None,
            None => Some(self.read().await?),
        };
        let conn: &mut SqliteConnection = match (&mut tx, &mut read_conn) {
            (Some(tx), _) => tx,
            (None, Some(c)) => c,
            (None, None) => unreachable!("one connection is always open"),
        };
        let thread = load_thread(conn, thread_id).await?;
        let rows = sqlx::query("SELECT * FROM messages WHERE thread_id = ? ORDER BY message_id")
            .bind(thread_id)
            .fetch_all(&mut *conn)
            .await?;
        let mut messages = rows.iter().map(rows::message).collect::<Result<Vec<_>>>()?;
        let artifact_rows = sqlx::query(
            "SELECT a.message_id, a.path, a.kind, a.metadata_json FROM artifacts a
             JOIN messages m ON m.message_id = a.message_id WHERE m.thread_id = ? ORDER BY a.id",
        )
        .bind(thread_id)
        .fetch_all(&mut *conn)
        .await?;
        for row in &artifact_rows {
            let (message_id, artifact) = rows::artifact(row)?;
            if let Some(m) = messages.iter_mut().find(|m| m.message_id == message_id) {
                m.artifacts.push(artifact);
            }
        }
        let mut cursor = None;
        if let Some(agent) = mark_read {
            let last = messages.last().map(|m| m.message_id).unwrap_or(0);
            let now = now_ms();
            let value: i64 = sqlx::query_scalar(
                "INSERT INTO read_cursors (agent, thread_id, last_message_id, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (agent, thread_id) DO UPDATE
                   SET last_message_id = MAX(last_message_id, excluded.last_message_id), updated_at = excluded.updated_at
                 RETURNING last_message_id",
            )
            .bind(agent)
            .bind(thread_id)
            .bind(last)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
            cursor = Some(value);
        }
        if let Some(tx) = tx {
            tx.commit().await?;
        }
        Ok((thread, messages, cursor))
    }

    pub async fn thread(&self, thread_id: &str) -> Result<Thread> {
        let mut conn = self.read().await?;
        load_thread(&mut conn, thread_id).await
    }

    /// A message by id, with its artifacts.
    pub async fn message(&self, message_id: i64) -> Result<Message> {
        let mut conn = self.read().await?;
        let row = sqlx::query("SELECT * FROM messages WHERE message_id = ?")
            .bind(message_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| Error::not_found(format!("message {message_id} not found")))?;
        let mut message = rows::message(&row)?;
        attach_artifacts(&mut conn, std::slice::from_mut(&mut message)).await?;
        Ok(message)
    }

    /// The id of the newest message `from` wrote on a thread, among `kinds`.
    pub async fn last_message_from(&self, thread_id: &str, from: &str, kinds: &[&str]) -> Result<Option<i64>> {
        let mut conn = self.read().await?;
        Ok(sqlx::query_scalar(
            "SELECT MAX(message_id) FROM messages
             WHERE thread_id = ? AND from_agent = ? AND kind IN (SELECT value FROM json_each(?))",
        )
        .bind(thread_id)
        .bind(from)
        .bind(serde_json::to_string(kinds).unwrap_or_default())
        .fetch_one(&mut *conn)
        .await?)
    }

    /// True when the message exists on that thread.
    pub async fn message_in_thread(&self, thread_id: &str, message_id: i64) -> Result<bool> {
        let mut conn = self.read().await?;
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM messages WHERE message_id = ? AND thread_id = ?")
                .bind(message_id)
                .bind(thread_id)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(found.is_some())
    }

    /// After `wait-reply` wakes: the waiting lease owner's lease is re-armed (ours), so a
    /// worker that waited hours for an answer can still report. Nothing happens when
    /// another agent holds the thread or it is closed.
    pub async fn rearm_lease_after_wait(
        &self,
        thread_id: &str,
        agent: &str,
        lease_ms: i64,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let thread = load_thread(&mut tx, thread_id).await?;
        if thread.status.is_terminal() {
            return Ok(());
        }
        if let Some(active) = active_lease(&mut tx, thread_id, now).await? {
            if active.agent == agent {
                sqlx::query("UPDATE leases SET expires_at = MAX(expires_at, ?) WHERE id = ?")
                    .bind(now + lease_ms)
                    .bind(active.id)
                    .execute(&mut *tx)
                    .await?;
            }
        } else if let Some(last) = last_lease(&mut tx, thread_id).await? {
            if last.agent == agent {
                sqlx::query(
                    "UPDATE leases SET expires_at = ? WHERE id = ? AND released_at IS NULL",
                )
                .bind(now + lease_ms)
                .bind(last.id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
