//! Reconcile: folding each latest attempt's thread status into its task (contract §6),
//! releasing dependents of finished tasks, recording the run's finish (`run_finished`,
//! once per finish: see [`runs::record_finish`]), and the read views built on top of it
//! (`status`, `blocked`).

use super::events::NewEvent;
use super::tasks::{
    TaskSelection, load_tasks, parse_json_rows, release_dependents, set_task_status,
};
use super::threads::attach_artifacts;
use super::{Conn, Db, Tx, args, execute, fetch_all, fetch_one, fetch_optional, sql};
use super::{Store, parse_or_corrupt, rows, runs};
use crate::error::{Error, Result};
use crate::model::{
    Attempt, EventSubject, Message, Run, Task, TaskCounts, TaskStatus, TaskView, ThreadStatus,
};
use crate::time::now_ms;
use serde::Serialize;
use serde_json::json;
use tokio::sync::MappedMutexGuard;

/// What `orch status` shows: the run, and its task rows as a JSON array.
pub struct StatusView {
    pub run: Run,
    /// The [`TaskView`] objects in creation order as JSON, comma-separated in chunks:
    /// the array is `[` + the chunks joined by `,` + `]`.
    chunks: Vec<String>,
}

impl StatusView {
    /// The task rows as one JSON array.
    fn tasks_json(&self) -> String {
        format!("[{}]", self.chunks.join(","))
    }

    /// The whole view as JSON text in pieces (`{"run":..,"tasks":[..]}`), without
    /// copying the task rows into one string.
    pub fn into_json_parts(self) -> Result<Vec<String>> {
        let run = serde_json::to_string(&self.run).map_err(|e| Error::internal(e.to_string()))?;
        let mut parts = Vec::with_capacity(self.chunks.len() * 2 + 1);
        parts.push(format!("{{\"run\":{run},\"tasks\":["));
        for (i, chunk) in self.chunks.into_iter().enumerate() {
            if i > 0 {
                parts.push(",".to_string());
            }
            parts.push(chunk);
        }
        parts.push("]}".to_string());
        Ok(parts)
    }

    /// The task rows as records (for the human table).
    pub fn tasks(&self) -> Result<Vec<TaskView>> {
        parse_json_rows(&self.tasks_json())
    }
}

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
async fn pending(conn: &mut Db<'_>, run_id: &str) -> Result<Vec<Pending>> {
    let rows = fetch_all(
        conn,
        sql!("SELECT t.id, t.task_id, t.status, th.thread_id, th.status AS thread_status, th.assigned_to,
                     a.attempt_no, th.last_message_id, m.summary AS last_summary,
                     EXISTS (SELECT 1 FROM task_checks c WHERE c.task = t.id) AS has_checks
              FROM tasks t
              JOIN attempts a ON a.task = t.id AND a.attempt_no = t.current_attempt
              JOIN threads th ON th.thread_id = a.thread_id
              LEFT JOIN messages m ON m.message_id = th.last_message_id
              WHERE t.run_id = $1 AND t.status IN ('dispatched', 'running', 'blocked')
                -- rows that agree already (the common case) stay in the database
                AND NOT ((t.status = 'dispatched' AND th.status = 'pending')
                      OR (t.status = 'running' AND th.status IN ('claimed', 'in_progress'))
                      OR (t.status = 'blocked' AND th.status = 'blocked'))
              ORDER BY t.id"),
        args![run_id],
    )
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
pub(crate) async fn reconcile_in(
    conn: &mut Db<'_>,
    run_id: &str,
    now: i64,
) -> Result<Vec<TaskChange>> {
    let mut changes = Vec::new();
    for p in pending(conn, run_id).await? {
        let event = NewEvent {
            subject: EventSubject {
                thread_id: Some(p.thread_id.clone()),
                ..EventSubject::default()
            },
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
    runs::record_finish(conn, run_id, now).await?;
    Ok(changes)
}

/// Folds what is pending in `run_id` on the process's connection (no transaction
/// open): two reads when nothing changed (the common case), a short write transaction
/// otherwise. The run's finish is recorded here, so `run_finished` exists whoever
/// reads the run first, with or without `orch up`. An unknown run is `not_found`.
pub(crate) async fn fold(conn: &mut Db<'_>, run_id: &str) -> Result<Vec<TaskChange>> {
    let finish_due = runs::finish_due(conn, run_id).await?;
    if !finish_due && pending(conn, run_id).await?.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = conn.begin().await?;
    let changes = reconcile_in(&mut tx.db(), run_id, now_ms()).await?;
    tx.commit().await?;
    Ok(changes)
}

/// Starts a write transaction on a run that exists, with its pending thread statuses
/// folded in first, for the writes that decide by a task's status.
pub(crate) async fn begin_reconciled<'c>(
    conn: &'c mut Db<'_>,
    run_id: &str,
    now: i64,
) -> Result<Tx<'c>> {
    let mut tx = conn.begin().await?;
    let db = &mut tx.db();
    runs::require_run(db, run_id).await?;
    reconcile_in(db, run_id, now).await?;
    Ok(tx)
}

impl Store {
    /// [`Store::write`] on a run that exists, with its pending thread statuses folded in
    /// first (in the same transaction), for the writes that decide by a task's status.
    pub(crate) async fn write_reconciled<T>(
        &self,
        run_id: &str,
        step: impl AsyncFnOnce(&mut Db<'_>, i64) -> Result<T>,
    ) -> Result<T> {
        self.write(async |tx, now| {
            runs::require_run(tx, run_id).await?;
            reconcile_in(tx, run_id, now).await?;
            step(tx, now).await
        })
        .await
    }

    /// `orch reconcile`: folds thread statuses into task statuses. Reads first and takes
    /// the write lock only when something changed. The reads that decide by task status
    /// ([`Store::status_view`], [`Store::ready`], [`Store::attempt_plan`], ...) do the
    /// same by themselves; this is the verb.
    pub async fn reconcile(&self, run_id: &str) -> Result<Vec<TaskChange>> {
        fold(&mut self.lock().await?.db(), run_id).await
    }

    /// The process's connection after [`fold`]: what every read of task statuses
    /// starts with, so that no caller can forget it.
    pub(crate) async fn lock_reconciled(&self, run_id: &str) -> Result<MappedMutexGuard<'_, Conn>> {
        let mut conn = self.lock().await?;
        fold(&mut conn.db(), run_id).await?;
        Ok(conn)
    }

    /// `orch status` (reconciled first): the run and every task with its latest attempt,
    /// latest message and, when blocked, its question. Each task's row is kept rendered
    /// as JSON in `tasks.status_json` (re-rendered by triggers whenever anything it shows
    /// changes; see `migrations/0008_task_status_rows.sql`) and handed on as text: for a
    /// run of thousands of tasks that is several times faster than building the objects
    /// per call, and many times faster than decoding rows and encoding them again.
    pub async fn status_view(&self, run_id: &str) -> Result<StatusView> {
        let mut conn = self.lock_reconciled(run_id).await?;
        let conn = &mut conn.db();
        if let Some(view) = read_status_view(conn, run_id).await? {
            return Ok(view);
        }
        // A row without its rendering: every write renders in its own transaction, so
        // only a database written by other means gets here. Render what is missing and
        // read again, rather than leave tasks out.
        let mut tx = conn.begin().await?;
        let healed = execute(
            &mut tx.db(),
            sql!("UPDATE tasks SET status_json = (SELECT obj FROM task_status_rows v WHERE v.id = tasks.id)
                  WHERE run_id = $1 AND status_json IS NULL"),
            args![run_id],
        )
        .await?;
        tx.commit().await?;
        tracing::warn!("rendered the status rows of {healed} tasks that had none");
        read_status_view(conn, run_id)
            .await?
            .ok_or_else(|| Error::internal("task status rows are missing after rendering them"))
    }

    /// `orch blocked`: blocked tasks with their current attempt and newest question.
    pub async fn blocked(&self, run_id: &str) -> Result<Vec<(Task, Attempt, Option<Message>)>> {
        let mut conn = self.lock_reconciled(run_id).await?;
        let conn = &mut conn.db();
        let tasks = load_tasks(conn, run_id, TaskSelection::Status(TaskStatus::Blocked)).await?;
        let mut out = Vec::with_capacity(tasks.len());
        for (_, task) in tasks {
            let Some(attempt) =
                super::attempts::load_attempt(conn, run_id, &task.task_id, task.current_attempt)
                    .await?
            else {
                continue;
            };
            let question = latest_question(conn, &attempt.thread_id).await?;
            out.push((task, attempt, question));
        }
        Ok(out)
    }
}

/// The run and its stored task rows, read in one snapshot; `None` when a row has no
/// rendering.
async fn read_status_view(conn: &mut Db<'_>, run_id: &str) -> Result<Option<StatusView>> {
    // One read transaction: the pages below see one snapshot.
    let mut tx = conn.begin_read().await?;
    let db = &mut tx.db();
    let run = runs::load_run_row(db, run_id).await?;
    // The counts come with the rows: one pass over the tasks, not two.
    let mut counts = TaskCounts::default();
    // SQLite: a page of rows at a time: one 500 KB text would be copied four times on
    // its way out (SQLite, sqlx's row, the decode, the envelope), each copy into fresh
    // pages; 100 KB pages reuse the allocator's heap instead. PostgreSQL: every row in
    // one statement, as each page would cost a round trip and a scan on the server
    // (measured with psql on 1,000 tasks: six pages 11-14 ms, one statement 6 ms).
    let mut chunks = Vec::new();
    let mut after = i64::MIN;
    loop {
        let page = fetch_one(
            db,
            sql!(
                sqlite: "SELECT max(id) AS last, count(*) AS count, count(status_json) AS rendered,
                                group_concat(status_json, ',') AS text, group_concat(status, ',') AS statuses
                         FROM (SELECT id, status, status_json FROM tasks INDEXED BY tasks_by_run
                               WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT 200)",
                pg: "SELECT max(id) AS last, count(*) AS count, count(status_json) AS rendered,
                            string_agg(status_json, ',' ORDER BY id) AS text, string_agg(status, ',') AS statuses
                     FROM tasks WHERE run_id = $1 AND id > $2",
            ),
            args![run_id, after],
        )
        .await?;
        let last: Option<i64> = page.try_get("last")?;
        let count: i64 = page.try_get("count")?;
        let rendered: i64 = page.try_get("rendered")?;
        let text: Option<String> = page.try_get("text")?;
        if rendered != count {
            tx.rollback().await?;
            return Ok(None);
        }
        let (Some(last), Some(text)) = (last, text) else {
            break;
        };
        let statuses: String = page.try_get("statuses")?;
        for status in statuses.split(',') {
            let status = parse_or_corrupt("task status", status, TaskStatus::parse)?;
            counts.add(status, 1);
        }
        chunks.push(text);
        if count < 200 || db.is_pg() {
            break;
        }
        after = last;
    }
    tx.commit().await?;
    let run = runs::run_with_counts(&run, counts)?;
    Ok(Some(StatusView { run, chunks }))
}

/// The newest `question` on a thread.
async fn latest_question(conn: &mut Db<'_>, thread_id: &str) -> Result<Option<Message>> {
    let row = fetch_optional(
        &mut *conn,
        sql!("SELECT * FROM messages WHERE thread_id = $1 AND kind = 'question' ORDER BY message_id DESC LIMIT 1"),
        args![thread_id],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut message = rows::message(&row)?;
    attach_artifacts(conn, std::slice::from_mut(&mut message)).await?;
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn status_renders_rows_that_lost_their_rendering() {
        let store = crate::store::test_store(
            &[("a", "ready"), ("b", "planned"), ("c", "ready")],
            // written by other means: no trigger re-renders it
            "UPDATE tasks SET status_json = NULL WHERE task_id = 'b'",
        )
        .await;
        let view = store.status_view("r").await.unwrap();
        let tasks = view.tasks().unwrap();
        let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(tasks[1].status, TaskStatus::Planned);
        assert_eq!(
            store.integrity_problems().await.unwrap(),
            Vec::<String>::new()
        );
    }

    #[tokio::test]
    async fn integrity_problems_name_a_stale_status_row() {
        let store =
            crate::store::test_store(&[("a", "ready")], "UPDATE tasks SET status_json = '{}'")
                .await;
        assert_eq!(
            store.integrity_problems().await.unwrap(),
            ["task a of run r: stored status row differs from its rendering"]
        );
    }

    use crate::store::FinishKind;
    use crate::store::testing::{dispatch, new_attempt, status, store_with, work, *};

    #[tokio::test]
    async fn a_task_follows_its_latest_attempts_thread_without_a_reconcile_call() {
        let (store, attempt) = one_dispatched().await;
        assert_eq!(status(&store, "t").await, TaskStatus::Dispatched);
        let thread = attempt.thread_id.as_str();
        store.claim(thread, WORKER, LEASE_MS).await.unwrap();
        assert_eq!(status(&store, "t").await, TaskStatus::Running);
        ask(&store, thread, serde_json::json!({})).await;
        let question = crate::store::MessageInput::default();
        let blocked = store.blocked("r").await.unwrap();
        assert_eq!(blocked.len(), 1);
        assert_eq!(blocked[0].2.as_ref().unwrap().summary, "which way?");
        say(&store, thread, ThreadStatus::InProgress, "on it", &question).await;
        assert_eq!(status(&store, "t").await, TaskStatus::Running);
        let finished = crate::store::MessageInput::default();
        say(&store, thread, ThreadStatus::Done, "done", &finished).await;
        assert_eq!(status(&store, "t").await, TaskStatus::Done);
        let folds: Vec<String> = event_types(&store)
            .await
            .into_iter()
            .filter(|t| t.starts_with("task_") && t != "task_added")
            .collect();
        assert_eq!(
            folds,
            [
                "task_dispatched",
                "task_running",
                "task_blocked",
                "task_running",
                "task_done"
            ]
        );
    }

    #[tokio::test]
    async fn reconcile_with_nothing_to_fold_writes_nothing() {
        let store = store_with(&["a", "b"]).await;
        let attempt = dispatch(&store, "a").await;
        work(&store, &attempt, FinishKind::Failed).await;
        let changes = store.reconcile("r").await.unwrap();
        assert_eq!(
            changes,
            [TaskChange {
                task_id: "a".into(),
                status: TaskStatus::Failed
            }]
        );
        let before = store.max_event_id().await.unwrap();
        assert!(store.reconcile("r").await.unwrap().is_empty());
        store.status_view("r").await.unwrap();
        store.ready("r").await.unwrap();
        assert_eq!(store.max_event_id().await.unwrap(), before);
    }

    #[tokio::test]
    async fn only_the_latest_attempt_moves_the_task() {
        let store = store_with(&["t"]).await;
        let first = dispatch(&store, "t").await;
        store
            .claim(&first.thread_id, WORKER, LEASE_MS)
            .await
            .unwrap();
        let mut reassign = new_attempt("t", 2, &[TaskStatus::Running, TaskStatus::Dispatched]);
        reassign.cancel_current = Some("moved".into());
        store
            .attempt_plan("r", "t", reassign.allowed, "reassign")
            .await
            .unwrap();
        let second = store.create_attempt(&reassign).await.unwrap().attempt;
        assert_eq!(status(&store, "t").await, TaskStatus::Dispatched);
        // The first attempt's thread was cancelled by the reassign: finishing it is
        // refused, and the task stays with the second attempt.
        let done = crate::store::MessageInput::default();
        let late = worker_report(&first.thread_id, ThreadStatus::Done, "late", &done);
        let late = store.report(late).await.unwrap_err();
        assert_eq!(late.code, crate::error::ErrorCode::InvalidState);
        work(&store, &second, FinishKind::Failed).await;
        assert_eq!(status(&store, "t").await, TaskStatus::Failed);
    }

    #[tokio::test]
    async fn cancel_folds_first_and_leaves_a_finished_task_alone() {
        let (store, attempt) = one_dispatched().await;
        work(&store, &attempt, FinishKind::Done).await;
        let err = store
            .cancel_task("r", "t", "leader", "too late")
            .await
            .unwrap_err();
        assert_eq!(err.message, r#"task "t" is already done"#);
        assert_eq!(status(&store, "t").await, TaskStatus::Done);
    }

    #[tokio::test]
    async fn an_unknown_run_is_not_found_for_every_reconciling_read() {
        let store = store_with(&[]).await;
        let not_found = |e: crate::error::Error| {
            assert_eq!(e.code, crate::error::ErrorCode::NotFound);
            assert_eq!(e.message, r#"run "x" not found"#);
        };
        not_found(store.reconcile("x").await.unwrap_err());
        not_found(store.status_view("x").await.err().unwrap());
        not_found(store.ready("x").await.unwrap_err());
        not_found(store.blocked("x").await.unwrap_err());
        not_found(store.events_after("x", 0, 10).await.unwrap_err());
    }
}
