//! Inbox writes (contract §4): sending, claiming with leases, renewing, progress and
//! questions, replies, results and cancellation. Each is one short write transaction
//! ([`Store::write`]) that ends with [`post`]: the message and the event announcing it.

use super::threads::*;
use super::{Db, Store, args, execute, sql};
use crate::error::{Error, Result};
use crate::model::{Message, MessageKind, Thread, ThreadStatus};
use crate::time::rfc3339;
use serde_json::{Value, json};

/// What a claim does to a thread: its status after, the message's summary and payload.
struct ClaimStep {
    status: ThreadStatus,
    summary: String,
    payload: Value,
}

/// The lease a claim or renew grants: to whom, for how long, until when.
struct LeaseGrant<'a> {
    agent: &'a str,
    lease_ms: i64,
    expires_at: i64,
}

impl<'a> LeaseGrant<'a> {
    fn new(agent: &'a str, lease_ms: i64, now: i64) -> Self {
        let expires_at = now + lease_ms;
        LeaseGrant {
            agent,
            lease_ms,
            expires_at,
        }
    }

    /// The `event` message that announces the lease (`said`: its summary, and its payload
    /// to which the lease is added), and its `event_type` event.
    async fn post(
        &self,
        tx: &mut Db<'_>,
        thread: &Thread,
        (summary, mut payload): (String, Value),
        event_type: &'static str,
        now: i64,
    ) -> Result<Message> {
        let until = rfc3339(self.expires_at);
        payload["lease_seconds"] = json!(self.lease_ms / 1000);
        payload["lease_expires_at"] = json!(until);
        let content = MessageInput::payload(payload);
        let (agent, kind) = (self.agent, MessageKind::Event);
        let message = NewMessage::to_creator(thread, agent, kind, summary, &content);
        let announce = json!({"agent": agent, "lease_expires_at": until});
        post(tx, thread, message, event_type, announce, now).await
    }
}

impl Store {
    /// `inbox send`: a new thread with its first message, or a message appended to one.
    pub async fn send(&self, input: SendInput) -> Result<(Thread, Message)> {
        self.write(async |tx, now| {
            let thread = match &input.thread_id {
                Some(id) => find_thread(tx, id).await?,
                None => None,
            };
            let thread = match thread {
                Some(mut thread) => {
                    require_open(&thread, "send")?;
                    let status = thread.status;
                    set_thread_state(tx, &mut thread, status, &input.to, now).await?;
                    thread
                }
                None => new_thread(tx, &input, now).await?,
            };
            let summary = match input.summary.as_str() {
                "" => summary_or_first_line(&input.subject, &input.content.body),
                summary => summary.to_string(),
            };
            let message = NewMessage {
                from: &input.from,
                to: &input.to,
                kind: input.kind,
                summary,
                content: &input.content,
            };
            let payload = json!({"kind": input.kind.as_str(), "from": input.from, "to": input.to});
            let message = post(tx, &thread, message, "thread_send", payload, now).await?;
            Ok((thread, message))
        })
        .await
    }

    /// `inbox claim`: a pending thread, a takeover of an expired lease, or (ours) a
    /// refresh of the caller's own lease.
    pub async fn claim(
        &self,
        thread_id: &str,
        agent: &str,
        lease_ms: i64,
    ) -> Result<(Thread, Message)> {
        self.on_open_thread(thread_id, "claim", async |tx, thread, now| {
            let lease = LeaseGrant::new(agent, lease_ms, now);
            let step = match active_lease(tx, thread_id, now).await? {
                Some(lease) if lease.agent != agent => {
                    return Err(Error::lease_conflict(format!(
                        "thread {thread_id:?} is leased by {:?} until {}",
                        lease.agent,
                        rfc3339(lease.expires_at)
                    )));
                }
                Some(held) => {
                    // The caller already holds it (e.g. its supervisor claimed on its
                    // behalf): refresh the lease, keep the status.
                    let sql = sql!("UPDATE leases SET expires_at = $1 WHERE id = $2");
                    execute(tx, sql, args![lease.expires_at, held.id]).await?;
                    ClaimStep {
                        status: thread.status,
                        summary: "thread claimed (lease refreshed)".to_string(),
                        payload: json!({"refreshed": true}),
                    }
                }
                None => {
                    let step = new_claim(tx, thread, agent).await?;
                    release_leases(tx, thread_id, now).await?;
                    let sql = sql!("INSERT INTO leases (thread_id, agent, acquired_at, expires_at) VALUES ($1, $2, $3, $4)");
                    execute(tx, sql, args![thread_id, agent, now, lease.expires_at]).await?;
                    step
                }
            };
            set_thread_state(tx, thread, step.status, agent, now).await?;
            let said = (step.summary, step.payload);
            lease.post(tx, thread, said, "thread_claim", now).await
        })
        .await
    }

    /// `inbox renew`: extends the caller's active lease.
    pub async fn renew(
        &self,
        thread_id: &str,
        agent: &str,
        lease_ms: i64,
    ) -> Result<(Thread, Message)> {
        self.on_open_thread(thread_id, "renew", async |tx, thread, now| {
            let held = require_lease(tx, thread, agent, "renew", now).await?;
            let lease = LeaseGrant::new(agent, lease_ms, now);
            let sql = sql!("UPDATE leases SET expires_at = $1 WHERE id = $2");
            execute(tx, sql, args![lease.expires_at, held.id]).await?;
            let sql = sql!("UPDATE threads SET updated_at = $1 WHERE thread_id = $2");
            execute(tx, sql, args![now, thread_id]).await?;
            thread.updated_at = now;
            let said = ("lease renewed".to_string(), json!({}));
            lease.post(tx, thread, said, "thread_renew", now).await
        })
        .await
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
        let step = ReplyStep {
            thread_id,
            from,
            to,
            kind,
            summary,
            content,
            event_type: "thread_reply",
        };
        self.write(async |tx, now| reply_in(tx, step, now).await)
            .await
    }

    /// `inbox update` (progress or a question), `inbox done` and `inbox fail` (the
    /// result): the lease owner moves its thread to the report's status with the message
    /// that status calls for. A terminal status releases the lease.
    pub async fn report(&self, report: Report<'_>) -> Result<(Thread, Message)> {
        let Report {
            thread_id,
            agent,
            status,
            summary,
            content,
        } = report;
        let (verb, kind) = match status {
            ThreadStatus::InProgress => ("update", MessageKind::Progress),
            ThreadStatus::Blocked => ("update", MessageKind::Question),
            ThreadStatus::Done => ("done", MessageKind::Result),
            ThreadStatus::Failed => ("fail", MessageKind::Result),
            other => {
                return Err(Error::invalid_input(format!(
                    "--status {other} is not allowed; use in_progress or blocked"
                )));
            }
        };
        let (event_type, payload) = match kind {
            MessageKind::Result => ("thread_result", json!({"status": status.as_str()})),
            _ => (
                "thread_update",
                json!({"status": status.as_str(), "kind": kind.as_str()}),
            ),
        };
        self.on_open_thread(thread_id, verb, async |tx, thread, now| {
            require_lease(tx, thread, agent, verb, now).await?;
            set_thread_state(tx, thread, status, agent, now).await?;
            if status.is_terminal() {
                release_leases(tx, thread_id, now).await?;
            }
            let summary = summary_or_first_line(summary, &content.body);
            let message = NewMessage::to_creator(thread, agent, kind, summary, content);
            post(tx, thread, message, event_type, payload, now).await
        })
        .await
    }

    /// `inbox cancel`.
    pub async fn cancel_thread(
        &self,
        thread_id: &str,
        agent: &str,
        reason: &str,
        content: &MessageInput,
    ) -> Result<(Thread, Message)> {
        self.on_open_thread(thread_id, "cancel", async |tx, thread, now| {
            cancel_in(tx, thread, agent, reason, content, now).await
        })
        .await
    }

    /// A write by `verb` on an open thread (a closed one is refused): `step` changes the
    /// thread and posts its message; both are returned.
    async fn on_open_thread(
        &self,
        thread_id: &str,
        verb: &str,
        step: impl AsyncFnOnce(&mut Db<'_>, &mut Thread, i64) -> Result<Message>,
    ) -> Result<(Thread, Message)> {
        self.write(async |tx, now| {
            let mut thread = open_thread(tx, thread_id, verb).await?;
            let message = step(tx, &mut thread, now).await?;
            Ok((thread, message))
        })
        .await
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
        self.write(async |tx, now| {
            let thread = load_thread(tx, thread_id).await?;
            if thread.status.is_terminal() {
                return Ok(());
            }
            let until = now + lease_ms;
            if let Some(active) = active_lease(tx, thread_id, now).await? {
                if active.agent == agent {
                    let sql = sql!("UPDATE leases SET expires_at = CASE WHEN expires_at > $1 THEN expires_at ELSE $1 END
                                    WHERE id = $2");
                    execute(tx, sql, args![until, active.id]).await?;
                }
            } else if let Some(last) = last_lease(tx, thread_id).await?
                && last.agent == agent
            {
                let sql = sql!("UPDATE leases SET expires_at = $1 WHERE id = $2 AND released_at IS NULL");
                execute(tx, sql, args![until, last.id]).await?;
            }
            Ok(())
        })
        .await
    }
}

/// Inserts the thread `inbox send` starts.
async fn new_thread(conn: &mut Db<'_>, input: &SendInput, now: i64) -> Result<Thread> {
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
    insert_thread(conn, &thread).await?;
    Ok(thread)
}

/// A claim with no active lease: of a pending thread, a takeover of an expired lease,
/// or the last holder reclaiming its blocked thread. Anything else is refused.
async fn new_claim(conn: &mut Db<'_>, thread: &Thread, agent: &str) -> Result<ClaimStep> {
    let previous = last_lease(conn, &thread.thread_id).await?;
    let step = |status, summary: &str, payload| ClaimStep {
        status,
        summary: summary.to_string(),
        payload,
    };
    match thread.status {
        ThreadStatus::Pending => Ok(step(ThreadStatus::Claimed, "thread claimed", json!({}))),
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
            let payload = json!({
                "takeover_from": from,
                "previous_expires_at": previous.as_ref().map(|l| rfc3339(l.expires_at)),
            });
            Ok(step(ThreadStatus::Claimed, &summary, payload))
        }
        ThreadStatus::Blocked if previous.as_ref().is_some_and(|l| l.agent == agent) => Ok(step(
            ThreadStatus::Blocked,
            "thread reclaimed while blocked",
            json!({}),
        )),
        other => Err(Error::invalid_state(format!(
            "thread {:?} is {other}; only a pending thread, or one whose lease expired, can be claimed",
            thread.thread_id
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::store::testing::*;

    /// Leases of a thread not yet released.
    async fn open_leases(store: &Store, thread_id: &str) -> Result<i64> {
        let mut conn = store.lock().await?;
        let sql = sql!("SELECT count(*) FROM leases WHERE thread_id = $1 AND released_at IS NULL");
        let count = crate::store::scalar(&mut conn.db(), sql, args![thread_id]).await?;
        Ok(count.unwrap_or(0))
    }

    #[tokio::test]
    async fn a_thread_has_one_active_lease_at_a_time() {
        let (store, attempt) = one_dispatched().await;
        let thread = attempt.thread_id;
        store.claim(&thread, WORKER, LEASE_MS).await.unwrap();
        let err = store.claim(&thread, "other", LEASE_MS).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::LeaseConflict);
        // The holder claiming again refreshes its lease rather than taking a second.
        let (_, refreshed) = store.claim(&thread, WORKER, LEASE_MS).await.unwrap();
        assert_eq!(refreshed.payload_json["refreshed"], true);
        assert_eq!(open_leases(&store, &thread).await.unwrap(), 1);
        let err = store.renew(&thread, "other", LEASE_MS).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::LeaseConflict);
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_and_the_old_one_released() {
        let (store, attempt) = one_dispatched().await;
        let thread = attempt.thread_id;
        store.claim(&thread, WORKER, -1).await.unwrap();
        let (claimed, message) = store.claim(&thread, "other", LEASE_MS).await.unwrap();
        assert_eq!(claimed.assigned_to, "other");
        assert_eq!(message.payload_json["takeover_from"], WORKER);
        assert_eq!(open_leases(&store, &thread).await.unwrap(), 1);
        let content = MessageInput::default();
        let late = worker_report(&thread, ThreadStatus::InProgress, "late", &content);
        let err = store.report(late).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::LeaseConflict);
    }

    #[tokio::test]
    async fn a_finished_thread_cannot_be_finished_again() {
        let (store, attempt) = one_dispatched().await;
        work(&store, &attempt, FinishKind::Done).await;
        let thread = attempt.thread_id.as_str();
        let (_, messages, _) = store.show(thread, None).await.unwrap();
        let content = MessageInput::default();
        for how in [FinishKind::Done, FinishKind::Failed] {
            let again = worker_report(thread, how.into(), "again", &content);
            let err = store.report(again).await.unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidState);
        }
        let err = store.claim(thread, WORKER, LEASE_MS).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidState);
        assert_eq!(open_leases(&store, thread).await.unwrap(), 0);
        let (after, messages_after, _) = store.show(thread, None).await.unwrap();
        assert_eq!(after.status, ThreadStatus::Done);
        assert_eq!(messages_after.len(), messages.len());
    }

    #[tokio::test]
    async fn every_write_posts_its_message_and_one_event_for_it() {
        let (store, attempt) = one_dispatched().await;
        let before = store.max_event_id().await.unwrap();
        work(&store, &attempt, FinishKind::Done).await;
        let events = store.events_after("r", before, 100).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        // claim, result, then the fold of the result into the task (and of the run: its
        // one task is done)
        assert_eq!(
            kinds,
            ["thread_claim", "thread_result", "task_done", "run_finished"]
        );
        for event in &events[..2] {
            let message = store
                .message(event.subject.message_id.unwrap())
                .await
                .unwrap();
            assert_eq!(message.summary, event.summary);
            assert_eq!(Some(&message.thread_id), event.subject.thread_id.as_ref());
        }
    }
}
