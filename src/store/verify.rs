//! The verification gate of tasks with required checks: recording check results per
//! attempt and moving a `verifying` task to `done` (all passed) or `failed` (one failed).

use super::events::{self, NewEvent};
use super::parse_or_corrupt;
use super::reconcile::begin_reconciled;
use super::tasks::{load_task, release_dependents, set_task_status};
use super::{Db, Store, args, execute, fetch_all, sql};
use crate::error::{Error, Result};
use crate::model::{CheckStatus, Task, TaskStatus};
use crate::time::{now_ms, rfc3339};
use serde::Serialize;
use serde_json::json;

/// One required check and its latest result for the current attempt.
#[derive(Debug, Clone, Serialize)]
pub struct CheckState {
    pub name: String,
    pub status: CheckStatus,
    pub details: String,
    /// The command orch runs for it, when the acceptance names one.
    pub command: Option<String>,
    pub recorded_at: Option<String>,
}

/// The gate: `pending`, `passed` or `failed`, with each check.
#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub status: CheckStatus,
    pub attempt_no: i64,
    pub checks: Vec<CheckState>,
}

async fn gate_in(conn: &mut Db<'_>, key: i64, attempt_no: i64) -> Result<Gate> {
    let rows = fetch_all(
        conn,
        sql!(
            "SELECT c.name, c.command, v.status, v.details, v.created_at
             FROM task_checks c
             LEFT JOIN verifications v ON v.id = (
                 SELECT id FROM verifications
                 WHERE task = c.task AND attempt_no = $2 AND check_name = c.name
                 ORDER BY id DESC LIMIT 1)
             WHERE c.task = $1 ORDER BY c.position"
        ),
        args![key, attempt_no],
    )
    .await?;
    let mut checks = Vec::with_capacity(rows.len());
    for row in rows {
        let status: Option<&str> = row.try_get("status")?;
        let recorded_at: Option<i64> = row.try_get("created_at")?;
        checks.push(CheckState {
            name: row.try_get("name")?,
            status: match status {
                Some(text) => parse_or_corrupt("check status", text, CheckStatus::parse)?,
                None => CheckStatus::Pending,
            },
            details: row
                .try_get::<Option<String>>("details")?
                .unwrap_or_default(),
            command: row.try_get("command")?,
            recorded_at: recorded_at.map(rfc3339),
        });
    }
    let status = if checks.iter().any(|c| c.status == CheckStatus::Failed) {
        CheckStatus::Failed
    } else if checks.iter().all(|c| c.status == CheckStatus::Passed) {
        CheckStatus::Passed
    } else {
        CheckStatus::Pending
    };
    Ok(Gate {
        status,
        attempt_no,
        checks,
    })
}

impl Store {
    /// `orch verify status`.
    pub async fn gate(&self, run_id: &str, task_id: &str) -> Result<(Task, Gate)> {
        let mut conn = self.lock_reconciled(run_id).await?;
        let conn = &mut conn.db();
        let (key, task) = load_task(conn, run_id, task_id).await?;
        let gate = gate_in(conn, key, task.current_attempt).await?;
        Ok((task, gate))
    }

    /// `orch verify record`: records one check for the current attempt of a `verifying`
    /// task; all passed → `done`, one failed → `failed`.
    pub async fn record_check(
        &self,
        run_id: &str,
        task_id: &str,
        check: &str,
        passed: bool,
        details: &str,
        by: &str,
    ) -> Result<(Task, Gate)> {
        let now = now_ms();
        let mut conn = self.lock().await?;
        let conn = &mut conn.db();
        let mut tx = begin_reconciled(conn, run_id, now).await?;
        let db = &mut tx.db();
        let (key, task) = load_task(db, run_id, task_id).await?;
        // Its own transaction: the fence's check, as `Store::write` makes it.
        self.check_fence(db).await?;
        may_record(&task, check)?;
        let status = if passed {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        };
        execute(
            db,
            sql!("INSERT INTO verifications (task, attempt_no, check_name, status, details, recorded_by, created_at)
                  VALUES ($1, $2, $3, $4, $5, $6, $7)"),
            args![key, task.current_attempt, check, status.as_str(), details, by, now],
        )
        .await?;
        let summary = format!("check {check} {status}");
        let payload = json!({"check": check, "status": status, "details": details, "attempt_no": task.current_attempt, "by": by});
        let event = ("task_verification_recorded", summary.as_str(), payload);
        events::insert_on_task(db, (run_id, task_id), event, now).await?;
        let gate = gate_in(db, key, task.current_attempt).await?;
        match gate.status {
            CheckStatus::Passed => {
                set_task_status(db, key, run_id, task_id, TaskStatus::Done, None, now).await?;
                release_dependents(db, run_id, key, now).await?;
            }
            CheckStatus::Failed => {
                let event = NewEvent::new("task_failed")
                    .summary(format!("check {check} failed"))
                    .payload(json!({"check": check, "details": details}));
                set_task_status(
                    db,
                    key,
                    run_id,
                    task_id,
                    TaskStatus::Failed,
                    Some(event),
                    now,
                )
                .await?;
            }
            CheckStatus::Pending => {}
        }
        let (_, task) = load_task(db, run_id, task_id).await?;
        tx.commit().await?;
        Ok((task, gate))
    }
}

/// Refuses a check the task does not require, or a task that is not verifying.
fn may_record(task: &Task, check: &str) -> Result<()> {
    let task_id = &task.task_id;
    if !task.required_checks.iter().any(|c| c == check) {
        return Err(Error::invalid_input(if task.required_checks.is_empty() {
            format!("task {task_id:?} has no required checks")
        } else {
            format!(
                "task {task_id:?} has no required check {check:?}; its checks are {}",
                task.required_checks.join(", ")
            )
        }));
    }
    if task.status != TaskStatus::Verifying {
        return Err(Error::invalid_state(format!(
            "task {task_id:?} is {}; checks are recorded while it is verifying (after its worker reports done)",
            task.status
        )));
    }
    Ok(())
}
