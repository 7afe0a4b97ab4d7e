//! Reconcile: folding each latest attempt's thread status into its task (contract §6),
//! releasing dependents of finished tasks, and the read views built on top of it
//! (`status`, `blocked`).

use super::events::NewEvent;
use super::inbox::attach_artifacts;
use super::tasks::{TaskSelection, load_tasks, release_dependents, set_task_status};
use super::{Store, parse_or_corrupt, rows, runs};
use crate::error::Result;
use crate::model::{
    Attempt, AttemptSummary, Message, MessageKind, MessageSummary, Run, Task, TaskStatus, TaskView,
    ThreadStatus,
};
use crate::time::now_ms;
use serde::Serialize;
use serde_json::json;
use sqlx::{Row, SqliteConnection};
use std::collections::HashMap;

/// A task whose status reconcile changed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TaskChange {
    pub task_id: String,
    pub status: TaskStatus,
}

struct Pending {
    key: i64,
    task_id: String,
    to: TaskStatus,
    thread_id: String,
    thread_status: ThreadStatus,
    assigned_to: String,
    attempt_no: i64,
    last_message_id: Option<i64>,
    last_summary: Option<String>,
}

/// Tasks whose status disagrees with their latest attempt's thread.
async fn pending(conn: &mut SqliteConnection, run_id: &str) -> Result<Vec<Pending>> {
    let rows = sqlx::query(
        "SELECT t.id, t.task_id, t.status, th.thread_id, th.status AS thread_status, th.assigned_to,
                a.attempt_no, th.last_message_id, m.summary AS last_summary,
                EXISTS (SELECT 1 FROM task_checks c WHERE c.task = t.id) AS has_checks
         FROM tasks t
         JOIN attempts a ON a.task = t.id AND a.attempt_no = t.current_attempt
         JOIN threads th ON th.thread_id = a.thread_id
         LEFT JOIN messages m ON m.message_id = th.last_message_id
         WHERE t.run_id = ? AND t.status IN ('dispatched', 'running', 'blocked')
         ORDER BY t.id",
    )
    .bind(run_id)
    .fetch_all(conn)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let status: String = row.try_get("status")?;
        let status = parse_or_corrupt("task status", &status, TaskStatus::parse)?;
        let thread_status: String = row.try_get("thread_status")?;
        let thread_status = parse_or_corrupt("thread status", &thread_status, ThreadStatus::parse)?;
        let has_checks: bool = row.try_get("has_checks")?;
        let Some(to) = TaskStatus::from_thread(thread_status, has_checks) else {
            continue;
        };
        if to == status {
            continue;
        }
        out.push(Pending {
            key: row.try_get("id")?,
            task_id: row.try_get("task_id")?,
            to,
            thread_id: row.try_get("thread_id")?,
            thread_status,
            assigned_to: row.try_get("assigned_to")?,
            attempt_no: row.try_get("attempt_no")?,
            last_message_id: row.try_get("last_message_id")?,
            last_summary: row.try_get("last_summary")?,
        });
    }
    Ok(out)
}

/// Applies reconcile inside a write transaction.
pub(crate) async fn reconcile_in(conn: &mut SqliteConnection, run_id: &str, now: i64) -> Result<Vec<TaskChange>> {
    let mut changes = Vec::new();
    for p in pending(conn, run_id).await? {
        let event = NewEvent {
            thread_id: Some(p.thread_id.clone()),
            thread_status: Some(p.thread_status),
            assigned_to: Some(p.assigned_to.clone()),
            summary: p.last_summary.clone().unwrap_or_default(),
            payload: json!({
                "attempt_no": p.attempt_no,
                "thread_id": p.thread_id,
                "thread_status": p.thread_status.as_str(),
                "message_id": p.last_message_id,
            }),
            ..NewEvent::new("task_running")
        };
        set_task_status(conn, p.key, run_id, &p.task_id, p.to, Some(event), now).await?;
        changes.push(TaskChange {
            task_id: p.task_id.clone(),
            status: p.to,
        });
        if p.to == TaskStatus::Done {
            for released in release_dependents(conn, run_id, p.key, now).await? {
                changes.push(TaskChange {
                    task_id: released,
                    status: TaskStatus::Ready,
                });
            }
        }
    }
    Ok(changes)
}

impl Store {
    /// `orch reconcile`: folds thread statuses into task statuses. Reads first and takes
    /// the write lock only when something changed.
    pub async fn reconcile(&self, run_id: &str) -> Result<Vec<TaskChange>> {
        {
            let mut conn = self.read().await?;
            runs::require_run(&mut conn, run_id).await?;
            if pending(&mut conn, run_id).await?.is_empty() {
                return Ok(Vec::new());
            }
        }
        let now = now_ms();
        let mut tx = self.write().await?;
        let changes = reconcile_in(&mut tx, run_id, now).await?;
        tx.commit().await?;
        Ok(changes)
    }

    /// `orch status` (after reconcile): the run and every task with its latest attempt,
    /// latest message and, when blocked, its question.
    pub async fn status_view(&self, run_id: &str) -> Result<(Run, Vec<TaskView>)> {
        let mut conn = self.read().await?;
        let run = runs::load_run(&mut conn, run_id).await?;
        let tasks = load_tasks(&mut conn, run_id, TaskSelection::All).await?;
        let rows = sqlx::query(
            "SELECT t.id, a.attempt_no, a.thread_id, th.status AS thread_status, a.assigned_to, a.worktree_path,
                    m.message_id, m.kind, m.summary, m.created_at AS message_at
             FROM tasks t
             JOIN attempts a ON a.task = t.id AND a.attempt_no = t.current_attempt
             JOIN threads th ON th.thread_id = a.thread_id
             LEFT JOIN messages m ON m.message_id = th.last_message_id
             WHERE t.run_id = ?",
        )
        .bind(run_id)
        .fetch_all(&mut *conn)
        .await?;
        let mut latest: HashMap<i64, (AttemptSummary, Option<MessageSummary>)> = HashMap::new();
        for row in rows {
            let thread_status: String = row.try_get("thread_status")?;
            let attempt = AttemptSummary {
                attempt_no: row.try_get("attempt_no")?,
                thread_id: row.try_get("thread_id")?,
                status: parse_or_corrupt("thread status", &thread_status, ThreadStatus::parse)?,
                assigned_to: row.try_get("assigned_to")?,
                worktree_path: row.try_get("worktree_path")?,
            };
            let message_id: Option<i64> = row.try_get("message_id")?;
            let message = match message_id {
                None => None,
                Some(message_id) => {
                    let kind: String = row.try_get("kind")?;
                    Some(MessageSummary {
                        message_id,
                        kind: parse_or_corrupt("message kind", &kind, MessageKind::parse)?,
                        summary: row.try_get("summary")?,
                        created_at: row.try_get("message_at")?,
                    })
                }
            };
            latest.insert(row.try_get("id")?, (attempt, message));
        }
        let mut views = Vec::with_capacity(tasks.len());
        for (key, task) in tasks {
            let (latest_attempt, latest_message) = match latest.remove(&key) {
                Some((a, m)) => (Some(a), m),
                None => (None, None),
            };
            let blocked_question = match (&task.status, &latest_attempt) {
                (TaskStatus::Blocked, Some(a)) => latest_question(&mut conn, &a.thread_id).await?,
                _ => None,
            };
            views.push(TaskView {
                task,
                latest_attempt,
                latest_message,
                blocked_question,
            });
        }
        Ok((run, views))
    }

    /// `orch blocked`: blocked tasks with their current attempt and newest question.
    pub async fn blocked(&self, run_id: &str) -> Result<Vec<(Task, Attempt, Option<Message>)>> {
        let mut conn = self.read().await?;
        runs::require_run(&mut conn, run_id).await?;
        let tasks = load_tasks(&mut conn, run_id, TaskSelection::Status(TaskStatus::Blocked)).await?;
        let mut out = Vec::with_capacity(tasks.len());
        for (_, task) in tasks {
            let Some(attempt) =
                super::attempts::load_attempt(&mut conn, run_id, &task.task_id, task.current_attempt)
                    .await?
            else {
                continue;
            };
            let question = latest_question(&mut conn, &attempt.thread_id).await?;
            out.push((task, attempt, question));
        }
        Ok(out)
    }
}

/// The newest `question` on a thread.
async fn latest_question(conn: &mut SqliteConnection, thread_id: &str) -> Result<Option<Message>> {
    let row = sqlx::query(
        "SELECT * FROM messages WHERE thread_id = ? AND kind = 'question' ORDER BY message_id DESC LIMIT 1",
    )
    .bind(thread_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut message = rows::message(&row)?;
    attach_artifacts(conn, std::slice::from_mut(&mut message)).await?;
    Ok(Some(message))
}
