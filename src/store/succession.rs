//! One owner for a task's next attempt. Whoever makes it — the leader's `dispatch`,
//! `retry` or `reassign`, `orch up`, the retry ladder — makes it only while the task is
//! still on the attempt it saw: [`super::Store::create_attempt`] checks that in the
//! transaction that records the attempt, and the one who comes second is refused, told
//! which attempt exists ([`describe`]). The ladder's steps that make no attempt (give up,
//! park) are recorded under the same condition ([`Store::record_ladder_event`]), so a
//! leader who took over is never contradicted.

use super::attempts::load_attempt;
use super::events;
use super::tasks::load_task;
use super::threads::load_thread;
use super::{Db, NotFound, Row, Sql, Store, args, fetch_record, sql};
use crate::error::Result;
use crate::model::{Task, TaskStatus};
use serde_json::Value;

/// Who made an attempt, as a refusal names it: `orch` made first attempts for `orch up`
/// and every later one for the retry ladder; anyone else is the leader it names.
pub(crate) fn maker(created_by: &str, attempt_no: i64) -> String {
    match created_by {
        "orch" if attempt_no <= 1 => "orch up".to_string(),
        "orch" => "the retry ladder".to_string(),
        other => other.to_string(),
    }
}

/// Attempt `attempt_no` of a task for a message: `attempt 3 (thread r/t/3, assigned
/// to shell, pending, started by the retry ladder)`; just `attempt 3` if it cannot be read.
pub(crate) async fn describe(
    conn: &mut Db<'_>,
    run_id: &str,
    task_id: &str,
    attempt_no: i64,
) -> Result<String> {
    let Some(attempt) = load_attempt(conn, run_id, task_id, attempt_no).await? else {
        return Ok(format!("attempt {attempt_no}"));
    };
    let thread = load_thread(conn, &attempt.thread_id).await?;
    Ok(format!(
        "attempt {} (thread {}, assigned to {}, {}, started by {})",
        attempt.attempt_no,
        attempt.thread_id,
        attempt.assigned_to,
        attempt.status,
        maker(&thread.created_by, attempt.attempt_no)
    ))
}

impl Store {
    /// The retry ladder's event for attempt `attempt_no` (`task_given_up`,
    /// `task_parked`), recorded only while the task is still `failed` on that attempt.
    /// `Err` says instead (nothing recorded) how the task moved on: the leader took over
    /// (retried or reassigned it: the attempt it is on now, [`describe`]), or it is no
    /// longer failed (cancelled).
    pub async fn record_ladder_event(
        &self,
        run_id: &str,
        task_id: &str,
        attempt_no: i64,
        event: (&'static str, &str, Value),
    ) -> Result<std::result::Result<i64, String>> {
        self.write_reconciled(run_id, async |tx, now| {
            let (_, task) = load_task(tx, run_id, task_id).await?;
            if task.current_attempt != attempt_no {
                let now_on = describe(tx, run_id, task_id, task.current_attempt).await?;
                return Ok(Err(format!(
                    "the leader took over: task {task_id:?} is on {now_on}"
                )));
            }
            if task.status != TaskStatus::Failed {
                return Ok(Err(format!("task {task_id:?} is {}", task.status)));
            }
            // Once per attempt: the supervisor and a recovering `orch up` may both settle it.
            // (PostgreSQL compares JSON values, as json_extract does: no error on a payload
            // whose attempt_no is not an integer.)
            let recorded: Option<i64> = super::scalar(
                &mut *tx,
                sql!(
                    sqlite: "SELECT event_id FROM events WHERE run_id = $1 AND task_id = $2 AND event_type = $3
                             AND json_extract(payload_json, '$.attempt_no') = $4",
                    pg: "SELECT event_id FROM events WHERE run_id = $1 AND task_id = $2 AND event_type = $3
                         AND payload_json::jsonb -> 'attempt_no' = to_jsonb(CAST($4 AS BIGINT))",
                ),
                super::args![run_id, task_id, event.0, attempt_no],
            )
            .await?;
            if let Some(id) = recorded {
                return Ok(Err(format!(
                    "{} was recorded already (event {id})",
                    event.0
                )));
            }
            let id = events::insert_on_task(tx, (run_id, task_id), event, now).await?;
            Ok(Ok(id))
        })
        .await
    }

    /// Attempt `attempt_no` of a task for a message ([`describe`]).
    pub async fn describe_attempt(
        &self,
        run_id: &str,
        task_id: &str,
        attempt_no: i64,
    ) -> Result<String> {
        super::read_again!(self, conn => describe(&mut conn.db(), run_id, task_id, attempt_no).await)
    }

    /// What an attempt's brief and launch read besides its task ([`AttemptBrief`]), in
    /// one statement.
    pub async fn attempt_brief(&self, thread_id: &str) -> Result<AttemptBrief> {
        let brief = self
            .read_record(ATTEMPT_BRIEF, args![thread_id], attempt_brief)
            .await?;
        brief.ok_or_else(|| no_attempt(thread_id))
    }

    /// The task attempt `thread_id` launches, and its [`AttemptBrief`]: two statements
    /// under one lock, the run not reconciled first (a launch reads the task's text and
    /// settings, never its status). What a supervisor reads before its worker starts.
    /// Run again once reconnected if it met a lost connection.
    pub async fn launch_inputs(&self, thread_id: &str) -> Result<(Task, AttemptBrief)> {
        super::read_again!(self, conn => read_launch_inputs(&mut conn.db(), thread_id).await)
    }

    /// Runs the reads a supervisor starts with ([`Store::attempt_by_thread`],
    /// [`Store::launch_inputs`], [`Store::thread`]) for an attempt that does not exist.
    /// On PostgreSQL that prepares them and fills the new backend's catalog caches,
    /// which cost 1–2 ms a statement on a fresh connection: a standby supervisor
    /// (`orchestration::standby`) does this while it waits, and starts its attempt
    /// with them warm, and reads nothing from the task-status view the write triggers
    /// use, for its catalog entries. Finding nothing is the point; an error is only a
    /// missed saving.
    pub async fn warm_up_supervision(&self) {
        const NONE: &str = "";
        let _ = self.attempt_by_thread(NONE).await;
        if let Ok(mut conn) = self.lock().await {
            let mut db = conn.db();
            let _ = fetch_record(&mut db, ATTEMPT_BRIEF, args![NONE], attempt_brief).await;
            let _ = load_task(&mut db, NONE, NONE).await;
            // The view the status triggers render a task's row through: its tables'
            // and functions' catalog entries are the bulk of a cold trigger's cost.
            let _ = super::db::fetch_optional(
                &mut db,
                sql!("SELECT obj FROM task_status_rows WHERE id = $1"),
                args![-1i64],
            )
            .await;
        }
        let _ = self.thread(NONE).await;
        let _ = self
            .write(async |tx, _| {
                for sql in WARM_UP_WRITES {
                    super::db::execute(&mut *tx, *sql, args![]).await?;
                }
                // Rolled back: nothing changes, nothing is notified.
                Err::<(), _>(crate::error::Error::internal("warm-up, rolled back"))
            })
            .await;
    }
}

async fn read_launch_inputs(conn: &mut Db<'_>, thread_id: &str) -> Result<(Task, AttemptBrief)> {
    let brief = fetch_record(&mut *conn, ATTEMPT_BRIEF, args![thread_id], attempt_brief)
        .await?
        .ok_or_else(|| no_attempt(thread_id))?;
    let (_, task) = load_task(conn, &brief.run_id, &brief.task_id).await?;
    Ok((task, brief))
}

/// What an attempt's brief and launch read besides its task.
#[derive(Debug, Clone)]
pub struct AttemptBrief {
    pub run_id: String,
    pub task_id: String,
    /// What the previous attempt left behind (`""` for nothing).
    pub note: String,
    /// The agent session the attempt resumes (`""` for a fresh start).
    pub resume_session: String,
    /// The body the attempt was given (its `task` message's) when it is not its task's
    /// own: a leader's `--body` on dispatch, retry or reassign.
    pub replaced_body: Option<String>,
    /// The worker profiles and named checks stored with the run (from its plan file).
    pub run_config: Value,
}

/// Writes that change nothing but fire the triggers a supervisor's first writes fire,
/// so that a standby's backend has compiled them (and planned the task-status view
/// inside them) before its attempt: a cold trigger cost 3–5 ms. Run in a write
/// transaction (under the write lock, as any writer) that is rolled back.
const WARM_UP_WRITES: &[Sql] = &[
    sql!("UPDATE tasks SET updated_at = updated_at WHERE id = (SELECT max(id) FROM tasks)"),
    sql!("UPDATE attempts SET host = host WHERE id = (SELECT max(id) FROM attempts)"),
    sql!(
        "UPDATE threads SET status = status, last_message_id = last_message_id
         WHERE thread_id = (SELECT max(thread_id) FROM threads)"
    ),
    sql!("UPDATE messages SET kind = kind WHERE 1 = 0"),
    sql!("UPDATE events SET summary = summary WHERE 1 = 0"),
    sql!("UPDATE leases SET agent = agent WHERE 1 = 0"),
];

const ATTEMPT_BRIEF: Sql = sql!(
    "SELECT a.run_id, a.task_id, a.brief_note, a.resume_session, r.config_json,
            t.body AS planned,
            (SELECT m.body FROM messages m WHERE m.thread_id = a.thread_id AND m.kind = 'task'
             ORDER BY m.message_id LIMIT 1) AS given
     FROM attempts a JOIN tasks t ON t.id = a.task JOIN runs r ON r.run_id = a.run_id
     WHERE a.thread_id = $1"
);

fn attempt_brief(row: &Row) -> Result<AttemptBrief> {
    let planned: String = row.try_get("planned")?;
    let given: Option<String> = row.try_get("given")?;
    let config: Option<String> = row.try_get("config_json")?;
    Ok(AttemptBrief {
        run_id: row.try_get("run_id")?,
        task_id: row.try_get("task_id")?,
        note: row
            .try_get::<Option<String>>("brief_note")?
            .unwrap_or_default(),
        resume_session: row
            .try_get::<Option<String>>("resume_session")?
            .unwrap_or_default(),
        replaced_body: given.filter(|given| *given != planned),
        run_config: super::rows::json(config.unwrap_or_default()),
    })
}

fn no_attempt(thread_id: &str) -> crate::error::Error {
    NotFound::NoAttemptHasThread {
        thread: thread_id.to_string(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorCode;
    use crate::model::TaskStatus;
    use crate::store::FinishKind;
    use crate::store::testing::*;
    use serde_json::json;

    /// A standby's warm-up changes nothing and leaves no transaction open: another
    /// connection writes beside it. (On PostgreSQL its rolled-back write used to keep
    /// the write lock until the connection's next statement: tests/it/standby.rs,
    /// `a_waiting_standby_holds_up_no_writer`.)
    #[tokio::test]
    async fn the_warm_up_changes_nothing_and_holds_no_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coord.db");
        let store = crate::store::Store::open(&path).await.unwrap();
        let run = crate::store::NewRun {
            run_id: "r".to_string(),
            goal: "g".to_string(),
            ..Default::default()
        };
        store.create_run(&run).await.unwrap();
        let version = store.max_event_id().await.unwrap();
        store.warm_up_supervision().await;
        // Another connection writes at once (it would wait out the busy timeout, 60 s,
        // behind an open transaction). Nothing runs on `store` before: its next
        // statement would end the transaction.
        let other = crate::store::Store::open(&path).await.unwrap();
        let run = crate::store::NewRun {
            run_id: "s".to_string(),
            ..run
        };
        let wrote =
            tokio::time::timeout(std::time::Duration::from_secs(20), other.create_run(&run)).await;
        assert!(matches!(wrote, Ok(Ok(_))), "{wrote:?}");
        // The warm-up recorded nothing: the run `s` is the only event since.
        assert_eq!(store.max_event_id().await.unwrap(), version + 1);
    }

    #[tokio::test]
    async fn the_second_maker_is_told_which_attempt_exists() {
        let (store, _) = one_failed().await;
        assert_eq!(status(&store, "t").await, TaskStatus::Failed);
        // Two makers both saw attempt 1 failed; the first records attempt 2.
        let mut ladder = new_attempt("t", 2, &[TaskStatus::Failed]);
        ladder.created_by = "orch".to_string();
        let made = store.create_attempt(&ladder).await.unwrap();
        let leader = new_attempt("t", 2, &[TaskStatus::Failed]);
        let err = store.create_attempt(&leader).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidState);
        let expected = format!(
            "task \"t\" already has attempt 2 (thread {}, assigned to worker, pending, started by the retry ladder); nothing was dispatched",
            made.attempt.thread_id
        );
        assert_eq!(err.message, expected);
        // The plan of a later retry names it too.
        let err = store
            .attempt_plan("r", "t", &[TaskStatus::Failed], "retry")
            .await
            .unwrap_err();
        assert!(
            err.message.contains("on attempt 2 (thread") && err.message.contains("retry ladder"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn the_ladder_records_nothing_once_the_leader_took_over() {
        let (store, _) = one_failed().await;
        assert_eq!(status(&store, "t").await, TaskStatus::Failed);
        let leader = store
            .create_attempt(&new_attempt("t", 2, &[TaskStatus::Failed]))
            .await
            .unwrap();
        let before = store.max_event_id().await.unwrap();
        let event = ("task_given_up", "budget spent", json!({}));
        let refused = store
            .record_ladder_event("r", "t", 1, event.clone())
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            refused.contains(&format!("attempt 2 (thread {}", leader.attempt.thread_id)),
            "{refused}"
        );
        assert_eq!(store.max_event_id().await.unwrap(), before);
        // On its own attempt, while the task is failed, the event is recorded.
        work(&store, &leader.attempt, FinishKind::Failed).await;
        assert!(
            store
                .record_ladder_event("r", "t", 2, event)
                .await
                .unwrap()
                .is_ok()
        );
    }
}
