//! Inbox reads: fetching an agent's threads, listing, showing a thread with its
//! messages (advancing a read cursor), and single lookups.

use super::NotFound;
use super::threads::*;
use super::{Store, rows};
use super::{args, fetch_all, fetch_optional, scalar, sql};
use crate::error::Result;
use crate::model::{Message, Thread};
use crate::time::now_ms;

impl Store {
    /// `inbox fetch`: threads assigned to an agent, newest first; `unread` keeps those
    /// with a message from someone else past the agent's read cursor.
    pub async fn fetch(
        &self,
        agent: &str,
        statuses: &[String],
        limit: Option<i64>,
        unread: bool,
    ) -> Result<Vec<Thread>> {
        let rows = self.read_all(
            sql!(
                "SELECT t.thread_id, t.run_id, t.task_id, t.subject, t.created_by, t.assigned_to, t.status, t.priority, t.created_at, t.updated_at
                 FROM threads t
                 WHERE t.assigned_to = $1
                   AND ($2 = '[]' OR t.status IN (SELECT value FROM json_each($2)))
                   AND ($3 = 0 OR EXISTS (
                         SELECT 1 FROM messages m
                         WHERE m.thread_id = t.thread_id AND m.from_agent != $1
                           AND m.message_id > COALESCE((SELECT c.last_message_id FROM read_cursors c
                                                        WHERE c.agent = $1 AND c.thread_id = t.thread_id), 0)))
                 ORDER BY t.updated_at DESC, t.thread_id
                 LIMIT $4"
            ),
            args![
                agent,
                serde_json::to_string(statuses).unwrap_or_default(),
                unread as i64,
                row_limit(limit),
            ],
        )
        .await?;
        rows.iter().map(rows::thread).collect()
    }

    /// `inbox list`.
    pub async fn list_threads(&self, filter: &ThreadFilter) -> Result<Vec<Thread>> {
        let rows = self.read_all(
            sql!(
                "SELECT thread_id, run_id, task_id, subject, created_by, assigned_to, status, priority, created_at, updated_at
                 FROM threads
                 WHERE (CAST($1 AS TEXT) IS NULL OR run_id = $1) AND (CAST($2 AS TEXT) IS NULL OR task_id = $2)
                   AND ($3 = '[]' OR status IN (SELECT value FROM json_each($3)))
                   AND (CAST($4 AS TEXT) IS NULL OR assigned_to = $4)
                 ORDER BY updated_at DESC, thread_id
                 LIMIT $5"
            ),
            args![
                filter.run_id.as_deref(),
                filter.task_id.as_deref(),
                serde_json::to_string(&filter.statuses).unwrap_or_default(),
                filter.assigned_to.as_deref(),
                row_limit(filter.limit),
            ],
        )
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
        let mut guard = self.lock().await?;
        let conn = &mut guard.db();
        let thread = load_thread(conn, thread_id).await?;
        let rows = fetch_all(
            &mut *conn,
            sql!("SELECT * FROM messages WHERE thread_id = $1 ORDER BY message_id"),
            args![thread_id],
        )
        .await?;
        let mut messages = rows.iter().map(rows::message).collect::<Result<Vec<_>>>()?;
        let artifact_rows = fetch_all(
            &mut *conn,
            sql!(
                "SELECT a.message_id, a.path, a.kind, a.metadata_json FROM artifacts a
                 JOIN messages m ON m.message_id = a.message_id WHERE m.thread_id = $1 ORDER BY a.id"
            ),
            args![thread_id],
        )
        .await?;
        for row in &artifact_rows {
            let (message_id, artifact) = rows::artifact(row)?;
            if let Some(m) = messages.iter_mut().find(|m| m.message_id == message_id) {
                m.artifacts.push(artifact);
            }
        }
        // One upsert, atomic on its own; the CASE keeps the cursor from moving back.
        let mut cursor = None;
        if let Some(agent) = mark_read {
            let last = messages.last().map(|m| m.message_id).unwrap_or(0);
            let now = now_ms();
            cursor = scalar(
                &mut *conn,
                sql!("INSERT INTO read_cursors (agent, thread_id, last_message_id, updated_at) VALUES ($1, $2, $3, $4)
                      ON CONFLICT (agent, thread_id) DO UPDATE
                        SET last_message_id = CASE WHEN read_cursors.last_message_id > excluded.last_message_id
                                                 THEN read_cursors.last_message_id ELSE excluded.last_message_id END,
                            updated_at = excluded.updated_at
                      RETURNING last_message_id"),
                args![agent, thread_id, last, now],
            )
            .await?;
        }
        Ok((thread, messages, cursor))
    }

    pub async fn thread(&self, thread_id: &str) -> Result<Thread> {
        super::read_again!(self, conn => load_thread(&mut conn.db(), thread_id).await)
    }

    /// A message by id, with its artifacts.
    pub async fn message(&self, message_id: i64) -> Result<Message> {
        super::read_again!(self, conn => message_in(&mut conn.db(), message_id).await)
    }

    /// The id of the newest message `from` wrote on a thread, among `kinds`.
    pub async fn last_message_from(
        &self,
        thread_id: &str,
        from: &str,
        kinds: &[&str],
    ) -> Result<Option<i64>> {
        self.read_scalar_one(
            sql!(
                "SELECT MAX(message_id) FROM messages
                 WHERE thread_id = $1 AND from_agent = $2 AND kind IN (SELECT value FROM json_each($3))"
            ),
            args![thread_id, from, serde_json::to_string(kinds).unwrap_or_default()],
        )
        .await
    }

    /// True when the message exists on that thread.
    pub async fn message_in_thread(&self, thread_id: &str, message_id: i64) -> Result<bool> {
        let found: Option<i64> = self
            .read_scalar(
                sql!("SELECT 1 FROM messages WHERE message_id = $1 AND thread_id = $2"),
                args![message_id, thread_id],
            )
            .await?;
        Ok(found.is_some())
    }
}

/// A `--limit` as a statement's `LIMIT`: none, or a negative one, is no limit.
fn row_limit(limit: Option<i64>) -> i64 {
    limit.filter(|n| *n >= 0).unwrap_or(i64::MAX)
}

/// [`Store::message`]'s read.
async fn message_in(conn: &mut super::Db<'_>, message_id: i64) -> Result<Message> {
    let row = fetch_optional(
        &mut *conn,
        sql!("SELECT * FROM messages WHERE message_id = $1"),
        args![message_id],
    )
    .await?
    .ok_or(NotFound::Message { message_id })?;
    let mut message = rows::message(&row)?;
    attach_artifacts(conn, std::slice::from_mut(&mut message)).await?;
    Ok(message)
}
