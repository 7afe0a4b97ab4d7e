//! What the retry policy reads and writes: worker cooldowns (by
//! [`crate::orchestration::ladder::cooldown_key`]: the profile, or the bare adapter), a task's attempt
//! history, the adapters a run may no longer use, and the policy's own events.

use super::Store;
use super::events;
use super::{Sql, args, rows, sql};
use crate::error::Result;
use crate::model::AttemptOutcome;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// One attempt of a task as the policy sees it.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub attempt_no: i64,
    pub worker: String,
    pub adapter: String,
    /// `None` while the attempt has not ended.
    pub outcome: Option<AttemptOutcome>,
}

impl Store {
    /// Workers cooling down: cooldown key (profile, or bare adapter) → Unix ms when free.
    pub async fn cooldowns(&self) -> Result<HashMap<String, i64>> {
        let rows = self
            .read_all(sql!("SELECT worker, until_ms FROM cooldowns"), args![])
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("worker")?, r.try_get("until_ms")?)))
            .collect()
    }

    /// Records (or extends) a worker's cooldown, by its cooldown key.
    pub async fn set_cooldown(&self, key: &str, until_ms: i64, reason: &str) -> Result<()> {
        self.write_statement(
            sql!(
                "INSERT INTO cooldowns (worker, until_ms, reason, set_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (worker) DO UPDATE SET
                     until_ms = CASE WHEN cooldowns.until_ms > excluded.until_ms
                                     THEN cooldowns.until_ms ELSE excluded.until_ms END,
                     reason = excluded.reason, set_at = excluded.set_at"
            ),
            |now| args![key, until_ms, reason, now],
        )
        .await
    }

    /// Every attempt of a task, oldest first.
    pub async fn task_history(&self, run_id: &str, task_id: &str) -> Result<Vec<HistoryEntry>> {
        let rows = self
            .read_all(
                sql!(
                    "SELECT attempt_no, assigned_to, adapter, outcome FROM attempts
                     WHERE run_id = $1 AND task_id = $2 ORDER BY attempt_no"
                ),
                args![run_id, task_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(rows::record!(r, HistoryEntry {
                    attempt_no, adapter;
                    worker: r.try_get("assigned_to")?,
                    outcome: rows::outcome(r)?,
                }))
            })
            .collect()
    }

    /// Adapters that could not start or authenticate in this run.
    pub async fn banned_adapters(&self, run_id: &str) -> Result<HashSet<String>> {
        let rows = self
            .read_all(
                sql!(
                    "SELECT DISTINCT adapter FROM attempts
                     WHERE run_id = $1 AND outcome IN ($2, $3) AND adapter != ''"
                ),
                args![
                    run_id,
                    AttemptOutcome::AuthFailed.as_str(),
                    AttemptOutcome::SpawnFailed.as_str()
                ],
            )
            .await?;
        rows.iter().map(|r| r.try_get("adapter")).collect()
    }

    /// How often a worker was rate limited in a run (for the backoff): attempts assigned
    /// to `worker` (the name, which is its cooldown key) that ended `rate_limited`.
    pub async fn rate_limits_of(&self, run_id: &str, worker: &str) -> Result<u32> {
        let n: i64 = self
            .read_scalar_one(
                sql!(
                    "SELECT COUNT(*) FROM attempts
                     WHERE run_id = $1 AND assigned_to = $2 AND outcome = $3"
                ),
                args![run_id, worker, AttemptOutcome::RateLimited.as_str()],
            )
            .await?;
        Ok(n as u32)
    }

    /// The note the brief of an attempt carries about the attempt before it.
    pub async fn set_brief_note(&self, thread_id: &str, note: &str) -> Result<()> {
        let sql = sql!("UPDATE attempts SET brief_note = $1 WHERE thread_id = $2");
        self.set_attempt_text(sql, note, thread_id).await
    }

    /// The agent session an attempt resumes (`""` for a fresh start).
    pub async fn set_resume_session(&self, thread_id: &str, session_id: &str) -> Result<()> {
        let sql = sql!("UPDATE attempts SET resume_session = $1 WHERE thread_id = $2");
        self.set_attempt_text(sql, session_id, thread_id).await
    }

    /// Sets one text column of an attempt by its thread (`sql` updates it).
    async fn set_attempt_text(&self, sql: Sql, value: &str, thread_id: &str) -> Result<()> {
        self.write_statement(sql, |_| args![value, thread_id]).await
    }

    /// Appends a run event of the policy (`task_parked`, `task_given_up`, ...).
    pub async fn record_task_event(
        &self,
        run_id: &str,
        task_id: &str,
        event_type: &'static str,
        summary: &str,
        payload: Value,
    ) -> Result<i64> {
        let event = (event_type, summary, payload);
        self.write(async |tx, now| events::insert_on_task(tx, (run_id, task_id), event, now).await)
            .await
    }
}
