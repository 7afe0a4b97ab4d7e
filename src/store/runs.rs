//! Runs: creation, lookup with task counts and derived status, and cancellation.

use super::NotFound;
use super::Store;
use super::events::{self, NewEvent};
use super::{args, execute, fetch_all, fetch_optional, scalar};
use crate::error::{Error, Result};
use crate::model::{Run, TaskCounts, TaskStatus};
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection};

/// `orch run init`.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub run_id: String,
    pub goal: String,
    pub summary: String,
    /// Worker profiles and named checks from a plan file.
    pub config: Option<Value>,
}

pub(crate) async fn insert_run(conn: &mut SqliteConnection, new: &NewRun, now: i64) -> Result<()> {
    execute(
        &mut *conn,
        "INSERT INTO runs (run_id, goal, summary, config_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
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

pub(crate) async fn run_exists(conn: &mut SqliteConnection, run_id: &str) -> Result<bool> {
    let found: Option<i64> =
        scalar(conn, "SELECT 1 FROM runs WHERE run_id = ?", args![run_id]).await?;
    Ok(found.is_some())
}

pub(crate) async fn require_run(conn: &mut SqliteConnection, run_id: &str) -> Result<()> {
    if run_exists(conn, run_id).await? {
        Ok(())
    } else {
        Err(NotFound::run(run_id).into())
    }
}

pub(crate) async fn counts(conn: &mut SqliteConnection, run_id: &str) -> Result<TaskCounts> {
    let rows = fetch_all(
        conn,
        "SELECT status, COUNT(*) AS n FROM tasks WHERE run_id = ? GROUP BY status",
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

pub(crate) async fn load_run(conn: &mut SqliteConnection, run_id: &str) -> Result<Run> {
    let row = fetch_optional(
        &mut *conn,
        "SELECT * FROM runs WHERE run_id = ?",
        args![run_id],
    )
    .await?
    .ok_or_else(|| NotFound::run(run_id))?;
    let counts = counts(conn, run_id).await?;
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
        let mut conn = self.lock().await;
        load_run(&mut conn, run_id).await
    }

    /// The worker profiles and named checks stored with a run (from its plan file).
    pub async fn run_config(&self, run_id: &str) -> Result<Value> {
        let mut conn = self.lock().await;
        let text: Option<String> = scalar(
            &mut conn,
            "SELECT config_json FROM runs WHERE run_id = ?",
            args![run_id],
        )
        .await?;
        let text = text.ok_or_else(|| NotFound::run(run_id))?;
        Ok(super::rows::json(text))
    }
}
