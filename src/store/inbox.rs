//! Inbox writes (contract §4): sending, claiming with leases, renewing, progress and
//! questions, replies, results and cancellation. Each is one short write transaction
//! that also appends its event.

use super::Store;
use super::begin;
use super::events::{self, NewEvent};
use super::threads::*;
use crate::error::{Error, Result};
use crate::model::{Message, MessageKind, Thread, ThreadStatus};
use crate::time::{now_ms, rfc3339};
use serde_json::json;

impl Store {
    /// `inbox send`: a new thread with its first message, or a message appended to one.
    pub async fn send(&self, input: SendInput) -> Result<(Thread, Message)> {
        let now = now_ms();
        let mut conn = self.lock().await;
        let mut tx = begin(&mut conn).await?;
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
        let mut conn = self.lock().await;
        let mut tx = begin(&mut conn).await?;
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
                        let from = previous
                            .as_ref()
                            .map(|l| l.agent.clone())
                            .unwrap_or_default();
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
        let mut conn = self.lock().await;
        let mut tx = begin(&mut conn).await?;
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
        let mut conn = self.lock().await;
        let mut tx = begin(&mut conn).await?;
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
        let mut conn = self.lock().await;
        let mut tx = begin(&mut conn).await?;
        let (thread, message) = reply_in(
            &mut tx,
            ReplyStep {
                thread_id,
                from,
                to,
                kind,
                summary,
                content,
                event_type: "thread_reply",
            },
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
        let mut conn = self.lock().await;
        let mut tx = begin(&mut conn).await?;
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
        let mut conn = self.lock().await;
        let mut tx = begin(&mut conn).await?;
        let mut thread = load_thread(&mut tx, thread_id).await?;
        require_open(&thread, "cancel")?;
        let message = cancel_in(&mut tx, &mut thread, agent, reason, content, now).await?;
        tx.commit().await?;
        Ok((thread, message))
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
        let mut conn = self.lock().await;
        let mut tx = begin(&mut conn).await?;
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
        } else if let Some(last) = last_lease(&mut tx, thread_id).await?
            && last.agent == agent
        {
            sqlx::query("UPDATE leases SET expires_at = ? WHERE id = ? AND released_at IS NULL")
                .bind(now + lease_ms)
                .bind(last.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
