//! Runs: creation, lookup with task counts and derived status, cancellation, the
//! `run_finished` event the fold records once per finish (which `orch up`s run a run:
//! `hosts.rs`).

use super::NotFound;
use super::Store;
use super::events::{self, NewEvent};
use super::{Db, Row, Sql, args, execute, fetch_all, fetch_optional, scalar, sql};
use crate::error::{Error, Result};
use crate::model::{Run, RunStatus, TaskCounts, TaskStatus};
use serde_json::{Value, json};

/// `orch run init`.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub run_id: String,
    pub goal: String,
    pub summary: String,
    /// Worker profiles and named checks from a plan file.
    pub config: Option<Value>,
}

pub(crate) async fn insert_run(conn: &mut Db<'_>, new: &NewRun, now: i64) -> Result<()> {
    execute(
        &mut *conn,
        sql!("INSERT INTO runs (run_id, goal, summary, config_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)"),
        args![
            &new.run_id,
            &new.goal,
            &new.summary,
            new.config.clone().unwrap_or_else(|| json!({})).to_string(),
            now,
            now,
        ],
    )
    .await?;
    events::insert(
        conn,
        NewEvent::new("run_created")
            .on_run(&new.run_id)
            .summary(new.goal.clone()),
        now,
    )
    .await?;
    Ok(())
}

pub(crate) async fn run_exists(conn: &mut Db<'_>, run_id: &str) -> Result<bool> {
    let found: Option<i64> = scalar(
        conn,
        sql!("SELECT 1 FROM runs WHERE run_id = $1"),
        args![run_id],
    )
    .await?;
    Ok(found.is_some())
}

pub(crate) async fn require_run(conn: &mut Db<'_>, run_id: &str) -> Result<()> {
    if run_exists(conn, run_id).await? {
        Ok(())
    } else {
        Err(NotFound::run(run_id).into())
    }
}

pub(crate) async fn counts(conn: &mut Db<'_>, run_id: &str) -> Result<TaskCounts> {
    let rows = fetch_all(
        conn,
        sql!("SELECT status, COUNT(*) AS n FROM tasks WHERE run_id = $1 GROUP BY status"),
        args![run_id],
    )
    .await?;
    let mut counts = TaskCounts::default();
    for row in rows {
        let status: String = row.try_get("status")?;
        let status = super::parse_or_corrupt("task status", &status, TaskStatus::parse)?;
        counts.add(status, row.try_get("n")?);
    }
    Ok(counts)
}

/// The run's row as `sql` (`… FROM runs WHERE run_id = $1`) selects it; not found names
/// the run.
async fn run_row(conn: &mut Db<'_>, sql: Sql, run_id: &str) -> Result<Row> {
    fetch_optional(&mut *conn, sql, args![run_id])
        .await?
        .ok_or_else(|| NotFound::run(run_id).into())
}

pub(crate) async fn load_run(conn: &mut Db<'_>, run_id: &str) -> Result<Run> {
    let row = load_run_row(conn, run_id).await?;
    let counts = counts(conn, run_id).await?;
    run_with_counts(&row, counts)
}

/// The run's row (`SELECT *`), for [`run_with_counts`]; not found names the run.
pub(crate) async fn load_run_row(conn: &mut Db<'_>, run_id: &str) -> Result<Row> {
    run_row(conn, sql!("SELECT * FROM runs WHERE run_id = $1"), run_id).await
}

/// The run of `row` (`SELECT * FROM runs`) with its tasks' `counts`.
pub(crate) fn run_with_counts(row: &Row, counts: TaskCounts) -> Result<Run> {
    let cancelled: i64 = row.try_get("cancelled")?;
    Ok(Run {
        run_id: row.try_get("run_id")?,
        goal: row.try_get("goal")?,
        summary: row.try_get("summary")?,
        status: counts.run_status(cancelled != 0),
        counts,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Whether the run's finish is still to be recorded: it is done, failed or cancelled and
/// no `run_finished` marks this finish yet. An unknown run is `not_found`. The common
/// case (a task is active, or the finish is recorded) costs one indexed read.
pub(crate) async fn finish_due(conn: &mut Db<'_>, run_id: &str) -> Result<bool> {
    Ok(unrecorded_finish(conn, run_id).await?.is_some())
}

/// The finish [`finish_due`] looks for, with its status and counts.
async fn unrecorded_finish(
    conn: &mut Db<'_>,
    run_id: &str,
) -> Result<Option<(RunStatus, TaskCounts)>> {
    let row = fetch_optional(
        &mut *conn,
        // `cancelled <> 0`: a boolean on PostgreSQL (the column is a 0/1 BIGINT there).
        sql!("SELECT r.cancelled <> 0 AS cancelled, r.finished_event_id,
                     EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = r.run_id
                             AND t.status IN ('ready', 'dispatched', 'running', 'blocked', 'verifying')) AS active
              FROM runs r WHERE r.run_id = $1"),
        args![run_id],
    )
    .await?
    .ok_or_else(|| NotFound::run(run_id))?;
    let cancelled: bool = row.try_get("cancelled")?;
    let finished: Option<i64> = row.try_get("finished_event_id")?;
    let active: bool = row.try_get("active")?;
    if finished.is_some() || (active && !cancelled) {
        return Ok(None);
    }
    finish_status(conn, run_id, cancelled).await
}

/// The status a run has finished with, with its counts; `None` while it goes on. A run
/// whose last failed task's attempt is still being settled by its supervisor (checks,
/// the retry ladder) has not finished: the ladder may retry it.
async fn finish_status(
    conn: &mut Db<'_>,
    run_id: &str,
    cancelled: bool,
) -> Result<Option<(RunStatus, TaskCounts)>> {
    let counts = counts(conn, run_id).await?;
    let status = counts.run_status(cancelled);
    let finished = match status {
        RunStatus::Done | RunStatus::Cancelled => true,
        RunStatus::Failed => {
            let settling: Option<i64> = scalar(
                &mut *conn,
                sql!("SELECT 1 FROM tasks t JOIN attempts a ON a.task = t.id AND a.attempt_no = t.current_attempt
                      WHERE t.run_id = $1 AND t.status = 'failed' AND a.settled = 0
                        AND a.supervisor_pid IS NOT NULL LIMIT 1"),
                args![run_id],
            )
            .await?;
            settling.is_none()
        }
        RunStatus::Active | RunStatus::Blocked => false,
    };
    Ok(finished.then_some((status, counts)))
}

/// Inside a write transaction: appends `run_finished` (status, counts, failed tasks) and
/// marks the run finished, when [`finish_due`]. Once per finish: a task that becomes
/// active again clears the mark (triggers of migration 0012), and the next finish
/// emits again.
pub(crate) async fn record_finish(conn: &mut Db<'_>, run_id: &str, now: i64) -> Result<()> {
    let Some((status, counts)) = unrecorded_finish(conn, run_id).await? else {
        return Ok(());
    };
    let failed: Vec<String> = fetch_all(
        &mut *conn,
        sql!(
            "SELECT task_id FROM tasks WHERE run_id = $1 AND status = 'failed' ORDER BY id LIMIT 20"
        ),
        args![run_id],
    )
    .await?
    .iter()
    .map(|row| row.try_get("task_id"))
    .collect::<std::result::Result<_, _>>()?;
    let mut summary = format!(
        "run {status}: {} of {} tasks done",
        counts.done, counts.total
    );
    for (n, word) in [(counts.failed, "failed"), (counts.cancelled, "cancelled")] {
        if n > 0 {
            summary.push_str(&format!(", {n} {word}"));
        }
    }
    let event = NewEvent::new("run_finished")
        .on_run(run_id)
        .summary(summary)
        .payload(json!({"status": status, "counts": counts, "failed": failed}));
    insert_and_point(conn, run_id, event, RunPointer::Finished, now).await?;
    Ok(())
}

/// The events a run's row points at.
pub(crate) enum RunPointer {
    /// Its current finish (`run_finished`).
    Finished,
    /// The latest `up_started`/`up_stopped`.
    Up,
}

/// Inserts a run's `event` and points the run's row at it.
pub(crate) async fn insert_and_point(
    conn: &mut Db<'_>,
    run_id: &str,
    event: NewEvent,
    pointer: RunPointer,
    now: i64,
) -> Result<i64> {
    let id = events::insert(conn, event, now).await?;
    let sql = match pointer {
        RunPointer::Finished => sql!("UPDATE runs SET finished_event_id = $1 WHERE run_id = $2"),
        RunPointer::Up => sql!("UPDATE runs SET up_event_id = $1 WHERE run_id = $2"),
    };
    execute(conn, sql, args![id, run_id]).await?;
    Ok(id)
}

impl Store {
    /// `orch run init`: a new run; a duplicate id is `invalid_state`.
    pub async fn create_run(&self, new: &NewRun) -> Result<Run> {
        self.write(async |tx, now| {
            if run_exists(tx, &new.run_id).await? {
                return Err(Error::invalid_state(format!(
                    "run {:?} already exists",
                    new.run_id
                )));
            }
            insert_run(tx, new, now).await?;
            let run = load_run(tx, &new.run_id).await?;
            Ok(run)
        })
        .await
    }

    /// `orch run show`: the run with its task counts and derived status.
    pub async fn run(&self, run_id: &str) -> Result<Run> {
        super::read_again!(self, conn => load_run(&mut conn.db(), run_id).await)
    }

    /// The worker profiles and named checks stored with a run (from its plan file).
    pub async fn run_config(&self, run_id: &str) -> Result<Value> {
        let text: Option<String> = self
            .read_scalar(
                sql!("SELECT config_json FROM runs WHERE run_id = $1"),
                args![run_id],
            )
            .await?;
        let text = text.ok_or_else(|| NotFound::run(run_id))?;
        Ok(super::rows::json(text))
    }
}
