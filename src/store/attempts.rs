//! Attempts: creating one (dispatch, retry, reassign) with its thread and task message
//! in one transaction, cancelling the active one, and the workspace
//! bookkeeping that cleanup needs.

use super::NotFound;
use super::events::{self, NewEvent};
use super::succession::describe;
use super::tasks::{self, load_task, set_task_status, task_key};
use super::threads::{self as inbox, MessageInput, NewMessage};
use super::{Db, args, execute, fetch_all, fetch_record, scalar, scalar_one, sql};
use super::{Store, rows, runs};
use crate::error::{Error, Result};
use crate::model::{
    Attempt, ExecutionMode, Message, MessageKind, Task, TaskStatus, Thread, ThreadStatus,
    Workspace, WorkspaceStatus,
};
use serde_json::{Value, json};
use std::path::Path;

macro_rules! attempt_select {
    () => {
        "SELECT a.run_id, a.task_id, a.attempt_no, a.thread_id, a.assigned_to, a.execution_mode,
                th.status AS thread_status, a.repo_path, a.base_ref, a.base_commit, a.branch_name,
                a.worktree_path, a.workspace_status, a.created_at, a.updated_at
         FROM attempts a JOIN threads th ON th.thread_id = a.thread_id "
    };
}

/// What a dispatch needs to know before it touches git.
#[derive(Debug, Clone)]
pub struct AttemptPlan {
    pub task: Task,
    pub next_attempt_no: i64,
    pub current: Option<Attempt>,
}

/// What recording a new attempt wrote: the task as it is now (`dispatched`), the
/// attempt, its thread and the task message.
#[derive(Debug, Clone)]
pub struct Created {
    pub task: Task,
    pub attempt: Attempt,
    pub thread: Thread,
    pub message: Message,
}

/// A new attempt to record.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub run_id: String,
    pub task_id: String,
    pub attempt_no: i64,
    pub assigned_to: String,
    pub execution_mode: ExecutionMode,
    /// Who dispatches (the thread's creator).
    pub created_by: String,
    pub body: String,
    pub workspace: Workspace,
    /// Task statuses in which this attempt may be created.
    pub allowed: &'static [TaskStatus],
    /// Reassign: the reason to cancel the current attempt's thread with.
    pub cancel_current: Option<String>,
    /// An extra event (`task_retried`, `task_reassigned`) with its payload.
    pub extra_event: Option<ExtraEvent>,
    /// The host whose process launches the attempt's supervisor right after making it,
    /// recorded with the attempt (`None`: nobody launches it yet, it has no host until
    /// a supervisor claims it). So an attempt whose launcher dies before its supervisor
    /// claims it stays its host's: that host's `orch up` launches it, or, once the
    /// host's heartbeat lapsed, another host takes it over; no other host adopts it
    /// and runs it in the dead host's clone.
    pub host: Option<String>,
}

/// An event recorded with a new attempt, before its `task_dispatched`.
#[derive(Debug, Clone)]
pub struct ExtraEvent {
    pub event_type: &'static str,
    pub payload: Value,
}

pub(crate) async fn load_attempt(
    conn: &mut Db<'_>,
    run_id: &str,
    task_id: &str,
    attempt_no: i64,
) -> Result<Option<Attempt>> {
    fetch_record(
        conn,
        sql!(concat!(
            attempt_select!(),
            "WHERE a.run_id = $1 AND a.task_id = $2 AND a.attempt_no = $3"
        )),
        args![run_id, task_id, attempt_no],
        rows::attempt,
    )
    .await
}

impl Store {
    /// Reads what a dispatch, retry or reassign needs: the task, its next attempt
    /// number and its current attempt. Checks the task's status against `allowed`.
    pub async fn attempt_plan(
        &self,
        run_id: &str,
        task_id: &str,
        allowed: &[TaskStatus],
        verb: &str,
    ) -> Result<AttemptPlan> {
        let mut conn = self.lock_reconciled(run_id).await?;
        let conn = &mut conn.db();
        let (_, task) = load_task(conn, run_id, task_id).await?;
        if !allowed.contains(&task.status) {
            // The attempt it is on: what a leader who came second must know.
            let on = match task.current_attempt {
                0 => String::new(),
                n => format!(" on {}", describe(conn, run_id, task_id, n).await?),
            };
            return Err(Error::invalid_state(format!(
                "task {task_id:?} is {}{on}; {verb} needs it {}",
                task.status,
                allowed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        }
        let current = match task.current_attempt {
            0 => None,
            n => load_attempt(conn, run_id, task_id, n).await?,
        };
        Ok(AttemptPlan {
            next_attempt_no: task.current_attempt + 1,
            task,
            current,
        })
    }

    /// Records a new attempt: its thread, the task message, the attempt row and the
    /// task's move to `dispatched`, all in one transaction.
    pub async fn create_attempt(&self, new: &NewAttempt) -> Result<Created> {
        self.write(async |tx, now| {
            let (key, task) = new.task_to_dispatch(tx, now).await?;
            let thread = new.insert_thread(tx, &task, now).await?;
            let message = new.insert_task_message(tx, &task, &thread, now).await?;
            new.insert_row(tx, key, &thread.thread_id, now).await?;
            new.mark_dispatched(tx, key, &thread, &message, now).await?;
            let (_, task) = load_task(tx, &new.run_id, &new.task_id).await?;
            let attempt = load_attempt(tx, &new.run_id, &new.task_id, new.attempt_no)
                .await?
                .ok_or_else(|| Error::internal("attempt vanished inside its own transaction"))?;
            Ok(Created {
                task,
                attempt,
                thread,
                message,
            })
        })
        .await
    }
}

/// The steps of [`Store::create_attempt`], in order, inside its transaction.
impl NewAttempt {
    /// The task, still on the attempt the caller saw (the one before `attempt_no`) and
    /// in a status the attempt may be created in; the current attempt's thread cancelled
    /// first for a reassign. A caller who came second is told which attempt exists.
    async fn task_to_dispatch(&self, tx: &mut Db<'_>, now: i64) -> Result<(i64, Task)> {
        let new = self;
        // PostgreSQL: the task's row is held until the attempt is recorded, so a second
        // maker waits for the first and is then told which attempt exists (SQLite's
        // write lock serializes them already).
        let sql = sql!(
            sqlite: "SELECT id FROM tasks WHERE run_id = $1 AND task_id = $2",
            pg: "SELECT id FROM tasks WHERE run_id = $1 AND task_id = $2 FOR NO KEY UPDATE",
        );
        scalar::<i64>(tx, sql, args![&new.run_id, &new.task_id]).await?;
        let (key, task) = load_task(tx, &new.run_id, &new.task_id).await?;
        let seen = new.attempt_no - 1;
        if task.current_attempt > seen {
            let existing = describe(tx, &new.run_id, &new.task_id, task.current_attempt).await?;
            return Err(Error::invalid_state(format!(
                "task {:?} already has {existing}; nothing was dispatched",
                new.task_id
            )));
        }
        if task.current_attempt != seen || !new.allowed.contains(&task.status) {
            return Err(Error::invalid_state(format!(
                "task {:?} changed while it was being dispatched (now {}, attempt {}); nothing was dispatched",
                new.task_id, task.status, task.current_attempt
            )));
        }
        if let Some(reason) = &new.cancel_current
            && let Some(current) =
                load_attempt(tx, &new.run_id, &new.task_id, task.current_attempt).await?
        {
            let mut thread = inbox::load_thread(tx, &current.thread_id).await?;
            if !thread.status.is_terminal() {
                inbox::cancel_in(
                    tx,
                    &mut thread,
                    &new.created_by,
                    reason,
                    &MessageInput::default(),
                    now,
                )
                .await?;
            }
        }
        Ok((key, task))
    }

    /// The attempt's new thread, `pending`.
    async fn insert_thread(&self, tx: &mut Db<'_>, task: &Task, now: i64) -> Result<Thread> {
        let new = self;
        let thread_id = crate::ids::attempt_thread_id(&new.run_id, &new.task_id, new.attempt_no);
        if inbox::find_thread(tx, &thread_id).await?.is_some() {
            return Err(Error::invalid_state(format!(
                "thread {thread_id:?} already exists; nothing was dispatched"
            )));
        }
        let thread = Thread {
            thread_id: thread_id.clone(),
            run_id: Some(new.run_id.clone()),
            task_id: Some(new.task_id.clone()),
            subject: if task.title.is_empty() {
                new.task_id.clone()
            } else {
                task.title.clone()
            },
            created_by: new.created_by.clone(),
            assigned_to: new.assigned_to.clone(),
            status: ThreadStatus::Pending,
            priority: task.priority,
            created_at: now,
            updated_at: now,
        };
        inbox::insert_thread(tx, &thread).await?;
        Ok(thread)
    }

    /// The `task` message that opens the thread: the brief's body, and the task and
    /// workspace as its payload.
    async fn insert_task_message(
        &self,
        tx: &mut Db<'_>,
        task: &Task,
        thread: &Thread,
        now: i64,
    ) -> Result<Message> {
        let new = self;
        // Contract §5: the workspace fields sit at the payload's top level, beside
        // `execution_mode` (`""` where there is none, as in analysis mode).
        let mut payload = json!({
            "run_id": new.run_id,
            "task_id": new.task_id,
            "attempt_no": new.attempt_no,
            "execution_mode": new.execution_mode.as_str(),
            "title": task.title,
            "acceptance": task.acceptance,
            "required_checks": task.required_checks,
        });
        if let (Some(top), Value::Object(ws)) = (payload.as_object_mut(), json!(new.workspace)) {
            top.extend(ws);
        }
        let content = MessageInput {
            body: new.body.clone(),
            payload,
            artifacts: Vec::new(),
        };
        let summary = if task.summary.is_empty() {
            thread.subject.clone()
        } else {
            task.summary.clone()
        };
        let message = NewMessage {
            from: &new.created_by,
            to: &new.assigned_to,
            kind: MessageKind::Task,
            summary,
            content: &content,
        };
        inbox::insert_message(tx, &thread.thread_id, message, now).await
    }

    /// The attempt row, and the task's pointer to it.
    async fn insert_row(&self, tx: &mut Db<'_>, key: i64, thread_id: &str, now: i64) -> Result<()> {
        let (new, ws) = (self, &self.workspace);
        execute(
            &mut *tx,
            sql!("INSERT INTO attempts (task, run_id, task_id, attempt_no, thread_id, assigned_to, execution_mode,
                                        repo_path, base_ref, base_commit, branch_name, worktree_path, workspace_status,
                                        created_at, updated_at, host)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"),
            args![
                key,
                &new.run_id,
                &new.task_id,
                new.attempt_no,
                thread_id,
                &new.assigned_to,
                new.execution_mode.as_str(),
                path_text(ws.repo_path.as_deref()),
                ws.base_ref.as_deref().unwrap_or(""),
                ws.base_commit.as_deref().unwrap_or(""),
                ws.branch_name.as_deref().unwrap_or(""),
                path_text(ws.worktree_path.as_deref()),
                ws.workspace_status.map_or("", WorkspaceStatus::as_str),
                now,
                now,
                new.host.as_deref().unwrap_or(""),
            ],
        )
        .await?;
        execute(
            &mut *tx,
            sql!("UPDATE tasks SET current_attempt = $1 WHERE id = $2"),
            args![new.attempt_no, key],
        )
        .await?;
        Ok(())
    }

    /// The task becomes `dispatched` (event `task_dispatched`, after the retry's or
    /// reassign's own event).
    async fn mark_dispatched(
        &self,
        tx: &mut Db<'_>,
        key: i64,
        thread: &Thread,
        message: &Message,
        now: i64,
    ) -> Result<()> {
        let (new, ws) = (self, &self.workspace);
        if let Some(ExtraEvent {
            event_type,
            payload,
        }) = &new.extra_event
        {
            let summary = format!("attempt {} to {}", new.attempt_no, new.assigned_to);
            let event = (*event_type, summary.as_str(), payload.clone());
            events::insert_on_task(tx, (&new.run_id, &new.task_id), event, now).await?;
        }
        let dispatched = NewEvent::new("task_dispatched")
            .on_thread(thread)
            .message(message)
            .summary(format!(
                "attempt {} dispatched to {}",
                new.attempt_no, new.assigned_to
            ))
            .payload(json!({
                "attempt_no": new.attempt_no,
                "assigned_to": new.assigned_to,
                "execution_mode": new.execution_mode.as_str(),
                "thread_id": thread.thread_id,
                "worktree_path": path_text(ws.worktree_path.as_deref()),
            }));
        set_task_status(
            tx,
            key,
            &new.run_id,
            &new.task_id,
            TaskStatus::Dispatched,
            Some(dispatched),
            now,
        )
        .await
    }
}

impl Store {
    /// One attempt of a task; `None` for the current one.
    pub async fn attempt(
        &self,
        run_id: &str,
        task_id: &str,
        attempt_no: Option<i64>,
    ) -> Result<Attempt> {
        super::read_again!(self, conn => {
            attempt_of_task(&mut conn.db(), run_id, task_id, attempt_no).await
        })
    }

    /// Every attempt of a run (optionally of one task), oldest first.
    pub async fn attempts(&self, run_id: &str, task_id: Option<&str>) -> Result<Vec<Attempt>> {
        let mut conn = self.lock_reconciled(run_id).await?;
        let conn = &mut conn.db();
        let rows = fetch_all(conn, sql!(concat!(
            attempt_select!(),
            "WHERE a.run_id = $1 AND (CAST($2 AS TEXT) IS NULL OR a.task_id = $2) ORDER BY a.task, a.attempt_no"
        )), args![run_id, task_id]).await?;
        rows.iter().map(rows::attempt).collect()
    }

    /// `orch cancel --task`: the task and its open thread become `cancelled`.
    pub async fn cancel_task(
        &self,
        run_id: &str,
        task_id: &str,
        by: &str,
        reason: &str,
    ) -> Result<(Task, Option<Attempt>)> {
        // A task whose worker already finished is not cancelled after the fact.
        self.write_reconciled(run_id, async |tx, now| {
            let (key, status) = task_key(tx, run_id, task_id).await?;
            if status.is_terminal() {
                return Err(Error::invalid_state(format!(
                    "task {task_id:?} is already {status}"
                )));
            }
            let attempt = cancel_task_in(tx, run_id, task_id, key, by, reason, now).await?;
            let (_, task) = load_task(tx, run_id, task_id).await?;
            Ok((task, attempt))
        })
        .await
    }

    /// `orch cancel` without `--task`: the run and every non-terminal task.
    pub async fn cancel_run(
        &self,
        run_id: &str,
        by: &str,
        reason: &str,
    ) -> Result<Vec<(String, Option<Attempt>)>> {
        self.write_reconciled(run_id, async |tx, now| {
            execute(
                tx,
                sql!("UPDATE runs SET cancelled = 1, updated_at = $1 WHERE run_id = $2"),
                args![now, run_id],
            )
            .await?;
            let open = tasks::load_tasks(tx, run_id, tasks::TaskSelection::All).await?;
            let mut cancelled = Vec::new();
            for (key, task) in open.into_iter().filter(|(_, t)| !t.status.is_terminal()) {
                let attempt =
                    cancel_task_in(tx, run_id, &task.task_id, key, by, reason, now).await?;
                cancelled.push((task.task_id, attempt));
            }
            events::insert(
                tx,
                NewEvent::new("run_cancelled")
                    .on_run(run_id)
                    .summary(format!("run cancelled: {reason}"))
                    .payload(json!({"reason": reason, "by": by, "tasks": cancelled.len()})),
                now,
            )
            .await?;
            Ok(cancelled)
        })
        .await
    }

    /// Records that an attempt's worktree directory was removed.
    pub async fn mark_workspace_cleaned(
        &self,
        run_id: &str,
        task_id: &str,
        attempt_no: i64,
    ) -> Result<()> {
        self.write(async |tx, now| {
            execute(
                tx,
                sql!("UPDATE attempts SET workspace_status = $1, updated_at = $2 WHERE run_id = $3 AND task_id = $4 AND attempt_no = $5"),
                args![WorkspaceStatus::Cleaned.as_str(), now, run_id, task_id, attempt_no],
            )
            .await?;
            let summary = format!("attempt {attempt_no} worktree removed");
            let event = ("workspace_cleaned", summary.as_str(), json!({"attempt_no": attempt_no}));
            events::insert_on_task(tx, (run_id, task_id), event, now)
            .await?;
            Ok(())
        })
        .await
    }
}

/// A path as the attempts table keeps it: `''` for none.
fn path_text(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string()).unwrap_or_default()
}

/// Cancels a task's open attempt thread (if any) and the task itself.
async fn cancel_task_in(
    conn: &mut Db<'_>,
    run_id: &str,
    task_id: &str,
    key: i64,
    by: &str,
    reason: &str,
    now: i64,
) -> Result<Option<Attempt>> {
    let sql = sql!("SELECT current_attempt FROM tasks WHERE id = $1");
    let current: i64 = scalar_one(&mut *conn, sql, args![key]).await?;
    let mut attempt = match current {
        0 => None,
        n => load_attempt(conn, run_id, task_id, n).await?,
    };
    if let Some(a) = &mut attempt {
        let mut thread = inbox::load_thread(conn, &a.thread_id).await?;
        if !thread.status.is_terminal() {
            inbox::cancel_in(conn, &mut thread, by, reason, &MessageInput::default(), now).await?;
            a.status = thread.status;
        }
    }
    set_task_status(
        conn,
        key,
        run_id,
        task_id,
        TaskStatus::Cancelled,
        Some(
            NewEvent::new("task_cancelled")
                .summary(if reason.is_empty() {
                    "cancelled".to_string()
                } else {
                    format!("cancelled: {reason}")
                })
                .payload(json!({"reason": reason, "by": by})),
        ),
        now,
    )
    .await?;
    Ok(attempt)
}

/// Attempt `attempt_no` of a task (its current one by default).
async fn attempt_of_task(
    conn: &mut Db<'_>,
    run_id: &str,
    task_id: &str,
    attempt_no: Option<i64>,
) -> Result<Attempt> {
    runs::require_run(conn, run_id).await?;
    let (_, task) = load_task(conn, run_id, task_id).await?;
    let n = attempt_no.unwrap_or(task.current_attempt);
    if n == 0 {
        return Err(NotFound::NoAttemptYet {
            task: task_id.to_string(),
        }
        .into());
    }
    load_attempt(conn, run_id, task_id, n)
        .await?
        .ok_or_else(|| {
            NotFound::Attempt {
                task: task_id.to_string(),
                attempt_no: n,
            }
            .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::store::FinishKind;
    use crate::store::testing::*;

    #[tokio::test]
    async fn an_attempt_number_is_never_reused() {
        let store = store_with(&["t"]).await;
        let first = dispatch(&store, "t").await;
        assert_eq!(first.attempt_no, 1);
        // The same number again, or one that skips ahead, is refused.
        for n in [1, 3] {
            let err = store
                .create_attempt(&new_attempt("t", n, &[TaskStatus::Dispatched]))
                .await
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidState);
        }
        work(&store, &first, FinishKind::Failed).await;
        let plan = store
            .attempt_plan("r", "t", &[TaskStatus::Failed], "retry")
            .await
            .unwrap();
        assert_eq!(plan.next_attempt_no, 2);
        assert_eq!(plan.current.as_ref().unwrap().thread_id, first.thread_id);
        let retry = new_attempt("t", 2, &[TaskStatus::Failed]);
        let crate::store::Created {
            task,
            attempt: second,
            ..
        } = store.create_attempt(&retry).await.unwrap();
        assert_eq!((task.current_attempt, second.attempt_no), (2, 2));
        assert_ne!(second.thread_id, first.thread_id);
        let again = store.create_attempt(&retry).await.unwrap_err();
        assert_eq!(again.code, ErrorCode::InvalidState);
        let numbers: Vec<i64> = store
            .attempts("r", Some("t"))
            .await
            .unwrap()
            .iter()
            .map(|a| a.attempt_no)
            .collect();
        assert_eq!(numbers, [1, 2]);
    }

    #[tokio::test]
    async fn a_refused_attempt_leaves_nothing_behind() {
        let store = store_with(&["t"]).await;
        let before = store.max_event_id().await.unwrap();
        let err = store
            .create_attempt(&new_attempt("t", 1, &[TaskStatus::Failed]))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidState);
        assert!(store.attempts("r", None).await.unwrap().is_empty());
        assert_eq!(store.max_event_id().await.unwrap(), before);
        let err = store.attempt("r", "t", None).await.unwrap_err();
        assert_eq!(err.message, r#"task "t" has no attempt yet"#);
    }

    #[tokio::test]
    async fn the_task_message_carries_the_attempt_and_its_workspace() {
        let store = store_with(&["t"]).await;
        let new = new_attempt("t", 1, &[TaskStatus::Ready]);
        let crate::store::Created {
            task,
            attempt,
            thread,
            message,
        } = store.create_attempt(&new).await.unwrap();
        assert_eq!(task.status, TaskStatus::Dispatched);
        assert_eq!(thread.status, ThreadStatus::Pending);
        assert_eq!(thread.subject, "title of t");
        assert_eq!(message.kind, MessageKind::Task);
        assert_eq!(message.thread_id, attempt.thread_id);
        assert_eq!(message.payload_json["attempt_no"], 1);
        let payload = &message.payload_json;
        assert_eq!(payload["execution_mode"], "analysis");
        for field in [
            "worktree_path",
            "branch_name",
            "base_ref",
            "base_commit",
            "repo_path",
        ] {
            assert!(payload[field].is_string(), "{field} missing: {payload}");
        }
        assert_eq!(payload["workspace_status"], "");
        assert!(payload.get("workspace").is_none(), "{payload}");
        let events = store.events_after("r", 0, 100).await.unwrap();
        let dispatched = events.last().unwrap();
        assert_eq!(dispatched.event_type, "task_dispatched");
        assert_eq!(dispatched.subject.message_id, Some(message.message_id));
    }
}
