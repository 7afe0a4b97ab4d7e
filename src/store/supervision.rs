//! What the supervisor records on an attempt: its own and its worker's pid with start
//! times, the adapter and log, the worker's output as `output` messages, the session id
//! and usage, and how the attempt ended (`attempt_launched`, `attempt_exited` events).

use super::NotFound;
use super::events::{self, NewEvent};
use super::threads::{MessageInput, NewMessage, load_thread, post};
use super::{Db, args, execute, sql};
use super::{Store, rows};
use crate::error::Result;
use crate::model::{Attempt, AttemptOutcome, Message, MessageKind};
use crate::time::rfc3339;
use serde::Serialize;
use serde_json::{Value, json};

/// Supervision facts of an attempt.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Supervision {
    pub profile: String,
    pub adapter: String,
    pub supervisor_pid: Option<i64>,
    pub supervisor_start: Option<i64>,
    pub worker_pid: Option<i64>,
    pub worker_start: Option<i64>,
    pub log_path: String,
    pub session_id: String,
    pub usage: Value,
    pub cost_usd: Option<f64>,
    /// How the attempt ended; `None` (printed `""`) while it has not.
    #[serde(serialize_with = "crate::model::empty_if_none")]
    pub outcome: Option<AttemptOutcome>,
    #[serde(flatten)]
    pub end: EndDetails,
    pub launched_at: Option<String>,
    pub ended_at: Option<String>,
    /// What the attempt left: commits, the supervisor's commit of leftovers, the tool
    /// calls its CLI refused (see migration 0010).
    pub work: Value,
    /// The host whose process started the supervisor, or made the attempt to launch it
    /// at once (`None`, printed `""`, before either); `taken_by`: the host that took the attempt over when that host's
    /// heartbeat lapsed; `epoch`: bumped by every claim (migration 0015).
    #[serde(serialize_with = "crate::model::empty_if_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_by: Option<String>,
    pub epoch: i64,
}

/// How an attempt ended, besides its outcome: as the supervisor records it, and as
/// `orch attempts` prints it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndDetails {
    pub exit_code: Option<i64>,
    pub exit_signal: Option<i64>,
    pub reason: String,
    pub output_tail: String,
    /// When a rate-limited attempt's account resets, as its CLI announced (ms; printed
    /// in RFC 3339).
    #[serde(serialize_with = "rfc3339_if_some")]
    pub reset_at: Option<i64>,
    pub leaked: bool,
}

fn rfc3339_if_some<S: serde::Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    ms.map(rfc3339).serialize(s)
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct AttemptEnd {
    pub outcome: AttemptOutcome,
    pub details: EndDetails,
    /// What the attempt left (see [`Supervision::work`]); `Null` records nothing.
    pub work: Value,
}

impl AttemptEnd {
    /// An end with its outcome and reason, nothing else recorded (no exit status, no
    /// output, no work).
    pub fn new(outcome: AttemptOutcome, reason: String) -> Self {
        AttemptEnd {
            outcome,
            details: EndDetails {
                reason,
                ..EndDetails::default()
            },
            work: Value::Null,
        }
    }
}

impl Store {
    /// An attempt by its thread id, with its supervision facts.
    pub async fn attempt_by_thread(&self, thread_id: &str) -> Result<(Attempt, Supervision)> {
        let row = self.read_optional(
            sql!("SELECT a.run_id, a.task_id, a.attempt_no, a.thread_id, a.assigned_to, a.execution_mode,
                         th.status AS thread_status, a.repo_path, a.base_ref, a.base_commit, a.branch_name,
                         a.worktree_path, a.workspace_status, a.created_at, a.updated_at,
                         a.profile, a.adapter, a.supervisor_pid, a.supervisor_start, a.worker_pid, a.worker_start,
                         a.log_path, a.session_id, a.usage_json, a.cost_usd, a.outcome, a.exit_code, a.exit_signal,
                         a.reason, a.output_tail, a.reset_at, a.leaked, a.launched_at, a.ended_at, a.work_json,
                         a.host, a.taken_by, a.epoch
                  FROM attempts a JOIN threads th ON th.thread_id = a.thread_id WHERE a.thread_id = $1"),
            args![thread_id],
        )
        .await?
        .ok_or_else(|| NotFound::AttemptOfThread {
            thread: thread_id.to_string(),
        })?;
        let attempt = rows::attempt(&row)?;
        let ts = |v: Option<i64>| v.map(rfc3339);
        let supervision = rows::record!(row, Supervision {
            profile, adapter, supervisor_pid, supervisor_start, worker_pid, worker_start,
            log_path, session_id, cost_usd;
            usage: rows::json(row.try_get("usage_json")?),
            outcome: rows::outcome(&row)?,
            end: rows::record!(row, EndDetails {
                exit_code, exit_signal, reason, output_tail, reset_at;
                leaked: row.try_get::<i64>("leaked")? != 0,
            }),
            launched_at: ts(row.try_get("launched_at")?),
            ended_at: ts(row.try_get("ended_at")?),
            work: rows::json(row.try_get("work_json")?),
            host: rows::non_empty(row.try_get("host")?),
            taken_by: rows::non_empty(row.try_get("taken_by")?),
            epoch: row.try_get("epoch")?,
        });
        Ok((attempt, supervision))
    }

    /// Attempts of a run not yet settled, with their supervision facts (a handful: the
    /// ones at work, or whose supervisor is still applying the policy).
    pub async fn unsettled_attempts(&self, run_id: &str) -> Result<Vec<(Attempt, Supervision)>> {
        let sql =
            sql!("SELECT thread_id FROM attempts WHERE run_id = $1 AND settled = 0 ORDER BY id");
        let rows = self.read_all(sql, args![run_id]).await?;
        let threads: Vec<String> = rows
            .iter()
            .map(|row| row.try_get("thread_id"))
            .collect::<std::result::Result<_, _>>()?;
        let mut out = Vec::with_capacity(threads.len());
        for thread_id in threads {
            out.push(self.attempt_by_thread(&thread_id).await?);
        }
        Ok(out)
    }

    /// Nothing more will happen for this attempt.
    pub async fn mark_settled(&self, thread_id: &str) -> Result<()> {
        let sql = sql!("UPDATE attempts SET settled = 1 WHERE thread_id = $1");
        self.write_statement(sql, |_| args![thread_id]).await
    }

    /// The worker is running: its pid and start time, and the `attempt_launched` event.
    pub async fn record_worker(
        &self,
        thread_id: &str,
        pid: u32,
        start: u64,
        payload: Value,
    ) -> Result<()> {
        self.write(async |tx, now| {
            execute(
                tx,
                sql!("UPDATE attempts SET worker_pid = $1, worker_start = $2, launched_at = $3, updated_at = $4 WHERE thread_id = $5"),
                args![pid as i64, start as i64, now, now, thread_id],
            )
            .await?;
            let event = NewEvent::new("attempt_launched")
                .summary(format!("worker started (pid {pid})"))
                .payload(payload);
            events::insert_on_thread(tx, thread_id, event, now).await?;
            Ok(())
        })
        .await
    }

    /// A batch of the worker's output as one `output` message (event `thread_output`).
    pub async fn post_output(
        &self,
        thread_id: &str,
        from: &str,
        summary: &str,
        body: &str,
        payload: Value,
    ) -> Result<Message> {
        let content = MessageInput {
            body: body.to_string(),
            payload,
            artifacts: Vec::new(),
        };
        self.write(async |tx, now| {
            let thread = load_thread(tx, thread_id).await?;
            let (kind, summary) = (MessageKind::Output, summary.to_string());
            let message = NewMessage::to_creator(&thread, from, kind, summary, &content);
            post(tx, &thread, message, "thread_output", json!({}), now).await
        })
        .await
    }

    /// Session id, usage and cost as the worker reports them.
    pub async fn record_session(
        &self,
        thread_id: &str,
        session_id: Option<&str>,
        usage: Option<&Value>,
        cost_usd: Option<f64>,
    ) -> Result<()> {
        let usage = usage.map(Value::to_string);
        self.write_statement(
            sql!("UPDATE attempts SET session_id = COALESCE($1, session_id), usage_json = COALESCE($2, usage_json),
                  cost_usd = COALESCE($3, cost_usd), updated_at = $4 WHERE thread_id = $5"),
            |now| args![session_id, usage, cost_usd, now, thread_id],
        )
        .await
    }

    /// How the attempt ended, and the `attempt_exited` event.
    pub async fn record_attempt_end(&self, thread_id: &str, end: &AttemptEnd) -> Result<()> {
        self.write(async |db, now| record_end(db, thread_id, end, now).await)
            .await
    }
}

/// [`Store::record_attempt_end`]'s write: the attempt's end, `attempt_exited`, and the
/// event its outcome names (a rate limit, an auth failure), if any.
async fn record_end(db: &mut Db<'_>, thread_id: &str, end: &AttemptEnd, now: i64) -> Result<()> {
    execute(
        db,
        sql!("UPDATE attempts SET outcome = $1, exit_code = $2, exit_signal = $3, reason = $4, output_tail = $5,
              reset_at = $6, leaked = $7, ended_at = $8, updated_at = $9,
              work_json = COALESCE($10, work_json) WHERE thread_id = $11"),
        args![
            end.outcome.as_str(),
            end.details.exit_code,
            end.details.exit_signal,
            &end.details.reason,
            &end.details.output_tail,
            end.details.reset_at,
            end.details.leaked as i64,
            now,
            now,
            (!end.work.is_null()).then(|| end.work.to_string()),
            thread_id,
        ],
    )
    .await?;
    let exited = NewEvent::new("attempt_exited")
        .summary(if end.details.reason.is_empty() {
            end.outcome.to_string()
        } else {
            format!("{}: {}", end.outcome, end.details.reason)
        })
        .payload(json!({
            "outcome": end.outcome,
            "exit_code": end.details.exit_code,
            "signal": end.details.exit_signal,
            "reason": end.details.reason,
            "reset_at": end.details.reset_at.map(rfc3339),
            "leaked": end.details.leaked,
            "work": end.work,
        }));
    let thread = events::insert_on_thread(db, thread_id, exited, now).await?;
    if let Some(event_type) = end.outcome.event_type() {
        events::insert(
            db,
            NewEvent::new(event_type)
                .on_thread(&thread)
                .summary(end.details.reason.clone())
                .payload(json!({"reset_at": end.details.reset_at.map(rfc3339), "reason": end.details.reason})),
            now,
        )
        .await?;
    }
    Ok(())
}
