//! What needs the leader now (`orch next`): open questions, tasks the retry ladder gave
//! up, failed completion checks that no ladder follows, failed attempts nobody
//! supervised, ready tasks that no `orch up` will dispatch, and the run's finish.
//!
//! Each item is a state that began with one event, its anchor: the question's message,
//! `task_given_up`, `task_verification_recorded`, `task_failed`, `task_added` or
//! `task_ready` (or the `up_stopped` that left a ready task to the leader), and
//! `run_finished`. [`Store::needs_leader`] returns the items still pending whose anchor
//! is after a cursor, with the newest event id as the next cursor, all read in one
//! snapshot. A state never becomes pending again without a new anchor, so a reader that
//! passes the cursor back sees each item once and misses none.

use super::{Db, Row, Store, args, fetch_all, scalar_one, sql};
use crate::error::Result;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// The event types that anchor items: an item can only appear after one of them.
pub const ANCHOR_EVENTS: &[&str] = &[
    "thread_update",
    "task_given_up",
    "task_verification_recorded",
    "task_failed",
    "task_added",
    "task_ready",
    "up_stopped",
    "run_finished",
];

/// Lines of output or check details an item carries.
const LAST_LINES: usize = 3;
/// Longest line an item carries, in characters.
const LINE_MAX: usize = 160;

/// One thing that needs the leader.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Need {
    /// A worker's open question: blocked, and no answer after it yet.
    Question {
        event_id: i64,
        task_id: String,
        attempt_no: i64,
        message_id: i64,
        /// `payload_json.question` when the worker gave one, else the summary.
        text: String,
        /// `payload_json.options`, when the worker gave them.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        options: Vec<Value>,
        /// The message body's length when it says more than `text`.
        #[serde(skip_serializing_if = "Option::is_none")]
        body_bytes: Option<usize>,
    },
    /// The retry ladder left the task failed.
    GaveUp {
        event_id: i64,
        task_id: String,
        attempts: i64,
        why: String,
        last_lines: Vec<String>,
    },
    /// A required check someone other than orch recorded as failed: no ladder follows.
    CheckFailed {
        event_id: i64,
        task_id: String,
        attempt_no: i64,
        check: String,
        last_lines: Vec<String>,
    },
    /// An attempt without a supervisor (dispatched, not launched) failed: nothing
    /// retries it.
    Failed {
        event_id: i64,
        task_id: String,
        attempt_no: i64,
        why: String,
    },
    /// Ready tasks that no `orch up` will dispatch, in ready order.
    Ready {
        event_id: i64,
        why: &'static str,
        task_ids: Vec<String>,
    },
    /// The run finished: `run_finished`'s digest.
    RunFinished {
        event_id: i64,
        status: String,
        summary: String,
        failed: Vec<String>,
    },
}

impl Need {
    /// The event the item is anchored to.
    pub fn event_id(&self) -> i64 {
        match self {
            Need::Question { event_id, .. }
            | Need::GaveUp { event_id, .. }
            | Need::CheckFailed { event_id, .. }
            | Need::Failed { event_id, .. }
            | Need::Ready { event_id, .. }
            | Need::RunFinished { event_id, .. } => *event_id,
        }
    }
}

/// The reply of [`Store::needs_leader`].
#[derive(Debug, Clone, Serialize)]
pub struct NextView {
    /// Oldest anchor first.
    pub items: Vec<Need>,
    /// The newest event id of the snapshot: the cursor to pass back.
    pub next_event_id: i64,
}

/// Why ready tasks are the leader's.
pub const NO_UP: &str = "no orch up runs the run";
pub const NO_WORKER: &str = "no default worker";

impl Store {
    /// The items pending in `run_id` whose anchor is after event `after` (0: every
    /// pending item), folded first (so a finished run has its `run_finished`).
    pub async fn needs_leader(&self, run_id: &str, after: i64) -> Result<NextView> {
        let mut conn = self.lock_reconciled(run_id).await?;
        let conn = &mut conn.db();
        // One read transaction: every item and the cursor come from one snapshot.
        let mut tx = conn.begin_read().await?;
        let db = &mut tx.db();
        let sql = sql!("SELECT COALESCE(MAX(event_id), 0) FROM events");
        let next_event_id: i64 = scalar_one(db, sql, args![]).await?;
        let mut items = questions(db, run_id, after).await?;
        items.extend(failures(db, run_id, after).await?);
        items.extend(ready(db, run_id, after).await?);
        items.extend(finished(db, run_id, after).await?);
        tx.commit().await?;
        items.sort_by_key(Need::event_id);
        Ok(NextView {
            items,
            next_event_id,
        })
    }
}

/// Open questions: the current attempt's thread is blocked on its newest question and no
/// answer came after it.
async fn questions(conn: &mut Db<'_>, run_id: &str, after: i64) -> Result<Vec<Need>> {
    let rows = fetch_all(
        conn,
        sql!("SELECT * FROM (
                 SELECT t.task_id, a.attempt_no, q.message_id, q.summary, q.body, q.payload_json,
                        (SELECT MIN(e.event_id) FROM events e WHERE e.message_id = q.message_id) AS anchor
                 FROM tasks t
                 JOIN attempts a ON a.task = t.id AND a.attempt_no = t.current_attempt
                 JOIN threads th ON th.thread_id = a.thread_id AND th.status = 'blocked'
                 JOIN messages q ON q.message_id = (
                     SELECT MAX(message_id) FROM messages
                     WHERE thread_id = a.thread_id AND kind = 'question')
                 WHERE t.run_id = $1 AND t.status = 'blocked'
                   AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.thread_id = a.thread_id
                                   AND r.kind = 'answer' AND r.message_id > q.message_id)) open
              WHERE anchor > $2"),
        args![run_id, after],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let payload = super::rows::json(row.try_get("payload_json")?);
        let summary: String = row.try_get("summary")?;
        let body: String = row.try_get("body")?;
        let text = match payload.get("question").and_then(Value::as_str) {
            Some(q) if !q.trim().is_empty() => q.trim().to_string(),
            _ => summary.trim().to_string(),
        };
        let options = match payload.get("options") {
            Some(Value::Array(options)) => options.clone(),
            _ => Vec::new(),
        };
        let says_more = !body.trim().is_empty() && body.trim() != text && body.trim() != summary;
        out.push(Need::Question {
            event_id: row.try_get("anchor")?,
            task_id: row.try_get("task_id")?,
            attempt_no: row.try_get("attempt_no")?,
            message_id: row.try_get("message_id")?,
            text,
            options,
            body_bytes: says_more.then_some(body.len()),
        });
    }
    Ok(out)
}

/// Failed tasks whose failure nothing follows up: a give-up, a failed check recorded by
/// someone other than orch, a failed unsupervised attempt; each for the task's current
/// attempt while the task is still failed.
async fn failures(conn: &mut Db<'_>, run_id: &str, after: i64) -> Result<Vec<Need>> {
    let rows = fetch_all(
        &mut *conn,
        sql!(
            "SELECT e.event_id, e.event_type, e.task_id, e.summary, e.payload_json,
                    t.id AS task_key, t.current_attempt, a.output_tail, a.supervisor_pid
             FROM events e
             JOIN tasks t ON t.run_id = e.run_id AND t.task_id = e.task_id AND t.status = 'failed'
             LEFT JOIN attempts a ON a.task = t.id AND a.attempt_no = t.current_attempt
             WHERE e.run_id = $1 AND e.event_id > $2
               AND e.event_type IN ('task_given_up', 'task_verification_recorded', 'task_failed')
             ORDER BY e.event_id"
        ),
        args![run_id, after],
    )
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let payload = super::rows::json(row.try_get("payload_json")?);
        let current: i64 = row.try_get("current_attempt")?;
        if payload.get("attempt_no").and_then(Value::as_i64) != Some(current) {
            continue;
        }
        let event_id: i64 = row.try_get("event_id")?;
        let task_id: String = row.try_get("task_id")?;
        let summary: String = row.try_get("summary")?;
        let kind: String = row.try_get("event_type")?;
        let item = match kind.as_str() {
            "task_given_up" => {
                let task_key: i64 = row.try_get("task_key")?;
                let tail: Option<String> = row.try_get("output_tail")?;
                let (why, lines) = match failed_check(conn, task_key, current).await? {
                    Some((check, details)) => (format!("{summary}; check {check} failed"), details),
                    None => (summary, tail.unwrap_or_default()),
                };
                Need::GaveUp {
                    event_id,
                    task_id,
                    attempts: current,
                    why,
                    last_lines: last_lines(&lines),
                }
            }
            "task_verification_recorded"
                if payload["status"] == "failed" && payload["by"] != "orch" =>
            {
                Need::CheckFailed {
                    event_id,
                    task_id,
                    attempt_no: current,
                    check: payload["check"].as_str().unwrap_or_default().to_string(),
                    last_lines: last_lines(payload["details"].as_str().unwrap_or_default()),
                }
            }
            "task_failed" if payload.get("check").is_none() && unsupervised(&row)? => {
                Need::Failed {
                    event_id,
                    task_id,
                    attempt_no: current,
                    why: summary,
                }
            }
            _ => continue,
        };
        out.push(item);
    }
    Ok(out)
}

fn unsupervised(row: &Row) -> Result<bool> {
    let pid: Option<i64> = row.try_get("supervisor_pid")?;
    Ok(pid.is_none())
}

/// The newest failed check of an attempt: its name and details.
async fn failed_check(
    conn: &mut Db<'_>,
    task_key: i64,
    attempt_no: i64,
) -> Result<Option<(String, String)>> {
    let row = super::fetch_optional(
        conn,
        sql!(
            "SELECT check_name, details FROM verifications
             WHERE task = $1 AND attempt_no = $2 AND status = 'failed' ORDER BY id DESC LIMIT 1"
        ),
        args![task_key, attempt_no],
    )
    .await?;
    row.map(|r| Ok((r.try_get("check_name")?, r.try_get("details")?)))
        .transpose()
}

/// Ready tasks no `orch up` will dispatch: all of them when none runs the run (anchored
/// at their becoming ready, or at the `up_stopped` that left them to the leader), else
/// those without a default worker.
async fn ready(conn: &mut Db<'_>, run_id: &str, after: i64) -> Result<Vec<Need>> {
    let tasks = fetch_all(
        &mut *conn,
        sql!(
            sqlite: "SELECT task_id, default_to FROM tasks INDEXED BY tasks_by_status
                     WHERE run_id = $1 AND status = 'ready' ORDER BY priority_rank DESC, id",
            pg: "SELECT task_id, default_to FROM tasks
                 WHERE run_id = $1 AND status = 'ready' ORDER BY priority_rank DESC, id",
        ),
        args![run_id],
    )
    .await?;
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let up_running = super::hosts::any_up(conn, run_id).await?;
    let up_event: Option<i64> = super::scalar(
        &mut *conn,
        sql!("SELECT up_event_id FROM runs WHERE run_id = $1"),
        args![run_id],
    )
    .await?
    .flatten();
    let stopped_at = if up_running { 0 } else { up_event.unwrap_or(0) };
    // When each task last became ready, for the tasks that did after the cursor.
    let became_ready: HashMap<String, i64> = fetch_all(
        &mut *conn,
        sql!(
            "SELECT task_id, MAX(event_id) AS anchor FROM events
             WHERE run_id = $1 AND event_id > $2 AND event_type IN ('task_added', 'task_ready')
             GROUP BY task_id"
        ),
        args![run_id, after],
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("task_id")?, r.try_get("anchor")?)))
    .collect::<Result<_>>()?;
    let group = |why: &'static str, keep: &dyn Fn(&str) -> bool| -> Result<Option<Need>> {
        let mut task_ids = Vec::new();
        let mut event_id = 0;
        for row in &tasks {
            let task_id: String = row.try_get("task_id")?;
            let default_to: String = row.try_get("default_to")?;
            let anchor = became_ready
                .get(&task_id)
                .copied()
                .unwrap_or(0)
                .max(stopped_at);
            if anchor > after && keep(&default_to) {
                event_id = event_id.max(anchor);
                task_ids.push(task_id);
            }
        }
        Ok((!task_ids.is_empty()).then_some(Need::Ready {
            event_id,
            why,
            task_ids,
        }))
    };
    let item = if up_running {
        group(NO_WORKER, &|default_to| default_to.is_empty())?
    } else {
        group(NO_UP, &|_| true)?
    };
    Ok(item.into_iter().collect())
}

/// The run's current finish, if it is after the cursor.
async fn finished(conn: &mut Db<'_>, run_id: &str, after: i64) -> Result<Vec<Need>> {
    let row = super::fetch_optional(
        conn,
        sql!(
            "SELECT e.event_id, e.summary, e.payload_json FROM runs r
             JOIN events e ON e.event_id = r.finished_event_id
             WHERE r.run_id = $1 AND r.finished_event_id > $2"
        ),
        args![run_id, after],
    )
    .await?;
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let payload = super::rows::json(row.try_get("payload_json")?);
    let failed = match payload.get("failed") {
        Some(Value::Array(ids)) => ids
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    Ok(vec![Need::RunFinished {
        event_id: row.try_get("event_id")?,
        status: payload["status"].as_str().unwrap_or_default().to_string(),
        summary: row.try_get("summary")?,
        failed,
    }])
}

/// The last few non-empty lines of `text`, each at most [`LINE_MAX`] characters.
fn last_lines(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(LAST_LINES)..]
        .iter()
        .map(|line| match line.char_indices().nth(LINE_MAX) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => line.to_string(),
        })
        .collect()
}

#[cfg(test)]
#[path = "next_tests.rs"]
mod tests;
